"""Ray for one run: join a cluster that answers, or start a local one and say how exposed it is.

``qecpipe stream --address HOST:PORT`` (or ``auto``) first checks that something answers at
the address within :data:`CONNECT_TIMEOUT_S` seconds: ``ray.init`` alone retries forever on a
dead address or a stale ``auto`` record. Without an address a local Ray is started for the run
and shut down after it. Ray 2.60 on Linux cannot be held to the loopback interface (it
replaces 127.0.0.1 by the machine's routable address and its servers listen on every
interface); when that happens the run says so on stderr, with the address it serves on.

Authentication is Ray's own: Ray 2.60 starts clusters (``ray.init``, ``ray start --head``)
with token authentication, the token in ``~/.ray/auth_token``; a process joining one must
run with Ray's ``RAY_AUTH_MODE=token`` and that token, and one joining a cluster started
with ``RAY_AUTH_MODE=disabled`` must not. A refusal either way becomes one line saying so
(:func:`auth_hint`).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qec import InputError

CONNECT_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


def local_cpus() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def resolve_address(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """'auto' or HOST:PORT -> HOST:PORT of a Ray head that accepts a TCP connection now.

    Examples:
        >>> resolve_address("127.0.0.1:1", timeout_s=1.0)
        Traceback (most recent call last):
        ...
        qec.errors.InputError: --address='127.0.0.1:1': nothing answers at 127.0.0.1:1 ...
    """
    target = _auto_address() if address == "auto" else address
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--address={address!r} must be auto or HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise InputError(f"--address={address!r}: nothing answers at {host}:{port} within "
                         f"{timeout_s:g} s ({why}); start a head with `ray start --head` or "
                         "check the address") from exc
    return f"{host}:{port}"


def _auto_address() -> str:
    """The address of the cluster last started on this machine (Ray's own record of it)."""
    record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    try:
        text = record.read_text().strip()
    except OSError:
        raise InputError(f"--address='auto': no Ray cluster was started on this machine "
                         f"({record} is missing); start one with `ray start --head`") from None
    if not text:
        raise InputError(f"--address='auto': {record} is empty; start a cluster with "
                         "`ray start --head`")
    return text


@contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None) -> Iterator[bool]:
    """Join ``address`` ('auto' or HOST:PORT, checked first) or start a local Ray (``num_cpus``
    CPUs, default the cores here, no dashboard), shut down at the end if this call started
    it. Ray already initialised in this process (a notebook, the tests) is used as it is and
    left running, unless ``address`` names another cluster: that is refused, never ignored.
    Yields whether this call started Ray."""
    import ray

    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in (None, "auto", current) and resolve_address(address) != current:
            raise InputError(f"--address={address!r}: this process already runs Ray (its "
                             f"cluster is at {current}); give no --address to use it, or "
                             "ray.shutdown() first")
        yield False
        return
    if address is None:
        ray.init(address="local", num_cpus=num_cpus or local_cpus(), include_dashboard=False,
                 log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")
        _say_exposure(ray.get_runtime_context().gcs_address)
    else:
        target = resolve_address(address)
        try:
            ray.init(address=target, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ray.exceptions.RayError) as exc:
            raise InputError(f"--address={address!r}: Ray answers at {target} but this "
                             f"process could not join ({one_line(exc)}); {auth_hint()}"
                             ) from None
    try:
        yield True
    finally:
        ray.shutdown()


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's run to dozens of lines)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def auth_hint() -> str:
    """What to check when a cluster refuses this process, given its ``RAY_AUTH_MODE``."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return ("this process runs with RAY_AUTH_MODE=token: check that its token "
                "(~/.ray/auth_token or RAY_AUTH_TOKEN) is the cluster's, and that the cluster "
                "was not started with RAY_AUTH_MODE=disabled")
    return ("a cluster started by Ray 2.60's `ray start` requires token authentication: run "
            "with RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token (or "
            "RAY_AUTH_TOKEN)")


def _say_exposure(gcs_address: str) -> None:
    host = gcs_address.rpartition(":")[0]
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Ray could not be held to loopback: it serves on %s (GCS %s) and its "
                    "servers listen on every interface; firewall this machine's Ray ports "
                    "(README, 'Deployment on a Ray cluster')", host, gcs_address)
