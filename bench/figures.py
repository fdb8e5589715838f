"""Summary figures drawn from the suites' JSON results (no new measurement).

    python -m bench figures

Reads bench/results/{baseline,predecoder_ladder}.json and writes:

- summary_ler.png: LER per round vs p for each d: PyMatching, correlated PyMatching and the
  pre-decoder in soft mode (the shipped model), with 95% intervals;
- summary_stages.png: µs per round vs d per stage (network on the CPU, PyMatching on the raw
  syndrome, PyMatching on the hard residual, blossom on the soft residual; ± standard error
  over chunks) and the SDR vs d of both modes;
- predecoder_recipe_NAME.md: how each shipped pre-decoder was trained and calibrated.

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


def plot_ler(baseline: dict, ladder: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    from qec import per_round

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for k, d in enumerate(sorted({r["distance"] for r in baseline["rows"]})):
        rows = [r for r in baseline["rows"] if r["distance"] == d]
        for name, fmt in (("pymatching", "-o"), ("pymatching-correlated", ":s")):
            seen = [r for r in rows if not r[name]["ler_is_upper_bound"]]
            _errorbar(ax, [r["p"] for r in seen], [r[name]["ler_per_round"] for r in seen],
                      [r[name]["ler_per_round_low"] for r in seen],
                      [r[name]["ler_per_round_high"] for r in seen], fmt=fmt, color=f"C{k}",
                      alpha=1.0 if name == "pymatching" else 0.5,
                      label=f"d={d}" if name == "pymatching" else None)
        soft = [r for r in ladder["rows"] if r["distance"] == d and r["basis"] == "X"
                and r["decoders"]["soft"]["errors"] > 0]
        if soft:
            dec = [r["decoders"]["soft"] for r in soft]
            _errorbar(ax, [r["p"] * 1.04 for r in soft],
                      [per_round(x["ler"], r["rounds"]) for x, r in zip(dec, soft)],
                      [per_round(x["ler_low"], r["rounds"]) for x, r in zip(dec, soft)],
                      [per_round(x["ler_high"], r["rounds"]) for x, r in zip(dec, soft)],
                      fmt="D", mfc="none", color=f"C{k}")
    ax.set(xscale="log", yscale="log", xlabel="p (uniform noise, rounds = d, X basis)",
           ylabel="LER per round (95% Wilson)",
           title="PyMatching (solid), correlated (dotted), pre-decoder soft mode (◇)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_stages(ladder: dict, path: Path) -> None:
    """µs per round per stage against d, and the SDR against d (X basis)."""
    import matplotlib.pyplot as plt

    rows = [r for r in ladder["rows"] if r["basis"] == "X"]
    stages = (("network_cpu", "network (CPU torch)", "-D"), ("pymatching", "PyMatching, raw", "-o"),
              ("hard_matching", "PyMatching on hard residual", "--o"),
              ("soft_matching", "blossom on soft residual", ":s"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    for k, p in enumerate(sorted({r["p"] for r in rows})):
        sub = sorted((r for r in rows if r["p"] == p), key=lambda r: r["distance"])
        for j, (key, label, fmt) in enumerate(stages):
            means = [r["us_per_shot"][key][0] / r["rounds"] for r in sub]
            sems = [(r["us_per_shot"][key][1] or 0) / r["rounds"] for r in sub]
            ax1.errorbar([r["distance"] + 0.15 * k for r in sub], means, yerr=sems, fmt=fmt,
                         color=f"C{j}", alpha=1.0 if k else 0.55, capsize=2, ms=4,
                         label=f"{label}, p={p}")
        for j, mode in enumerate(("hard", "soft")):
            ax2.plot([r["distance"] for r in sub], [r["sdr"][mode] for r in sub], "-o",
                     color=f"C{2 * k + j}", label=f"{mode} mode, p={p}")
    ax1.set(yscale="log", xlabel="distance d (rounds = d)",
            ylabel="µs per round (± s.e. over chunks)",
            title="per stage, same shots (one thread of a shared 2-core CPU)")
    ax1.legend(fontsize=6, ncol=2)
    ax2.set(xlabel="distance d (rounds = d)", ylabel="SDR (events in / left)", yscale="log",
            title="syndrome density reduction against distance")
    ax2.legend(fontsize=7)
    save_figure(fig, path)


def recipe_markdown(recipe: dict) -> str:
    """How a shipped model was trained and calibrated, from its weights' JSON sidecar."""
    t, hw = recipe["training"], recipe["hardware"]
    cal = t["calibration"]
    init = t.get("init")
    seen = f"{t['shots_seen']:,}" + (f" ({init['shots_seen']:,} in the run it continues, "
                                      f"{init['shots_seen_this_run']:,} in this one)"
                                      if init else "")
    points = ", ".join(f"(d={d}, p={p})" for d, p in cal["points"])
    rows = [("weights", f"predecoder/weights/{recipe['weights']}"),
            ("architecture", f"preset `{recipe['preset']}`, Conv3d widths "
             f"{', '.join(map(str, recipe['widths']))} + output conv, R = "
             f"{recipe['receptive_field']}"),
            ("training data", f"{t['noise']} noise, p log-uniform in [{t['p_min']}, "
             f"{t['p_max']}], d in {{{', '.join(map(str, t['distances']))}}}, rounds = d, "
             f"bases {', '.join(t['bases'])}; generated on the fly by stim"),
            ("shots seen", f"{seen}; batch {t['batch']}, peak lr {t['lr']}"),
            ("hardware / time", f"{t['device']} ({hw['cpu_model']}, {hw['cpu_cores']} cores, "
             f"GPU: {hw['gpu']}), {t['train_seconds']:,.0f} s of training in this run"),
            ("hard mode", f"{cal['commit_rule']}, logit > {cal['threshold']:g}: "
             f"{cal['hard_rule']}"),
            ("soft mode", f"weights capped at {cal['soft_cap']:g}: {cal['soft_rule']}"),
            ("calibration shots", f"{cal['noise']} noise, {points}, bases X and Z, "
             f"{cal['shots_per_point']:,} held-out shots per point (seed {cal['seed']})")]
    lines = ["| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
             "Retrain (the commands that produced it):", "",
             "<!-- readme-test: skip (retraining takes an hour or more of CPU) -->", "```bash",
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
    ladder = _load(args.results, "predecoder_ladder.json")
    outputs = {
        "summary_ler.png": (plot_ler, (_load(args.results, "baseline.json"), ladder)),
        "summary_stages.png": (plot_stages, (ladder,)),
    }
    for recipe_path in sorted((REPO_ROOT / "predecoder" / "weights").glob("*.json")):
        recipe = json.loads(recipe_path.read_text())
        write_text(args.results / f"predecoder_recipe_{recipe_path.stem}.md",
                   recipe_markdown(recipe))
    for name, (draw, inputs) in outputs.items():
        draw(*inputs, args.results / name)
        write_sidecar(args.results / name, {**meta, "drawn_from": [
            "baseline.json", "predecoder_ladder.json"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
