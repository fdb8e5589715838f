"""Device-trained pre-decoders against the shipped one, on held-out real shots.

Google's Sycamore X-basis d=5 experiments (qec3v5; Google Quantum AI, Nature 614, 676 (2023);
Zenodo doi:10.5281/zenodo.6804040; CC BY 4.0). Every decoder decodes the same ODD shots of
each experiment (the device models learned their noise from the EVEN shots only): soft mode
with each model (per-shot weights from the network, matched on the circuit DEM's graph),
PyMatching and correlated PyMatching on Google's circuit DEM, and Google's own predictions.
Errors per shot with Wilson 95 % intervals; exact McNemar of each model's soft mode against
correlated PyMatching on the same shots, and against the shipped model.

    python -m bench device-model --data PATH/google_qec3v5 \
        --model small --model sycamore=path/to.safetensors --rounds 5,25

Writes bench/results/device_model.json and .md (``--append`` keeps the rows already there
for other (model, rounds) pairs, so models can be added as they finish training). With two or
more round counts in 3..25 it also writes OUT_cycle.json and .md: each decoder's error per
cycle fitted on those same shots (:func:`qec.fit_error_per_cycle`) and, for each soft mode, the
McNemar test pooled over the round counts against Google's correlated matching and ours.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench._meta import RESULTS, run_metadata
from qec import (
    InputError,
    PairedCounts,
    SampleChunk,
    atomic_write,
    fit_error_per_cycle,
    read_sample_file,
    wilson_interval,
)

GOOGLE_DECODERS = ("pymatching", "correlated_matching", "belief_matching",
                   "tensor_network_contraction")
CHUNK = 2048


def experiment_dir(data: Path, rounds: int, *, distance: int = 5, center: str = "5_5") -> Path:
    path = data / f"surface_code_bX_d{distance}_r{rounds:02d}_center_{center}"
    if not (path / "circuit_noisy.stim").is_file():
        raise InputError(f"--data={str(data)!r} has no experiment {path.name}")
    return path


def held_out(exp: Path, num_detectors: int, *, half: str) -> tuple[SampleChunk, np.ndarray]:
    """(packed dets, packed obs) of the ``half`` ('odd' or 'even') shots, and their indices."""
    dets = read_sample_file(exp / "detection_events.b8", format="b8",
                            num_detectors=num_detectors)
    obs = read_sample_file(exp / "obs_flips_actual.01", format="01", num_observables=1)
    index = np.arange(1 if half == "odd" else 0, dets.dets.shape[0], 2)
    return SampleChunk(dets=dets.dets[index], obs=obs.obs[index]), index


def google_wrong(exp: Path, obs: np.ndarray, index: np.ndarray) -> dict[str, np.ndarray]:
    """Google's predictions on the held-out shots -> (shots,) bool 'wrong' masks."""
    out = {}
    for name in GOOGLE_DECODERS:
        pred = read_sample_file(exp / f"obs_flips_predicted_by_{name}.01", format="01",
                                num_observables=1).obs[index]
        out[f"google:{name}"] = np.any(pred != obs, axis=1)
    return out


def evaluate_rounds(data: Path, rounds: int, models: dict[str, str], *, half: str,
                    max_shots: int | None) -> list[dict]:
    """Rows (one per decoder) for the d=5 experiment of ``rounds`` rounds."""
    import stim

    from predecoder.edges import EdgeLayout
    from predecoder.evaluate import evaluate_on
    from predecoder.inference import CommitPolicy
    from predecoder.weights import load_model
    from qec import Geometry, MatchingGraph, circuit_dem

    exp = experiment_dir(data, rounds)
    circuit = stim.Circuit.from_file(str(exp / "circuit_noisy.stim"))
    dem = circuit_dem(circuit)
    layout = EdgeLayout.build(Geometry.from_circuit(circuit, dem=dem), MatchingGraph.from_dem(dem))
    shots, index = held_out(exp, circuit.num_detectors, half=half)
    if max_shots is not None:
        shots, index = SampleChunk(dets=shots.dets[:max_shots], obs=shots.obs[:max_shots]), \
            index[:max_shots]
    chunks = [SampleChunk(dets=shots.dets[k:k + CHUNK], obs=shots.obs[k:k + CHUNK])
              for k in range(0, len(index), CHUNK)]
    wrong = google_wrong(exp, shots.obs, index)
    for label, model in models.items():
        loaded = load_model(model)
        ev = evaluate_on(loaded.net, layout, dem, chunks, policies=(CommitPolicy.soft(),),
                         references=("pymatching-correlated",))
        wrong.setdefault("pymatching", ev.wrong["pymatching"])
        wrong.setdefault("pymatching-correlated", ev.wrong["pymatching-correlated"])
        wrong[f"soft:{label}"] = ev.wrong[CommitPolicy.soft().label]
    return _rows(wrong, rounds=rounds, half=half, models=models)


def _rows(wrong: dict[str, np.ndarray], *, rounds: int, half: str,
          models: dict[str, str]) -> list[dict]:
    rows = []
    for name, mask in wrong.items():
        errors, shots = int(mask.sum()), int(mask.size)
        lo, hi = wilson_interval(errors, shots)
        row = {"rounds": rounds, "half": half, "decoder": name, "shots": shots,
               "errors": errors, "ler": errors / shots, "ler_low": lo, "ler_high": hi}
        if name.startswith("soft:"):
            row["model"] = models[name[5:]]
            for ref in ("pymatching-correlated", "google:correlated_matching", "soft:small"):
                if ref in wrong and ref != name:
                    pc = PairedCounts.of(name, mask, ref, wrong[ref])
                    row[f"vs {ref}"] = {"only_this": pc.only_a, "only_other": pc.only_b,
                                        "mcnemar_p": pc.p_value}
        rows.append(row)
    return rows


POOLED_REFS = ("google:correlated_matching", "pymatching-correlated")


def cycle_summary(rows: list[dict], *, fit_rounds: tuple[int, int] = (3, 25)) -> dict:
    """Each decoder's error per cycle, and each soft mode's McNemar pooled over round counts.

    Args:
        rows: rows of :func:`evaluate_rounds` (one per decoder and round count, same shots).
        fit_rounds: (first, last) round counts fitted and pooled.

    Returns:
        ``{"fits": {decoder: CycleFit.to_json()}, "pooled": [PairedCounts.to_json()...]}``;
        pooled counts sum each round count's only-this / only-other shots (disjoint shots,
        so the sums are the paired counts of all of them together).

    Raises:
        InputError: decoders that did not decode the same shots at every round count.
    """
    lo, hi = fit_rounds
    rows = [r for r in rows if lo <= r["rounds"] <= hi]
    shots = {(r["rounds"], r["decoder"]): r["shots"] for r in rows}
    rounds, decoders = sorted({k[0] for k in shots}), sorted({k[1] for k in shots})
    for r in rounds:
        seen = {shots.get((r, d)) for d in decoders}
        if len(seen) != 1:
            raise InputError(f"rounds={r}: the decoders decoded {sorted(seen, key=str)} shots; "
                             "a per-cycle comparison needs every decoder on the same shots")
    errors = {(r["rounds"], r["decoder"]): r["errors"] for r in rows}
    fits = {d: fit_error_per_cycle(rounds, [errors[r, d] for r in rounds],
                                   [shots[r, d] for r in rounds], fit_rounds=fit_rounds).to_json()
            for d in decoders}
    pooled = []
    for d in (d for d in decoders if d.startswith("soft:")):
        for ref in (x for x in POOLED_REFS if x in decoders):
            per_round = [r[f"vs {ref}"] for r in rows if r["decoder"] == d]
            pooled.append(PairedCounts(d, ref, sum(v["only_this"] for v in per_round),
                                       sum(v["only_other"] for v in per_round)).to_json())
    return {"rounds": rounds, "fits": fits, "pooled": pooled}


def write_cycle(summary: dict, *, out: Path, command: str) -> None:
    """OUT_cycle.json (summary + provenance + attribution + command) and a Markdown table."""
    doc = {"meta": run_metadata(command=command), "data": ATTRIBUTION, **summary}
    path = out.with_name(out.name + "_cycle")
    atomic_write(path.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    lines = ["# Error per cycle on held-out Sycamore shots (d = 5)", "",
             f"Data: {ATTRIBUTION} Rounds {summary['rounds']}; every decoder on the same "
             "held-out shots. Fit: least squares of log(1 - 2 P(r)) on r, eps = (1 - e^slope)/2; "
             "95 % bootstrap interval over shots.", "", f"Command: `{command}`", "",
             "| decoder | error per cycle [95 % CI] |", "|---|---|"]
    lines += [f"| {d} | {100 * f['eps']:.2f} % [{100 * f['eps_low']:.2f}, "
              f"{100 * f['eps_high']:.2f}] |" for d, f in summary["fits"].items()]
    lines += ["", "| A | B | shots only A wrong | only B wrong | pooled McNemar p |",
              "|---|---|---|---|---|"]
    lines += [f"| {p['a']} | {p['b']} | {p['only_a_wrong']} | {p['only_b_wrong']} | "
              f"{p['mcnemar_p']:.2g} |" for p in summary["pooled"]]
    atomic_write(path.with_suffix(".md"), "\n".join(lines) + "\n")


def write(rows: list[dict], *, out: Path, append: bool) -> None:
    """JSON (rows + provenance + attribution) and a Markdown table."""
    if append and out.with_suffix(".json").is_file():
        old = json.loads(out.with_suffix(".json").read_text())["rows"]
        keys = {(r["rounds"], r["half"], r["decoder"]) for r in rows}
        rows = [r for r in old if (r["rounds"], r["half"], r["decoder"]) not in keys] + rows
    rows = sorted(rows, key=lambda r: (r["rounds"], r["decoder"]))
    doc = {"meta": run_metadata(), "data": ATTRIBUTION, "rows": rows}
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    atomic_write(out.with_suffix(".md"), markdown(rows))


ATTRIBUTION = ("Google Quantum AI, 'Suppressing quantum errors by scaling a surface code logical "
               "qubit', Nature 614, 676-681 (2023); data: Zenodo doi:10.5281/zenodo.6804040, "
               "CC BY 4.0. X basis, d=5 (center 5_5).")


def markdown(rows: list[dict]) -> str:
    lines = ["# Device-trained pre-decoders on held-out Sycamore shots", "",
             f"Data: {ATTRIBUTION} Every decoder on the same held-out shots (the device models "
             "learned their noise from the other half). Soft mode = pre-decoder logits as "
             "per-shot matching weights; PM = PyMatching on Google's circuit DEM.", "",
             "| rounds | decoder | shots | errors | errors per shot [95 % CI] | "
             "vs correlated PM: only this / only PM, McNemar p |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        vs = r.get("vs pymatching-correlated")
        cell = f"{vs['only_this']} / {vs['only_other']}, p = {vs['mcnemar_p']:.2g}" if vs else ""
        lines.append(f"| {r['rounds']} | {r['decoder']} | {r['shots']} | {r['errors']} | "
                     f"{100 * r['ler']:.2f} % [{100 * r['ler_low']:.2f}, "
                     f"{100 * r['ler_high']:.2f}] | {cell} |")
    return "\n".join(lines) + "\n"


def plot_curves(logs: dict[str, Path], out: Path) -> None:
    """Held-out checks of each training log (soft errors / PM errors on samples of the
    training noise) against training shots: a PNG with a provenance sidecar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench._meta import write_sidecar
    from predecoder.train import read_log

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, path in logs.items():
        rows = read_log(path)
        ax.plot([r["shots_seen"] for r in rows],
                [r["eval_soft_errors"] / r["eval_pm_errors"] for r in rows], "o-", label=label)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xlabel("training shots seen (incl. the shipped small's 3.6M)")
    ax.set_ylabel("soft / PM errors (held-out samples\nof each run's training noise)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    write_sidecar(out, run_metadata())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench device-model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the google_qec3v5 folder")
    p.add_argument("--model", action="append", default=[],
                   help="LABEL=PATH or a shipped model's name (repeatable; default: small)")
    p.add_argument("--rounds", default="5,25", help="comma-separated round counts (d=5)")
    p.add_argument("--half", choices=("odd", "even"), default="odd")
    p.add_argument("--max-shots", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="2,000 shots of 5 rounds")
    p.add_argument("--append", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "device_model")
    p.add_argument("--curves", action="append", default=[], metavar="LABEL=LOG",
                   help="also plot these training logs into OUT_curves.png (repeatable)")
    args = p.parse_args(argv)
    if args.curves:
        logs = {c.split("=", 1)[0]: Path(c.split("=", 1)[1]) for c in args.curves}
        plot_curves(logs, args.out.with_name(args.out.name + "_curves.png"))
    models = dict(m.split("=", 1) if "=" in m else (m, m) for m in (args.model or ["small"]))
    rounds = [5] if args.quick else [int(r) for r in args.rounds.split(",")]
    max_shots = 2000 if args.quick else args.max_shots
    out = args.out.with_name(args.out.name + "_quick") if args.quick else args.out
    rows = [row for r in rounds
            for row in evaluate_rounds(args.data, r, models, half=args.half, max_shots=max_shots)]
    write(rows, out=out, append=args.append)
    print(markdown(rows))
    if sum(3 <= r <= 25 for r in set(rounds)) >= 2:
        summary = cycle_summary(rows)
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(f"PATH/{args.data.name}" if a == str(args.data) else a for a in given)
        write_cycle(summary, out=out, command=f"python -m bench device-model {command}")
        print(json.dumps({d: f["eps"] for d, f in summary["fits"].items()}, indent=1))
    return 0
