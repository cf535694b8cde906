"""Runs one Seeknal Python node's function in this interpreter and writes what it returns as Parquet.

``seeknal_dagster.engines.python_process`` starts this file as ``python run_node.py <job.json>`` in a process of
its own, so whatever the function does (raise, call ``sys.exit``, hang, crash the interpreter) ends here and
nowhere else. The job names the pipeline file, the function, the Parquet file of each input and where to write;
the outcome goes to the job's result file as JSON. The function's own output goes to stdout and stderr, which
the parent forwards to the run's log.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import inspect
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

RUNTIME_DIR = str(Path(__file__).resolve().parent)
#: Seeknal modules provided here; importing another one fails with a hint.
PROVIDED = "seeknal.pipeline"


class NodeFailure(Exception):
    """A failure told in words: no traceback of this runner's frames is worth showing."""


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the process that started this one dies (a run worker killed outright), on Linux."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def load_module(file: Path) -> Any:
    name = "seeknal_pipeline_" + re.sub(r"\W", "_", file.stem)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def node_function(module: Any, node_id: str, function_name: str, file: str) -> Callable[..., Any]:
    from seeknal.pipeline.decorators import get_registered_nodes

    declared = get_registered_nodes().get(node_id)
    if declared is not None:
        return declared.function
    function = getattr(module, function_name, None)
    if callable(function):
        return function
    raise NodeFailure(f"{file} did not declare {node_id} when it ran (no decorated function {function_name}())")


def call(function: Callable[..., Any], context: Any) -> Any:
    """``function(ctx)``, or ``function()`` for a source written without a parameter."""
    positional = [
        parameter
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    return function(context) if positional else function()


def write_output(result: Any, path: Path) -> dict[str, Any]:
    """Write the function's rows to ``path`` as Seeknal does (a DataFrame via ``to_parquet(index=False)``)."""
    import pyarrow
    import pyarrow.parquet

    result_type = f"{type(result).__module__}.{type(result).__qualname__}"
    pandas, duckdb = sys.modules.get("pandas"), sys.modules.get("duckdb")
    if pandas is not None and isinstance(result, pandas.DataFrame):
        result.to_parquet(path, index=False)
    elif duckdb is not None and isinstance(result, duckdb.DuckDBPyRelation):
        result.write_parquet(str(path))
    elif hasattr(result, "__arrow_c_stream__"):  # pyarrow tables and readers, polars, …
        pyarrow.parquet.write_table(pyarrow.table(result), path)
    else:
        shown = "None" if result is None else f"a {result_type}"
        raise NodeFailure(
            f"returned {shown}: a node's function must return its rows, as a pandas DataFrame, a DuckDB "
            "relation or a pyarrow Table"
        )
    metadata = pyarrow.parquet.read_metadata(path)
    return {"rows": metadata.num_rows, "result_type": result_type}


def describe_failure(error: BaseException) -> dict[str, Any]:
    """The error as the user should see it: its message and the traceback of their own code."""
    if isinstance(error, NodeFailure):
        return {"message": str(error), "traceback": ""}
    if isinstance(error, SystemExit):
        message = f"called sys.exit({error.code!r}) instead of returning its rows"
    else:
        message = f"{type(error).__name__}: {error}"
        if isinstance(error, ModuleNotFoundError) and (error.name or "").startswith("seeknal."):
            message += f" (seeknal-dagster provides {PROVIDED} only)"
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith((RUNTIME_DIR, "<frozen"))
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.StackSummary.from_list(frames).format()] if frames else []
    return {"message": message, "traceback": "".join(lines)}


def main(job_path: str) -> None:
    faulthandler.enable()  # a crash prints where it happened, for the parent to report
    job = json.loads(Path(job_path).read_text())
    die_with_parent(job["parent_pid"])
    sys.path.insert(1, job["project_path"])
    context = None
    try:
        from seeknal.pipeline.context import PipelineContext

        module = load_module(Path(job["file"]))
        function = node_function(module, job["node_id"], job["function"], job["file"])
        context = PipelineContext(
            project_path=job["project_path"],
            target_dir=job["target_dir"],
            node_id=job["node_id"],
            node_kind=job["kind"],
            inputs=job["inputs"],
            params=job["params"],
            node_meta=job["node_meta"],
        )
        outcome = {"ok": True, **write_output(call(function, context), Path(job["output"]))}
    except BaseException as error:  # noqa: BLE001 - whatever the user's code raised, including SystemExit
        outcome = {"ok": False, **describe_failure(error)}
    finally:
        if context is not None:
            context.close()
    Path(job["result"]).write_text(json.dumps(outcome))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads the function left running must not keep the process alive


if __name__ == "__main__":
    main(sys.argv[1])
