"""The layered decoder's ladder: every referee on the SAME shots, against correlated PyMatching.

    python -m bench layered                  # the ladder below (about an hour on 2 busy cores)
    python -m bench layered --quick          # d = 3, p = 0.006, 400 shots (smoke test)
    python -m bench layered --scale 0.5      # every point with half the shots
    python -m bench layered --render         # redraw .md/.png from bench/results/layered.json

Per point (noise, p, d, basis, rounds = d or 3d for si1000) the shots are sampled once
(seeded) and decoded by PyMatching, correlated PyMatching, the pre-decoder's soft mode (the
shipped ``small`` model; ``small-si1000`` on si1000 noise) and the layered decoders
(``pipelines.ConsensusDecoder``): where soft mode and correlated PyMatching agree that is the
answer, the contested shots go to a referee:

- ``ensemble``: five soft matchers with perturbed weights on the same logits, majority vote;
- ``beliefmatching``: belief-matching (20 BP iterations) on the circuit's DEM;
- ``ensemble>beliefmatching``: the ensemble; the shots it splits go to belief-matching;
- ``tesseract-short`` and ``ensemble>tesseract-short``: tesseract's short-beam search (the
  long beam is 5x slower for one error fewer in 83 shots, DESIGN); each point gives it at
  most ``--tesseract-seconds`` (shots past that keep the answer of the layer before; the
  count is reported);
- ``oracle``: right wherever either soft or correlated PyMatching is right (the ceiling of any
  referee between the two; not a decoder).

Every referee decodes every contested shot once, timed shot by shot, so the two-layer
variants reuse those answers and are charged exactly the time of the shots they send on.
Reported per decoder: errors with a Wilson 95 % interval, paired counts and the exact
McNemar p-value against correlated PyMatching, µs per shot per stage (amortised over all
shots), the share of shots referred; and a Pareto plot of errors against µs per shot. The
machine is shared: times are relative, measured in one run.

Writes bench/results/layered.{json,md,png} (``--quick``: layered_quick.*), updated after
every point, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._meta import RESULTS, rate, run_metadata, save_figure, write_suite_files, write_text

# (noise, p, distance, basis, shots); rounds = d (uniform) or 3d (si1000). Ordered by what the
# done-when targets need first, so a run cut short keeps the p = 0.006 points.
POINTS = (("uniform", 0.006, 5, "X", 20_000), ("uniform", 0.006, 5, "Z", 20_000),
          ("uniform", 0.006, 9, "X", 4_000), ("uniform", 0.006, 9, "Z", 4_000),
          ("uniform", 0.006, 13, "X", 1_500), ("uniform", 0.006, 13, "Z", 1_500),
          ("si1000", 0.003, 5, "Z", 10_000), ("si1000", 0.003, 9, "Z", 2_000),
          ("uniform", 0.003, 5, "X", 10_000), ("uniform", 0.003, 5, "Z", 10_000),
          ("uniform", 0.003, 9, "X", 3_000), ("uniform", 0.003, 9, "Z", 3_000),
          ("uniform", 0.003, 13, "X", 1_000), ("uniform", 0.003, 13, "Z", 1_000))
QUICK_POINTS = (("uniform", 0.006, 3, "X", 400),)
MODELS = {"uniform": "small", "si1000": "small-si1000"}
SEED = 2301
CHUNK = 1_000
REFEREES = ("ensemble", "beliefmatching", "tesseract-short")
LAYERED = {"consensus[ensemble]": ("ensemble",),
           "consensus[beliefmatching]": ("beliefmatching",),
           "consensus[ensemble>beliefmatching]": ("ensemble", "beliefmatching"),
           "consensus[tesseract-short]": ("tesseract-short",),
           "consensus[ensemble>tesseract-short]": ("ensemble", "tesseract-short")}
BASE = ("pymatching", "pymatching-correlated", "soft")
REFERENCE = "pymatching-correlated"


def task_of(noise: str, p: float, distance: int, basis: str):
    from qec import NoiseModel, Task

    model = NoiseModel.uniform(p) if noise == "uniform" else NoiseModel.si1000(p)
    rounds = distance if noise == "uniform" else 3 * distance
    return Task(distance=distance, rounds=rounds, basis=basis, noise=model)


class Referrals:
    """Every referee's answer and time on every contested shot of one point."""

    def __init__(self, num_observables: int) -> None:
        self.index: list[np.ndarray] = []                     # global shot indices
        self.answers = {r: [] for r in REFEREES}              # (n, O) bool per chunk
        self.seconds = {r: [] for r in REFEREES}              # (n,) per chunk
        self.decided = {r: [] for r in REFEREES}              # (n,) bool: within budget
        self.sure: list[np.ndarray] = []                      # ensemble unanimous
        self.num_observables = num_observables

    def joined(self) -> dict:
        """Everything as arrays over the point's contested shots, in shot order."""
        def cat(parts, empty):
            return np.concatenate(parts) if parts else empty

        num_obs = self.num_observables
        return {"index": cat(self.index, np.zeros(0, np.int64)),
                "sure": cat(self.sure, np.zeros(0, bool)),
                "answers": {r: cat(v, np.zeros((0, num_obs), bool))
                            for r, v in self.answers.items()},
                "seconds": {r: cat(v, np.zeros(0)) for r, v in self.seconds.items()},
                "decided": {r: cat(v, np.zeros(0, bool)) for r, v in self.decided.items()}}


def refer_chunk(dec, externals: dict, first, offset: int, out: Referrals,
                tesseract_left: list[float]) -> None:
    """Run every referee on the contested shots of one chunk, timing each shot."""
    contested = first.contested
    out.index.append(contested + offset)
    n, num_obs = contested.size, out.num_observables
    prepared = dec.ensemble.prepare(first.dets[contested], first.logits[contested])
    k = len(dec.ensemble.members)
    votes = np.zeros((n, num_obs), dtype=np.int64)
    for r in REFEREES:
        answers, seconds = np.zeros((n, num_obs), bool), np.zeros(n)
        decided = np.ones(n, dtype=bool)
        for i, s in enumerate(contested):
            if r == "tesseract-short" and tesseract_left[0] <= 0:
                decided[i:] = False
                break
            t0 = time.perf_counter()
            if r == "ensemble":
                votes[i] = dec.ensemble.votes(prepared, i)
                answers[i] = votes[i] > k / 2
            else:
                answers[i] = externals[r].decode_bool(first.dets[s:s + 1])[0]
            seconds[i] = time.perf_counter() - t0
            if r == "tesseract-short":
                tesseract_left[0] -= seconds[i]
        out.answers[r].append(answers)
        out.seconds[r].append(seconds)
        out.decided[r].append(decided)
    out.sure.append(((votes == 0) | (votes == k)).all(axis=1))


def layered_answer(soft: np.ndarray, ref: dict, layers: tuple[str, ...]
                   ) -> tuple[np.ndarray, float, int, int]:
    """A layered variant's (S, O) answers from the referees' answers on the contested shots:
    (answers, referee seconds charged, shots sent to the last layer, shots over budget)."""
    answer, seconds, over = soft.copy(), 0.0, 0
    pending = np.arange(ref["index"].size)               # positions among contested shots
    for depth, layer in enumerate(layers):
        decided = ref["decided"][layer][pending]
        done = pending[decided]
        answer[ref["index"][done]] = ref["answers"][layer][done]
        seconds += float(ref["seconds"][layer][done].sum())
        over += int((~decided).sum())
        sent = pending.size
        if depth + 1 < len(layers):                      # only the ensemble's split shots
            pending = done[~ref["sure"][done]]
    return answer, seconds, sent, over


def decode_chunks(dec, dem, chunks, tesseract_seconds: float) -> dict:
    """Every decoder and referee on the shots of ``chunks`` ((dets, obs) bit-packed pairs);
    ``dec``: a ConsensusDecoder with an ensemble layer. Raw per-shot results."""
    from qec import MatchingDecoder, unpack_bits
    from qec.referees import BeliefMatchingReferee, TesseractReferee

    externals = {"beliefmatching": BeliefMatchingReferee(dem),
                 "tesseract-short": TesseractReferee(dem, name="tesseract-short")}
    pm = MatchingDecoder.from_dem(dem)
    num_obs = dem.num_observables
    refs, left = Referrals(num_obs), [tesseract_seconds]
    truth, soft, corr, pm_pred = [], [], [], []
    stage = {"network": 0.0, "soft": 0.0, "correlated": 0.0, "pymatching": 0.0}
    done = 0
    for dets, obs in chunks:
        t0 = time.perf_counter()
        pm_pred.append(unpack_bits(pm.decode_batch(dets), num_obs))
        stage["pymatching"] += time.perf_counter() - t0
        first = dec.first_pass(dets)
        for k, v in first.seconds.items():
            stage[k] += v
        refer_chunk(dec, externals, first, done, refs, left)
        truth.append(unpack_bits(obs, num_obs))
        soft.append(first.soft)
        corr.append(first.correlated)
        done += dets.shape[0]
    return {"truth": np.concatenate(truth), "soft": np.concatenate(soft),
            "pymatching-correlated": np.concatenate(corr),
            "pymatching": np.concatenate(pm_pred), "stage": stage, "refs": refs.joined(),
            "members": [m.label for m in dec.ensemble.members]}


def point(noise: str, p: float, distance: int, basis: str, shots: int, *,
          tesseract_seconds: float) -> dict:
    """One simulated ladder point (see :func:`summarize`)."""
    from pipelines import ConsensusDecoder
    from qec import sample_detectors

    task = task_of(noise, p, distance, basis)
    dem = task.dem()
    dec = ConsensusDecoder.from_task(task, referees=("ensemble",), model=MODELS[noise],
                                     dem=dem)
    chunks = ((c.dets, c.obs) for c in sample_detectors(task.circuit(), shots=shots,
                                                         seed=SEED, chunk_shots=CHUNK))
    raw = decode_chunks(dec, dem, chunks, tesseract_seconds)
    return {"noise": noise, "p": p, "distance": distance, "basis": basis,
            "rounds": task.rounds, "shots": shots, "seed": SEED, "model": MODELS[noise],
            **summarize(raw, shots, task.rounds, tesseract_seconds)}


def sycamore_point(folder: Path, shots: int, *, tesseract_seconds: float) -> dict:
    """One Sycamore experiment (bench/layered_hardware.py): the first ``shots`` shots."""
    from bench.layered_hardware import CREDIT, experiment_chunks, google_rows
    from pipelines import ConsensusDecoder
    from qec import Geometry, circuit_dem

    circuit, chunks = experiment_chunks(folder, shots, CHUNK)
    dem = circuit_dem(circuit)
    dec = ConsensusDecoder.from_dem(dem, referees=("ensemble",), model="small")
    raw = decode_chunks(dec, dem, chunks, tesseract_seconds)
    rounds = Geometry.from_dem(dem).rounds
    extra = google_rows(folder, shots, raw["truth"])
    return {"noise": "sycamore", "p": 0.0, "distance": 5, "basis": "X", "rounds": rounds,
            "shots": shots, "seed": None, "model": "small", "experiment": folder.name,
            "data": CREDIT, **summarize(raw, shots, rounds, tesseract_seconds, extra=extra)}


def summarize(raw: dict, shots: int, rounds: int, tesseract_seconds: float, *,
              extra: dict | None = None) -> dict:
    """Errors, paired counts vs correlated PyMatching, µs per shot per stage; ``extra``:
    more decoders' (S,) 'was wrong' masks on the same shots (reported, not timed)."""
    from qec import PairedCounts

    truth, stage, ref = raw["truth"], raw["stage"], raw["refs"]
    us = {k: v / shots * 1e6 for k, v in stage.items()}
    soft_us = us["network"] + us["soft"]
    first_us = soft_us + us["correlated"]
    wrong = {n: (raw[n] != truth).any(axis=1) for n in BASE}
    cost = {"pymatching": us["pymatching"], REFERENCE: us["correlated"], "soft": soft_us}
    layered = {}
    for name, layers in LAYERED.items():
        answer, seconds, sent, over = layered_answer(raw["soft"], ref, layers)
        wrong[name] = (answer != truth).any(axis=1)
        cost[name] = first_us + seconds / shots * 1e6
        layered[name] = {"referee_us_per_shot": seconds / shots * 1e6,
                         "referee_share_of_cost": seconds / shots * 1e6 / cost[name],
                         "shots_to_last_layer": sent, "over_budget_shots": over,
                         "cost_vs_soft": cost[name] / soft_us}
    wrong["oracle"] = wrong["soft"] & wrong[REFERENCE]
    wrong.update(extra or {})
    contested = int(ref["index"].size)
    per_referred = {r: (float(ref["seconds"][r][ref["decided"][r]].mean()) * 1e6
                        if ref["decided"][r].any() else None) for r in REFEREES}
    decoders = {}
    for n, w in wrong.items():
        pair = PairedCounts.of(n, w, REFERENCE, wrong[REFERENCE])
        decoders[n] = {**rate(int(w.sum()), shots, rounds), "us_per_shot": cost.get(n),
                       "only_this_wrong": pair.only_a, "only_correlated_wrong": pair.only_b,
                       "mcnemar_p": pair.p_value,
                       "ratio_vs_correlated": (int(wrong[REFERENCE].sum()) / int(w.sum())
                                               if w.any() else None),
                       **layered.get(n, {})}
    return {"ensemble_members": raw["members"], "contested": contested,
            "referred_share": contested / shots, "stage_us_per_shot": us,
            "referee_us_per_referred_shot": per_referred,
            "tesseract_seconds_budget": tesseract_seconds, "decoders": decoders}


def point_label(r: dict) -> str:
    if r["noise"] == "sycamore":
        return f"Sycamore {r['experiment']}"
    return f"{r['noise']} p={r['p']:g} d={r['distance']} {r['basis']}"


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# The layered decoder's ladder (bench/layered.py)", "",
             "Same shots for every decoder at each point; `consensus[R]` = soft mode and "
             "correlated PyMatching decode every shot, referee R settles the shots where they "
             "disagree (`a>b`: b gets only the shots the ensemble splits). `oracle` = wrong only "
             "where both soft and correlated PyMatching are wrong: the ceiling of any referee "
             "between them (not a decoder). Ratio = correlated PyMatching's errors / this "
             "decoder's; paired counts and exact McNemar p against correlated PyMatching; "
             "µs per shot amortised over all shots on a shared 2-core CPU (relative figures, "
             "one run); cost vs soft = µs per shot / soft mode's. Host: "
             f"{meta['hardware']['cpu_model']}, {meta['hardware']['cpu_cores']} cores.", ""]
    lines += summary(rows) + [""]
    for r in rows:
        us = r["stage_us_per_shot"]
        per = ", ".join(f"{k} {v / 1e3:.1f} ms" for k, v in
                        r["referee_us_per_referred_shot"].items() if v is not None)
        lines += [f"## {point_label(r)}, rounds {r['rounds']}, {r['shots']:,} shots, model "
                  f"`{r['model']}`", "",
                  f"Contested (referred) shots: {r['contested']} ({100 * r['referred_share']:.2f} "
                  f"%). Stages, µs per shot: network {us['network']:.0f}, soft matching "
                  f"{us['soft']:.0f}, correlated PyMatching {us['correlated']:.0f}, PyMatching "
                  f"{us['pymatching']:.0f}. Referee per referred shot: {per}.", "",
                  "| decoder | errors | LER (95 % CI) | ratio vs corrPM | only this / only "
                  "corrPM wrong | McNemar p | µs/shot | cost vs soft | referee share of "
                  "cost | over budget |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, d in r["decoders"].items():
            cost = "" if d["us_per_shot"] is None else f"{d['us_per_shot']:.0f}"
            lines.append(
                f"| {name} | {d['errors']} | {d['ler']:.2e} ({d['ler_low']:.1e}-"
                f"{d['ler_high']:.1e}) | {_fmt(d['ratio_vs_correlated'], '.2f')} | "
                f"{d['only_this_wrong']} / {d['only_correlated_wrong']} | "
                f"{d['mcnemar_p']:.2g} | {cost} | {_fmt(d.get('cost_vs_soft'), '.2f')} | "
                f"{_fmt(d.get('referee_share_of_cost'), '.0%')} | "
                f"{d.get('over_budget_shots', '')} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _fmt(x, spec: str) -> str:
    return "" if x is None else format(x, spec)


def pooled(rows: list[dict], noise: str, p: float, distance: int) -> dict | None:
    """Both bases of one (noise, p, d) pooled: per decoder errors, ratio, McNemar p, cost."""
    from qec import mcnemar_exact

    sel = [r for r in rows if (r["noise"], r["p"], r["distance"]) == (noise, p, distance)]
    if not sel:
        return None
    out = {"bases": [r["basis"] for r in sel], "shots": sum(r["shots"] for r in sel)}
    ref = sum(r["decoders"][REFERENCE]["errors"] for r in sel)
    for name in sel[0]["decoders"]:
        ds = [r["decoders"][name] for r in sel]
        errors = sum(d["errors"] for d in ds)
        a, b = sum(d["only_this_wrong"] for d in ds), sum(d["only_correlated_wrong"] for d in ds)
        cost = [d.get("cost_vs_soft") for d in ds]
        out[name] = {"errors": errors, "ratio": ref / errors if errors else None,
                     "mcnemar_p": mcnemar_exact(a, b),
                     "cost_vs_soft": None if None in cost else float(np.mean(cost))}
    return out


def summary(rows: list[dict]) -> list[str]:
    """The done-when table: each layered variant pooled over X and Z per point."""
    lines = ["## Summary: pooled over the bases measured", "",
             "| point | shots | corrPM errors | soft | " + " | ".join(LAYERED) + " | oracle |",
             "|---|---|---|---|" + "---|" * (len(LAYERED) + 1)]
    keys = sorted({(r["noise"], r["p"], r["distance"]) for r in rows},
                  key=lambda k: (k[0], -k[1], k[2]))
    for key in keys:
        pool = pooled(rows, *key)
        cells = []
        for name in ("soft", *LAYERED, "oracle"):
            d = pool[name]
            cost = "" if d["cost_vs_soft"] is None else f", {d['cost_vs_soft']:.2f}x soft"
            ratio = "no errors" if d["ratio"] is None else f"{d['ratio']:.2f}x"
            cells.append(f"{d['errors']} ({ratio}, p={d['mcnemar_p']:.2g}{cost})")
        lines.append(f"| {key_label(key, pool['bases'])} | "
                     f"{pool['shots']:,} | {pool[REFERENCE]['errors']} | " + " | ".join(cells)
                     + " |")
    lines += ["", "Cells: errors (ratio vs correlated PyMatching, exact McNemar p, amortised "
              "cost as a multiple of soft mode's)."]
    return lines


def key_label(key: tuple, bases: list[str]) -> str:
    """'uniform p=0.006 d=5 X+Z' or 'Sycamore d=5 X' for a pooled (noise, p, d) point."""
    if key[0] == "sycamore":
        return f"Sycamore d={key[2]} {'+'.join(bases)}"
    return f"{key[0]} p={key[1]:g} d={key[2]} {'+'.join(bases)}"


def plot(rows: list[dict], path: Path) -> None:
    """Errors (95 % interval) against µs per shot, one panel per (noise, p, d), bases pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qec import wilson_interval

    keys = sorted({(r["noise"], r["p"], r["distance"]) for r in rows},
                  key=lambda k: (k[0], -k[1], k[2]))
    cols = min(3, len(keys))
    nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 4 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        sel = [r for r in rows if (r["noise"], r["p"], r["distance"]) == key]
        shots = sum(r["shots"] for r in sel)
        for name in sel[0]["decoders"]:
            if any(r["decoders"][name]["us_per_shot"] is None for r in sel):
                continue          # the oracle and Google's files: not decoders we time
            errors = sum(r["decoders"][name]["errors"] for r in sel)
            us = np.mean([r["decoders"][name]["us_per_shot"] for r in sel])
            lo, hi = (x * shots for x in wilson_interval(errors, shots))
            ax.errorbar([us], [errors], yerr=[[errors - lo], [hi - errors]], fmt="o",
                        capsize=3, label=name)
        oracle = sum(r["decoders"]["oracle"]["errors"] for r in sel)
        ax.axhline(oracle, ls=":", c="gray", label="oracle (ceiling)")
        ax.set_xscale("log")
        ax.set_title(f"{key_label(key, sorted({r['basis'] for r in sel}))}, {shots:,} shots")
        ax.set_xlabel("µs per shot (amortised, shared CPU)")
        ax.set_ylabel("errors")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def merged_rows(out: Path, rows: list[dict]) -> list[dict]:
    """``rows`` plus the Sycamore rows of ``out/layered_sycamore.json`` (if any), once each."""
    import json

    path = out / "layered_sycamore.json"
    extra = json.loads(path.read_text())["rows"] if path.exists() else []
    keep = [r for r in rows if r["noise"] != "sycamore"]
    return keep + extra


def render(out: Path, stem: str) -> None:
    """Redraw ``stem``.md/.png (and rewrite its .json) from its .json, Sycamore rows merged."""
    import json

    data = json.loads((out / f"{stem}.json").read_text())
    rows = merged_rows(out, data["rows"]) if stem == "layered" else data["rows"]
    data = {**data, "rows": rows}
    write_suite_files(out, stem, data,
                      markdown=lambda path: write_text(path, markdown(rows, data["meta"])),
                      plot=lambda path: plot(rows, path))
    write_text(out / f"{stem}_summary.md", "\n".join(summary(rows)[2:]) + "\n")  # no heading


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench layered",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small point (smoke test)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every point's shots (default 1)")
    parser.add_argument("--tesseract-seconds", type=float, default=120.0,
                        help="tesseract's time per point, seconds (default 120)")
    parser.add_argument("--only", default=None,
                        help="comma-separated point indices of the ladder to run")
    parser.add_argument("--sycamore", type=Path, default=None, metavar="DATA_DIR",
                        help="run only the Sycamore d=5 experiment(s) of DATA_DIR (Google's "
                             "qec3v5 data, see bench/layered_hardware.py), writing "
                             "layered_sycamore.*; --render merges them into layered.*")
    parser.add_argument("--sycamore-shots", type=int, default=10_000,
                        help="first shots of each Sycamore experiment (default 10,000)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true",
                        help="only redraw the .md and .png from the existing .json")
    args = parser.parse_args(argv)
    stem = "layered_quick" if args.quick else "layered"
    if args.render:
        render(args.out, stem)
        return 0
    import torch

    torch.set_num_threads(1)
    if args.sycamore is not None:
        return run_sycamore(args)
    points = QUICK_POINTS if args.quick else POINTS
    if args.only:
        points = [points[int(i)] for i in args.only.split(",")]
    meta, rows = run_metadata(), []
    for noise, p, d, basis, shots in points:
        start = time.perf_counter()
        rows.append(point(noise, p, d, basis, max(100, int(shots * args.scale)),
                          tesseract_seconds=args.tesseract_seconds))
        report(rows[-1], start)
        write_suite_files(args.out, stem, {"meta": meta, "rows": rows},
                          markdown=lambda path: write_text(path, markdown(rows, meta)),
                          plot=lambda path: plot(rows, path))
    render(args.out, stem)
    return 0


def report(row: dict, start: float) -> None:
    print(f"{point_label(row)}: " + ", ".join(f"{k} {v['errors']}" for k, v in
                                              row["decoders"].items())
          + f" ({time.perf_counter() - start:.0f} s)", flush=True)


def run_sycamore(args: argparse.Namespace) -> int:
    from bench.layered_hardware import EXPERIMENTS

    meta, rows = run_metadata(), []
    for name in EXPERIMENTS:
        start = time.perf_counter()
        rows.append(sycamore_point(args.sycamore / name, args.sycamore_shots,
                                   tesseract_seconds=args.tesseract_seconds))
        report(rows[-1], start)
    stem = "layered_sycamore"
    write_suite_files(args.out, stem, {"meta": meta, "rows": rows},
                      markdown=lambda path: write_text(path, markdown(rows, meta)))
    return 0
