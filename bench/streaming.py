"""Streaming: windowed vs whole-volume LER (with and without the pre-decoder), and the stages'
throughput on Ray.

1. LER, same shots: windowed (n_com = n_buf = d) vs whole-volume decoding, `uniform` noise,
   X basis, for PyMatching and for the pre-decoder (hard and soft mode: block-wise pre-decoding
   + windowed matching of the residual vs the whole-volume pre-decoder + global matching).
   Both LERs with Wilson 95% intervals and the paired disagreements (windowed-only vs
   whole-only errors, exact two-sided McNemar p-value).
2. Throughput of the stage pipeline, rounds as fast as they are decoded (cycle 0), S shots
   per window, d in {5, 9, 13}: in-process PyMatching, and on a local Ray with 2 matcher actors
   without the pre-decoder stage, with it in hard mode and in soft mode (one pre-decoder actor,
   on the CPU here). Each configuration runs ``--repeats`` times on the same rounds; the table
   gives the mean and standard deviation of end-to-end rounds/s, window latency p50/p99, and
   per stage the work per round and N_par for a 1 us cycle.
3. The issue's command: ``qecpipe stream --distance 13 --rounds 2000 --workers 2 --predecoder
   --json`` (one paced stream at a 1 us cycle), backlog over time included.

    python -m bench streaming            # about 25 minutes on 2 cores
    python -m bench streaming --quick    # smoke test

Writes bench/results/streaming.json (tables + provenance), streaming_ler.csv (sinter format,
with a .meta.json sidecar), streaming.md (the README tables) and streaming.png.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench._meta import (
    RESULTS,
    mean_sd,
    run_metadata,
    save_figure,
    write_sidecar,
    write_suite_files,
    write_text,
)
from pipelines import (
    BlockPredecoder,
    PredecoderPipeline,
    RayPool,
    RayPredecoderPool,
    RoundSource,
    StreamConfig,
    WindowedDecoder,
    run_stream,
)
from pipelines import (
    main as qecpipe_main,
)
from qec import (
    DecodeStats,
    MatchingDecoder,
    NoiseModel,
    PairedCounts,
    Task,
    sample_detectors,
    sinter_csv_header,
    sinter_rows,
)

P_LER = 0.003
P_THROUGHPUT = 0.001
CLI_COMMAND = ["stream", "--distance", "13", "--rounds", "2000", "--workers", "2",
               "--predecoder", "--json"]


def _decoders(task: Task, kind: str) -> tuple[object, object]:
    """(windowed, whole-volume) decoders of ``kind``: pymatching, hard or soft."""
    d = task.distance
    if kind == "pymatching":
        return (WindowedDecoder.for_task(task, n_com=d, n_buf=d),
                MatchingDecoder.from_dem(task.dem()))
    from predecoder import load_model

    loaded = load_model("small")
    pre = BlockPredecoder(task=task, net=loaded.net, policy=loaded.policy(kind),
                          block_slices=d)
    return (WindowedDecoder.for_task(task, n_com=d, n_buf=d, predecoder=pre),
            PredecoderPipeline.from_task(task, mode=kind))


def ler_point(task: Task, kind: str, *, shots: int, seed: int) -> dict:
    """Windowed and whole-volume decoding of ``kind`` on the same shots, paired."""
    windowed, whole = _decoders(task, kind)
    err = {"windowed": 0, "whole": 0}
    secs = {"windowed": 0.0, "whole": 0.0}
    paired = PairedCounts("windowed", "whole", 0, 0)
    for chunk in sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=1000):
        wrong = {}
        for name, dec in (("windowed", windowed), ("whole", whole)):
            t0 = time.perf_counter()
            pred = dec.decode_batch(chunk.dets)
            secs[name] += time.perf_counter() - t0
            wrong[name] = np.any(pred != chunk.obs, axis=1)
            err[name] += int(wrong[name].sum())
        paired = paired + PairedCounts.of("windowed", wrong["windowed"], "whole",
                                          wrong["whole"])
    stats = {n: DecodeStats(decoder=f"{'windowed-' if n == 'windowed' else ''}{kind}",
                            shots=shots, errors=err[n], seconds=secs[n], rounds=task.rounds)
             for n in err}
    lo_w, hi_w = stats["windowed"].interval
    lo_g, hi_g = stats["whole"].interval
    return {"decoder": kind, "distance": task.distance, "rounds": task.rounds,
            "p": task.noise.p, "shots": shots, "windowed": stats["windowed"].to_json(),
            "whole": stats["whole"].to_json(), "paired": paired.to_json(),
            "intervals_overlap": bool(lo_w <= hi_g and lo_g <= hi_w), "_stats": stats}


def _stream_once(cfg: StreamConfig, source: RoundSource, kind: str) -> dict:
    """One run of the stage pipeline; ``kind``: pymatching | hard | soft."""
    pre = pre_pool = None
    if kind != "pymatching":
        from predecoder import load_model

        loaded = load_model("small")
        pre = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy(kind),
                              block_slices=cfg.distance)
    pool = None
    if cfg.workers:
        pool = RayPool(config=cfg, soft_cap=pre.policy.cap if kind == "soft" else None)
        pre_pool = RayPredecoderPool(predecoder=pre) if pre is not None else None
    res = run_stream(cfg, pool=pool, source=source, predecoder=pre, predecoder_pool=pre_pool)
    return {"rounds_per_second": res.rounds_per_second,
            "latency_us_p50": res.latency_us(50), "latency_us_p99": res.latency_us(99),
            "max_backlog_rounds": res.max_backlog_rounds, "errors": res.errors,
            "stages": {n: res.stage(n) for n in ("predecoder", "matcher") if res.stage(n)}}


def throughput_rows(distances: Sequence[int], rounds: int, shots: int,
                    repeats: int) -> list[dict]:
    rows = []
    configs = [("in-process pymatching", 0, "pymatching"), ("Ray pymatching", 2, "pymatching"),
               ("Ray pre-decoder hard", 2, "hard"), ("Ray pre-decoder soft", 2, "soft")]
    for d in distances:
        base = StreamConfig(distance=d, rounds=rounds, noise=NoiseModel.uniform(P_THROUGHPUT),
                            shots=shots, cycle_us=0.0)
        source = RoundSource.from_task(base.task(), shots=shots, seed=2, cycle_us=0.0)
        for label, workers, kind in configs:
            runs = [_stream_once(replace(base, workers=workers), source, kind)
                    for _ in range(repeats)]
            rows.append({"distance": d, "rounds": rounds, "shots": shots, "config": label,
                         "workers": workers, "kind": kind, "runs": runs,
                         "load_average": [round(x, 1) for x in os.getloadavg()]})
            print(f"throughput d={d} {label}: "
                  f"{np.mean([r['rounds_per_second'] for r in runs]):,.0f} rounds/s", flush=True)
    return rows


def cli_run() -> dict:
    """The issue's command through the CLI's own code path; its JSON."""
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        rc = qecpipe_main(CLI_COMMAND)
    if rc != 0:
        raise RuntimeError(f"qecpipe {' '.join(CLI_COMMAND)} exited {rc}")
    result = json.loads(out.getvalue())
    result["wall_seconds_incl_setup"] = time.perf_counter() - t0
    return result



def _stage_cell(runs: list[dict | None]) -> str:
    """Mean work per round over the runs, and the largest N_par, of one stage."""
    if not all(runs):
        return "—"
    us = np.mean([s["work_us_per_round"] for s in runs])
    return f"{us:,.0f} ({max(s['n_par_1us'] for s in runs):,})"


def _jobs_cell(runs: list[dict | None]) -> str:
    return f"{np.mean([s['mean_jobs_per_call'] for s in runs]):.1f}" if all(runs) else "—"


def write_markdown(ler: list[dict], thr: list[dict], cli: dict | None, path: Path) -> None:
    """The README tables, generated from the same numbers as streaming.json."""
    out = ["Windowed (n_com = n_buf = d) vs whole-volume decoding, same shots, uniform noise "
           f"p = {P_LER}, X basis (95% Wilson intervals, per shot); pre-decoder: the shipped "
           "`small` model, block-wise (blocks of d slices) before the windows:", "",
           "| decoder | d | rounds | shots | windowed LER | whole-volume LER | windowed-only / "
           "whole-only errors | McNemar p | intervals overlap |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in ler:
        w, g, pc = r["windowed"], r["whole"], r["paired"]
        out.append(f"| {r['decoder']} | {r['distance']} | {r['rounds']} | {r['shots']:,} | "
                   f"{w['ler']:.4f} [{w['ler_low']:.4f}, {w['ler_high']:.4f}] | {g['ler']:.4f} "
                   f"[{g['ler_low']:.4f}, {g['ler_high']:.4f}] | {pc['only_a_wrong']} / "
                   f"{pc['only_b_wrong']} | {pc['mcnemar_p']:.2f} | "
                   f"{'yes' if r['intervals_overlap'] else 'NO'} |")
    n_rep = len(thr[0]["runs"]) if thr else 0
    out += ["", f"Stage pipeline throughput, rounds as fast as decoded (cycle 0), uniform p = "
            f"{P_THROUGHPUT}, windows n_com = n_buf = d, {thr[0]['shots'] if thr else 0} shots "
            f"per window, {n_rep} runs each (mean ± sd); per stage: the worker's work per round "
            "and N_par for a 1 µs cycle:", "",
            "| d | configuration | rounds/s end to end | latency p50 ms | latency p99 ms | "
            "pre-decoder µs/round (N_par) | matcher µs/round (N_par) | jobs per call pre / "
            "match |", "|---|---|---|---|---|---|---|---|"]
    for r in thr:
        runs = r["runs"]
        pre, match = ([x["stages"].get(n) for x in runs] for n in ("predecoder", "matcher"))
        out.append(f"| {r['distance']} | {r['config']} | "
                   f"{mean_sd([x['rounds_per_second'] for x in runs])} | "
                   f"{np.mean([x['latency_us_p50'] for x in runs]) / 1e3:,.0f} | "
                   f"{np.mean([x['latency_us_p99'] for x in runs]) / 1e3:,.0f} | "
                   f"{_stage_cell(pre)} | {_stage_cell(match)} | "
                   f"{_jobs_cell(pre)} / {_jobs_cell(match)} |")
    out += ["", "The machine is 2 shared cores: the driver, the raylet, one pre-decoder actor "
            "and two matcher actors share them, so Ray rows measure contention as much as the "
            "design; the pre-decoder runs its network on the CPU here (the GPU path is the "
            "same code with `num_gpus=1`). N_par is the stage's work per round over a 1 µs "
            "cycle: how many such workers (CPU cores or devices) that stage would need."]
    if cli:
        st = cli["stages"]
        out += ["", f"`qecpipe {' '.join(CLI_COMMAND)}` ({cli['shots']} shots, cycle "
                f"{cli['cycle_us']} µs): {cli['rounds_per_second']:,.0f} rounds/s end to end, "
                f"window latency p50 {cli['window_latency_us_p50'] / 1e3:,.0f} ms / p99 "
                f"{cli['window_latency_us_p99'] / 1e3:,.0f} ms, max backlog "
                f"{cli['max_backlog_rounds']:,} rounds (kept up: "
                f"{'yes' if cli['kept_up'] else 'no'}); pre-decoder stage "
                f"{st['predecoder']['work_us_per_round']:,.0f} µs of work per round "
                f"({st['predecoder']['mean_jobs_per_call']:.1f} blocks per call, N_par "
                f"{st['predecoder']['n_par_1us']:,}), matcher stage "
                f"{st['matcher']['work_us_per_round']:,.0f} µs per round "
                f"({st['matcher']['mean_jobs_per_call']:.1f} windows per call, N_par "
                f"{st['matcher']['n_par_1us']:,}); windows re-run {cli['windows_rerun']}, "
                f"blocks re-run {cli['blocks_rerun']}."]
    write_text(path, "\n".join(out) + "\n")


def plot(thr: list[dict], cli: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label in dict.fromkeys(r["config"] for r in thr):
        rows = [r for r in thr if r["config"] == label]
        ds = [r["distance"] for r in rows]
        rates = [[x["rounds_per_second"] for x in r["runs"]] for r in rows]
        sd = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in rates]
        ax1.errorbar(ds, [np.mean(v) for v in rates], yerr=sd, fmt="-o", capsize=3,
                     label=label)
    ax1.set(xlabel="distance d", ylabel="rounds per second (mean ± sd)", yscale="log",
            title="stage pipeline, cycle 0 (2 shared cores)")
    ax1.set_xticks(sorted({r["distance"] for r in thr}))
    ax1.legend(fontsize=7)
    if cli:
        t, backlog = zip(*cli["backlog"])
        ax2.plot([x - t[0] for x in t], backlog)
        ax2.set(xlabel="seconds", ylabel="backlog (rounds received, not committed)",
                title=f"qecpipe stream d=13, {cli['rounds']} rounds, 1 µs cycle, pre-decoder")
    save_figure(fig, path)


def rewrite_markdown(json_path: Path) -> None:
    """Regenerate the .md tables from a streaming JSON (no new measurement)."""
    data = json.loads(json_path.read_text())
    write_markdown(data["ler"], data["throughput"], data["cli"], json_path.with_suffix(".md"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streaming", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from pipelines import ray_session
    from pipelines._stream.ray_session import local_cpus

    meta = run_metadata()
    q = args.quick
    points = [("pymatching", 5, 10, 20000), ("pymatching", 5, 20, 20000),
              ("pymatching", 7, 10, 8000), ("pymatching", 7, 20, 8000),
              ("hard", 5, 10, 10000), ("soft", 5, 10, 10000),
              ("hard", 7, 10, 5000), ("soft", 7, 10, 5000)]
    ler = []
    for kind, d, mult, shots in points:
        task = Task(distance=d, rounds=mult * d, noise=NoiseModel.uniform(P_LER))
        ler.append(ler_point(task, kind, shots=shots // 20 if q else shots,
                             seed=100 + d * mult))
        print(f"ler {kind} d={d} rounds={mult * d}: {ler[-1]['paired']}", flush=True)
    with ray_session(None, num_cpus=local_cpus()):
        thr = throughput_rows((5, 9) if q else (5, 9, 13), 200 if q else 1000,
                              shots=4 if q else 16, repeats=1 if q else args.repeats)
    cli = None if q else cli_run()
    stem = "streaming_quick" if q else "streaming"
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
    write_suite_files(args.out, stem, {"meta": meta, "ler": ler, "throughput": thr, "cli": cli},
                      markdown=lambda path: write_markdown(ler, thr, cli, path),
                      plot=lambda path: plot(thr, cli, path))
    return 0
