"""Ray's transport overhead per job, against the stage's own work, for each way of calling.

For each distance (d = 5, 9, 13; windows n_com = n_buf = d; S shots per window) and each stage
(matcher: one bulk A window; pre-decoder: one bulk block of d slices), one actor is called
in these ways, every call's round trip on the driver and the work the actor reports:

* ``plain``: one job per call, one call at a time (Ray's ``actor.method.remote``);
* ``batch B``: B jobs per call (what the service sends when B are ready), one call at a time;
* ``pipelined B``: B jobs per call, two calls in flight (the service's default), so the
  transport of one call overlaps the work of the other; measured as wall time over the sum
  of work for the whole run;
* ``compiled`` / ``compiled B``: Ray compiled graphs (``ray.dag`` ``experimental_compile``,
  shared-memory channels instead of RPC), one call at a time.

Overhead per job = (round trip - work) / jobs; its ratio to the work per job is the figure the
goal "<= 10% at d = 13" is about. Medians over the repetitions, with the interquartile range.
Run on the 2 shared cores of this machine the driver, the raylet and the actor compete for
CPU, so the figures are upper bounds of what a dedicated machine would show.

    python -m bench overhead             # about 10 minutes on 2 cores
    python -m bench overhead --quick     # smoke test

Writes bench/results/stream_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench._meta import RESULTS, run_metadata, write_suite_files, write_text
from pipelines import BlockPredecoder, RoundSource, StreamConfig
from pipelines._stream.ray_pool import compact_bits
from qec import NoiseModel

P = 0.001


def _stats(values: Sequence[float]) -> dict:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": len(values)}


def _measure(call: Callable[[], float], jobs: int, reps: int) -> dict:
    """``call()`` runs one call and returns the actor's work seconds; per-job figures."""
    call()  # warm
    trips, works = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        work = call()
        trips.append(time.perf_counter() - t0)
        works.append(work)
    over = [(t - w) / jobs for t, w in zip(trips, works)]
    ratio = [(t - w) / w for t, w in zip(trips, works)]
    return {"jobs_per_call": jobs, "round_trip_us": _stats([t * 1e6 for t in trips]),
            "work_per_job_us": _stats([w / jobs * 1e6 for w in works]),
            "overhead_per_job_us": _stats([o * 1e6 for o in over]),
            "overhead_ratio": _stats(ratio)}


def _pipelined(submit: Callable[[], object], work_of: Callable[[object], float], jobs: int,
               calls: int) -> dict:
    """``calls`` calls of ``jobs`` jobs, two in flight: wall time vs the sum of work."""
    import ray

    ray.get(submit())
    t0 = time.perf_counter()
    inflight, total_work = [submit(), submit()], 0.0
    for i in range(calls):
        total_work += work_of(ray.get(inflight.pop(0)))
        if i + 2 < calls:
            inflight.append(submit())
    wall = time.perf_counter() - t0
    return {"jobs_per_call": jobs, "calls": calls, "wall_s": wall, "work_s": total_work,
            "overhead_per_job_us": (wall - total_work) / (calls * jobs) * 1e6,
            "overhead_ratio": (wall - total_work) / total_work}


def _compiled(actor, method: str, payload, work_of, jobs: int, reps: int) -> dict:
    """The same call through a Ray compiled graph (shared-memory channels)."""
    from ray.dag import InputNode

    with InputNode() as inp:
        dag = getattr(actor, method).bind(inp)
    try:
        graph = dag.experimental_compile()
    except Exception as exc:  # noqa: BLE001 -- report what Ray said, measure the rest
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        graph.execute(payload).get(timeout=120)   # the first call sets the channels up
        return _measure(lambda: work_of(graph.execute(payload).get(timeout=120)), jobs, reps)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        graph.teardown()


def matcher_rows(d: int, *, shots: int, batches: Sequence[int], reps: int) -> dict:
    import ray

    from pipelines._stream.ray_pool import MatcherActor
    from pipelines._windows.graphs import WindowGraphs

    cfg = StreamConfig(distance=d, rounds=12 * d, noise=NoiseModel.uniform(P), shots=shots,
                       cycle_us=0.0)
    src = RoundSource.from_task(cfg.task(), shots=shots, seed=3, cycle_us=0.0)
    plan = cfg.plan()
    window = next(w for w in plan.windows if w.layer == "A" and w.lo > 0)
    lo, hi = src.layout.start(window.lo), src.layout.start(window.hi)
    job = (window.index, compact_bits(src.dets[:, lo:hi]), None)
    template = ray.put(WindowGraphs(cfg.task(), plan).template_graph)
    actor = ray.remote(MatcherActor).options(num_cpus=1).remote(cfg, template, None)
    ray.get(actor.where.remote())

    def work_of(out) -> float:
        return sum(seconds for _, _, seconds in out)

    rows = {"plain": _measure(lambda: work_of(ray.get(actor.decode_many.remote([job]))),
                              1, reps)}
    for b in batches:
        payload = [job] * b
        rows[f"batch {b}"] = _measure(
            lambda p=payload: work_of(ray.get(actor.decode_many.remote(p))), b,
            max(5, reps // 2))
        rows[f"pipelined {b}"] = _pipelined(lambda p=payload: actor.decode_many.remote(p),
                                            work_of, b, max(6, reps // 2))
    rows["compiled"] = _compiled(actor, "decode_many", [job], work_of, 1, reps)
    rows[f"compiled {batches[-1]}"] = _compiled(actor, "decode_many", [job] * batches[-1],
                                                work_of, batches[-1], max(5, reps // 2))
    ray.kill(actor)
    return rows


def predecoder_rows(d: int, *, shots: int, batches: Sequence[int], reps: int) -> dict:
    import ray

    from pipelines._stream.ray_pool import PredecoderActor
    from predecoder import load_model

    cfg = StreamConfig(distance=d, rounds=12 * d, noise=NoiseModel.uniform(P), shots=shots,
                       cycle_us=0.0)
    loaded = load_model("small")
    pre = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy("hard"),
                          block_slices=d)
    src = RoundSource.from_task(cfg.task(), shots=shots, seed=4, cycle_us=0.0)
    t0, t1 = pre.blocks()[len(pre.blocks()) // 2]
    e0, e1 = pre.extended(t0, t1)
    lo, hi = src.layout.start(e0), src.layout.start(e1)
    job = (t0, t1, compact_bits(src.dets[:, lo:hi]))
    actor = ray.remote(PredecoderActor).options(num_cpus=1).remote(
        cfg.task(), loaded.net, pre.policy, d, None)
    ray.get(actor.where.remote())

    def work_of(out) -> float:
        return sum(o.seconds for o in out)

    rows = {"plain": _measure(lambda: work_of(ray.get(actor.run_many.remote([job]))), 1, reps)}
    for b in batches:
        payload = [job] * b
        rows[f"batch {b}"] = _measure(
            lambda p=payload: work_of(ray.get(actor.run_many.remote(p))), b, max(5, reps // 2))
    rows["compiled"] = _compiled(actor, "run_many", [job], work_of, 1, reps)
    ray.kill(actor)
    return rows


def write_markdown(data: dict, path: Path) -> None:
    out = ["Transport overhead per job on Ray (median [IQR] over the calls; ratio = overhead / "
           "work per job; one actor, 2 shared cores):", ""]
    for stage in ("matcher", "predecoder"):
        out += [f"**{stage} stage** ({'one A window' if stage == 'matcher' else 'one block'} "
                f"of {data['shots']} shots per job):", "",
                "| d | call | jobs/call | work per job µs | overhead per job µs | ratio |",
                "|---|---|---|---|---|---|"]
        for d, rows in data[stage].items():
            for name, r in rows.items():
                out.append(_row(d, name, r))
        out.append("")
    write_text(path, "\n".join(out) + "\n")


def _row(d: str, name: str, r: dict) -> str:
    if "error" in r:
        return f"| {d} | {name} | | | failed: {r['error'][:80]} | |"
    if "wall_s" in r:
        work = r["work_s"] / (r["calls"] * r["jobs_per_call"]) * 1e6
        return (f"| {d} | {name} (2 in flight) | {r['jobs_per_call']} | {work:,.0f} | "
                f"{r['overhead_per_job_us']:,.0f} | {r['overhead_ratio']:.1%} |")
    w, o, q = r["work_per_job_us"], r["overhead_per_job_us"], r["overhead_ratio"]
    return (f"| {d} | {name} | {r['jobs_per_call']} | {w['median']:,.0f} | "
            f"{o['median']:,.0f} [{o['q1']:,.0f}, {o['q3']:,.0f}] | {q['median']:.1%} "
            f"[{q['q1']:.1%}, {q['q3']:.1%}] |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from pipelines._stream.ray_session import ray_session

    meta = run_metadata()
    shots, reps = (4, 6) if args.quick else (16, 30)
    batches = (4, 16)
    distances = (5, 9) if args.quick else (5, 9, 13)
    data = {"meta": meta, "shots": shots, "p": P, "load_average_start": os.getloadavg(),
            "matcher": {}, "predecoder": {}}
    with ray_session(None, num_cpus=2):
        for d in distances:
            data["matcher"][str(d)] = matcher_rows(d, shots=shots, batches=batches, reps=reps)
            data["predecoder"][str(d)] = predecoder_rows(d, shots=shots, batches=batches,
                                                         reps=max(5, reps // 3))
            print(f"overhead d={d} done", flush=True)
    data["load_average_end"] = os.getloadavg()
    stem = "stream_overhead_quick" if args.quick else "stream_overhead"
    write_suite_files(args.out, stem, data, markdown=lambda path: write_markdown(data, path))
    return 0
