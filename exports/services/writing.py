"""Writing a snapshot's files: every chosen format, split by prompt, streamed chunk by chunk.

`snapshot_write(project=..., opts=..., dest=...)` fills `dest` with one file per format and
split that has rows (an empty split gets no file: `stats.omitted` lists it) plus the dataset card, and returns the file table and the statistics the manifest and
the card report. Splits come from the prompt's identity (annotate.models.split_bucket), so a
prompt lands in the same split in every format and every snapshot with the same test ratio.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from annotate.models import Project
from exports.services.options import ExportOptions
from exports.services.source import (
    LEAN_COLUMNS,
    RANKING_COLUMNS,
    demonstrations_queryset,
    iter_demos,
    iter_task_bundles,
    pseudonyms_for,
    rankings_queryset,
)
from exports.writers import FORMATS, schemas
from exports.writers.records import WriteOptions
from exports.writers.sink import Sink

SPLITS = ("train", "test")
EXTENSIONS = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "parquet": ".parquet"}


class Stats:
    """Counts for the manifest and the dataset card, gathered as the rows stream past."""

    def __init__(self):
        self.tasks = 0
        self.submissions = Counter()  # by outcome
        self.groups = 0
        self.pairs = 0
        self.tied_pairs = 0
        self.demos = 0
        self.prompts = {s: set() for s in SPLITS}
        self.labelers = set()
        self.ratings = Counter()
        self.flags = Counter()
        self.tiers_per_ranking = Counter()
        self.k = Counter()
        self.sources = Counter()
        self.model_versions = Counter()
        self.agreements: list[float] = []
        self.omitted: list[dict] = []  # split files not written because they had no rows

    def add_bundle(self, bundle) -> None:
        # Plain loops and dict.get: this runs once per task, a million times in a big export.
        self.tasks += 1
        if bundle.agreement is not None:
            self.agreements.append(bundle.agreement)
        ratings, flags = self.ratings, self.flags
        for g in bundle.submissions:
            self.submissions[g.outcome] += 1
            self.labelers.add(g.labeler)
            self.sources[g.source] += 1
            for r in g.ratings:
                if r is not None:
                    ratings[r] += 1
            for fl in g.flags:
                for f in fl:
                    flags[f] += 1
        for g in bundle.merged:
            self.groups += 1
            self.prompts[g.split].add(g.prompt_id)
            k = len(g.completions)
            self.k[k] += 1
            self.tiers_per_ranking[len(g.tiers)] += 1
            if len(g.tiers) == k:  # a strict order: no tie
                self.pairs += k * (k - 1) // 2
            else:
                ranked = sum(len(t) for t in g.tiers)
                ties = sum(len(t) * (len(t) - 1) // 2 for t in g.tiers)  # = len(tied_pairs(g.tiers))
                self.pairs += ranked * (ranked - 1) // 2 - ties  # = len(ranked_pairs(g.tiers))
                self.tied_pairs += ties
            for mv in g.model_versions:
                if mv is not None:
                    self.model_versions[mv] += 1

    def as_dict(self) -> dict:
        agreement = sum(self.agreements) / len(self.agreements) if self.agreements else None
        return {
            "tasks": self.tasks, "submissions": sum(self.submissions.values()),
            "submissions_by_outcome": dict(sorted(self.submissions.items())), "ranking_rows": self.groups,
            "pairs_all": self.pairs, "tied_pairs_dropped": self.tied_pairs, "demonstrations": self.demos,
            "prompts": {s: len(p) for s, p in self.prompts.items()}, "labelers": len(self.labelers),
            "ratings": {str(k): v for k, v in sorted(self.ratings.items())},
            "flags": dict(sorted(self.flags.items())),
            "tiers_per_ranking": {str(k): v for k, v in sorted(self.tiers_per_ranking.items())},
            "candidates_per_task": {str(k): v for k, v in sorted(self.k.items())},
            "sources": dict(sorted(self.sources.items())),
            "agreement": {"mean_task_agreement": agreement, "tasks_with_overlap": len(self.agreements)},
        }


def _open_sinks(dest: Path, opts: ExportOptions) -> dict:
    table = schemas(margin=opts.margin != "none") if opts.file_type == "parquet" else {}
    ext = EXTENSIONS[opts.file_type]
    return {(name, split): Sink(dest / name / f"{split}{ext}", opts.file_type, table.get(FORMATS[name].schema))
            for name in opts.formats for split in SPLITS}


def snapshot_write(*, project: Project, opts: ExportOptions, dest: Path,
                   progress: Callable[[float, str], None] | None = None) -> tuple[dict, Stats]:
    """Write every format's files under `dest`; returns ({relative path: file info}, stats)."""
    dest = Path(dest)
    wopts = WriteOptions(pairs=opts.pairs, margin=opts.margin, rating_min=project.rating_scale["min"],
                         rating_max=project.rating_scale["max"])
    names = pseudonyms_for(project=project, opts=opts)
    sinks = _open_sinks(dest, opts)
    # JSONL formats with a `lines` fast path yield ready-encoded lines (byte-identical to rows).
    fast = opts.file_type != "parquet"
    by_reads = {reads: [(n, FORMATS[n].lines if fast and FORMATS[n].lines else FORMATS[n].rows,
                         bool(fast and FORMATS[n].lines)) for n in opts.formats if FORMATS[n].reads == reads]
                for reads in ("groups", "submissions", "demos")}
    stats = Stats()
    ranking_tasks = rankings_queryset(project=project, opts=opts).values("task_id").distinct().count()
    demo_count = demonstrations_queryset(project=project, opts=opts).count() if by_reads["demos"] else 0
    total = max(1, ranking_tasks + demo_count)
    done, report_every = 0, max(1, opts.chunk_size)
    try:
        columns = RANKING_COLUMNS if by_reads["submissions"] else LEAN_COLUMNS
        for bundle in iter_task_bundles(project=project, opts=opts, names=names, columns=columns):
            stats.add_bundle(bundle)
            for name, rows, encoded in by_reads["groups"]:
                for g in bundle.merged:
                    sink = sinks[(name, g.split)]
                    if encoded:
                        sink.write_lines(rows(g, wopts))
                    else:
                        for row in rows(g, wopts):
                            sink.write(row)
            for name, rows, _ in by_reads["submissions"]:
                for g in bundle.submissions:
                    sink = sinks[(name, g.split)]
                    for row in rows(g, wopts):
                        sink.write(row)
            done += 1
            if progress and done % report_every == 0:
                progress(0.95 * done / total, f"{done:,} of {ranking_tasks:,} ranked tasks written")
        if by_reads["demos"]:
            for demo in iter_demos(project=project, opts=opts, names=names):
                stats.demos += 1
                stats.prompts[demo.split].add(demo.prompt_id)
                stats.labelers.add(demo.labeler)
                for name, rows, _ in by_reads["demos"]:
                    sink = sinks[(name, demo.split)]
                    for row in rows(demo, wopts):
                        sink.write(row)
                done += 1
                if progress and done % report_every == 0:
                    progress(0.95 * done / total, f"{done - ranking_tasks:,} of {demo_count:,} demonstrations written")
    except BaseException:
        for sink in sinks.values():  # close them all; the error that stopped the writing is the one raised
            sink.abort()
        raise
    files, first_error = {}, None
    for (name, split), sink in sinks.items():
        try:
            info = sink.close()
        except Exception as exc:  # close the others too, then report the first failure
            first_error = first_error or exc
            continue
        relative = sink.path.relative_to(dest).as_posix()
        if not info["rows"]:
            # datasets.load_dataset refuses an empty split file ("corresponds to no data"): a
            # split without rows gets no file, and the manifest says which were left out.
            sink.path.unlink(missing_ok=True)
            stats.omitted.append({"file": relative, "format": name, "split": split, "reason": "no rows"})
            continue
        files[relative] = dict(info, format=name, split=split)
    if first_error is not None:
        raise first_error
    return files, stats
