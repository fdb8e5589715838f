"""``qecpipe serve``: the decoding service on Ray Serve, in the foreground until stopped.

Starts a local Ray (or joins ``--address``), deploys the ingress, pre-decoder and matcher
deployments (``pipelines._serve.app``) with the HTTP ingress on ``--host``:``--port``
(127.0.0.1 by default: Serve's HTTP has no authentication), writes a pid file and waits. Ctrl-C
or SIGTERM (``qecpipe serve --stop --port PORT``) deletes the application, shuts Serve and the
local Ray down and removes the pid file: nothing is left running.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from pipelines._command.common import (
    MAX_ROUNDS,
    add_task_flags,
    add_windowed_decoder_flags,
    integer,
    number,
    task_of,
    windowed_decoder,
    windowed_mode,
)
from qec import InputError, RunFailure, check_fits, check_output_path, estimate_task

STOP_TIMEOUT_S = 120.0
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the decoding service (Ray Serve) until stopped")
    p.add_argument("--stop", action="store_true",
                   help="stop the service running on --port (its pid file) and wait for it")
    add_task_flags(p, distance_required=False)   # not needed to --stop
    add_windowed_decoder_flags(p, default="predecoder+soft-matching", predecoder_alias=False)
    p.add_argument("--n-com", type=integer(0, MAX_ROUNDS), default=0,
                   help="windowed decoding: commit rounds per window (default 0: the whole "
                        "volume at once)")
    p.add_argument("--n-buf", type=integer(0, MAX_ROUNDS), default=0,
                   help="windowed decoding: buffer rounds per side (default 0)")
    p.add_argument("--predecoder-replicas", type=integer(1, 1024), default=1,
                   help="pre-decoder replicas (default 1; one GPU each where GPUs exist)")
    p.add_argument("--matcher-replicas", type=integer(1, 1024), default=1,
                   help="matcher replicas, one CPU each (default 1)")
    p.add_argument("--max-replicas", type=integer(0, 1024), default=0,
                   help="autoscale each deployment up to this many replicas (default 0: fixed)")
    p.add_argument("--max-batch", type=integer(1, 1024), default=16,
                   help="most requests per pre-decoder forward pass (default 16)")
    p.add_argument("--batch-wait-ms", type=number(0, 1000), default=2.0,
                   help="how long a forward pass waits for its batch to fill (default 2)")
    p.add_argument("--max-shots", type=integer(1, 1 << 20), default=4096,
                   help="most shots per request (default 4096)")
    p.add_argument("--ledger-blocks", type=integer(1, 1 << 24), default=65_536,
                   help="answers the ledger keeps to answer re-sent blocks without decoding "
                        "them again (default 65,536)")
    p.add_argument("--ledger-mb", type=integer(1, 1 << 16), default=64,
                   help="MiB of answers the ledger keeps at most (default 64)")
    p.add_argument("--host", default="127.0.0.1",
                   help="HTTP bind address (default 127.0.0.1; Serve's HTTP has no "
                        "authentication, so bind a private interface at most)")
    p.add_argument("--port", type=integer(1, 65535), default=8000, help="HTTP port (default 8000)")
    p.add_argument("--address", default=None,
                   help="join a Ray cluster: auto or HOST:PORT (default: start a local Ray)")
    p.add_argument("--pid-file", type=Path, default=None,
                   help="where the running service records its pid (default: "
                        "TMPDIR/qecpipe-serve-PORT.pid)")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    from pipelines._serve.pidfile import read_record

    pid_file = args.pid_file or Path(tempfile.gettempdir()) / f"qecpipe-serve-{args.port}.pid"
    if args.stop:
        return stop(pid_file)
    if args.distance is None:
        raise InputError("--distance is required to start a service (or give --stop)")
    check_output_path(pid_file, flag="--pid-file")    # before Ray starts, not after
    record = read_record(pid_file)                    # refuses a file that is not ours
    if record is not None and record.running():
        raise InputError(f"--pid-file={str(pid_file)!r}: a service (pid {record.pid}) "
                         f"already runs for port {record.port}")
    config = _config(args)
    _check_port_free(config.host, config.port)
    if config.every_interface:
        log.warning("--host %s: the HTTP ingress has no authentication and listens on every "
                    "interface; firewall port %d to the machines that may send blocks",
                    config.host, config.port)
    return serve_forever(config, address=args.address, pid_file=pid_file)


def _config(args: argparse.Namespace):
    from pipelines._serve.config import ServeConfig

    decoder, model = windowed_decoder(args)
    config = ServeConfig(distance=args.distance, rounds=args.rounds, basis=args.basis,
                         noise=task_of(args, args.basis).noise, mode=windowed_mode(decoder),
                         model=model, n_com=args.n_com, n_buf=args.n_buf,
                         predecoder_replicas=args.predecoder_replicas,
                         matcher_replicas=args.matcher_replicas,
                         max_replicas=args.max_replicas, max_batch=args.max_batch,
                         batch_wait_ms=args.batch_wait_ms, max_shots=args.max_shots,
                         ledger_blocks=args.ledger_blocks, ledger_mb=args.ledger_mb,
                         host=args.host, port=args.port)
    check_fits(estimate_task(distance=config.distance, rounds=config.task().rounds),
               what=f"--distance {config.distance} --rounds {config.task().rounds}")
    if config.uses_predecoder:
        from predecoder import load_model

        try:
            load_model(config.model).policy(config.mode)   # a hard-only file cannot run soft
        except ValueError as exc:
            raise InputError(f"--model: {exc}") from exc
    return config


def serve_forever(config, *, address: str | None, pid_file: Path) -> int:
    """Deploy, announce, wait for SIGINT/SIGTERM, then take everything down."""
    from ray import serve

    from pipelines._serve.app import APP_NAME, build_app
    from pipelines._serve.pidfile import ServiceRecord, remove_if_ours, write_record
    from pipelines._stream.ray_session import ray_session

    stop_event, record = threading.Event(), None
    with ray_session(address) as started:
        # after ray.init: Ray's core worker installs its own SIGTERM handler, which would
        # end the process before the service is taken down
        previous = {sig: signal.signal(sig, lambda *_: stop_event.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            logging.getLogger("ray.serve").setLevel(logging.WARNING)
            serve.start(http_options={"host": config.host, "port": config.port})
            serve.run(build_app(config), name=APP_NAME, route_prefix="/")
            record = ServiceRecord.of_this_process(port=config.port)
            write_record(pid_file, record)
            print(f"qecpipe serve: ready at {config.url} (POST /decode, GET /health), task "
                  f"{config.fingerprint}, mode {config.mode}; stop with Ctrl-C or `qecpipe "
                  f"serve --stop --port {config.port}`", file=sys.stderr, flush=True)
            while not stop_event.wait(0.5):
                pass
        finally:
            _take_down(started)
            if record is not None:
                remove_if_ours(pid_file, record)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print("qecpipe serve: stopped", file=sys.stderr)
    return 0


def _take_down(started_ray: bool) -> None:
    from ray import serve

    from pipelines._serve.app import APP_NAME

    if started_ray:
        serve.shutdown()          # the whole local Serve; ray_session then stops Ray
    else:
        serve.delete(APP_NAME)    # a shared cluster: remove only our application


def stop(pid_file: Path) -> int:
    """Stop the service whose record ``pid_file`` holds; refuse (exit 2) anything else."""
    from pipelines._serve.pidfile import read_record

    record = read_record(pid_file)
    if record is None or not record.running():
        raise InputError(f"--pid-file={str(pid_file)!r}: no running service recorded there "
                         "(is it on another --port?)")
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while record.running():
        if time.monotonic() > deadline:
            raise RunFailure(f"the service (pid {record.pid}) did not stop within "
                             f"{STOP_TIMEOUT_S:g} s")
        time.sleep(0.2)
    print(f"qecpipe serve: stopped the service (pid {record.pid})", file=sys.stderr)
    return 0


def _check_port_free(host: str, port: int) -> None:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise InputError(f"--host={host!r} is not an address or host name this machine "
                         f"can resolve ({exc.strerror})") from None
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            what = ("pick another --port" if exc.errno == errno.EADDRINUSE
                    else "give an address of this machine's interfaces")
            raise InputError(f"--host {host} --port {port}: cannot listen there "
                             f"({exc.strerror or exc}); {what}") from None
