"""``qecpipe loadtest``: drive a running ``qecpipe serve`` and measure it in real time.

Samples ``--blocks`` blocks of ``--shots`` shots of the service's own task (read from its
``GET /health``), sends them from ``--clients`` processes at ``--rate`` blocks per second (0:
as fast as answers come) and reports throughput, latency percentiles, the backlog, the LER of
the returned predictions, per-stage timings and N_par, and that every block was answered once
(``pipelines._serve.loadtest``).
"""

from __future__ import annotations

import argparse
import json
import time

from pipelines._command.common import integer, number, output_file, stdout_for_json
from qec import InputError, RunFailure, atomic_write


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loadtest", help="measure a running decoding service (qecpipe serve)")
    p.add_argument("--url", type=service_url, default="http://127.0.0.1:8000",
                   help="the service (default http://127.0.0.1:8000)")
    p.add_argument("--blocks", type=integer(1, 1 << 20), default=200,
                   help="requests to send (default 200)")
    p.add_argument("--shots", type=integer(1, 1 << 20), default=64,
                   help="shots per request (default 64)")
    p.add_argument("--rate", type=number(0, 1e6), default=0.0,
                   help="blocks per second (default 0: as fast as answers come)")
    p.add_argument("--clients", type=integer(1, 256), default=2,
                   help="client processes (default 2)")
    p.add_argument("--concurrency", type=integer(1, 256), default=2,
                   help="connections per client process (default 2)")
    p.add_argument("--seed", type=integer(0), default=1,
                   help="seed of the sampled blocks (default 1)")
    p.add_argument("--wait-s", type=number(0, 3600), default=0.0,
                   help="wait up to this long for the service to come up (default 0: it must "
                        "answer now)")
    p.add_argument("--timeout-s", type=number(0.1, 3600), default=120.0,
                   help="seconds to wait for one answer (default 120)")
    p.add_argument("--out", type=output_file(".json"), default=None,
                   help="also write the JSON here (atomically)")
    p.add_argument("--plot", type=output_file(".png"), default=None,
                   help="draw latency and backlog here (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def service_url(text: str) -> str:
    """An argparse type: ``http://HOST:PORT`` (checked, not contacted)."""
    from pipelines._serve.client import parse_url

    try:
        parse_url(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def execute(args: argparse.Namespace) -> int:
    from pipelines._serve.client import ServiceClient
    from pipelines._serve.loadtest import LoadConfig, run_loadtest

    config = LoadConfig(url=args.url, blocks=args.blocks, shots=args.shots, rate=args.rate,
                        clients=args.clients, concurrency=args.concurrency, seed=args.seed,
                        timeout_s=args.timeout_s)
    wait_until_up(ServiceClient(args.url, timeout_s=10.0), args.wait_s)
    with stdout_for_json(args.json) as emit:
        result = run_loadtest(config)
        out = result.to_json()
        if args.out is not None:
            atomic_write(args.out, json.dumps(out, indent=1) + "\n")
        if args.plot is not None:
            plot(result, out, args.plot)
        emit(json.dumps(out) if args.json else summary(out))
    acc = out["accounting"]
    service = acc.get("service") or {"duplicates": 0, "missing": 0}
    if acc["missing"] or acc["answered_twice"] or service["duplicates"]:
        raise RunFailure(f"{acc['missing']} blocks unanswered, {acc['answered_twice']} answered "
                         f"twice; the service decoded {service['duplicates']} blocks twice")
    return 0


def wait_until_up(client, wait_s: float) -> None:
    """The service's health, polled for up to ``wait_s`` seconds. A URL where no service ever
    answered is refused like any bad argument (exit 2, as ``stream --address`` is); a
    service that fails later is a failed run (exit 1)."""
    from pipelines._serve.client import ServiceError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.health()
            return
        except ServiceError as exc:
            if time.monotonic() >= deadline:
                raise InputError(f"--url={client.url!r}: {exc} (waited {wait_s:g} s; "
                                 "--wait-s waits longer)") from None
            time.sleep(0.5)


def summary(out: dict) -> str:
    acc, lat, ler = out["accounting"], out["latency_ms"], out["ler"]
    return "\n".join([
        f"{acc['answered']}/{acc['blocks']} blocks of {out['config']['shots']} shots answered "
        f"in {out['seconds']:.2f} s ({acc['answered_twice']} twice, {acc['failed']} failed, "
        f"{acc['retried_in_service']} retried inside the service, {acc['resent_by_client']} "
        f"sent again by the clients)",
        _ledger_line(acc.get("service")),
        f"throughput {out['shots_per_second']:,.0f} shots/s, {out['rounds_per_second']:,.0f} "
        f"rounds/s; latency p50 {lat.get('p50', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms, "
        f"p99.9 {lat.get('p99.9', 0):.1f} ms; max backlog {out['max_backlog_blocks']} blocks",
        f"LER {ler['errors']}/{ler['shots']} = {ler['ler']:.2e} [{ler['ler_low']:.1e}, "
        f"{ler['ler_high']:.1e}]",
        "per block: " + ", ".join(f"{k} {v / 1e3:.2f} ms"
                                  for k, v in out["stage_us_per_block"].items())
        + "; N_par for a 1 µs cycle: " + ", ".join(f"{k} {v:,}"
                                                   for k, v in out["n_par_1us"].items()),
    ])


def _ledger_line(service: dict | None) -> str:
    if service is None:
        return "the service's ledger could not be read after the run"
    return (f"the service's ledger: {service['answered']} blocks decoded, "
            f"{service['answered_again']} re-sends answered from the ledger, "
            f"{service['duplicates']} decoded twice, {service['missing']} never decoded, "
            f"{service['in_flight']} in flight")


def plot(result, out: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qec import atomic_path

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    lat = sorted((r.answered - r.sent) * 1e3 for r in result.ok)
    ax1.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))])
    ax1.set(xlabel="latency per block (ms)", ylabel="fraction of blocks", xscale="log",
            title=f"{out['config']['blocks']} blocks of {out['config']['shots']} shots")
    t, backlog = zip(*out["backlog"])
    ax2.step(t, backlog, where="post")
    ax2.set(xlabel="seconds", ylabel="blocks due, not answered", title="backlog")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
