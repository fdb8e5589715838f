"""Shared fixtures. Ray: ONE local cluster per pytest run, for the tests that ask for it."""

from __future__ import annotations

import subprocess
import time

import pytest


def _ray_processes(session_dir: str) -> list[str]:
    """Command lines of processes that belong to the Ray session in ``session_dir``."""
    out = subprocess.run(["pgrep", "-af", session_dir], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray (2 CPUs, no dashboard), shut down at the end of the session.

    Ray 2.60 on Linux maps a loopback node address to the machine's routable one
    (``services.resolve_ip_for_localhost``) and its servers listen on all interfaces, so
    "loopback only" cannot be asked of ``ray.init``; its token authentication guards them.

    Teardown fails if any process of this Ray session (raylet, gcs_server, workers) is still
    alive 15 s after ``ray.shutdown()``.
    """
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    session_dir = ray.get_runtime_context().gcs_address  # fallback identifier
    try:
        from ray._private.worker import global_worker  # session path of this cluster

        session_dir = global_worker.node.get_session_dir_path()
    except (ImportError, AttributeError):  # private API moved: check by GCS address instead
        pass
    yield ray
    ray.shutdown()
    deadline = time.monotonic() + 15
    while _ray_processes(session_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _ray_processes(session_dir)
    if left:
        pytest.fail(f"Ray processes left after shutdown: {left[:3]}")


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the OS's pick, released again)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def d3_samples(tmp_path_factory):
    """A factory: ``make(shots)`` writes a d = 3, uniform p = 0.01 circuit (``circuit.stim``)
    and that many shots of its detection events (``dets.b8``) into a new folder; returns
    (folder, the sampled chunk)."""
    from qec import NoiseModel, Task, sample_detectors, write_sample_file

    def make(shots: int):
        folder = tmp_path_factory.mktemp("d3_samples")
        task = Task(distance=3, noise=NoiseModel.uniform(0.01))
        (folder / "circuit.stim").write_text(str(task.circuit()))
        chunk = next(sample_detectors(task.circuit(), shots=shots, seed=1, chunk_shots=shots))
        write_sample_file(folder / "dets.b8", format="b8", dets_bit_packed=chunk.dets,
                          num_detectors=task.circuit().num_detectors)
        return folder, chunk

    return make
