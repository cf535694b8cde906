"""How much memory a run's DuckDB database may hold, and where it spills the rest.

DuckDB's own default limit is 80 % of the machine's RAM for each database. A Dagster run worker shares its
machine with the webserver, the daemon and other runs, so a run that sorts or joins more than fits would take
nearly all of it. Every run therefore starts with a limit (by default :func:`default_memory_limit`) and a spill
directory of its own, and DuckDB writes what does not fit there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.engines.outputs import process_exists

if TYPE_CHECKING:
    import duckdb

#: DuckDB's tuning guide advises 1–4 GB a thread for joins and aggregates; past that it spills.
DEFAULT_BYTES_PER_THREAD = 1_500_000_000
#: …and never more than this share of the machine's RAM.
DEFAULT_RAM_SHARE = 0.5
#: Under a project's target directory: the parent of each step's spill directory.
SPILL_SUBDIRECTORY = Path("seeknal_dagster") / "tmp"
#: A step's spill directory is ``seeknal-<pid>-<random>``: only such directories are ever removed.
SPILL_PREFIX = "seeknal-"



def default_memory_limit(connection: "duckdb.DuckDBPyConnection") -> str:
    """1.5 GB for each thread the connection's database runs, at most half the RAM (see the module docstring)."""
    [(threads,)] = connection.execute("SELECT current_setting('threads')").fetchall()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(int(threads) * DEFAULT_BYTES_PER_THREAD, int(ram * DEFAULT_RAM_SHARE)) // 1_000_000}MB"


@contextmanager
def spill_directory(parent: Path) -> Iterator[Path]:
    """A fresh directory under ``parent`` for one step's spilled data, removed when the step ends.

    DuckDB names its spill files alike in every process, so two runs must never share a directory. One left by a
    process that is gone (killed, out of memory) is removed by the next step that spills under ``parent``.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in parent.glob(f"{SPILL_PREFIX}*"):
        pid = leftover.name.split("-")[1]
        if leftover.is_dir() and pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    directory = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=parent))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
