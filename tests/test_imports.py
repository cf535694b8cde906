"""Every module of the package imports on its own, first, in a fresh interpreter: no import cycle hides behind the
order in which the rest of the suite happens to import things."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import seeknal_dagster

REPOSITORY = Path(__file__).resolve().parents[1]


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = sorted(
        module.name for module in pkgutil.walk_packages(seeknal_dagster.__path__, prefix="seeknal_dagster.")
    )
    # One interpreter for speed: before each import every seeknal_dagster module is forgotten, so each is imported
    # first, as `python -c "import <module>"` would (third-party packages stay loaded; they cannot cycle with ours).
    script = textwrap.dedent(
        """
        import importlib, sys, traceback
        failures = []
        for name in sys.argv[1:]:
            for loaded in [key for key in sys.modules if key == "seeknal_dagster" or key.startswith("seeknal_dagster.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failures.append(name + ":\\n" + traceback.format_exc(limit=-3))
        print("\\n".join(failures))
        sys.exit(1 if failures else 0)
        """
    )
    # Two interpreters side by side, each with every other module: the machine's cores share the work.
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *modules[half::2]], cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for half in (0, 1)
    ]
    outputs = [run.communicate()[0] for run in runs]
    assert len(modules) > 50
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
