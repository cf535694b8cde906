"""Running a Seeknal Python node's function in a fresh interpreter of its own.

A node's function is the user's code: it may raise, call ``sys.exit``, loop forever or crash the interpreter
(a C extension's segfault, ``os.abort()``). Each call therefore gets its own process, started from the same
Python (so the same installed packages; nothing is downloaded), in a session of its own so a timeout kills
whatever it started too. The step running the other nodes only waits for it. The child writes its rows to the
path it is given, which the caller makes a temporary beside the real output (see ``engines/outputs.py``), so a
failed call never touches the previous good file. Its stdout and stderr go to a log file whose lines are
forwarded as they come, up to a bound; an error carries the user's traceback, or, for a crash, the tail of that
log (where ``faulthandler`` shows the Python frames).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

#: Seconds a node's function may run when neither the node nor the project says otherwise (Seeknal's own limit).
DEFAULT_TIMEOUT_SECONDS = 1800.0
#: Lines of a node's output forwarded to the run's log; the rest is counted, not shown.
MAX_FORWARDED_LINES = 200
MAX_LINE_CHARS = 2000
#: Lines of traceback or output kept in an error message.
ERROR_TAIL_LINES = 25
RUNNER = Path(__file__).resolve().parent / "python_runtime" / "run_node.py"
_POLL_SECONDS = 0.2
_READ_BYTES = 1 << 20


class PythonNodeFailure(Exception):
    """The function did not produce its rows; the message says how, in the user's terms."""


@dataclass(frozen=True)
class FunctionCall:
    """One node's function and everything its ``ctx`` needs."""

    node_id: str
    kind: str
    file: Path
    function: str
    project_path: Path
    target_dir: Path
    #: What ``ctx.ref`` accepts (``kind.name``, or a bare name unique among the inputs) → the Parquet it reads.
    inputs: Mapping[str, Path]
    params: Mapping[str, Any] = field(default_factory=dict)
    node_meta: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class FunctionRun:
    """What a successful call wrote."""

    row_count: int
    result_type: str
    output_lines: int


class _LogForwarder:
    """Forwards the first :data:`MAX_FORWARDED_LINES` lines of a growing log file as they come; the rest is only
    measured, so a node printing gigabytes costs neither memory nor a flooded run log."""

    def __init__(self, path: Path, node_id: str, emit: Callable[[str], None]):
        self.path, self.node_id, self.emit = path, node_id, emit
        self.offset = 0
        self.pending = b""
        self.lines = 0
        self.shown_bytes = 0

    def _show(self, raw: bytes) -> None:
        self.lines += 1
        self.shown_bytes += len(raw) + 1
        self.emit(f"{self.node_id} | {raw.decode(errors='replace').rstrip()[:MAX_LINE_CHARS]}")

    def forward(self, final: bool = False) -> None:
        while self.lines < MAX_FORWARDED_LINES:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read(_READ_BYTES)
            if not chunk:
                break
            self.offset += len(chunk)
            *complete, self.pending = (self.pending + chunk).split(b"\n")
            if len(self.pending) > MAX_LINE_CHARS:  # a line without an end yet: show what there is
                complete, self.pending = [*complete, self.pending], b""
            for raw in complete[: MAX_FORWARDED_LINES - self.lines]:
                self._show(raw)
        if not final:
            return
        if self.pending and self.lines < MAX_FORWARDED_LINES:
            self._show(self.pending)
        hidden = self.path.stat().st_size - self.shown_bytes
        if hidden > 0:
            self.emit(f"{self.node_id} | … {hidden:,} more bytes of output not shown")


def _tail(text: str, lines: int = ERROR_TAIL_LINES) -> str:
    kept = text.rstrip().splitlines()
    return "\n".join((["…"] if len(kept) > lines else []) + kept[-lines:])


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    """Kill the child and anything it started (its session), and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _environment(call: FunctionCall) -> dict[str, str]:
    """The run's environment plus what Seeknal's runner sets: the project path and ``SEEKNAL_PARAM_<NAME>``."""
    environment = {**os.environ, "SEEKNAL_PROJECT_PATH": str(call.project_path), "PYTHONUNBUFFERED": "1"}
    environment.update({f"SEEKNAL_PARAM_{name.upper()}": str(value) for name, value in call.params.items()})
    return environment


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_function(call: FunctionCall, output: Path, log: Callable[[str], None]) -> FunctionRun:
    """Call the node's function in a new process and write its rows to ``output`` (Parquet); raise
    :class:`PythonNodeFailure` when it raises, exits, crashes or runs past ``call.timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="seeknal-python-node-") as scratch:
        job, result, log_path = Path(scratch, "job.json"), Path(scratch, "result.json"), Path(scratch, "output.log")
        job.write_text(
            json.dumps(
                {
                    "node_id": call.node_id,
                    "kind": call.kind,
                    "file": str(call.file),
                    "function": call.function,
                    "project_path": str(call.project_path),
                    "target_dir": str(call.target_dir),
                    "inputs": {reference: str(path) for reference, path in call.inputs.items()},
                    "params": dict(call.params),
                    "node_meta": dict(call.node_meta),
                    "output": str(output),
                    "result": str(result),
                    "parent_pid": os.getpid(),
                },
                default=str,
            )
        )
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, str(RUNNER), str(job)],
                cwd=call.project_path,
                env=_environment(call),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        forwarder = _LogForwarder(log_path, call.node_id, log)
        deadline = time.monotonic() + call.timeout
        try:
            while True:
                try:
                    returncode = process.wait(timeout=max(0.0, min(_POLL_SECONDS, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    forwarder.forward()
                    if time.monotonic() >= deadline:
                        _kill_session(process)
                        forwarder.forward(final=True)
                        raise PythonNodeFailure(
                            f"timed out after {call.timeout:g} s and was stopped (set the node's "
                            "dagster={'timeout': seconds}, or dagster: {python_timeout: seconds} in seeknal_project.yml)"
                        ) from None
        finally:
            _kill_session(process)  # also ends what the function left running in the background
        forwarder.forward(final=True)
        outcome = json.loads(result.read_text()) if result.is_file() else None
        if outcome is None:
            raise PythonNodeFailure(_exit_without_result(returncode, log_path.read_text(errors="replace")))
        if not outcome["ok"]:
            traceback = _tail(outcome["traceback"]) if outcome["traceback"] else ""
            raise PythonNodeFailure(outcome["message"] + (f"\n{traceback}" if traceback else ""))
        return FunctionRun(outcome["rows"], outcome["result_type"], forwarder.lines)


def _exit_without_result(returncode: int, output: str) -> str:
    if returncode < 0:
        how = f"its Python process crashed ({_signal_name(returncode)})"
    else:
        how = f"its Python process exited with code {returncode} before returning its rows"
    return how + (f"; last output:\n{_tail(output)}" if output.strip() else "")
