"""The decoding service under load: `qecpipe loadtest` against `qecpipe serve`, per d and mode.

For d in {5, 9, 13} (rounds = d, uniform p = 0.006, X basis) and each mode (PyMatching alone,
the pre-decoder's hard and soft modes), one service (Ray Serve on a local Ray: one ingress, one
pre-decoder replica, one matcher replica) is loaded twice:

* throughput: ``clients`` processes x ``concurrency`` connections send blocks of ``shots``
  shots as fast as answers come (``--repeats`` runs): shots/s, rounds/s, latency per block
  p50/p99/p99.9 (over all runs' blocks; with few blocks the p99.9 is their maximum), the
  backlog, the LER of the answers against the sampled observables, per-stage timings and
  N_par per stage for a 1 µs cycle, and the exactly-once accounting;
* overhead: one connection, one block at a time, against the SAME blocks decoded in this
  process by the same stage classes (``ServicePredecoder`` + ``ServiceMatcher``): Serve's
  per-request overhead = service latency - in-process time (medians).

    python -m bench service            # about 15 minutes on 2 cores
    python -m bench service --quick    # smoke test

Writes bench/results/service.{json,md,png}. All on this machine's 2 shared cores: the load
generator, Serve's proxy, the ingress, the pre-decoder (CPU torch) and the matcher share them.
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._meta import (
    RESULTS,
    mean_sd,
    run_metadata,
    save_figure,
    write_suite_files,
    write_text,
)
from pipelines import LoadConfig, ServeConfig, ray_session, run_loadtest
from pipelines._serve.config import MODES
from pipelines._serve.stages import ServiceMatcher, ServicePredecoder
from qec import NoiseModel, sample_detectors, unpack_bits

P = 0.006
BLOCKS = {5: 200, 9: 100, 13: 40}
SHOTS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_process_ms(config: ServeConfig, *, blocks: int, shots: int, seed: int) -> list[float]:
    """Milliseconds per block for the same stages in this process, on the loadtest's blocks."""
    task = config.task()
    pre = ServicePredecoder(config) if config.uses_predecoder else None
    matcher = ServiceMatcher(config)
    out = []
    for chunk in sample_detectors(task.circuit(), shots=blocks * shots, seed=seed,
                                  chunk_shots=shots):
        dets = unpack_bits(chunk.dets, task.circuit().num_detectors)
        t0 = time.perf_counter()
        if pre is None:
            matcher.decode(dets)
        else:
            o = pre.run([dets])[0]
            matcher.decode(o.residual, o.weights)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def measure(config: ServeConfig, *, blocks: int, repeats: int) -> dict:
    from ray import serve

    from pipelines._serve.app import APP_NAME, build_app

    serve.run(build_app(config), name=APP_NAME, route_prefix="/")
    runs = []
    for k in range(repeats):
        load = LoadConfig(url=config.url, blocks=blocks, shots=SHOTS, clients=2,
                          concurrency=2, seed=100 + k)
        runs.append(run_loadtest(load))
    seq_blocks = max(5, blocks // 8)
    seq = run_loadtest(LoadConfig(url=config.url, blocks=seq_blocks, shots=SHOTS, clients=1,
                                  concurrency=1, seed=7))
    serve.delete(APP_NAME)
    local = in_process_ms(config, blocks=seq_blocks, shots=SHOTS, seed=7)
    service = [(r.answered - r.sent) * 1e3 for r in seq.ok]
    lat = np.array([(r.answered - r.sent) * 1e3 for run in runs for r in run.ok])
    jsons = [r.to_json() for r in runs]
    return {
        "distance": config.distance, "mode": config.mode, "blocks": blocks, "shots": SHOTS,
        "runs": jsons,
        "shots_per_second": [j["shots_per_second"] for j in jsons],
        "rounds_per_second": [j["rounds_per_second"] for j in jsons],
        "latency_ms": dict(zip(("p50", "p99", "p99.9"),
                               np.percentile(lat, [50, 99, 99.9]).tolist())),
        "accounting": _summed([j["accounting"] for j in jsons]),
        "errors": sum(j["ler"]["errors"] for j in jsons),
        "decoded_shots": sum(j["ler"]["shots"] for j in jsons),
        "n_par_1us": jsons[-1]["n_par_1us"],
        "overhead": {"blocks": seq_blocks, "in_process_ms": float(np.median(local)),
                     "service_ms": float(np.median(service)),
                     "overhead_ms": float(np.median(service) - np.median(local)),
                     "ratio": float((np.median(service) - np.median(local))
                                    / np.median(local))},
    }


def write_markdown(rows: list[dict], path: Path) -> None:
    from qec import wilson_interval

    out = [f"`qecpipe loadtest` against `qecpipe serve` (local Ray Serve: 1 ingress, 1 "
           f"pre-decoder replica on the CPU, 1 matcher replica), uniform p = {P}, rounds = d, "
           f"blocks of {SHOTS} shots from 2 client processes x 2 connections, as fast as "
           "answers come; mean ± sd over the runs; latency percentiles over all runs' blocks "
           "(p99.9 of a few hundred blocks is their maximum):", "",
           "| d | mode | blocks × runs | shots/s | rounds/s | latency p50 / p99 / p99.9 ms | "
           "LER [95%] | answered / twice / missing | N_par @ 1 µs (per stage) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc, lat = r["accounting"], r["latency_ms"]
        lo, hi = wilson_interval(r["errors"], r["decoded_shots"])
        npar = ", ".join(f"{k} {v:,}" for k, v in r["n_par_1us"].items())
        out.append(f"| {r['distance']} | {r['mode']} | {r['blocks']} × {len(r['runs'])} | "
                   f"{mean_sd(r['shots_per_second'])} | {mean_sd(r['rounds_per_second'])} | "
                   f"{lat['p50']:,.1f} / {lat['p99']:,.1f} / {lat['p99.9']:,.1f} | "
                   f"{r['errors'] / r['decoded_shots']:.2e} [{lo:.1e}, {hi:.1e}] | "
                   f"{acc['answered']} / {acc['answered_twice']} / {acc['missing']} | "
                   f"{npar} |")
    out += ["", "Serve's per-request overhead: one connection, one block at a time, against "
            "the same blocks decoded in this process by the same stage classes (medians):", "",
            "| d | mode | blocks | in-process ms | through the service ms | overhead ms | "
            "overhead / in-process |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        o = r["overhead"]
        out.append(f"| {r['distance']} | {r['mode']} | {o['blocks']} | "
                   f"{o['in_process_ms']:,.1f} | {o['service_ms']:,.1f} | "
                   f"{o['overhead_ms']:,.1f} | {o['ratio']:.2f} |")
    out += ["", "Limits of this machine: 2 shared cores carry the load generator's processes, "
            "Serve's proxy and three replicas; the network runs on the CPU (the GPU path is "
            "`num_gpus=1` replicas, not measured here). N_par is per stage: its µs per shot "
            "and round over a 1 µs cycle, i.e. replicas of that speed one logical qubit "
            "needs."]
    write_text(path, "\n".join(out) + "\n")



def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode in MODES:
        sub = [r for r in rows if r["mode"] == mode]
        if not sub:
            continue
        ds = [r["distance"] for r in sub]
        rates = [r["shots_per_second"] for r in sub]
        ax1.errorbar(ds, [np.mean(v) for v in rates],
                     yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in rates],
                     fmt="-o", capsize=3, label=mode)
        ax2.plot(ds, [r["overhead"]["overhead_ms"] for r in sub], "-o", label=mode)
    ax1.set(xlabel="distance d", ylabel="shots per second (mean ± sd)", yscale="log",
            title="service throughput (2 shared cores)")
    ax2.set(xlabel="distance d", ylabel="ms per request", title="Serve overhead vs in-process")
    for ax in (ax1, ax2):
        ax.set_xticks(sorted({r["distance"] for r in rows}))
        ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench service", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from ray import serve

    meta = run_metadata()
    port = _free_port()
    distances = (5,) if args.quick else (5, 9, 13)
    rows = []
    with ray_session(None, num_cpus=2):
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        try:
            for d in distances:
                for mode in MODES:
                    cfg = ServeConfig(distance=d, rounds=d, noise=NoiseModel.uniform(P),
                                      mode=mode, port=port)
                    rows.append(measure(cfg, blocks=10 if args.quick else BLOCKS[d],
                                        repeats=1 if args.quick else args.repeats))
                    print(f"service d={d} {mode}: {np.mean(rows[-1]['shots_per_second']):,.0f} "
                          f"shots/s, overhead {rows[-1]['overhead']['overhead_ms']:.1f} ms",
                          flush=True)
        finally:
            serve.shutdown()
    write_suite_files(args.out, "service_quick" if args.quick else "service",
                      {"meta": meta, "rows": rows},
                      markdown=lambda path: write_markdown(rows, path),
                      plot=lambda path: plot(rows, path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _summed(counts: list[dict]) -> dict:
    """Counts of several runs added key by key (the service's ledger counts too; a run whose
    ledger could not be read has none)."""
    out: dict = {}
    for acc in counts:
        for key, value in acc.items():
            if isinstance(value, dict):
                out[key] = _summed([out.get(key, {}), value])
            elif value is not None:
                out[key] = out.get(key, 0) + value
    return out
