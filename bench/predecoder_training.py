"""How the shipped pre-decoders were chosen: learning curves, the model comparison, shipping.

    python -m bench training                  # curves + model comparison (~15 min)
    python -m bench training --quick          # smoke test
    python -m bench training --ship RAW.safetensors --as small [--noise uniform]
                                              # calibrate RAW on held-out shots and write
                                              # predecoder/weights/NAME.safetensors + NAME.json

Parts (``--only curve,compare``):

- curve: every training snapshot decoded in soft mode on the SAME shots (d = 9, p = 0.006,
  uniform, X basis): soft errors / PyMatching errors with a paired 95% interval (below), and
  the hard rule at logit > 0 for reference, against training shots seen and training seconds.
  Series: the shipped small model's lineage (its first run, then the continuation) and the
  larger ``medium`` preset trained from scratch for about the same wall time. Nothing is
  fitted or extrapolated.
- compare: the candidates' final weights on the same shots at d = 5 and 9, p = 0.006, both
  bases, soft mode: the one with fewer errors is shipped (McNemar p between them reported).

The ratio's interval: with B shots both decoders got wrong and m shots only one did, of which
c were soft's, the ratio is (B + c) / (B + m - c); c ~ Binomial(m, pi) given m, so the 95%
Wilson interval of pi maps to an interval of the ratio. It is paired (both decoders on the
same shots), so it is narrower than two independent intervals would suggest.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench._meta import (
    REPO_ROOT,
    RESULTS,
    no_inf,
    rate,
    run_metadata,
    save_figure,
    write_json,
    write_sidecar,
    write_text,
)

TRAINING = RESULTS / "training"
SERIES = {  # label -> snapshot folders, in training order (a lineage continues a run)
    "small (shipped lineage)": (RESULTS / "predecoder_snapshots", TRAINING / "small_soft" /
                                "snapshots"),
    "medium (from scratch)": (TRAINING / "medium_soft" / "snapshots",),
}
CANDIDATES = {"small (first run)": RESULTS / "predecoder_small16k_raw.safetensors",
              "small (continued)": TRAINING / "small_soft" / "final.safetensors",
              "medium": TRAINING / "medium_soft" / "final.safetensors"}
CURVE_TASK = {"distance": 9, "p": 0.006, "basis": "X", "seed": 90_001}
COMPARE_SEED = 91_001


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench training", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small shot counts (smoke test)")
    parser.add_argument("--only", default="curve,compare")
    parser.add_argument("--curve-shots", type=int, default=8000)
    parser.add_argument("--compare-shots", type=int, default=6000)
    parser.add_argument("--ship", type=Path, default=None, help="raw weights to calibrate")
    parser.add_argument("--as", dest="ship_as", default="small", help="shipped model name")
    parser.add_argument("--noise", default="uniform", help="calibration noise family")
    parser.add_argument("--calibration-shots", type=int, default=6000)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    meta = run_metadata()
    suffix = "_quick" if args.quick else ""
    if args.ship is not None:
        ship(args.ship, name=args.ship_as, noise=args.noise, meta=meta,
             shots=200 if args.quick else args.calibration_shots, suffix=suffix)
        return 0
    parts = set(args.only.split(","))
    if "curve" in parts:
        curve(shots=400 if args.quick else args.curve_shots, meta=meta, suffix=suffix)
    if "compare" in parts:
        compare(shots=300 if args.quick else args.compare_shots, meta=meta, suffix=suffix)
    return 0


def paired_ratio(wrong_a, wrong_b) -> dict:
    """Errors of A / errors of B on the same shots, with the paired 95% interval (module
    docstring). ``wrong_*``: (S,) bool masks."""
    import numpy as np

    from qec import wilson_interval

    a, b = np.asarray(wrong_a, bool), np.asarray(wrong_b, bool)
    both, only_a, only_b = int((a & b).sum()), int((a & ~b).sum()), int((b & ~a).sum())
    m = only_a + only_b

    def r(pi: float) -> float | None:
        den = both + m * (1 - pi)
        return (both + m * pi) / den if den > 0 else None

    lo, hi = wilson_interval(only_a, m) if m else (0.0, 1.0)
    return {"ratio": r(only_a / m) if m else 1.0, "low": r(lo), "high": r(hi),
            "errors_a": both + only_a, "errors_b": both + only_b}


def snapshots(folders: Sequence[Path]) -> list[Path]:
    return [p for folder in folders for p in sorted(folder.glob("step*.safetensors"))]


def curve(*, shots: int, meta: dict, suffix: str) -> None:
    """Soft-mode learning curves of every series, same shots for every snapshot."""
    from predecoder import CommitPolicy, load_weights
    from predecoder.evaluate import evaluate
    from qec import NoiseModel, Task

    task = Task(distance=CURVE_TASK["distance"], basis=CURVE_TASK["basis"],
                noise=NoiseModel.uniform(CURVE_TASK["p"]))
    soft, hard = CommitPolicy.soft(), CommitPolicy.hard(0.0)
    series: dict[str, list[dict]] = {}
    for label, folders in SERIES.items():
        rows = series.setdefault(label, [])
        for path in snapshots(folders):
            loaded = load_weights(path)
            ev = evaluate(loaded.net, task, shots=shots, seed=CURVE_TASK["seed"],
                          policies=(soft, hard), chunk_shots=1000)
            t = loaded.metadata["training"]
            rows.append({"snapshot": str(path.relative_to(REPO_ROOT)),
                         "shots_seen": t["shots_seen"], "train_seconds": _seconds(t),
                         "shots": ev.shots, "pm_errors": ev.pm_errors,
                         "soft": paired_ratio(ev.wrong[soft.label], ev.wrong["pymatching"]),
                         "hard_logit0": paired_ratio(ev.wrong[hard.label],
                                                     ev.wrong["pymatching"]),
                         "sdr_soft": ev.sdr(ev.point(soft))})
            print(f"curve {label} {path.name}: shots seen {t['shots_seen']:,}, PM "
                  f"{ev.pm_errors}, soft {rows[-1]['soft']['errors_a']}", flush=True)
    stem = f"predecoder_curve{suffix}"
    write_json(RESULTS / f"{stem}.json", {"meta": meta, "task": CURVE_TASK, "series": series})
    write_text(RESULTS / f"{stem}.md", curve_markdown(series))
    plot_curve(series, RESULTS / f"{stem}.png", meta)


def _seconds(training: dict) -> float:
    """Training seconds of a snapshot, counting the run it was warm-started from."""
    return float(training.get("train_seconds", 0.0)) + float(
        (training.get("init") or {}).get("train_seconds", 0.0))


def curve_markdown(series: dict) -> str:
    lines = [f"Soft mode vs PyMatching on the same {next(iter(series.values()))[0]['shots']:,} "
             f"shots (d = {CURVE_TASK['distance']}, p = {CURVE_TASK['p']}, uniform, "
             f"{CURVE_TASK['basis']} basis) for every snapshot. Ratio = soft errors / PM errors "
             "(below 1: soft is better) [paired 95% interval]; the hard rule at logit > 0 for "
             "reference.", "",
             "| series | training shots seen | training s | PM errors | soft errors | ratio soft "
             "[95%] | ratio hard@0 | SDR soft |", "|" + "---|" * 8]
    for label, rows in series.items():
        for r in rows:
            s, h = r["soft"], r["hard_logit0"]
            lines.append(f"| {label} | {r['shots_seen']:,} | {r['train_seconds']:,.0f} "
                         f"| {r['pm_errors']} | {s['errors_a']} | {s['ratio']:.2f} "
                         f"[{s['low']:.2f}, {s['high']:.2f}] | {h['ratio']:.2f} "
                         f"| {r['sdr_soft']:.2f} |")
    return "\n".join(lines) + "\n"


def plot_curve(series: dict, path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, key, xlabel in ((axes[0], "shots_seen", "training shots seen"),
                            (axes[1], "train_seconds", "training seconds (shared 2-core CPU)")):
        for k, (label, rows) in enumerate(series.items()):
            xs = [r[key] for r in rows]
            for field, fmt, name in (("soft", "-o", "soft"), ("hard_logit0", ":s", "hard@0")):
                ys = [r[field] for r in rows]
                ax.errorbar(xs, [y["ratio"] for y in ys],
                            yerr=[[y["ratio"] - y["low"] for y in ys],
                                  [y["high"] - y["ratio"] for y in ys]], fmt=fmt,
                            color=f"C{k}", alpha=1.0 if field == "soft" else 0.4, capsize=2,
                            ms=4, label=f"{label}, {name}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set(xscale="log", xlabel=xlabel, ylabel="errors / PyMatching errors (same shots)",
               title=f"d={CURVE_TASK['distance']}, p={CURVE_TASK['p']}, uniform, "
                     f"{CURVE_TASK['basis']}; paired 95% intervals")
        ax.legend(fontsize=7)
    save_figure(fig, path)
    write_sidecar(path, meta)


def compare(*, shots: int, meta: dict, suffix: str) -> None:
    """The candidates' final weights in soft mode on the same shots; the fewer errors ship."""
    from predecoder import CommitPolicy, load_weights
    from predecoder.evaluate import evaluate
    from qec import NoiseModel, PairedCounts, Task

    present = {k: p for k, p in CANDIDATES.items() if p.exists()}
    rows = []
    for d in (5, 9):
        for k, basis in enumerate(("X", "Z")):
            task = Task(distance=d, basis=basis, noise=NoiseModel.uniform(0.006))
            wrong, pm = {}, None
            for label, path in present.items():
                ev = evaluate(load_weights(path).net, task, shots=shots, seed=COMPARE_SEED + 10
                              * d + k, policies=(CommitPolicy.soft(),), chunk_shots=1000)
                wrong[label], pm = ev.wrong["soft"], ev.wrong["pymatching"]
            row = {"distance": d, "basis": basis, "shots": int(pm.size),
                   "decoders": {"pymatching": rate(int(pm.sum()), pm.size, d),
                                **{lab: rate(int(w.sum()), pm.size, d)
                                   for lab, w in wrong.items()}}}
            labels = list(wrong)
            row["pairs"] = {f"{a}|{b}": PairedCounts.of(a, wrong[a], b, wrong[b]).to_json()
                            for i, a in enumerate(labels) for b in labels[i + 1:]}
            rows.append(row)
            errors = {k: v["errors"] for k, v in row["decoders"].items()}
            print(f"compare d={d} {basis}: {errors}", flush=True)
    totals = {lab: sum(r["decoders"][lab]["errors"] for r in rows) for lab in present}
    record = {"meta": meta, "candidates": {k: str(p.relative_to(REPO_ROOT))
                                           for k, p in present.items()},
              "rows": rows, "total_soft_errors": totals,
              "winner": min(totals, key=totals.get) if totals else None}
    write_json(RESULTS / f"predecoder_models{suffix}.json", record)
    write_text(RESULTS / f"predecoder_models{suffix}.md", compare_markdown(record))


def compare_markdown(record: dict) -> str:
    labels = list(record["total_soft_errors"])
    lines = ["Final weights of each candidate in soft mode, uniform p = 0.006, the same shots "
             "for every column (errors).", "",
             "| d | basis | shots | PyMatching | " + " | ".join(labels) + " | McNemar p "
             "between candidates |", "|" + "---|" * (5 + len(labels))]
    for r in record["rows"]:
        pairs = "; ".join(f"{k.replace('|', ' vs ')}: {v['mcnemar_p']:.2f}"
                          for k, v in r["pairs"].items())
        lines.append(f"| {r['distance']} | {r['basis']} | {r['shots']:,} "
                     f"| {r['decoders']['pymatching']['errors']} | "
                     + " | ".join(str(r["decoders"][lab]["errors"]) for lab in labels)
                     + f" | {pairs} |")
    lines += ["", f"Total soft-mode errors: {record['total_soft_errors']}; shipped: "
              f"{record['winner']}."]
    return "\n".join(lines) + "\n"


def ship(raw: Path, *, name: str, noise: str, meta: dict, shots: int, suffix: str) -> None:
    """Calibrate ``raw`` (``predecoder.calibrate.save_calibrated``: hard threshold, soft cap,
    on held-out shots of ``noise``), write ``predecoder/weights/NAME.safetensors`` and its
    recipe (``NAME.json``)."""
    from predecoder.calibrate import save_calibrated
    from predecoder.weights import WEIGHTS_DIR, load_weights

    raw = raw.resolve()
    loaded = load_weights(raw)
    out = WEIGHTS_DIR / f"{name}{suffix}.safetensors"
    cal = save_calibrated(loaded, out, shots=shots, noise=noise, progress=_say_eval)
    shipped = load_weights(out)
    record = {"meta": meta, "shipped": str(out.relative_to(REPO_ROOT)), "raw": str(raw),
              "threshold": cal.threshold, "commit_rule": cal.rule, "soft_cap": cal.soft_cap,
              "training": shipped.metadata["training"], "rows": no_inf(cal.rows())}
    write_json(RESULTS / f"predecoder_calibration_{name}{suffix}.json", record)
    if suffix:   # a --quick calibration never stays beside the shipped models
        out.unlink()
        return
    recipe = {"weights": out.name, "preset": shipped.metadata.get("preset"),
              "receptive_field": shipped.config.receptive_field,
              "widths": list(shipped.config.widths), "training": shipped.metadata["training"],
              "hardware": {**meta["hardware"], "note": "trained on the CPU only (no GPU), one "
                           "torch thread per run, on this shared 2-core machine"},
              "retrain": _retrain_commands(raw, name, noise)}
    write_text(out.with_suffix(".json"), json.dumps(recipe, indent=2) + "\n")
    print(f"shipped {out.relative_to(REPO_ROOT)}: hard logit > {cal.threshold} "
          f"({cal.rule}), soft cap {cal.soft_cap}")


def _retrain_commands(raw: Path, name: str, noise: str) -> list[str]:
    """The training commands of ``raw``'s run (the launch scripts kept beside its log)."""
    lines = []
    for script in sorted(raw.parent.glob("launch*.sh")):
        for line in script.read_text().splitlines():
            if not line.startswith("cd "):
                lines.append(line.replace("exec .venv/bin/", "").replace(".venv/bin/", ""))
    lines.append(f"python -m bench training --ship {raw.relative_to(REPO_ROOT)} --as {name} "
                 f"--noise {noise}")
    return lines


def _say_eval(ev) -> None:
    print(f"  calibration d={ev.task.distance} p={ev.task.noise.p} {ev.task.basis}: "
          f"{ev.shots} shots, PM errors {ev.pm_errors}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
