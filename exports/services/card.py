"""The dataset card (README.md of a snapshot): what is in it, how it was filtered, how much
the labelers agreed. Deterministic (no timestamps) so that the same data gives the same card."""
from __future__ import annotations

from exports.services.options import ExportOptions
from exports.writers import FORMATS


def _table(rows: list[tuple], header: tuple) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bar(n: int, total: int, width: int = 30) -> str:
    return "█" * round(width * n / total) if total else ""


def dataset_card(*, project, opts: ExportOptions, counts: dict, splits: dict) -> str:
    agreement = counts["agreement"]["mean_task_agreement"]
    parts = [
        f"# {project.name}: Ranklab export",
        "",
        "Preference data and demonstrations collected with Ranklab, exported as an immutable snapshot. "
        "`manifest.json` lists every file with its SHA-256; schemas are in Ranklab's docs/formats.md.",
        "",
        "## Contents",
        "",
        _table([
            ("tasks with rankings", counts["tasks"]),
            ("submissions (rankings)", counts["submissions"]),
            ("ranking rows (after merge)", counts["ranking_rows"]),
            ("pairs, all C(K,2)", counts["pairs_all"]),
            ("tied pairs (dropped)", counts["tied_pairs_dropped"]),
            ("demonstrations", counts["demonstrations"]),
            ("prompts in train / test", f"{counts['prompts']['train']} / {counts['prompts']['test']}"),
            ("labelers", counts["labelers"]),
        ], ("what", "count")),
        "",
        "## Files",
        "",
        _table([(name, FORMATS[name].description, by.get("train", 0), by.get("test", 0))
                for name, by in splits.items()], ("format", "what", "train rows", "test rows")),
        "",
        f"Splits are by prompt (test ratio {opts.test_ratio}): no prompt appears in two splits, in any format.",
        "",
        "## Agreement",
        "",
        (f"Mean pairwise agreement among labelers of the same task: **{agreement:.1%}** over "
         f"{counts['agreement']['tasks_with_overlap']} tasks ranked by two or more labelers (InstructGPT reports "
         "72.6 % among its training labelers)." if agreement is not None
         else "No task was ranked by two or more labelers, so agreement is not measured."),
        "",
        "## Labels",
        "",
        "Outcomes: " + (", ".join(f"{k} {v}" for k, v in counts["submissions_by_outcome"].items()) or "none") + ".",
        "",
    ]
    ratings = counts["ratings"]
    if ratings:
        total = sum(ratings.values())
        parts += ["Ratings:", "", "```"] + [f"{k:>3} {_bar(v, total)} {v}" for k, v in ratings.items()] + ["```", ""]
    if counts["flags"]:
        parts += [_table(sorted(counts["flags"].items(), key=lambda kv: -kv[1]), ("flag", "candidates")), ""]
    parts += ["Tiers per ranking: " + ", ".join(f"{k}: {v}" for k, v in counts["tiers_per_ranking"].items()) + ".", ""]
    parts += ["## Filters and options", "", "```"]
    parts += [f"{k}: {v}" for k, v in opts.to_dict().items()] + ["```", ""]
    return "\n".join(parts)
