"""Downloading a snapshot as one zip, streamed: files are read and sent in 1 MiB blocks, so
a multi-gigabyte snapshot needs no temporary zip and no memory to match."""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from exports.models import ExportSnapshot

BLOCK = 1 << 20
EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same snapshot zips to the same bytes


class _Pipe:
    """A write-only, unseekable sink that zipfile writes into and the response drains."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        chunks, self.chunks = self.chunks, []
        yield from chunks


def snapshot_zip_name(snapshot: ExportSnapshot) -> str:
    return f"ranklab-project{snapshot.project_id}-v{snapshot.version}.zip"


def snapshot_zip_stream(snapshot: ExportSnapshot) -> Iterator[bytes]:
    root = Path(snapshot.path)
    folder = Path(snapshot_zip_name(snapshot)).stem
    names = ["manifest.json"] + sorted(snapshot.manifest.get("files", {}))
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name in names:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=EPOCH)
            with archive.open(info, "w", force_zip64=True) as dest, open(root / name, "rb") as src:
                for block in iter(lambda: src.read(BLOCK), b""):
                    dest.write(block)
                    yield from pipe.drain()
            yield from pipe.drain()
    yield from pipe.drain()
