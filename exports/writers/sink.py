"""Where rows go: a JSONL, gzipped JSONL or Parquet file written as rows arrive, with its
SHA-256, byte size and row count at the end.

Byte-identical output for identical rows: JSON with sorted-free but fixed key order (the
writers build dicts in a fixed order), gzip with mtime 0 and no file name, Parquet from the
same pyarrow version. Memory holds one batch of rows at most.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

BATCH_ROWS = 2000
_encode = json.JSONEncoder(ensure_ascii=False).encode


class _HashingFile:
    """A write-only file that hashes what passes through it."""

    def __init__(self, path: Path):
        self._f = open(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._f.write(data)

    def flush(self):
        self._f.flush()

    def close(self):
        self._f.close()

    @property
    def closed(self) -> bool:
        return self._f.closed


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


class Sink:
    def __init__(self, path: Path, file_type: str, schema=None):
        self.path, self.file_type, self.schema = Path(path), file_type, schema
        self.rows = 0
        self._batch: list = []
        self._raw = self._gz = self._pq = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if file_type == "parquet":
            import pyarrow.parquet as pq

            self._pq = pq.ParquetWriter(str(self.path), schema, compression="zstd")
        else:
            self._raw = _HashingFile(self.path)
            if file_type == "jsonl.gz":
                self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)

    def write(self, row: dict) -> None:
        self._batch.append(row if self._pq else _encode(row))
        self.rows += 1
        if len(self._batch) >= BATCH_ROWS:
            self._flush()

    def write_lines(self, lines: list[str]) -> None:
        """Rows already encoded as JSON (JSONL sinks only)."""
        self._batch.extend(lines)
        self.rows += len(lines)
        if len(self._batch) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        if self._pq:
            import pyarrow as pa

            self._pq.write_table(pa.Table.from_pylist(self._batch, schema=self.schema))
        else:
            data = ("\n".join(self._batch) + "\n").encode("utf-8")
            (self._gz or self._raw).write(data)
        self._batch = []

    def close(self) -> dict:
        """Finish the file; returns {"sha256", "bytes", "rows"}. On an error every handle is
        closed all the same, and the first error is the one raised."""
        try:
            self._flush()
            if self._pq:
                self._pq.close()
                return {"sha256": file_sha256(self.path), "bytes": self.path.stat().st_size, "rows": self.rows}
            if self._gz:
                self._gz.close()
            self._raw.close()
        except BaseException:
            self.abort()
            raise
        return {"sha256": self._raw.sha.hexdigest(), "bytes": self._raw.size, "rows": self.rows}

    def abort(self) -> None:
        """Close every handle without finishing the file, ignoring errors: the caller reports
        the error that stopped the writing."""
        for handle in (self._pq, self._gz, self._raw):
            try:
                if handle is not None:
                    handle.close()
            except Exception:  # the first error is already on its way up
                pass
