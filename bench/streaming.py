"""Streaming and windowed decoding: windowed vs whole-volume LER, throughput in-process vs Ray.

1. LER: d in {5, 7}, rounds in {10d, 20d}, `uniform` noise, X basis; windows n_com = n_buf = d.
   Windowed and whole-volume PyMatching decode the SAME shots; the table gives both LERs with
   Wilson 95% intervals and the paired disagreements (windowed-only errors vs global-only
   errors, with an exact two-sided McNemar p-value).
2. Throughput: d in {5, 9, 13}, rounds as fast as they can be decoded (cycle 0), S shots per
   window call, in-process vs a local Ray with 1 and 2 decoder actors. Reported: sustained
   rounds/s, mean worker time per window, Ray's overhead per call as a ratio of the worker's
   time (sequential calls to one actor: round trip minus worker time, over worker time), and
   N_par for a 1 us cycle (docs/design.md §4, from the in-process and from the Ray per-call times).
3. The CLI's scale: d = 13, 10000 rounds, 1 us cycle, 2 Ray workers (one paced stream).

    python -m bench streaming            # about 10 minutes on 2 cores (run it niced)
    python -m bench streaming --quick    # smoke test

Writes bench/results/streaming.json (tables + provenance), streaming_ler.csv (sinter format,
with a .meta.json sidecar) and streaming.md (the README tables).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._meta import REPO_ROOT, run_metadata, write_sidecar, write_text
from pipelines import RoundSource, StreamConfig, WindowedDecoder, WindowWorker, run_stream
from qec import (
    DecodeStats,
    MatchingDecoder,
    NoiseModel,
    Task,
    pack_bits,
    sample_detectors,
    sinter_csv_header,
    sinter_rows,
)

RESULTS = REPO_ROOT / "bench" / "results"
P_LER = 0.003
P_THROUGHPUT = 0.001


def ler_point(task: Task, *, shots: int, seed: int) -> dict:
    """Windowed (n_com = n_buf = d) and global PyMatching on the same shots, paired."""
    windowed = WindowedDecoder.for_task(task, n_com=task.distance, n_buf=task.distance)
    glob = MatchingDecoder.from_dem(task.dem())
    err = {"windowed": 0, "global": 0}
    secs = {"windowed": 0.0, "global": 0.0}
    only_w = only_g = 0
    for chunk in sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=2000):
        wrong = {}
        for name, dec in (("windowed", windowed), ("global", glob)):
            t0 = time.perf_counter()
            pred = dec.decode_batch(chunk.dets)
            secs[name] += time.perf_counter() - t0
            wrong[name] = np.any(pred != chunk.obs, axis=1)
            err[name] += int(wrong[name].sum())
        only_w += int((wrong["windowed"] & ~wrong["global"]).sum())
        only_g += int((wrong["global"] & ~wrong["windowed"]).sum())
    stats = {n: DecodeStats(decoder="windowed-pymatching" if n == "windowed" else "pymatching",
                            shots=shots, errors=err[n], seconds=secs[n], rounds=task.rounds)
             for n in err}
    lo_w, hi_w = stats["windowed"].interval
    lo_g, hi_g = stats["global"].interval
    return {"distance": task.distance, "rounds": task.rounds, "p": task.noise.p,
            "shots": shots, "windowed": stats["windowed"].to_json(),
            "global": stats["global"].to_json(), "windowed_only_errors": only_w,
            "global_only_errors": only_g, "mcnemar_p": _mcnemar(only_w, only_g),
            "intervals_overlap": bool(lo_w <= hi_g and lo_g <= hi_w), "_stats": stats}


def _mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b vs c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def ray_overhead(config: StreamConfig, *, calls: int) -> dict:
    """Sequential calls of one window to one actor: round trip vs worker time."""
    import ray

    from pipelines import RayPool

    pool = RayPool(config=config.__class__(**{**_fields(config), "workers": 1}))
    source = RoundSource.from_task(config.task(), shots=config.shots, seed=5, cycle_us=0)
    worker = WindowWorker(task=config.task(), plan=config.plan())
    w = next(w for w in config.plan().windows if w.layer == "A" and w.lo > 0)
    dets = source.dets[:, slice(*worker.window_range(w))]
    trips, work = [], []
    try:
        for _ in range(calls):  # the pool's own call: bit-packed in and out
            t0 = time.perf_counter()
            _, _, seconds = ray.get(pool.actors[0].decode_packed.remote(
                w.index, pack_bits(dets), dets.shape[1]))
            trips.append(time.perf_counter() - t0)
            work.append(seconds)
    finally:
        pool.close()
    trip, dec = float(np.median(trips)), float(np.median(work))
    return {"call_us": trip * 1e6, "worker_us": dec * 1e6, "overhead_us": (trip - dec) * 1e6,
            "overhead_ratio": (trip - dec) / dec}


def _fields(config: StreamConfig) -> dict:
    from dataclasses import fields

    return {f.name: getattr(config, f.name) for f in fields(config)}


def n_par(seconds_per_window: float, config: StreamConfig, cycle_us: float = 1.0) -> int:
    """docs/design.md §4 with T_link = 0: 2 T_dec / (T_cycle (n_com + n_buf))."""
    return math.ceil(2 * seconds_per_window / (cycle_us * 1e-6 * config.plan().period))


def throughput_rows(distances: Sequence[int], rounds: dict[int, int], shots: int) -> list[dict]:
    from pipelines import RayPool

    rows = []
    for d in distances:
        cfg = StreamConfig(distance=d, rounds=rounds[d], noise=NoiseModel.uniform(P_THROUGHPUT),
                           shots=shots, cycle_us=0.0)
        source = RoundSource.from_task(cfg.task(), shots=shots, seed=2, cycle_us=0.0)
        row = {"distance": d, "rounds": rounds[d], "shots": shots, "n_com": cfg.plan().n_com,
               "n_buf": cfg.plan().n_buf, "windows": len(cfg.plan().windows)}
        for workers in (0, 1, 2):
            c = cfg.__class__(**{**_fields(cfg), "workers": workers})
            pool = RayPool(config=c) if workers else None
            res = run_stream(c, pool=pool, source=source)
            row[f"workers_{workers}"] = {
                "rounds_per_second": res.rounds_per_second, "seconds": res.seconds,
                "mean_window_decode_us": res.mean_decode_seconds * 1e6,
                "window_latency_us_p50": res.latency_us(50),
                "window_latency_us_p99": res.latency_us(99),
                "errors": res.errors, "per_worker": res.per_worker()}
        row["ray_call"] = ray_overhead(cfg, calls=30)
        t_dec = row["workers_0"]["mean_window_decode_us"] * 1e-6
        row["n_par_1us_in_process"] = n_par(t_dec, cfg)
        row["n_par_1us_ray_call"] = n_par(t_dec + row["ray_call"]["overhead_us"] * 1e-6, cfg)
        row["load_average"] = [round(x, 1) for x in os.getloadavg()]
        rows.append(row)
    return rows


def cli_scale(rounds: int, workers: int) -> dict:
    from pipelines import RayPool

    cfg = StreamConfig(distance=13, rounds=rounds, noise=NoiseModel.uniform(P_THROUGHPUT),
                       shots=4, cycle_us=1.0, workers=workers)
    t0 = time.perf_counter()
    res = run_stream(cfg, pool=RayPool(config=cfg))
    out = res.to_json(max_points=50)
    out["wall_seconds_incl_setup"] = time.perf_counter() - t0
    return out


def write_markdown(ler: list[dict], thr: list[dict], scale: dict | None, path: Path) -> None:
    """The README tables, generated from the same numbers as streaming.json."""
    out = ["Windowed (n_com = n_buf = d) vs whole-volume PyMatching, same shots, "
           f"uniform p = {P_LER}, X basis (95% Wilson intervals, per shot):", "",
           "| d | rounds | shots | windowed LER | whole-volume LER | windowed-only / global-only "
           "errors | McNemar p | intervals overlap |", "|---|---|---|---|---|---|---|---|"]
    for r in ler:
        w, g = r["windowed"], r["global"]
        out.append(f"| {r['distance']} | {r['rounds']} | {r['shots']:,} | {w['ler']:.4f} "
                   f"[{w['ler_low']:.4f}, {w['ler_high']:.4f}] | {g['ler']:.4f} "
                   f"[{g['ler_low']:.4f}, {g['ler_high']:.4f}] | {r['windowed_only_errors']} / "
                   f"{r['global_only_errors']} | {r['mcnemar_p']:.2f} | "
                   f"{'yes' if r['intervals_overlap'] else 'NO'} |")
    out += ["", f"Throughput, rounds as fast as decoded, uniform p = {P_THROUGHPUT}, "
            "windows n_com = n_buf = d, all shots of a window in one call:", "",
            "| d | rounds | shots | in-process rounds/s | Ray 1 worker | Ray 2 workers "
            "| worker µs/window | Ray call overhead µs (ratio) | N_par @ 1 µs (in-process / "
            "Ray) | N_par per stream (÷ shots) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in thr:
        rc = r["ray_call"]
        out.append(
            f"| {r['distance']} | {r['rounds']} | {r['shots']} | "
            f"{r['workers_0']['rounds_per_second']:,.0f} | "
            f"{r['workers_1']['rounds_per_second']:,.0f} | "
            f"{r['workers_2']['rounds_per_second']:,.0f} | "
            f"{r['workers_0']['mean_window_decode_us']:,.0f} | {rc['overhead_us']:,.0f} "
            f"({rc['overhead_ratio']:.2f}) | {r['n_par_1us_in_process']:,} / "
            f"{r['n_par_1us_ray_call']:,} | {r['n_par_1us_in_process'] / r['shots']:.0f} / "
            f"{r['n_par_1us_ray_call'] / r['shots']:.0f} |")
    out += ["", "A round here carries all `shots` streams (independent logical qubits) at once, "
            "and one call decodes a window of every stream, so N_par is the worker count for "
            "all of them; divided by the shots it is the count per stream if the cost is "
            "linear in shots (the Ray overhead per call is not, so that column is "
            "pessimistic). The machine is 2 shared cores (load average "
            f"{thr[0].get('load_average', 'not recorded')} at the start): Ray's 2 workers "
            "compete with the driver, the raylet and other users, and timings between rows "
            "are noisy."]
    if scale:
        out += ["", f"`qecpipe stream --distance 13 --rounds {scale['rounds']} --cycle-us 1 "
                f"--workers {scale['workers']} --shots {scale['shots']}`: "
                f"{scale['rounds_per_second']:,.0f} rounds/s sustained, window latency p50 "
                f"{scale['window_latency_us_p50'] / 1e3:,.0f} ms / p99 "
                f"{scale['window_latency_us_p99'] / 1e3:,.0f} ms, max backlog "
                f"{scale['max_backlog_rounds']:,} rounds, kept up: "
                f"{'yes' if scale['kept_up'] else 'no'}, N_par = {scale['n_par']:,}."]
    write_text(path, "\n".join(out) + "\n")


def rewrite_markdown(json_path: Path) -> None:
    """Regenerate the .md tables from a streaming JSON (no new measurement)."""
    data = json.loads(json_path.read_text())
    write_markdown(data["ler"], data["throughput"], data["cli_scale"],
                   json_path.with_suffix(".md"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streaming", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from pipelines._stream.ray_session import local_cpus, ray_session

    meta = run_metadata()
    shots = {5: 2000, 7: 1000} if args.quick else {5: 20000, 7: 8000}
    ler = []
    for d in (5, 7):
        for mult in (10, 20):
            task = Task(distance=d, rounds=mult * d, noise=NoiseModel.uniform(P_LER))
            ler.append(ler_point(task, shots=shots[d], seed=100 + d * mult))
    rounds = {5: 200, 9: 200, 13: 300} if args.quick else {5: 1000, 9: 1000, 13: 1000}
    with ray_session(None, num_cpus=local_cpus()):
        thr = throughput_rows((5, 9, 13), rounds, shots=4 if args.quick else 16)
        scale = cli_scale(500 if args.quick else 10000, workers=2)
    stem = "streaming_quick" if args.quick else "streaming"
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [r.pop("_stats") for r in ler]
    lines = [sinter_csv_header()]
    for r, stats in zip(ler, rows):
        task = Task(distance=r["distance"], rounds=r["rounds"], noise=NoiseModel.uniform(P_LER))
        lines += sinter_rows(stats.values(), circuit=task.circuit(),
                             json_metadata={**task.metadata(), "n_com": r["distance"],
                                            "n_buf": r["distance"]})
    write_text(args.out / f"{stem}_ler.csv", "\n".join(lines) + "\n")
    write_sidecar(args.out / f"{stem}_ler.csv", meta)
    write_text(args.out / f"{stem}.json", json.dumps(
        {"meta": meta, "ler": ler, "throughput": thr, "cli_scale": scale}, indent=1))
    write_markdown(ler, thr, scale, args.out / f"{stem}.md")
    return 0
