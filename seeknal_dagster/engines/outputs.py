"""Node outputs on disk: written atomically, described cheaply.

A node's output is replaced in one ``os.replace``: a failed or killed node leaves the previous good file where
downstream nodes read it, never a half-written one.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

#: Files up to this size are hashed whole for their data version; larger ones by size and Parquet footer.
FULL_HASH_LIMIT = 256 * 1024 * 1024


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final``, on error it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


def file_fingerprint(path: Path) -> str:
    """A content fingerprint: a hash of the bytes for ordinary files, of size and footer for huge ones."""
    digest = hashlib.blake2b(digest_size=16)
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        else:
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read())
    return digest.hexdigest()


def parquet_row_count(path: Path) -> int:
    return pq.read_metadata(path).num_rows
