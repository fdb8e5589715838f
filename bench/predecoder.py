"""The AI pre-decoder against matching: the accuracy ladder, on the SAME shots.

    python -m bench predecoder                 # every part, for the shipped models
    python -m bench predecoder --quick         # small shot counts (smoke test, ~2 min)
    python -m bench predecoder --only ladder,si1000

Parts (``--only``):

- formulation: oracle exactness of the edge targets (true labels -> zero residual, right
  observable) and their ambiguity (how often PyMatching's matching, although logically
  right, picks different edges than the ones that fired);
- ladder: uniform noise, rounds = d, X and Z, d = 5, 9, 13, p = 0.003, 0.006: PyMatching,
  correlated PyMatching, the hard mode (shipped threshold) and the soft mode of the shipped
  model, on the same shots, until PyMatching has ``--max-errors`` errors (at least
  ``MIN_SHOTS``, at most ``SHOT_CAPS`` shots: the CPU cost of the network binds at d = 13,
  p = 0.003); paired counts and an exact McNemar p-value per pair; µs per shot per stage;
- si1000: si1000 noise, Z basis, rounds = 3d, d = 5 and 9, p = 0.003: the uniform-trained
  and the si1000-trained model in soft mode beside both PyMatchings, same shots;
- external: d = 5, p = 0.006, X: belief-matching and tesseract (bench/external_decoders.py,
  run in the separate venv ``.venv-ref``) on the same shots as ours, as references of what is
  achievable; skipped with a note when ``.venv-ref`` is missing;
- paper: arXiv:2604.12841's figures beside ours.

Writes bench/results/predecoder_{formulation,ladder,si1000,external,paper}.* (JSON, markdown,
sinter CSV with a provenance sidecar, PNG). Seeds: benchmark shots use seeds from 1;
calibration uses predecoder.calibrate.CALIBRATION_SEED, training's held-out check
predecoder.train.EVAL_SEED: the three never overlap.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench._meta import (
    REPO_ROOT,
    RESULTS,
    finite,
    num,
    rate,
    run_metadata,
    save_figure,
    write_json,
    write_sidecar,
    write_text,
)

DISTANCES = (5, 9, 13)
PS = (0.003, 0.006)
MIN_SHOTS = {5: 20_000, 9: 8_000, 13: 4_000}
SHOT_CAPS = {5: 200_000, 9: 80_000, 13: 30_000}
SI1000 = {"model": "small-si1000", "distances": (5, 9), "p": 0.003, "basis": "Z",
          "rounds_per_d": 3}
EXTERNAL = ("beliefmatching", "tesseract")
REF_PYTHON = REPO_ROOT / ".venv-ref" / "bin" / "python"
PM, CORR = "pymatching", "pymatching-correlated"
# arXiv:2604.12841 (the design notes, "Reference figures"): PyMatching, + Model 1 (R=9),
# + Model 4 (R=13); errors per SHOT over rounds = d (the authors' evaluation code).
PAPER = {(0.003, 5): (4.69e-3, 3.27e-3, 2.74e-3), (0.003, 9): (1.19e-3, 1.07e-3, 6.24e-4),
         (0.003, 13): (2.09e-4, 2.37e-4, 1.58e-4), (0.006, 5): (3.01e-2, 2.35e-2, 2.09e-2),
         (0.006, 9): (2.74e-2, 2.20e-2, 1.66e-2), (0.006, 13): (2.12e-2, 1.68e-2, 1.20e-2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench predecoder", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small shot counts (smoke test)")
    parser.add_argument("--model", default="small", help="shipped model name or weights path")
    parser.add_argument("--only", default="formulation,ladder,si1000,external,paper")
    parser.add_argument("--max-errors", type=int, default=100)
    parser.add_argument("--external-shots", type=int, default=3000)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)   # shared 2-core machine: one thread is cheapest per shot
    parts = set(args.only.split(","))
    suffix = "_quick" if args.quick else ""
    meta = run_metadata()
    if "formulation" in parts:
        formulation(shots=300 if args.quick else 3000, meta=meta, suffix=suffix)
    rows = None
    if "ladder" in parts or "paper" in parts:
        rows = ladder(args.model, quick=args.quick, max_errors=args.max_errors, meta=meta,
                      suffix=suffix)
    if "paper" in parts:
        paper_side_by_side(rows, meta=meta, suffix=suffix)
    if "si1000" in parts:
        si1000(args.model, quick=args.quick, max_errors=args.max_errors, meta=meta,
               suffix=suffix)
    if "external" in parts:
        external(args.model, shots=200 if args.quick else args.external_shots, meta=meta,
                 suffix=suffix)
    return 0


def formulation(*, shots: int, meta: dict, suffix: str) -> None:
    """Oracle exactness and label ambiguity of the edge targets at d = 5, p = 0.006."""
    import numpy as np
    import torch

    from predecoder import EdgeLayout, apply_edges, labels_from_errors
    from qec import MatchingDecoder, NoiseModel, Task, sample_dem, unpack_bits

    rows = []
    for basis in ("X", "Z"):
        task = Task(distance=5, basis=basis, noise=NoiseModel.uniform(0.006))
        layout, dem = EdgeLayout.from_task(task), task.dem()
        chunk = next(sample_dem(dem, shots=shots, seed=7, chunk_shots=shots))
        dets = unpack_bits(chunk.dets, dem.num_detectors)
        obs = unpack_bits(chunk.obs, dem.num_observables)
        labels = labels_from_errors(layout, unpack_bits(chunk.errors, dem.num_errors))
        corr = apply_edges(torch.from_numpy(dets), torch.from_numpy(labels), layout)
        exact = (~corr.residual.any(dim=1)).numpy() & np.all(corr.flip.numpy() == obs, axis=1)
        ambiguous, right, differ_edges = _ambiguity(layout, dets, obs, labels,
                                                    MatchingDecoder.from_dem(dem))
        rows.append({"distance": 5, "p": 0.006, "basis": basis, "shots": shots,
                     "oracle_exact_fraction": float(exact.mean()),
                     "pm_right_shots": right,
                     "pm_right_but_other_edges_fraction": ambiguous / max(right, 1),
                     "fired_edges_not_matched_fraction": differ_edges})
        print(f"formulation {basis}: oracle exact {exact.mean():.4f}, "
              f"ambiguous {ambiguous / max(right, 1):.3f}")
    write_json(RESULTS / f"predecoder_formulation{suffix}.json", {"meta": meta, "rows": rows})


def _ambiguity(layout, dets, obs, labels, matcher) -> tuple[int, int, float]:
    """Shots PM decodes right with a different edge set than the fired one, and the fraction
    of fired edges that PM's matching does not use (over those shots)."""
    import numpy as np

    from qec import edge_ids_of_pairs

    ambiguous = right = 0
    fired_total = fired_unmatched = 0
    for s in range(dets.shape[0]):
        chosen = np.zeros(layout.num_edges, dtype=bool)
        np.logical_xor.at(chosen, edge_ids_of_pairs(layout.graph, matcher.decode_to_edges(
            dets[s])), True)
        pm_obs = layout.graph.observables_of(chosen[None])[0]
        if np.array_equal(pm_obs, obs[s]):
            right += 1
            ambiguous += int(not np.array_equal(chosen, labels[s]))
            fired_total += int(labels[s].sum())
            fired_unmatched += int((labels[s] & ~chosen).sum())
    return ambiguous, right, fired_unmatched / max(fired_total, 1)


def ladder(model: str, *, quick: bool, max_errors: int, meta: dict, suffix: str) -> list[dict]:
    """PM, correlated PM, hard and soft on the same shots over d x p x basis (uniform)."""
    from predecoder import load_model
    from qec import NoiseModel, Task

    loaded = load_model(model)
    policies = {"hard": loaded.policy("hard"), "soft": loaded.policy("soft")}
    rows, csv_lines = [], []
    for d in DISTANCES:
        for p in PS:
            for k, basis in enumerate(("X", "Z")):
                task = Task(distance=d, basis=basis, noise=NoiseModel.uniform(p))
                ev = _evaluate(loaded, task, policies, quick=quick, max_errors=max_errors,
                               seed=1 + 100 * d + 10 * k + int(p * 1e3))
                rows.append(ladder_row(ev, policies))
                csv_lines += sinter_lines(ev, policies, loaded)
                _say(rows[-1])
    stem = f"predecoder_ladder{suffix}"
    write_csv(RESULTS / f"{stem}.csv", csv_lines, meta)
    write_json(RESULTS / f"{stem}.json", {"meta": meta, **model_record(loaded, policies),
                                         "rows": rows})
    write_text(RESULTS / f"{stem}.md", ladder_markdown(rows, loaded, policies))
    plot_ladder(rows, RESULTS / f"{stem}.png", meta)
    return rows


def _evaluate(loaded, task, policies: dict, *, quick: bool, max_errors: int, seed: int):
    """PM, correlated PM and every policy on the seeded shots of ``task``."""
    from predecoder.evaluate import evaluate

    d = task.distance
    cap = SHOT_CAPS[d] // (20 if quick else 1)
    return evaluate(loaded.net, task, shots=cap, seed=seed, policies=tuple(policies.values()),
                    references=(CORR,), chunk_shots=1000, max_pm_errors=max_errors,
                    min_shots=MIN_SHOTS[d] // (20 if quick else 1))


def model_record(loaded, policies: dict) -> dict:
    return {"model": loaded.path.name, "training": loaded.metadata.get("training"),
            "policies": {name: p.describe() for name, p in policies.items()}}


def ladder_row(ev, policies: dict) -> dict:
    """One point of the ladder: every decoder's errors, pairs, SDR and stage timings."""
    names = {PM: PM, CORR: CORR, **{k: p.label for k, p in policies.items()}}
    row = {"distance": ev.task.distance, "p": ev.task.noise.p, "basis": ev.task.basis,
           "noise": ev.task.noise.name, "rounds": ev.task.rounds, "shots": ev.shots,
           "decoders": {key: rate(ev.errors(label), ev.shots, ev.task.rounds)
                        for key, label in names.items()},
           "pairs": {f"{a}|{b}": ev.paired(names[a], names[b]).to_json()
                     for a, b in (("soft", PM), ("soft", CORR), ("soft", "hard"),
                                  ("hard", PM), (CORR, PM))},
           "sdr": {k: finite(ev.sdr(ev.point(p))) for k, p in policies.items()},
           "us_per_shot": {"pymatching": ev.us_per_shot(PM),
                           "pymatching_correlated": ev.us_per_shot(CORR),
                           "network_cpu": ev.us_per_shot("network"),
                           **{f"{k}_matching": ev.us_per_shot(p.label)
                              for k, p in policies.items()}}}
    return row


def _say(row: dict) -> None:
    dec = row["decoders"]
    print(f"ladder d={row['distance']} p={row['p']} {row['basis']}: {row['shots']} shots, "
          f"PM {dec[PM]['errors']} corr {dec[CORR]['errors']} hard {dec['hard']['errors']} "
          f"soft {dec['soft']['errors']}", flush=True)


def improvement(a_errors: int, b_errors: int) -> str:
    """'1.32x' (a / b: how many times fewer errors b makes), or '-' when b has none."""
    return f"{a_errors / b_errors:.2f}x" if b_errors else "-"


def ladder_markdown(rows: list[dict], loaded, policies: dict) -> str:
    lines = [f"Model `{loaded.path.name}`: hard = {policies['hard'].describe()}, soft = "
             f"{policies['soft'].describe()}. Uniform noise, rounds = d, same shots for every "
             "column; PyMatching errors target 100 (at least "
             f"{', '.join(f'{n:,} shots at d={d}' for d, n in MIN_SHOTS.items())}; at most "
             f"{', '.join(f'{n:,} at d={d}' for d, n in SHOT_CAPS.items())}: the CPU cost of "
             "the network caps d = 13 at p = 0.003). Ratio = PM errors / soft errors; "
             "'only PM / only soft' = shots only one of the two got wrong, p = exact McNemar.",
             "", "| d | p | basis | shots | PM | corr. PM | hard | soft | PM / soft | only PM "
             "/ only soft (p) | corr. / soft | only corr. / only soft (p) | hard vs PM (p) "
             "| SDR soft |", "|" + "---|" * 14]
    for r in rows:
        dec, pairs = r["decoders"], r["pairs"]
        sp, sc, hp = pairs["soft|pymatching"], pairs["soft|pymatching-correlated"], \
            pairs["hard|pymatching"]
        lines.append(
            f"| {r['distance']} | {r['p']} | {r['basis']} | {r['shots']:,} "
            f"| {dec[PM]['errors']} | {dec[CORR]['errors']} | {dec['hard']['errors']} "
            f"| {dec['soft']['errors']} | {improvement(dec[PM]['errors'], dec['soft']['errors'])}"
            f" | {sp['only_b_wrong']} / {sp['only_a_wrong']} ({sp['mcnemar_p']:.1e}) "
            f"| {improvement(dec[CORR]['errors'], dec['soft']['errors'])} "
            f"| {sc['only_b_wrong']} / {sc['only_a_wrong']} ({sc['mcnemar_p']:.1e}) "
            f"| {hp['only_a_wrong']} vs {hp['only_b_wrong']} ({hp['mcnemar_p']:.2f}) "
            f"| {num(r['sdr']['soft'])} |")
    lines += ["", "µs per shot per stage, mean ± standard error over chunks of 1,000 shots "
              "(one thread of this shared 2-core CPU; same shots; the network's time is "
              "shared by hard and soft):", "",
              "| d | p | basis | PyMatching | corr. PyMatching | network (CPU torch) | "
              "hard: PyMatching on residual | soft: blossom on residual |", "|" + "---|" * 8]
    for r in rows:
        us = r["us_per_shot"]
        cells = [_pm(us[k]) for k in ("pymatching", "pymatching_correlated", "network_cpu",
                                      "hard_matching", "soft_matching")]
        lines.append(f"| {r['distance']} | {r['p']} | {r['basis']} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines) + "\n"


def _pm(value) -> str:
    mean, sem = value
    return f"{mean:.3g}" if sem != sem else f"{mean:.3g} ± {sem:.2g}"


def plot_ladder(rows: list[dict], path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ((PM, "PyMatching", "-o"), (CORR, "correlated PyMatching", ":s"),
              ("hard", "pre-decoder, hard", "--^"), ("soft", "pre-decoder, soft", "-D"))
    fig, axes = plt.subplots(1, len(PS), figsize=(11, 4.3))
    for ax, p in zip(axes, PS):
        for basis, alpha in (("X", 1.0), ("Z", 0.45)):
            sel = sorted((r for r in rows if r["p"] == p and r["basis"] == basis),
                         key=lambda r: r["distance"])
            for k, (key, label, fmt) in enumerate(styles):
                ys = [r["decoders"][key] for r in sel]
                ax.errorbar([r["distance"] + 0.12 * k for r in sel], [y["ler"] for y in ys],
                            yerr=[[y["ler"] - y["ler_low"] for y in ys],
                                  [y["ler_high"] - y["ler"] for y in ys]], fmt=fmt,
                            color=f"C{k}", alpha=alpha, capsize=2, ms=4,
                            label=f"{label}" if basis == "X" else None)
        ax.set(yscale="log", xlabel="distance d (rounds = d); X solid, Z faint",
               ylabel="LER per shot (95% Wilson)", title=f"uniform p = {p}",
               xticks=list(DISTANCES))
        ax.legend(fontsize=7)
    save_figure(fig, path)
    write_sidecar(path, meta)
    print(f"wrote {path.relative_to(REPO_ROOT)}")


def si1000(model: str, *, quick: bool, max_errors: int, meta: dict, suffix: str) -> None:
    """Uniform-trained vs si1000-trained model (soft) beside both PyMatchings, same shots."""
    from predecoder import load_model
    from predecoder.weights import shipped_models
    from qec import NoiseModel, PairedCounts, Task

    models = [load_model(model)]
    if SI1000["model"] in shipped_models():
        models.append(load_model(SI1000["model"]))
    rows = []
    for d in SI1000["distances"]:
        task = Task(distance=d, basis=SI1000["basis"], rounds=SI1000["rounds_per_d"] * d,
                    noise=NoiseModel.si1000(SI1000["p"]))
        evs = [_evaluate(m, task, {"soft": m.policy("soft")}, quick=quick,
                         max_errors=max_errors, seed=7_000 + d) for m in models]
        soft = {m.path.stem: ev.wrong[m.policy("soft").label] for m, ev in zip(models, evs)}
        ev = evs[0]
        row = {"distance": d, "p": SI1000["p"], "basis": task.basis, "rounds": task.rounds,
               "shots": ev.shots,
               "decoders": {PM: rate(ev.errors(PM), ev.shots, task.rounds),
                            CORR: rate(ev.errors(CORR), ev.shots, task.rounds),
                            **{f"soft[{k}]": rate(int(w.sum()), ev.shots, task.rounds)
                               for k, w in soft.items()}},
               "pairs": {f"soft[{k}]|{ref}": PairedCounts.of(k, w, ref, ev.wrong[ref]).to_json()
                         for k, w in soft.items() for ref in (PM, CORR)}}
        if len(soft) == 2:
            (a, wa), (b, wb) = soft.items()
            row["pairs"][f"soft[{a}]|soft[{b}]"] = PairedCounts.of(a, wa, b, wb).to_json()
        rows.append(row)
        print(f"si1000 d={d}: {json.dumps(row['decoders'])[:300]}", flush=True)
    stem = f"predecoder_si1000{suffix}"
    write_json(RESULTS / f"{stem}.json", {"meta": meta, "models": [m.path.name for m in models],
                                         "rows": rows})
    write_text(RESULTS / f"{stem}.md", si1000_markdown(rows))


def si1000_markdown(rows: list[dict]) -> str:
    keys = [k for k in rows[0]["decoders"]]
    lines = [f"si1000 noise, p = {SI1000['p']}, {SI1000['basis']} basis, rounds = "
             f"{SI1000['rounds_per_d']}d; same shots for every column (errors; LER per shot "
             "[95% Wilson]). soft[small] was trained on uniform noise only, soft[small-si1000] "
             "on si1000 noise (warm-started from small).", "",
             "| d | rounds | shots | " + " | ".join(keys) + " | pairs: only A / only B wrong "
             "(McNemar p) |", "|" + "---|" * (4 + len(keys))]
    for r in rows:
        cells = [f"{r['decoders'][k]['errors']} ({r['decoders'][k]['ler']:.2e})" for k in keys]
        pairs = "; ".join(f"{k.replace('|', ' vs ')}: {v['only_a_wrong']} / {v['only_b_wrong']}"
                          f" ({v['mcnemar_p']:.1e})" for k, v in r["pairs"].items())
        lines.append(f"| {r['distance']} | {r['rounds']} | {r['shots']:,} | "
                     + " | ".join(cells) + f" | {pairs} |")
    return "\n".join(lines) + "\n"


def external(model: str, *, shots: int, meta: dict, suffix: str) -> None:
    """Belief-matching and tesseract on the same shots as ours (d = 5, p = 0.006, X)."""
    import subprocess
    import tempfile

    import numpy as np

    from predecoder import load_model
    from qec import NoiseModel, PairedCounts, Task, unpack_bits

    stem = f"predecoder_external{suffix}"
    if not REF_PYTHON.exists():
        note = ("skipped: .venv-ref is missing; create it with `python3 -m venv .venv-ref && "
                ".venv-ref/bin/pip install stim numpy beliefmatching tesseract-decoder`")
        write_json(RESULTS / f"{stem}.json", {"meta": meta, "note": note, "rows": []})
        print(note)
        return
    loaded = load_model(model)
    policies = {"hard": loaded.policy("hard"), "soft": loaded.policy("soft")}
    task = Task(distance=5, basis="X", noise=NoiseModel.uniform(0.006))
    seed = 55
    from predecoder.evaluate import evaluate

    ev = evaluate(loaded.net, task, shots=shots, seed=seed, policies=tuple(policies.values()),
                  references=(CORR,), chunk_shots=1000)
    wrong = {PM: ev.wrong[PM], CORR: ev.wrong[CORR],
             **{k: ev.wrong[p.label] for k, p in policies.items()}}
    timing = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_shots(task, shots=shots, seed=seed, chunk_shots=1000, folder=Path(tmp))
        for name in EXTERNAL:
            out, info = Path(tmp) / f"{name}.b8", Path(tmp) / f"{name}.json"
            subprocess.run([str(REF_PYTHON), str(REPO_ROOT / "bench" / "external_decoders.py"),
                            "--decoder", name, "--dem", str(files["dem"]), "--dets",
                            str(files["dets"]), "--out", str(out), "--json", str(info),
                            "--shots", str(shots)], check=True)
            predicted = unpack_bits(np.fromfile(out, dtype=np.uint8).reshape(shots, -1),
                                    files["obs"].shape[1])
            wrong[name] = np.any(predicted != files["obs"], axis=1)
            timing[name] = json.loads(info.read_text())
    row = {"distance": 5, "p": 0.006, "basis": "X", "rounds": 5, "shots": shots,
           "decoders": {k: rate(int(w.sum()), shots, 5) for k, w in wrong.items()},
           "pairs": {f"soft|{k}": PairedCounts.of("soft", wrong["soft"], k, w).to_json()
                     for k, w in wrong.items() if k != "soft"},
           "us_per_shot": {**{k: v["us_per_shot"] for k, v in timing.items()},
                           PM: ev.seconds[PM] / shots * 1e6,
                           CORR: ev.seconds[CORR] / shots * 1e6,
                           "hard": (ev.net_seconds + ev.seconds[policies["hard"].label])
                           / shots * 1e6,
                           "soft": (ev.net_seconds + ev.seconds[policies["soft"].label])
                           / shots * 1e6},
           "external_config": {k: v.get("config") for k, v in timing.items()}}
    write_json(RESULTS / f"{stem}.json", {"meta": meta, **model_record(loaded, policies),
                                         "rows": [row]})
    write_text(RESULTS / f"{stem}.md", external_markdown(row))
    print(f"external: {json.dumps({k: v['errors'] for k, v in row['decoders'].items()})}")


def _write_shots(task, *, shots: int, seed: int, chunk_shots: int, folder: Path) -> dict:
    """The seeded shots ``evaluate`` decodes, as files for an outside decoder: the DEM (text)
    and the detection events (stim's b8: bit-packed rows); returns the paths and the (S, O)
    bool observables."""
    import numpy as np

    from qec import sample_detectors, unpack_bits

    chunks = list(sample_detectors(task.circuit(), shots=shots, seed=seed,
                                   chunk_shots=chunk_shots))
    dets = np.concatenate([c.dets for c in chunks])
    obs = unpack_bits(np.concatenate([c.obs for c in chunks]), task.circuit().num_observables)
    paths = {"dem": folder / "task.dem", "dets": folder / "dets.b8"}
    write_text(paths["dem"], str(task.dem()))
    dets.tofile(paths["dets"])
    return {**paths, "obs": obs}


def external_markdown(row: dict) -> str:
    lines = [f"d = 5, p = 0.006, uniform noise, X basis, rounds = 5; the same {row['shots']:,} "
             "shots for every decoder. belief-matching and tesseract (long beam) run from "
             "bench/external_decoders.py in the separate venv .venv-ref; µs per shot on one "
             "thread of this shared CPU.", "",
             "| decoder | errors | LER per shot [95%] | only soft / only this wrong (McNemar p)"
             " | µs per shot |", "|---|---|---|---|---|"]
    us = row["us_per_shot"]
    for k, r in row["decoders"].items():
        pair = row["pairs"].get(f"soft|{k}")
        cell = "" if pair is None else (f"{pair['only_a_wrong']} / {pair['only_b_wrong']} "
                                        f"({pair['mcnemar_p']:.1e})")
        t = us.get(k)
        lines.append(f"| {k} | {r['errors']} | {r['ler']:.2e} [{r['ler_low']:.1e}, "
                     f"{r['ler_high']:.1e}] | {cell} | {'' if t is None else f'{t:,.0f}'} |")
    return "\n".join(lines) + "\n"


def paper_side_by_side(rows: list[dict], *, meta: dict, suffix: str) -> None:
    """The paper's figures beside ours (X basis): per shot, and improvement over PM."""
    lines = ["| p | d | paper PM | paper +Model 1 | paper +Model 4 | paper PM/(+M1) | paper "
             "PM/(+M4) | ours PM | ours hard | ours soft | ours PM/hard | ours PM/soft |",
             "|" + "---|" * 12]
    table = []
    for r in (r for r in rows if r["basis"] == "X"):
        pm, m1, m4 = PAPER[(r["p"], r["distance"])]
        dec = r["decoders"]
        table.append({"p": r["p"], "distance": r["distance"], "shots": r["shots"],
                      "paper": {"pm": pm, "model1": m1, "model4": m4},
                      "ours": {k: dec[k]["ler"] for k in (PM, "hard", "soft")}})
        lines.append(f"| {r['p']} | {r['distance']} | {pm:.2e} | {m1:.2e} | {m4:.2e} "
                     f"| {pm / m1:.2f} | {pm / m4:.2f} | {dec[PM]['ler']:.2e} "
                     f"| {dec['hard']['ler']:.2e} | {dec['soft']['ler']:.2e} "
                     f"| {improvement(dec[PM]['errors'], dec['hard']['errors'])} "
                     f"| {improvement(dec[PM]['errors'], dec['soft']['errors'])} |")
    note = ("Paper: arXiv:2604.12841, uniform noise, X basis, rounds = d, errors per shot (its "
            "axis says per round; its circuit has d - 1 noisy rounds to our d, so our "
            "PyMatching rates run higher). Ours: the shipped model, same shots for every "
            "column of a row (predecoder_ladder.json).")
    write_text(RESULTS / f"predecoder_paper{suffix}.md", note + "\n\n" + "\n".join(lines)
                                                          + "\n")
    write_json(RESULTS / f"predecoder_paper{suffix}.json", {"meta": meta, "note": note,
                                                           "rows": table})


def sinter_lines(ev, policies: dict, loaded) -> list[str]:
    """Every decoder of one evaluation as sinter CSV rows (pre-decoder time included)."""
    from qec import DecodeStats, sinter_rows

    meta = {**ev.task.metadata(), "model": loaded.path.name}
    rounds = ev.task.rounds
    stats = [DecodeStats(decoder=name, shots=ev.shots, errors=ev.errors(name),
                         seconds=ev.seconds[name], rounds=rounds) for name in (PM, CORR)]
    names = {"hard": "predecoder+pymatching", "soft": "predecoder+soft-matching"}
    stats += [DecodeStats(decoder=names[k], shots=ev.shots, errors=ev.errors(p.label),
                          seconds=ev.net_seconds + ev.seconds[p.label], rounds=rounds)
              for k, p in policies.items()]
    return sinter_rows(stats, circuit=ev.task.circuit(), json_metadata=meta)


def write_csv(path: Path, lines: list[str], meta: dict) -> None:
    from qec import sinter_csv_header

    write_text(path, "\n".join([sinter_csv_header(), *lines]) + "\n")
    write_sidecar(path, meta)
    print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
