"""Reading import files safely: gzip or plain, UTF-8 only, one bounded line at a time.

A line longer than the limit (8 MiB unless settings.IMPORT_MAX_LINE_BYTES says otherwise)
is refused without being read whole, so a 2 GB line costs 8 MiB of memory, not 2 GB.
"""
from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class ImportFailure(ValidationError):
    """A problem with one line of an import file (line 0: the file as a whole)."""

    def __init__(self, line: int, problem: str):
        self.line, self.problem = line, problem
        super().__init__(f"line {line}: {problem}" if line else problem)


def max_line_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES))


# Bytes of the (compressed) file read so far by the innermost iter_lines, for progress bars.
READ_BYTES: ContextVar[list[int] | None] = ContextVar("import_read_bytes", default=None)


def _open(path: Path):
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw


def iter_lines(path: Path | str, *, keep_newline: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line, decoded as UTF-8 (a leading BOM is dropped)."""
    limit = max_line_bytes()
    lineno, seen_any = 0, False
    position = [0]
    READ_BYTES.set(position)
    with _open(Path(path)) as f:
        raw_file = getattr(f, "fileobj", f)
        while True:
            try:
                raw = f.readline(limit + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise ImportFailure(lineno + 1, f"the gzip data is corrupt or truncated ({exc}).")
            if not raw:
                break
            position[0] = raw_file.tell()
            lineno += 1
            if len(raw) > limit:
                raise ImportFailure(lineno, f"the line is longer than the limit of {limit / 2**20:g} MiB "
                                            "(is this a JSON array or a binary file instead of JSON Lines?).")
            if lineno == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ImportFailure(lineno, f"the text is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                                            f"{exc.start + 1} of the line); save the file as UTF-8.")
            if "\x00" in text:
                raise ImportFailure(lineno, "the line contains a NUL byte: this looks like a binary file.")
            if text.strip():
                seen_any = True
            yield lineno, text if keep_newline else text.rstrip("\r\n")
    if not seen_any:
        raise ImportFailure(0, "The file is empty: it holds no records.")


def iter_json_objects(path: Path | str) -> Iterator[tuple[int, dict]]:
    """JSON Lines: one object per line; blank lines are allowed and skipped."""
    for lineno, text in iter_lines(path):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # Some of json's messages end in "at" ("Invalid control character at"): one "at" is enough.
            raise ImportFailure(lineno, f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}).")
        if not isinstance(value, dict):
            raise ImportFailure(lineno, f"expected a JSON object, got {type(value).__name__}.")
        yield lineno, value


def iter_csv_rows(path: Path | str) -> Iterator[tuple[int, dict]]:
    """CSV with a header row; quoted fields may span lines (the line number is where the
    record starts)."""
    import csv

    lines = iter_lines(path, keep_newline=True)
    starts: list[int] = []

    def texts():
        for lineno, text in lines:
            starts.append(lineno)
            yield text

    reader = csv.reader(texts())
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailure(0, "The file is empty: it holds no records.")
    except csv.Error as exc:
        raise ImportFailure(1, f"malformed CSV header ({exc}).")
    header = [h.strip().lower() for h in header]
    while True:
        first = len(starts) + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFailure(first, f"malformed CSV ({exc}).")
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ImportFailure(first, f"expected {len(header)} columns ({', '.join(header)}), found {len(row)}.")
        yield first, dict(zip(header, row, strict=True))


def sniff_text(path: Path | str, size: int = 4096) -> str:
    with _open(Path(path)) as f:
        return io.TextIOWrapper(f, encoding="utf-8", errors="replace").read(size)
