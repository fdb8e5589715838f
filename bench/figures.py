"""Summary figures drawn from the suites' JSON results (no new measurement).

    python -m bench figures

Reads bench/results/{baseline,predecoder_noharm,streaming}.json and writes:

- summary_ler.png: LER per round vs p for each d: PyMatching, correlated PyMatching and
  pre-decoder + PyMatching (the shipped model), with 95% intervals;
- summary_stages.png: µs per round vs d per stage (pre-decoder on CPU, PyMatching on the raw
  syndrome and on the residual) and the SDR vs p at the shipped threshold and at logit > 0;
- summary_streaming.png: streaming throughput (rounds/s) vs workers per d, and the backlog of
  the d = 13, 10^4-round, 1 µs-cycle run.

- predecoder_curve.md: the learning-curve table and its extrapolation;
- predecoder_recipe.md: how the shipped pre-decoder was trained (from its weights' JSON).

Each PNG gets a provenance sidecar naming the JSON files it was drawn from.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench._meta import REPO_ROOT, run_metadata, save_figure, write_sidecar, write_text

RESULTS = REPO_ROOT / "bench" / "results"


def _load(results: Path, name: str) -> dict:
    path = results / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run its suite first (python -m bench all)")
    return json.loads(path.read_text())


def _errorbar(ax, xs, ys, lows, highs, **kw) -> None:
    ax.errorbar(xs, ys, yerr=[[y - lo for y, lo in zip(ys, lows)],
                              [hi - y for y, hi in zip(ys, highs)]], capsize=2, ms=4, **kw)


def plot_ler(baseline: dict, noharm: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    from qec import per_round

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for k, d in enumerate(sorted({r["distance"] for r in baseline["rows"]})):
        rows = [r for r in baseline["rows"] if r["distance"] == d]
        for name, fmt in (("pymatching", "-o"), ("pymatching-correlated", ":s")):
            seen = [r for r in rows if not r[name]["ler_is_upper_bound"]]
            _errorbar(ax, [r["p"] for r in seen], [r[name]["ler_per_round"] for r in seen],
                      [r[name]["ler_per_round_low"] for r in seen],
                      [r[name]["ler_per_round_high"] for r in seen], fmt=fmt, color=f"C{k}",
                      alpha=1.0 if name == "pymatching" else 0.5,
                      label=f"d={d}" if name == "pymatching" else None)
        pre = [r for r in noharm["rows"] if r["distance"] == d and r["basis"] == "X"]
        if pre:
            lows = [per_round(r["pre_ler_interval"][0], r["rounds"]) for r in pre]
            highs = [per_round(r["pre_ler_interval"][1], r["rounds"]) for r in pre]
            _errorbar(ax, [r["p"] * 1.04 for r in pre], [r["pre_ler_per_round"] for r in pre],
                      lows, highs, fmt="D", mfc="none", color=f"C{k}")
    ax.set(xscale="log", yscale="log", xlabel="p (uniform noise, rounds = d, X basis)",
           ylabel="LER per round",
           title="PyMatching (solid), correlated (dotted), pre-decoder + PM (◇)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_stages(noharm: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = [r for r in noharm["rows"] if r["basis"] == "X"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, p in enumerate(sorted({r["p"] for r in rows})):
        sub = sorted((r for r in rows if r["p"] == p), key=lambda r: r["distance"])
        ds = [r["distance"] for r in sub]
        ax1.plot(ds, [r["predecoder_us_per_round_cpu"] for r in sub], "-D", color=f"C{k}",
                 label=f"pre-decoder (CPU torch) p={p}")
        ax1.plot(ds, [r["pm_us_per_round_raw"] for r in sub], "-o", color=f"C{k}", alpha=0.7,
                 label=f"PM raw p={p}")
        ax1.plot(ds, [r["pm_us_per_round_residual"] for r in sub], "--o", color=f"C{k}",
                 alpha=0.7, label=f"PM residual p={p}")
    ax1.set(yscale="log", xlabel="distance", ylabel="µs per round",
            title="per stage (shared 2-core CPU; no GPU)")
    ax1.legend(fontsize=7)
    for k, d in enumerate(sorted({r["distance"] for r in rows})):
        sub = sorted((r for r in rows if r["distance"] == d), key=lambda r: r["p"])
        ps = [r["p"] for r in sub]
        ax2.plot(ps, [r["sdr"] for r in sub], "-o", color=f"C{k}",
                 label=f"d={d}, shipped threshold")
        ax2.plot(ps, [r["sdr_t0"] for r in sub], "--s", color=f"C{k}", alpha=0.6,
                 label=f"d={d}, logit > 0")
    ax2.set(xlabel="p", ylabel="SDR (density before / after)", yscale="log",
            title="syndrome density reduction")
    ax2.legend(fontsize=7)
    save_figure(fig, path)


def plot_streaming(streaming: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for row in streaming["throughput"]:
        workers = sorted(int(k.split("_")[1]) for k in row if k.startswith("workers_"))
        ax1.plot(workers, [row[f"workers_{w}"]["rounds_per_second"] for w in workers], "-o",
                 label=f"d={row['distance']}")
    ax1.set(xlabel="workers (0 = in-process, no Ray)", ylabel="rounds per second",
            yscale="log", xticks=[0, 1, 2], title="streaming throughput (2 shared cores)")
    ax1.legend(fontsize=8)
    scale = streaming.get("cli_scale")
    if scale:
        t, backlog = zip(*scale["backlog"])
        ax2.plot([x - t[0] for x in t], backlog)
        ax2.set(xlabel="seconds", ylabel="backlog (rounds)",
                title=f"d=13, {scale['rounds']} rounds, cycle {scale['cycle_us']} µs, "
                      f"{scale['workers']} workers")
    save_figure(fig, path)


def curve_markdown(curve: dict) -> str:
    """The learning curve (d=9, p=0.006) as a table, with the power-law extrapolation."""
    rows = sorted(curve["rows"], key=lambda r: r["shots_seen"])
    best = [min(p["ratio"] for p in r["points"]) for r in rows]
    def row(label: str, cells) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [f"Same {rows[0]['shots']:,} shots for every snapshot (PM: {rows[0]['pm_errors']} "
             "errors). Ratio = pre+PM errors / PM errors (below 1 is better than PyMatching).",
             "", row("training shots seen", (f"{r['shots_seen']:,}" for r in rows)),
             "|---|" + "---|" * len(rows),
             row("ratio, commit at logit > 0", (f"{r['ratio_t0']:.2f}" for r in rows)),
             row("SDR, commit at logit > 0", (f"{r['sdr_t0']:.2f}" for r in rows)),
             row("best ratio over thresholds (optimistic)", (f"{b:.2f}" for b in best)), ""]
    for key, label in (("all_snapshots", "all snapshots"),
                       ("without_first_snapshot", "all but the first snapshot")):
        fit = curve["extrapolation"][key]
        lines.append(f"- Fit over {label} (ratio ∝ shots^{fit['b']:.3f}): ratio 1 at "
                     f"{fit['shots_for_ratio_1']:.2g} shots, 1.1x better than PM at "
                     f"{fit['shots_for_1.1x_better']:.2g} shots.")
    lines.append(f"- Caveat: {curve['extrapolation']['caveat']}.")
    return "\n".join(lines) + "\n"


def recipe_markdown(recipe: dict) -> str:
    """How a shipped model was trained, from its weights' JSON sidecar."""
    t, hw = recipe["training"], recipe["hardware"]
    cal = t["calibration"]
    rows = [("weights", f"predecoder/weights/{recipe['weights']}"),
            ("architecture", f"preset `{recipe['preset']}`, Conv3d widths "
             f"{', '.join(map(str, recipe['widths']))} + output conv, R = "
             f"{recipe['receptive_field']}"),
            ("training data", f"{t['noise']} noise, p log-uniform in [{t['p_min']}, "
             f"{t['p_max']}], d in {{{', '.join(map(str, t['distances']))}}}, rounds = d, "
             f"bases {', '.join(t['bases'])}; generated on the fly by stim"),
            ("steps / shots seen", f"{t['steps']:,} / {t['shots_seen']:,} (batch {t['batch']}, "
             f"lr {t['lr']})"),
            ("hardware / time", f"{t['device']} ({hw['cpu_model']}, {hw['cpu_cores']} cores, "
             f"GPU: {hw['gpu']}), {t['train_seconds']:,.0f} s of training"),
            ("commit rule", f"{cal['commit_rule']}, logit > {cal['threshold']}: {cal['rule']} "
             f"({cal['points']}, {cal['shots_per_point']:,} held-out shots per point)")]
    lines = ["| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
             "Retrain (the commands that produced it):", "", "```bash",
             *recipe["retrain"], "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench figures", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="accepted for `bench all`; no-op")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    meta = run_metadata()
    noharm = _load(args.results, "predecoder_noharm.json")
    outputs = {
        "summary_ler.png": (plot_ler, (_load(args.results, "baseline.json"), noharm)),
        "summary_stages.png": (plot_stages, (noharm,)),
        "summary_streaming.png": (plot_streaming, (_load(args.results, "streaming.json"),)),
    }
    write_text(args.results / "predecoder_curve.md",
               curve_markdown(_load(args.results, "predecoder_curve.json")))
    recipe = json.loads((REPO_ROOT / "predecoder" / "weights" / "small.json").read_text())
    write_text(args.results / "predecoder_recipe.md", recipe_markdown(recipe))
    for name, (draw, inputs) in outputs.items():
        draw(*inputs, args.results / name)
        write_sidecar(args.results / name, {**meta, "drawn_from": [
            "baseline.json", "predecoder_noharm.json", "streaming.json"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
