"""Real hardware data: qecpipe's decoders on Google's Sycamore surface-code experiments.

    python -m bench hardware DATA_DIR                 # every experiment folder in DATA_DIR
    python -m bench hardware DATA_DIR --shots 10000   # the first 10,000 shots of each
    python -m bench hardware --quick                  # the repository's slice (tests/data)

DATA_DIR holds experiment folders as Google published them (``surface_code_bX_d5_r05_center_
5_5/`` with circuit_noisy.stim, detection_events.b8, obs_flips_actual.01, the pij DEMs and
Google's prediction files; see ``qecpipe decode --experiment``). Data: Google Quantum AI,
"Suppressing quantum errors by scaling a surface code logical qubit", Nature 614, 676-681
(2023); doi:10.5281/zenodo.6804040, CC BY 4.0.

Per experiment, on the same shots (the first ``--shots`` of each; the default is all):
PyMatching and correlated PyMatching with the circuit's DEM, with Google's published pij DEMs
(cross-fitted: fitted on one half of the shots, decoding the other) and with qecpipe's learned
DEM (learned from the detection events of one half by ``noise.estimate_noise``, decoding the
other half, and back); the pre-decoder in hard and soft mode with each model given by
``--models`` (on ``--predecoder-shots`` shots: the CNN costs more); Google's four decoders
from their prediction files. Every row: errors per shot with a Wilson interval and the paired
counts against Google's correlated matching (shots only one got wrong, exact McNemar p).
Per patch and decoder: the error per cycle (``qec.cycle_fit``: least squares of
log(1 - 2P(r)) on r over r = 3..25, bootstrap-over-shots interval) and the McNemar test
pooled over the patch's round counts 3..25.

Rows are cached one JSON line each in ``<out>/hardware_rows.jsonl`` (keyed by experiment,
row and shots), so a long run can be stopped and resumed, and rows added later (e.g. soft
mode) join the ones already there. Writes hardware.{json,md,png} and hardware_readme.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._meta import REPO_ROOT, RESULTS, run_metadata, save_figure, write_suite_files, write_text

ATTRIBUTION = ("Data: Google Quantum AI, \"Suppressing quantum errors by scaling a surface code "
               "logical qubit\", Nature 614, 676-681 (2023); doi:10.5281/zenodo.6804040, "
               "CC BY 4.0.")
GOOGLE = ("pymatching", "correlated_matching", "belief_matching", "tensor_network_contraction")
REFERENCE = "google: correlated_matching"
MATCHING_ROWS = tuple((dec, w) for dec in ("pymatching", "pymatching-correlated")
                      for w in ("circuit", "pij", "learned"))
FOLDER = re.compile(r"surface_code_b(?P<basis>[XZ])_d(?P<distance>\d+)_r(?P<rounds>\d+)"
                    r"_center_(?P<center>\d+_\d+)$")
QUICK_DIR = REPO_ROOT / "tests" / "data" / "google_qec3v5"
QUICK_SHOTS = 2000
QUICK_PREDECODER_SHOTS = 500
CACHE = "hardware_rows.jsonl"
QUICK_CACHE = "hardware_quick_rows.jsonl"
FIT_ROUNDS = (3, 25)


def find_experiments(data_dir: Path) -> list[dict]:
    """Every experiment folder of ``data_dir``: {'path', 'patch', 'distance', 'rounds'},
    sorted by patch and rounds (folder names as Google published them)."""
    found = []
    for path in sorted(p for p in Path(data_dir).iterdir() if p.is_dir()):
        m = FOLDER.match(path.name)
        if m:
            patch = f"d={m['distance']} {m['basis']} center {m['center']}"
            found.append({"path": path, "patch": patch, "distance": int(m["distance"]),
                          "rounds": int(m["rounds"])})
    if not found:
        raise SystemExit(f"bench hardware: {data_dir} holds no experiment folders named like "
                         "surface_code_bX_d5_r05_center_5_5")
    return sorted(found, key=lambda e: (-e["distance"], e["patch"], e["rounds"]))


def row(exp, spec: dict, label: str, wrong: np.ndarray, ref_wrong: np.ndarray,
        seconds: float) -> dict:
    """One table row: a decoder's errors on the experiment's shots and its paired counts
    against Google's correlated matching on the same shots."""
    from qec import PairedCounts, wilson_interval

    paired = PairedCounts.of(label, wrong, REFERENCE, ref_wrong)
    lo, hi = wilson_interval(int(wrong.sum()), wrong.size)
    return {"experiment": exp.path.name, "patch": spec["patch"], "distance": spec["distance"],
            "rounds": exp.rounds, "label": label, "shots": int(wrong.size),
            "errors": int(wrong.sum()), "ler": float(wrong.mean()), "ler_low": lo,
            "ler_high": hi, "only_this_wrong": paired.only_a, "only_reference_wrong":
            paired.only_b, "mcnemar_p": paired.p_value, "seconds": seconds}


def wrong_of(exp, predictions: np.ndarray, shots: int) -> np.ndarray:
    from qec import popcount_rows

    return popcount_rows(predictions ^ exp.obs[:shots]) > 0


def google_wrong(exp, shots: int) -> dict[str, np.ndarray]:
    """Google's four decoders' per-shot 'wrong' masks on the first ``shots`` shots."""
    missing = [g for g in GOOGLE if g not in exp.predictions]
    if missing:
        raise SystemExit(f"bench hardware: {exp.path} lacks obs_flips_predicted_by_"
                         f"{missing[0]}.01")
    return {g: wrong_of(exp, exp.predictions[g][:shots], shots) for g in GOOGLE}


def matching_predictions(exp, decoder: str, weights: str, shots: int, estimates
                         ) -> np.ndarray:
    """One matching row's predictions on the first ``shots`` shots (cross-fitted for pij and
    learned weights: each half decoded by the DEM fitted on the other)."""
    from noise import matching_dem
    from noise.crossfit import cross_fit_decode, decode_in_chunks
    from qec import MatchingDecoder, circuit_dem

    dets = exp.dets[:shots]
    if weights == "circuit":
        return decode_in_chunks(MatchingDecoder.named(decoder, circuit_dem(exp.circuit)), dets)
    correlated = decoder == "pymatching-correlated"
    dems = ({h: exp.pij_dem(h) for h in ("even", "odd")} if weights == "pij" else
            {h: matching_dem(est, correlated=correlated) for h, est in estimates().items()})
    return cross_fit_decode(dets, {h: MatchingDecoder.named(decoder, d)
                                   for h, d in dems.items()})


def predecoder_predictions(exp, mode: str, model: str, shots: int) -> np.ndarray:
    """The pre-decoder (hard: + PyMatching on the residual; soft: + per-shot blossom) with
    the circuit's DEM, on the first ``shots`` shots."""
    from noise.crossfit import decode_in_chunks
    from pipelines import make_decoder_for_dem
    from qec import circuit_dem

    name = "predecoder+soft-matching" if mode == "soft" else "predecoder+pymatching"
    decoder = make_decoder_for_dem(name, circuit_dem(exp.circuit), model=model)
    return decode_in_chunks(decoder, exp.dets[:shots], chunk_shots=4096)


def experiment_rows(spec: dict, args, cache: dict) -> list[dict]:
    """Every row of one experiment (cached rows reused; new ones appended to the cache)."""
    from noise import NoiseStructure
    from noise.crossfit import estimate_halves
    from qec.experiment import read_experiment

    exp = read_experiment(spec["path"])
    shots = min(args.shots or exp.shots, exp.shots)
    pre_shots = min(args.predecoder_shots or shots, shots)
    memo: dict = {}

    def estimates():
        if "est" not in memo:  # learned on the halves of ALL shots; decodes the subset's halves
            memo["est"] = estimate_halves(exp.dets, structure=NoiseStructure.from_circuit(
                exp.circuit))
        return memo["est"]

    google = google_wrong(exp, shots)
    with_pre = args.models and exp.rounds >= FIT_ROUNDS[0]
    jobs = [(f"google: {g}", n, lambda g=g, n=n: (google[g][:n], 0.0))
            for n in sorted({shots, pre_shots} if with_pre else {shots}) for g in GOOGLE]
    for dec, w in MATCHING_ROWS if not args.no_matching else ():
        jobs.append((f"{dec} / {w} DEM", shots, lambda dec=dec, w=w, n=shots: _timed(
            lambda: wrong_of(exp, matching_predictions(exp, dec, w, n, estimates), n))))
    # A one-round experiment's DEM fits a patch and its transpose alike, so the pre-decoder
    # (which reads its layout from the DEM) cannot orient it; r = 1 is outside the fit anyway.
    for model in args.models if exp.rounds >= FIT_ROUNDS[0] else ():
        for mode in args.modes:
            jobs.append((f"{mode} ({model})", pre_shots, lambda m=model, mode=mode, n=pre_shots:
                         _timed(lambda: wrong_of(exp, predecoder_predictions(exp, mode, m, n),
                                                 n))))
    out = []
    for label, n, job in jobs:
        key = (exp.path.name, label, n)
        if key not in cache:
            wrong, seconds = job()
            ref = google["correlated_matching"][:n]
            cache[key] = row(exp, spec, label, wrong, ref, seconds)
            _append_cache(args.cache, cache[key])
            print(f"{exp.path.name}: {label}: {cache[key]['errors']} / {n} "
                  f"({seconds:.1f} s)", flush=True)
        out.append(cache[key])
    return out


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _append_cache(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # one line per row: a killed run loses at most the row it was on
        f.write(json.dumps(record) + "\n")


def read_cache(path: Path) -> dict:
    if not path.is_file():
        return {}
    cache = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            cache[(r["experiment"], r["label"], r["shots"])] = r
    return cache


def summarize(rows: list[dict]) -> list[dict]:
    """Per patch, label and shot count: the error per cycle over r = 3..25 and the McNemar
    test against Google's correlated matching pooled over those round counts."""
    from qec import PairedCounts
    from qec.cycle_fit import fit_error_per_cycle

    groups: dict = {}
    for r in rows:
        groups.setdefault((r["patch"], r["label"], r["shots"]), []).append(r)
    out = []
    for (patch, label, shots), rs in groups.items():
        fitted = [r for r in rs if FIT_ROUNDS[0] <= r["rounds"] <= FIT_ROUNDS[1]]
        pooled = sum((PairedCounts(label, REFERENCE, r["only_this_wrong"],
                                   r["only_reference_wrong"]) for r in fitted[1:]),
                     PairedCounts(label, REFERENCE, fitted[0]["only_this_wrong"],
                                  fitted[0]["only_reference_wrong"])) if fitted else None
        fit = None
        if len({r["rounds"] for r in fitted}) >= 2:
            fit = fit_error_per_cycle([r["rounds"] for r in fitted],
                                      [r["errors"] for r in fitted],
                                      [r["shots"] for r in fitted], fit_rounds=FIT_ROUNDS)
        out.append({"patch": patch, "label": label, "shots": shots,
                    "rounds": sorted(r["rounds"] for r in rs),
                    "fit": None if fit is None else fit.to_json(),
                    "pooled_vs_reference": None if pooled is None else pooled.to_json()})
    return out


def _first(shots: int | None) -> str:
    return "all the" if shots is None else f"the first {shots:,}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _eps(s: dict) -> str:
    f = s["fit"]
    return "—" if f is None else f"{_pct(f['eps'])} [{100 * f['eps_low']:.2f}, " \
                                 f"{100 * f['eps_high']:.2f}]"


def _pooled(s: dict) -> str:
    p = s["pooled_vs_reference"]
    if p is None or s["label"] == REFERENCE:
        return "—"
    pv = p["mcnemar_p"]  # an exact binomial tail below ~1e-308 underflows to 0.0
    return (f"{p['only_a_wrong']:,} / {p['only_b_wrong']:,}, "
            + ("p < 1e-300" if pv < 1e-300 else f"p = {pv:.1g}"))


def markdown(data: dict) -> str:
    """hardware.md: per patch, one line per decoder: LER at the shortest, middle and longest
    round counts, the error per cycle with its interval, the pooled McNemar test."""
    rows, lines = data["rows"], []
    for patch in dict.fromkeys(r["patch"] for r in rows):
        rounds = sorted({r["rounds"] for r in rows if r["patch"] == patch})
        shown = sorted({rounds[0], rounds[len(rounds) // 2], rounds[-1]})
        lines += [f"**{patch}** (X basis; errors per shot [95 % Wilson]; error per cycle "
                  f"fitted over r = {FIT_ROUNDS[0]}..{FIT_ROUNDS[1]} [95 % bootstrap]; "
                  "pooled over those rounds: shots only this decoder / only Google's "
                  "correlated matching got wrong, exact McNemar p)", "",
                  "| decoder | shots | " + " | ".join(f"r = {r}" for r in shown)
                  + " | error per cycle | vs Google's correlated matching |",
                  "|---|---|" + "---|" * len(shown) + "---|---|"]
        for s in (s for s in data["summary"] if s["patch"] == patch):
            by_r = {r["rounds"]: r for r in rows if r["patch"] == patch
                    and r["label"] == s["label"] and r["shots"] == s["shots"]}
            cells = [_pct(by_r[r]["ler"]) if r in by_r else "—" for r in shown]
            lines.append(f"| {s['label']} | {s['shots']:,} | " + " | ".join(cells)
                         + f" | {_eps(s)} | {_pooled(s)} |")
        lines += ["", *learned_vs_pij(data, patch), ""]
    lines += [data["what_ran"], "", ATTRIBUTION]
    return "\n".join(lines) + "\n"


def learned_vs_pij(data: dict, patch: str) -> list[str]:
    """One line per matcher: qecpipe's learned DEM against Google's pij DEM (both
    cross-fitted) on the same shots: errors summed over r = 3..25 and the error per cycle."""
    out = []
    for dec in ("pymatching", "pymatching-correlated"):
        fits = {w: s for s in data["summary"] for w in ("learned", "pij")
                if s["patch"] == patch and s["label"] == f"{dec} / {w} DEM"}
        if len(fits) < 2 or fits["learned"]["shots"] != fits["pij"]["shots"]:
            continue
        errors = {w: sum(r["errors"] for r in data["rows"] if r["patch"] == patch
                         and r["label"] == f"{dec} / {w} DEM" and r["shots"] == fits[w]["shots"]
                         and FIT_ROUNDS[0] <= r["rounds"] <= FIT_ROUNDS[1]) for w in fits}
        eps = {w: f["fit"]["eps"] for w, f in fits.items() if f["fit"]}
        line = (f"- {dec}: learned DEM {errors['learned']:,} errors over r = 3..25 against "
                f"pij {errors['pij']:,} ({100 * (errors['learned'] / errors['pij'] - 1):+.1f} %)")
        if len(eps) == 2:
            line += (f"; error per cycle {_pct(eps['learned'])} against {_pct(eps['pij'])} "
                     f"({100 * (eps['learned'] / eps['pij'] - 1):+.1f} % relative)")
        out.append(line)
    return ["qecpipe's learned DEM against Google's pij DEM (both cross-fitted, same shots):",
            *out] if out else []


def plot(data: dict, path: Path) -> None:
    """LER per shot against rounds, one panel per patch, every decoder, Wilson error bars
    (measured points joined, nothing extrapolated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    patches = list(dict.fromkeys(r["patch"] for r in data["rows"]))
    fig, axes = plt.subplots(1, len(patches), figsize=(5.2 * len(patches), 4.4), squeeze=False)
    for ax, patch in zip(axes[0], patches):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # 16 series: no colour repeats
        for s in (s for s in data["summary"] if s["patch"] == patch):
            pts = sorted((r for r in data["rows"] if r["patch"] == patch
                          and r["label"] == s["label"] and r["shots"] == s["shots"]),
                         key=lambda r: r["rounds"])
            x = [r["rounds"] for r in pts]
            y = np.array([r["ler"] for r in pts])
            err = np.array([[r["ler"] - r["ler_low"], r["ler_high"] - r["ler"]] for r in pts]).T
            ax.errorbar(x, y, yerr=err, marker="o", ms=3, lw=1, capsize=2,
                        ls="--" if s["label"].startswith("google") else "-",
                        label=f"{s['label']} ({s['shots']:,} shots)")
        ax.set(title=patch, xlabel="rounds", ylabel="logical errors per shot")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(ATTRIBUTION, fontsize=7)
    save_figure(fig, path)


def readme_block(data: dict) -> str:
    """hardware_readme.md: the d=5 summary the README copies (bench readme)."""
    d5 = [s for s in data["summary"] if s["patch"].startswith("d=5")]
    lines = ["| decoder (d=5, X basis) | shots | error per cycle [95 %] | vs Google's "
             "correlated matching (only this / only it wrong, p) |", "|---|---|---|---|"]
    lines += [f"| {s['label']} | {s['shots']:,} | {_eps(s)} | {_pooled(s)} |" for s in d5]
    return "\n".join(lines + ["", data["what_ran"], "", ATTRIBUTION]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hardware",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None,
                        help="folder of Google's experiment folders (default with --quick: "
                             "the repository's slice, tests/data/google_qec3v5)")
    parser.add_argument("--quick", action="store_true",
                        help=f"the repository's slice, {QUICK_SHOTS} shots (smoke test)")
    parser.add_argument("--shots", type=int, default=None,
                        help="decode the first SHOTS shots of each experiment (default all)")
    parser.add_argument("--predecoder-shots", type=int, default=None,
                        help="shots for the pre-decoder rows (default: --shots)")
    parser.add_argument("--models", default="small",
                        help="comma-separated pre-decoder models ('' for none; default small)")
    parser.add_argument("--modes", default="hard,soft", help="pre-decoder modes (hard,soft)")
    parser.add_argument("--no-matching", action="store_true",
                        help="skip the six PyMatching rows (e.g. to add pre-decoder rows)")
    parser.add_argument("--patches", default=None,
                        help="only experiments whose folder name contains one of these "
                             "comma-separated strings (e.g. d5)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.data_dir is None and not args.quick:
        print("bench hardware: give DATA_DIR, the folder of Google's experiments (download "
              "doi:10.5281/zenodo.6804040), or --quick for the repository's slice",
              file=sys.stderr)
        return 2
    data_dir = args.data_dir or QUICK_DIR
    if args.quick:
        args.shots = args.shots or QUICK_SHOTS
        args.predecoder_shots = args.predecoder_shots or QUICK_PREDECODER_SHOTS
    args.models = [m for m in args.models.split(",") if m]
    args.modes = [m for m in args.modes.split(",") if m]
    specs = find_experiments(data_dir)
    if args.patches:
        specs = [s for s in specs if any(p in s["path"].name for p in args.patches.split(","))]
    args.cache = args.out / (QUICK_CACHE if args.quick else CACHE)
    cache = read_cache(args.cache)
    rows = [r for spec in specs for r in experiment_rows(spec, args, cache)]
    pre = args.predecoder_shots or args.shots
    what = (f"Ran: {len(specs)} experiments of {data_dir.name}; matching rows and Google's on "
            f"{_first(args.shots)} shots of each, pre-decoder rows ({', '.join(args.modes)} x "
            f"{', '.join(args.models) or 'no model'}) on {_first(pre)} (rounds >= 3).")
    data = {"meta": run_metadata(), "attribution": ATTRIBUTION, "what_ran": what,
            "rows": rows, "summary": summarize(rows)}
    stem = "hardware_quick" if args.quick else "hardware"
    write_suite_files(args.out, stem, data, markdown=lambda p: write_text(p, markdown(data)),
                      plot=lambda p: plot(data, p))
    write_text(args.out / f"{stem}_readme.md", readme_block(data))
    return 0
