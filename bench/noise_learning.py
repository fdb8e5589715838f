"""Noise learning: matching weights from syndrome statistics alone, measured.

Stages (all by default):

- ``train``: the paper's CNN estimator (noise.learned) trained on CPU at d = 5 on random
  global noise models, bounded in time -> noise_learning_cnn.safetensors (+ loss history).
- ``estimate``: for si1000 with per-qubit random multipliers 0.5-2x and for uniform noise,
  d = 5, 7, 9: 10^6 estimation shots streamed into the correlation estimators ('mechanisms'
  and 'pairwise'); median relative error of the edge probabilities vs the true DEM; LER on
  fresh shots (other seed) with true / estimated / uniform weights, uncorrelated and
  correlated matching, all decoders on the same shots.
- ``learned``: CNN vs correlation estimator on the same (CPU-limited) shots, vs true vs
  uniform: edge error and LER.
- ``drift``: a stream whose noise strength doubles halfway; sliding-window estimate vs the
  static (pre-change) estimate: tracking error per chunk and LER after the change.

    nice -n 10 python -m bench noise            # about 15-20 min on 2 cores
    nice -n 10 python -m bench noise --quick    # smoke test

Writes bench/results/noise_learning_{estimate,learned}.csv (sinter format, LER rows;
.meta.json sidecars), noise_learning.json (everything + provenance; stages run alone merge
into it), noise_learning.md (tables), noise_learning.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench._meta import REPO_ROOT, run_metadata, save_figure, write_sidecar, write_text
from noise import (
    NoiseStructure,
    SlidingWindowEstimator,
    count_parities,
    estimate_from_counts,
    graph_edge_prob_like,
    matching_dem,
    uniform_dem,
)
from pipelines import run_task
from qec import (
    DecodeStats,
    Geometry,
    MatchingDecoder,
    MatchingGraph,
    NoiseModel,
    Task,
    sample_detectors,
    sinter_csv_header,
    sinter_rows,
)

RESULTS = REPO_ROOT / "bench" / "results"
STAGES = ("train", "estimate", "learned", "drift")
log = logging.getLogger("bench.noise_learning")


@dataclass(frozen=True)
class Plan:
    distances: tuple[int, ...] = (5, 7, 9)
    p: float = 0.004
    est_shots: int = 1_000_000
    decode_shots: dict | None = None  # per distance
    cnn_shots: int = 8192
    train_seconds: float = 360.0
    train_steps: int = 2000
    drift_chunk: int = 10_000
    drift_chunks: int = 60
    drift_window: int = 50_000
    seed: int = 7
    cnn_name: str = "noise_learning_cnn.safetensors"

    @property
    def cnn_path(self):
        return RESULTS / self.cnn_name

    def shots_for(self, d: int) -> int:
        return (self.decode_shots or {}).get(d, 200_000)


FULL = Plan(decode_shots={5: 200_000, 7: 200_000, 9: 200_000})
QUICK = Plan(distances=(5,), est_shots=50_000, decode_shots={5: 20_000}, cnn_shots=1024,
             train_seconds=20, train_steps=10, drift_chunk=5_000, drift_chunks=8,
             drift_window=10_000, cnn_name="noise_learning_cnn_quick.safetensors")


def noise_models(d: int, p: float, seed: int) -> dict[str, NoiseModel]:
    """The two noise families of the issue, for distance d."""
    qubits = Task(distance=d, noise=NoiseModel.uniform(p)).circuit().num_qubits
    return {"si1000x": NoiseModel.si1000(p).with_random_multipliers(qubits, seed=seed + d),
            "uniform": NoiseModel.uniform(p)}


def decode_all(task: Task, dems: dict[str, tuple], *, shots: int, seed: int
               ) -> dict[str, DecodeStats]:
    """Decode the same fresh shots with every (dem, correlated) matcher."""
    decs = {k: MatchingDecoder.from_dem(dem, correlated=corr) for k, (dem, corr) in dems.items()}
    return run_task(task, shots=shots, decoders=list(decs), seed=seed, built=decs).stats


def edge_errors(est_prob: np.ndarray, structure: NoiseStructure, true_graph: MatchingGraph
                ) -> dict:
    """Median relative error |p_est - p_true| / p_true, all / bulk / boundary edges."""
    truth = graph_edge_prob_like(true_graph, structure.graph)
    rel = np.abs(est_prob - truth) / truth
    bnd = structure.graph.is_boundary
    return {"median_rel_error": float(np.nanmedian(rel)),
            "median_rel_error_bulk": float(np.nanmedian(rel[~bnd])),
            "median_rel_error_boundary": float(np.nanmedian(rel[bnd])),
            "mean_signed_rel_error_boundary": float(np.nanmean(((est_prob - truth) / truth)[bnd]))}


def stage_estimate(plan: Plan, out: dict, csv_rows: list) -> None:
    for d in plan.distances:
        for family, noise in noise_models(d, plan.p, plan.seed).items():
            t0 = time.perf_counter()
            task = Task(distance=d, noise=noise)
            structure = NoiseStructure.from_task(task)
            counts = count_parities(sample_detectors(task.circuit(), shots=plan.est_shots,
                                                     seed=plan.seed), structure=structure)
            count_s = time.perf_counter() - t0
            ests = {m: estimate_from_counts(counts, structure=structure, method=m)
                    for m in ("mechanisms", "pairwise")}
            true_graph = MatchingGraph.from_dem(task.dem())
            dems = {"true": (task.dem(), False), "true-correlated": (task.dem(), True),
                    "mechanisms": (matching_dem(ests["mechanisms"], edges="estimate"), False),
                    "mechanisms-correlated": (matching_dem(ests["mechanisms"], correlated=True),
                                              True),
                    "pairwise": (matching_dem(ests["pairwise"]), False),
                    "uniform": (uniform_dem(structure, p=float(np.mean(true_graph.edge_prob))),
                                False),
                    "uniform-correlated": (uniform_dem(
                        structure, p=float(np.mean(true_graph.error_prob)), correlated=True),
                        True)}
            stats = decode_all(task, dems, shots=plan.shots_for(d), seed=plan.seed + 1000)
            meta = {**task.metadata(seed=plan.seed + 1000), "family": family,
                    "est_shots": plan.est_shots}
            csv_rows += sinter_rows(stats.values(), circuit=task.circuit(),
                                  json_metadata=meta)
            out["estimate"].append({
                "distance": d, "family": family, "p": plan.p, "est_shots": plan.est_shots,
                "count_seconds": count_s, "noise_fingerprint": noise.fingerprint,
                "edges": {m: edge_errors(e.edge_prob, structure, true_graph)
                          for m, e in ests.items()},
                "ler": {k: s.to_json() for k, s in stats.items()}})
            log.info("estimate d=%d %s done in %.0f s", d, family, time.perf_counter() - t0)


def stage_train(plan: Plan, out: dict, *, resume: bool) -> None:
    """Train (or, with ``resume``, continue training) the CNN; sessions add up."""
    import torch

    from noise.learned import (
        LearnedConfig,
        LearnedTrainConfig,
        load_result,
        save_result,
        train_learned,
    )

    torch.set_num_threads(2)   # the CNN's training used both cores here
    old = out.get("train", {})
    sessions = list(old.get("sessions", [old] if "steps" in old else [])) if resume else []
    init = load_result(plan.cnn_path)[0] if resume else None
    cfg = LearnedTrainConfig(distance=5, steps=plan.train_steps, max_seconds=plan.train_seconds,
                      shots_per_model=128, seed=plan.seed + len(sessions))
    result = train_learned(LearnedConfig(), cfg, init_state=init)
    save_result(result, plan.cnn_path)
    losses = np.array(result.losses)
    tail = max(1, len(losses) // 10)
    sessions.append({"steps": result.steps, "seconds": result.seconds, "train": cfg.__dict__,
                     "loss_first_10pct": float(losses[:tail].mean()),
                     "loss_last_10pct": float(losses[-tail:].mean()),
                     "loss_per_10_steps": [float(losses[k:k + 10].mean())
                                           for k in range(0, len(losses), 10)]})
    out["train"] = {"sessions": sessions, "steps": sum(s["steps"] for s in sessions),
                    "seconds": sum(s["seconds"] for s in sessions),
                    "weights": str(plan.cnn_path.relative_to(REPO_ROOT))}
    log.info("trained %d steps in %.0f s; loss %.3f -> %.3f", result.steps, result.seconds,
             sessions[-1]["loss_first_10pct"], sessions[-1]["loss_last_10pct"])


def stage_learned(plan: Plan, out: dict, csv_rows: list) -> None:
    """CNN vs correlation estimator on the same shots; true and uniform for reference."""
    import torch

    from noise.learned import load_result, predict_noise

    torch.set_num_threads(2)
    state, cfg = load_result(plan.cnn_path)
    for d in plan.distances:
        for family, noise in noise_models(d, plan.p, plan.seed).items():
            task = Task(distance=d, noise=noise)
            structure = NoiseStructure.from_task(task)
            true_graph = MatchingGraph.from_dem(task.dem())
            chunks = list(sample_detectors(task.circuit(), shots=plan.cnn_shots,
                                           seed=plan.seed + 2000))
            t0 = time.perf_counter()
            cnn_noise, _ = predict_noise(state, cfg, chunks, Geometry.from_circuit(task.circuit()))
            cnn_s = time.perf_counter() - t0
            cnn_task = Task(distance=d, noise=cnn_noise)
            cnn_graph = MatchingGraph.from_dem(cnn_task.dem())
            corr = estimate_from_counts(count_parities(chunks, structure=structure),
                                        structure=structure, method="mechanisms")
            # true / uniform on these same decode shots are the estimate stage's rows.
            dems = {"cnn": (cnn_task.dem(), False), "cnn-correlated": (cnn_task.dem(), True),
                    "correlation": (matching_dem(corr), False),
                    "correlation-correlated": (matching_dem(corr, correlated=True), True)}
            stats = decode_all(task, dems, shots=plan.shots_for(d), seed=plan.seed + 1000)
            meta = {**task.metadata(seed=plan.seed + 1000), "family": family,
                    "est_shots": plan.cnn_shots, "stage": "learned"}
            csv_rows += sinter_rows(stats.values(), circuit=task.circuit(),
                                  json_metadata=meta)
            cnn_prob = graph_edge_prob_like(cnn_graph, structure.graph)
            out["learned"].append({
                "distance": d, "family": family, "shots": plan.cnn_shots,
                "cnn_seconds": cnn_s,
                "edges": {"cnn": edge_errors(cnn_prob, structure, true_graph),
                          "correlation": edge_errors(corr.edge_prob, structure, true_graph)},
                "ler": {k: s.to_json() for k, s in stats.items()}})
            log.info("learned d=%d %s done", d, family)


def stage_drift(plan: Plan, out: dict) -> None:
    """Two drifts halfway through a stream, sliding-window vs static (first-window) weights:
    the noise strength doubles (the issue's case), and the per-qubit hot spots move
    (multipliers redrawn, same mean strength)."""
    d = plan.distances[0]
    qubits = Task(distance=d, noise=NoiseModel.uniform(plan.p)).circuit().num_qubits
    half = NoiseModel.si1000(plan.p / 2).with_random_multipliers(qubits, seed=plan.seed + d)
    full = NoiseModel.si1000(plan.p)
    out["drift"] = {
        "strength_doubles": _drift_run(plan, d, half, half.scaled(2.0)),
        "hotspots_move": _drift_run(
            plan, d, full.with_random_multipliers(qubits, seed=plan.seed + 1),
            full.with_random_multipliers(qubits, seed=plan.seed + 2))}


def _drift_run(plan: Plan, d: int, before: NoiseModel, after: NoiseModel) -> dict:
    tasks = [Task(distance=d, noise=before), Task(distance=d, noise=after)]
    structure = NoiseStructure.from_task(tasks[0])
    truths = [graph_edge_prob_like(MatchingGraph.from_dem(t.dem()), structure.graph)
              for t in tasks]
    window = SlidingWindowEstimator(structure=structure, window_shots=plan.drift_window)
    static = None
    rows, errors = [], {"window": 0, "static": 0, "true": 0}
    half = plan.drift_chunks // 2
    for k in range(plan.drift_chunks):
        phase = int(k >= half)
        chunk = next(sample_detectors(tasks[phase].circuit(), shots=plan.drift_chunk,
                                      seed=plan.seed * 100_000 + k))
        if window.shots >= plan.drift_window:  # decode with weights learned BEFORE this chunk
            est = window.estimate()
            static = est if static is None else static
            if phase:
                for name, dem in (("window", matching_dem(est)), ("static", matching_dem(static)),
                                  ("true", tasks[1].dem())):
                    pred = MatchingDecoder.from_dem(dem).decode_batch(chunk.dets)
                    errors[name] += int(np.any(pred != chunk.obs, axis=1).sum())
            rows.append({"chunk": k, "shots_seen": (k + 1) * plan.drift_chunk, "phase": phase,
                         "window_rel_error": _median_rel(est.edge_prob, truths[phase]),
                         "static_rel_error": _median_rel(static.edge_prob, truths[phase]),
                         "window_mean_p": float(np.mean(est.edge_prob)),
                         "true_mean_p": float(np.mean(truths[phase]))})
        window.add(chunk.dets)
    post = (plan.drift_chunks - half) * plan.drift_chunk
    settled = [r for r in rows if r["shots_seen"] > (half + 1) * plan.drift_chunk
               + plan.drift_window]
    return {"distance": d, "before": before.name, "p_before": before.p, "p_after": after.p,
            "before_fingerprint": before.fingerprint, "after_fingerprint": after.fingerprint,
            "chunk_shots": plan.drift_chunk, "window_shots": plan.drift_window,
            "change_at_shot": half * plan.drift_chunk, "track": rows,
            "tracking_error_settled_median": float(np.median(
                [r["window_rel_error"] for r in settled])) if settled else None,
            "static_error_after_median": float(np.median(
                [r["static_rel_error"] for r in rows if r["phase"]])),
            "ler_after_change": {n: DecodeStats(decoder=n, shots=post, errors=e, seconds=0.0,
                                                rounds=d).to_json() for n, e in errors.items()}}


def _median_rel(est: np.ndarray, truth: np.ndarray) -> float:
    return float(np.nanmedian(np.abs(est - truth) / truth))


def write_outputs(out: dict, csv_rows: dict, meta: dict, suffix: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"noise_learning{suffix}"
    json_path = stem.with_suffix(".json")
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    merged = {**previous, **{k: v for k, v in out.items() if v}, "meta": meta}
    write_text(json_path, json.dumps(merged, indent=1) + "\n")
    for stage, rows in csv_rows.items():  # one sinter CSV per stage, so stages can rerun alone
        csv_path = RESULTS / f"noise_learning_{stage}{suffix}.csv"
        write_text(csv_path, "\n".join([sinter_csv_header(), *rows]) + "\n")
        write_sidecar(csv_path, meta)
    write_text(stem.with_suffix(".md"), markdown(merged))
    plot(merged, stem.with_suffix(".png"))
    write_sidecar(stem.with_suffix(".png"), meta)


def _fmt(j: dict | None) -> str:
    if j is None:
        return "-"
    return f"{j['ler']:.2e} [{j['ler_low']:.1e}, {j['ler_high']:.1e}]"


def markdown(res: dict) -> str:
    lines = ["Generated by bench/noise_learning.py.", ""]
    if res.get("estimate"):
        lines += ["#### Correlation estimator, 10^6-shot estimates; LER per shot [95% Wilson]", "",
                  "Uncorrelated matching: 'est. pairwise' = two-point edges (docs/design.md "
                  "section 4, the default for uncorrelated matchers), 'est. mech.' = edges from "
                  "the mechanism (hyperedge) estimate. Correlated matching: mechanism "
                  "estimate.", "",
                  "| noise | d | median rel. err (mechanisms / pairwise) | true | est. pairwise | "
                  "est. mech. | uniform | true corr. | estimated corr. | uniform corr. |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["estimate"]:
            e, ler = r["edges"], r["ler"]
            lines.append(
                f"| {r['family']} | {r['distance']} | "
                f"{e['mechanisms']['median_rel_error']:.3f} / "
                f"{e['pairwise']['median_rel_error']:.3f}"
                f" | {_fmt(ler['true'])} | {_fmt(ler['pairwise'])} | {_fmt(ler['mechanisms'])} | "
                f"{_fmt(ler['uniform'])} | "
                f"{_fmt(ler['true-correlated'])} | {_fmt(ler['mechanisms-correlated'])} | "
                f"{_fmt(ler['uniform-correlated'])} |")
        lines.append("")
    if res.get("learned"):
        lines += ["#### Learned (CNN) vs correlation estimator on the same shots", "",
                  "| noise | d | shots | median rel. err CNN / corr. | true | CNN | correlation | "
                  "uniform | true corr. | CNN corr. | correlation corr. |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        ref = {(r["distance"], r["family"]): r["ler"] for r in res.get("estimate", [])}
        for r in res["learned"]:
            e, ler = r["edges"], {**ref.get((r["distance"], r["family"]), {}), **r["ler"]}
            lines.append(
                f"| {r['family']} | {r['distance']} | {r['shots']} | "
                f"{e['cnn']['median_rel_error']:.3f} / {e['correlation']['median_rel_error']:.3f}"
                f" | {_fmt(ler.get('true'))} | {_fmt(ler['cnn'])} | {_fmt(ler['correlation'])} | "
                f"{_fmt(ler.get('uniform'))} | {_fmt(ler.get('true-correlated'))} | "
                f"{_fmt(ler['cnn-correlated'])} | {_fmt(ler['correlation-correlated'])} |")
        lines.append("")
    for name, dr in (res.get("drift") or {}).items():
        if not isinstance(dr, dict) or "track" not in dr:
            continue
        lines += [f"#### Drift '{name}': d={dr['distance']}, p {dr['p_before']} -> "
                  f"{dr['p_after']} at shot {dr['change_at_shot']}, window "
                  f"{dr['window_shots']} shots", "",
                  f"Median relative edge error after the change: sliding window (settled) "
                  f"{dr['tracking_error_settled_median']:.3f}, static "
                  f"{dr['static_error_after_median']:.3f}.", "",
                  "| weights | LER after the change (same shots) |", "|---|---|"]
        lines += [f"| {n} | {_fmt(j)} |" for n, j in dr["ler_after_change"].items()]
        lines.append("")
    return "\n".join(lines)


def plot(res: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    for fam, marker in (("si1000x", "o"), ("uniform", "s")):
        rows = [r for r in res.get("estimate", []) if r["family"] == fam]
        for key, color in (("true", "k"), ("mechanisms", "C0"), ("uniform", "C3"),
                           ("true-correlated", "0.5"), ("mechanisms-correlated", "C2"),
                           ("uniform-correlated", "C1")):
            ds = [r["distance"] for r in rows]
            ys = [r["ler"][key]["ler"] for r in rows]
            lo = [r["ler"][key]["ler"] - r["ler"][key]["ler_low"] for r in rows]
            hi = [r["ler"][key]["ler_high"] - r["ler"][key]["ler"] for r in rows]
            ax.errorbar(ds, ys, yerr=[lo, hi], marker=marker, color=color, capsize=2,
                        label=f"{fam} {key}", ls="-" if fam == "si1000x" else ":")
    ax.set_yscale("log")
    ax.set_xlabel("distance")
    ax.set_ylabel("LER per shot")
    ax.set_title("true vs estimated vs uniform weights")
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    for k, (name, dr) in enumerate((res.get("drift") or {}).items()):
        if not isinstance(dr, dict) or "track" not in dr:
            continue
        tr = dr["track"]
        x = [r["shots_seen"] for r in tr]
        ax.plot(x, [r["window_rel_error"] for r in tr], color=f"C{2 * k}",
                label=f"{name}: sliding window")
        ax.plot(x, [r["static_rel_error"] for r in tr], color=f"C{2 * k + 1}", ls="--",
                label=f"{name}: static (first window)")
        ax.axvline(dr["change_at_shot"], color="k", ls=":", lw=0.8)
        ax.set_xlabel("shots in stream")
        ax.set_ylabel("median relative edge error")
        ax.set_title("drift halfway through a stream")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench noise", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny shot counts (smoke test)")
    parser.add_argument("--resume", action="store_true",
                        help="train: continue from the saved CNN (sessions are recorded)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {','.join(STAGES)}")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        parser.error(f"--stages names {bad}; choose from {', '.join(STAGES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("noise.reweight").setLevel(logging.ERROR)  # clamps are counted, not news
    plan = QUICK if args.quick else FULL
    meta = run_metadata()
    out: dict = {"estimate": [], "learned": [], "drift": {}, "train": {}}
    previous = RESULTS / f"noise_learning{'_quick' if args.quick else ''}.json"
    if args.resume and previous.exists():
        out["train"] = json.loads(previous.read_text()).get("train", {})
    csv_rows: dict = {}
    suffix = "_quick" if args.quick else ""
    for stage in stages:
        t0 = time.perf_counter()
        if stage == "train":
            stage_train(plan, out, resume=args.resume)
        elif stage == "estimate":
            stage_estimate(plan, out, csv_rows.setdefault(stage, []))
        elif stage == "learned":
            stage_learned(plan, out, csv_rows.setdefault(stage, []))
        else:
            stage_drift(plan, out)
        out.setdefault("stage_seconds", {})[stage] = time.perf_counter() - t0
        write_outputs(out, csv_rows, meta, suffix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
