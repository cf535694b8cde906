"""Node outputs on disk: written atomically, described cheaply.

An output is a Parquet file (DuckDB writes one) or a directory of Parquet part files (Spark writes one), at the
same path, ``target/intermediate/<kind>_<name>.parquet``. Either way it is replaced in one rename: a failed or
killed node leaves the previous good output where downstream nodes read it, never a half-written one. Replacing a
directory, or a file by a directory, is an atomic exchange of the two paths (Linux ``renameat2``), after which the
old output is deleted.
"""

from __future__ import annotations

import ctypes
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
        replace_output(temporary, final)
    finally:
        remove_path(temporary)


def replace_output(new: Path, final: Path) -> None:
    """Put ``new`` (a file or a directory) at ``final`` in one step; readers see the old output or the new one.

    A file over a file is ``os.replace``. Anything involving a directory is swapped with ``renameat2(…,
    RENAME_EXCHANGE)`` and the old output, now at ``new``, is deleted. Where the kernel or filesystem cannot
    exchange, the old output is first renamed aside: for that instant the path does not exist.
    """
    if not final.exists() or (new.is_file() and final.is_file()):
        os.replace(new, final)
        return
    if _exchange(new, final):
        remove_path(new)
        return
    aside = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, aside)
    os.replace(new, final)
    remove_path(aside)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux ≥ 3.15); ``False`` where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return done == 0


def remove_path(path: Path) -> None:
    """Delete a file or a directory tree, if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of an output: the file itself, or a directory's part files in order (Spark's
    ``_SUCCESS`` and hidden checksum files are not data)."""
    if path.is_dir():
        return sorted(part for part in path.glob("*.parquet") if part.is_file())
    return [path]


def parquet_glob(path: Path) -> str:
    """What a Parquet reader (DuckDB's ``read_parquet``) is given for an output, file or directory."""
    return str(path / "*.parquet") if path.is_dir() else str(path)


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
            remove_path(leftover)


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
    """The data version of a node's output: a hash of its bytes (a directory, Spark's output: of its part files in
    order, not of their names, which hold a per-write id). An output over :data:`FULL_HASH_LIMIT` is known by the
    size and Parquet footer of each part instead (every row group's row count, sizes and column statistics), so a
    run does not read gigabytes again after writing them; only there can an edit that keeps every size and
    statistic (two values swapped) keep the version."""
    parts = parquet_files(path) if path.is_dir() else [path]
    whole = sum(part.stat().st_size for part in parts) <= FULL_HASH_LIMIT
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(file_fingerprint(part).encode() if whole or part.suffix != ".parquet" else _parquet_identity(part))
    return digest.hexdigest()


def _parquet_identity(path: Path) -> bytes:
    """A Parquet file's size and footer."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 8))
        tail = handle.read(8)
        footer_length = int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0
        handle.seek(max(0, size - 8 - footer_length))
        footer = handle.read()
    return str(size).encode() + footer
