"""A real Spark standalone cluster on loopback, started from the pyspark wheel: a Master, one Worker and a Spark
Connect server (itself an application on the cluster), each in a process group of its own, on free ports.

The Connect server's application is capped at one core, so a classic job submitted beside it (``spark.master`` =
the cluster) still gets an executor on the two-core worker. Its catalog is Hive (a Derby metastore in the
cluster's directory), so tests can create the catalog tables a ``source: hive`` node reads. Logs stay in the
cluster's temporary directory and are shown when something does not start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
START_TIMEOUT_SECONDS = 180


@dataclass
class SparkCluster:
    """Where the cluster listens, and what the tests need to reach it."""

    directory: Path
    master_url: str
    master_ui: str
    connect_url: str
    connect_ui: str
    warehouse: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def executor_tasks(self) -> dict[str, int]:
        """Tasks each executor of the Connect application has run (the driver excluded), from its REST API."""
        with urllib.request.urlopen(f"{self.connect_ui}/api/v1/applications", timeout=60) as response:
            application = json.load(response)[0]["id"]
        url = f"{self.connect_ui}/api/v1/applications/{application}/executors"
        with urllib.request.urlopen(url, timeout=60) as response:
            return {item["hostPort"]: item["totalTasks"] for item in json.load(response) if item["id"] != "driver"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def master_state(master_ui: str) -> dict:
    with urllib.request.urlopen(f"{master_ui}/json/", timeout=5) as response:
        return json.load(response)


def cluster_environment() -> dict[str, str]:
    """The environment of the cluster's processes: the wheel as SPARK_HOME, loopback only, no Connect mode
    inherited from a client in this process."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_"))}
    environment.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1")
    return environment


def _start(command: list[str], log: Path, environment: dict[str, str], cwd: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=cwd, start_new_session=True
        )


def _wait(condition, what: str, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            break
        try:
            if condition():
                return
        except (OSError, ValueError):  # not listening yet, or a UI still starting answers HTML, not JSON
            pass
        time.sleep(0.5)
    tails = "\n".join(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]) for log in logs)
    raise RuntimeError(f"the Spark cluster did not start: {what}\n{tails}")


def start_cluster(worker_cores: int = 2, connect_cores: int | None = 1, memory: str = "768m") -> SparkCluster:
    """Master, Worker (``worker_cores``), and a Connect server (capped at ``connect_cores``; ``None``: every core),
    its driver and executor given ``memory`` each; returns once all three serve."""
    directory = Path(tempfile.mkdtemp(prefix="seeknal-spark-"))
    environment = cluster_environment()
    master_port, master_ui_port, worker_ui_port = free_port(), free_port(), free_port()
    connect_port, connect_ui_port = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{master_port}"
    master_ui = f"http://127.0.0.1:{master_ui_port}"
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    cluster = SparkCluster(
        directory=directory,
        master_url=master_url,
        master_ui=master_ui,
        connect_url=f"sc://127.0.0.1:{connect_port}",
        connect_ui=f"http://127.0.0.1:{connect_ui_port}",
        warehouse=directory / "warehouse",
    )
    logs = [directory / "master.log", directory / "worker.log", directory / "connect.log"]
    try:
        cluster.processes.append(
            _start(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(master_port), "--webui-port", str(master_ui_port)],
                logs[0], environment, directory,
            )
        )
        cluster.processes.append(
            _start(
                [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
                 "--cores", str(worker_cores), "--memory", "6g", "--webui-port", str(worker_ui_port),
                 "--work-dir", str(directory / "work")],
                logs[1], environment, directory,
            )
        )
        _wait(lambda: len(master_state(master_ui).get("workers", [])) >= 1, "worker registration", cluster.processes, logs)
        metastore = directory / "metastore_db"
        connect_settings = {
            "spark.connect.grpc.binding.port": connect_port,
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.executor.memory": memory,
            "spark.driver.memory": memory,
            "spark.ui.port": connect_ui_port,
            "spark.sql.shuffle.partitions": 2,
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(cluster.warehouse),
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={directory}",
        }
        if connect_cores is not None:
            connect_settings["spark.cores.max"] = connect_cores
        command = [str(SPARK_HOME / "bin" / "spark-submit"), "--class",
                   "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", master_url,
                   "--name", "seeknal-connect"]
        for key, value in connect_settings.items():
            command += ["--conf", f"{key}={value}"]
        command.append("spark-internal")
        cluster.processes.append(_start(command, logs[2], environment, directory))
        _wait(lambda: _listening(connect_port) and _connect_app_running(master_ui), "Spark Connect", cluster.processes, logs)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _connect_app_running(master_ui: str) -> bool:
    return any(app.get("name") == "seeknal-connect" for app in master_state(master_ui).get("activeapps", []))


def stop_cluster(cluster: SparkCluster) -> None:
    """Stop the Connect server, then the Worker and Master, each by its process group (their JVMs included)."""
    for process in reversed(cluster.processes):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    for process in reversed(cluster.processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
