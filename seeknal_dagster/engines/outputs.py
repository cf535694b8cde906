"""Node outputs on disk: written atomically, described cheaply.

A node's output is replaced in one ``os.replace``: a failed or killed node leaves the previous good file where
downstream nodes read it, never a half-written one.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


#: Files up to this size are hashed whole for their data version; larger ones by size and Parquet footer.
FULL_HASH_LIMIT = 256 * 1024 * 1024


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final``, on error it is removed.

    The temporary is hidden (``.name.tmp-<pid>``) and has no ``.parquet`` suffix, so no reader or glob of outputs
    ever picks it up; one left by a killed writer is deleted by the next write of the same output.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(final)
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


def scratch_path(final: Path, purpose: str) -> Path:
    """A hidden file beside ``final`` for a step of computing it (``.name.tmp-<purpose>-<pid>``): never read as an
    output, and deleted like an abandoned temporary when its process is gone."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.tmp-{purpose}-{os.getpid()}")


def remove_abandoned_temporaries(final: Path) -> None:
    """Delete the temporaries of ``final`` whose writing process is gone (killed by SIGKILL, OOM, a lost host);
    a temporary whose writer still runs is another run's write in progress and is left alone."""
    for leftover in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        pid = leftover.name.rpartition("-")[2]
        if pid.isdigit() and not process_exists(int(pid)):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


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


def output_fingerprint(path: Path) -> str:
    """The data version of a node's output. A Parquet file written here is known by its size and footer, which
    records every row group's row count, sizes and column statistics: as telling as hashing the whole file
    for our own outputs, without reading gigabytes after every node."""
    if path.suffix != ".parquet":
        return file_fingerprint(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 8))
        tail = handle.read(8)
        footer_length = int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0
        handle.seek(max(0, size - 8 - footer_length))
        footer = handle.read()
    return hashlib.blake2b(str(size).encode() + footer, digest_size=16).hexdigest()
