"""Runs as Ray tasks: on a local Ray runtime (``--ray``) or an existing cluster
(``--ray ADDRESS`` or ``$RAY_ADDRESS``). ``pip install 'pixengine[ray]'``.

Each run (or run segment, between halving rungs) is one task with the resources its device
needs (``num_gpus=1`` for CUDA, or a fraction with ``--gpus-per-run``). Ray retries a task
whose worker died; the retry finds the run's checkpoint in its folder and resumes from it.
Outputs go straight into the sweep folder when the node can reach it (same path, shared
storage); otherwise the task runs in a scratch folder and returns the files to the driver.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterable

from ..errors import ConfigError, PixengineError

#: Seconds to wait for a cluster address to answer before giving up.
CONNECT_TIMEOUT = 10.0


def _execute(task: dict) -> dict:
    from .worker import execute

    return execute(task)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise PixengineError("--ray needs Ray, which is not installed: pip install 'pixengine[ray]'") from None
    return ray


def check_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast, with a clear message, when nothing answers at a cluster's ``HOST:PORT``
    (Ray itself would retry for a long time)."""
    if "://" in address:  # ray://HOST:PORT (Ray Client)
        address = address.split("://", 1)[1]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"'{address}' is not a Ray address; give HOST:PORT of the head node, e.g. 127.0.0.1:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise PixengineError(
            f"no Ray cluster answers at {address} ({reason} after at most {timeout:g} s). Start one with "
            f"`ray start --head --port {port}`, or check the address (and RAY_ADDRESS)"
        ) from None


def gpus_for(device: str, cluster_gpus: float, gpus_per_run: float | None) -> float:
    """GPUs a run asks Ray for: its device's, or a fraction (``gpus_per_run``) to share one."""
    wants_gpu = device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)
    if not wants_gpu:
        return 0
    return gpus_per_run if gpus_per_run is not None else 1


class RayExecutor:
    kind = "ray"

    def __init__(self, address: str | None = None, *, device: str = "auto", cpus_per_run: float = 1,
                 gpus_per_run: float | None = None, retries: int = 3, num_cpus: int | None = None):
        ray = _import_ray()
        self._ray = ray
        self._owned = False
        if ray.is_initialized():
            pass  # a runtime this process started already (a notebook, a test): use it
        elif address in (None, "", "local"):
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._owned = True
        else:
            if address != "auto":  # "auto": the cluster this machine is a node of, found by Ray
                check_address(address)
            os.environ.setdefault("RAY_gcs_rpc_server_connect_timeout_s", str(int(CONNECT_TIMEOUT)))
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise PixengineError(f"cannot join the Ray cluster at {address}: {exc}") from None
            self._owned = True
        resources = ray.cluster_resources()
        self.gpus = gpus_for(device, float(resources.get("GPU", 0)), gpus_per_run)
        if self.gpus and not resources.get("GPU"):
            self.close()
            raise PixengineError(f"the runs ask for a GPU (device {device}) and the Ray cluster has none")
        self.cpus = cpus_per_run
        self.address = address if address not in (None, "", "local") else "a local Ray runtime"
        self._remote = ray.remote(_execute).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                                     max_retries=retries, retry_exceptions=False)

    def describe(self) -> str:
        share = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"Ray ({self.address}): {self.cpus:g} CPU{share} per run"

    def run(self, tasks: Iterable[dict], on_outcome: Callable[[dict], None]) -> None:
        ray = self._ray
        refs = {self._remote.remote(task): task for task in tasks}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    task = refs.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # retries spent, or the task raised
                        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        outcome = {"id": task["id"], "status": "failed", "error": f"{type(exc).__name__}: {message}"}
                    on_outcome(outcome)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # SIGINT in the worker: the run stops, keeping its checkpoint
            raise

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        sys.stdout.flush()
