"""``qecpipe decode --weights`` and ``--experiment``: which weights decode, and a real
experiment's report beside the predictions published with it.

``--weights`` takes:

- ``circuit`` (the default): the circuit's own DEM.
- ``learned``: learned from the detection events being decoded (``noise.estimate_noise``,
  'mechanisms'), CROSS-FITTED: learned on the even shots to decode the odd ones and on the
  odd shots to decode the even ones, so no figure is in-sample (``--in-sample`` learns on
  every shot and decodes them all, and the output says so).
- ``pij``: with ``--experiment``, the folder's published cross-fitted DEMs
  (``pij_from_even_for_odd.dem`` decodes the odd shots, ``pij_from_odd_for_even.dem`` the
  even ones).
- a ``.dem`` file (a detector error model for the circuit's detectors) or a ``.json``
  weights file from ``qecpipe learn-noise`` (refused when it was learned from the very events
  being decoded, unless ``--in-sample``: use ``learned`` to cross-fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import stim

from noise.crossfit import cross_fit_decode, decode_in_chunks, estimate_halves
from noise.estimate import estimate_noise
from noise.reweight import matching_dem
from noise.structure import NoiseStructure
from noise.weights_file import load_noise_weights
from pipelines._command.common import referee_budget_seconds
from pipelines._decoders.registry import BatchDecoder, make_decoder_for_dem
from qec import (
    DecodeStats,
    InputError,
    PairedCounts,
    circuit_dem,
    format_rate,
    popcount_rows,
)
from qec.experiment import Experiment, read_dem_file, with_detector_coordinates

WEIGHTS_CHOICES = ("circuit", "learned", "pij")


def weights_flag(text: str) -> str:
    """An argparse type: one of :data:`WEIGHTS_CHOICES` or an existing .dem / .json file."""
    if text in WEIGHTS_CHOICES:
        return text
    path = Path(text)
    if path.suffix.lower() not in (".dem", ".json") or not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} must be one of {', '.join(WEIGHTS_CHOICES)} or an existing .dem file "
            "or learn-noise .json weights file")
    return text

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Predicted:
    """A decoder's predictions for every shot and how its weights were obtained."""

    predictions: np.ndarray  # (S, ceil(O/8)) uint8
    weights: str              # what the --weights value resolved to
    cross_fitted: bool        # learned per half and applied to the other half
    in_sample: bool           # weights learned from the decoded shots themselves
    metrics: dict = field(default_factory=dict)  # the staged decoders' figures (one per half)


def predict(decoder: str, *, circuit: stim.Circuit, dets: np.ndarray, weights: str | None,
            model: str | None, dets_path: Path, experiment: Experiment | None = None,
            in_sample: bool = False, chunk_shots: int, device: str = "cpu",
            referee_budget_seconds: float | None = None) -> Predicted:
    """Decode ``dets`` (every shot) with ``decoder`` under the ``--weights`` choice; the
    staged decoders' figures (the layered decoders' referee counts) come back as ``metrics``,
    under 'even'/'odd' when the shots were cross-fitted."""
    made: dict[str, BatchDecoder] = {}
    predicted = _predict(decoder, circuit=circuit, dets=dets, weights=weights, model=model,
                         dets_path=dets_path, experiment=experiment, in_sample=in_sample,
                         chunk_shots=chunk_shots, referee_budget_seconds=referee_budget_seconds,
                         device=device, made=made)
    staged = {k: d.metrics() for k, d in made.items() if hasattr(d, "metrics")}
    metrics = staged.get("all", {"halves": staged} if staged else {})
    return dataclasses.replace(predicted, metrics=metrics)


def warn_over_budget(metrics: dict) -> None:
    """Say how many contested shots kept soft mode's answer because the referee's
    --referee-budget-ms ran out (the layered decoders' ``over_budget_shots``)."""
    parts = [metrics, *metrics.get("halves", {}).values()]
    over = int(sum(m.get("over_budget_shots", 0) for m in parts))
    if over:
        log.warning("%d contested shots past --referee-budget-ms kept soft mode's answer", over)


def _predict(decoder: str, *, circuit: stim.Circuit, dets: np.ndarray, weights: str | None,
             model: str | None, dets_path: Path, experiment: Experiment | None,
             in_sample: bool, chunk_shots: int, referee_budget_seconds: float | None,
             device: str, made: dict) -> Predicted:
    """:func:`predict`'s body; every decoder it builds is recorded in ``made``."""
    weights = weights or "circuit"
    if in_sample and weights not in ("learned",) and not weights.endswith(".json"):
        raise InputError(f"--in-sample applies to learned weights only (--weights learned or a "
                         f"learn-noise .json file), not --weights={weights!r}")

    def make(dem: stim.DetectorErrorModel, half: str = "all"):
        made[half] = make_decoder_for_dem(decoder, with_detector_coordinates(dem, circuit),
                                          model=model, device=device,
                                          referee_budget_seconds=referee_budget_seconds)
        return made[half]

    def run(dem) -> np.ndarray:
        return decode_in_chunks(make(dem), dets, chunk_shots=chunk_shots)

    correlated = decoder.endswith("-correlated")
    if weights == "circuit":
        return Predicted(predictions=run(_circuit_dem(circuit)), weights="circuit",
                         cross_fitted=False, in_sample=False)
    if weights == "pij":
        if experiment is None or not experiment.has_pij():
            raise InputError("--weights=pij reads an experiment folder's pij_from_even_for_odd"
                             ".dem and pij_from_odd_for_even.dem; give --experiment DIR that "
                             "holds both")
        decoders = {h: make(experiment.pij_dem(h), h) for h in ("even", "odd")}
        return Predicted(predictions=cross_fit_decode(dets, decoders, chunk_shots=chunk_shots),
                         weights="pij (published, cross-fitted)", cross_fitted=True,
                         in_sample=False)
    if weights == "learned":
        return _learned(circuit, dets, correlated=correlated, make=make, run=run,
                        in_sample=in_sample, chunk_shots=chunk_shots)
    if weights.lower().endswith(".dem"):
        dem = read_dem_file(weights, circuit=circuit, what=f"--weights={weights!r}")
        return Predicted(predictions=run(dem), weights=weights, cross_fitted=False,
                         in_sample=False)
    file = load_noise_weights(weights)
    file.check_matches(NoiseStructure.from_circuit(circuit), what="--circuit")
    learned_here = _learned_from(file.source, dets_path)
    if learned_here and not in_sample:
        raise InputError(f"--weights={weights!r} was learned from {str(dets_path)!r}, the events "
                         "being decoded: its LER would be in-sample; use --weights learned "
                         "(cross-fitted: learned on one half, decoding the other) or pass "
                         "--in-sample to accept it")
    return Predicted(predictions=run(file.dem(correlated=correlated)), weights=weights,
                     cross_fitted=False, in_sample=learned_here)


def _learned(circuit, dets, *, correlated, make, run, in_sample, chunk_shots) -> Predicted:
    structure = NoiseStructure.from_circuit(circuit)
    if in_sample:
        est = estimate_noise([dets], structure=structure)
        return Predicted(predictions=run(matching_dem(est, correlated=correlated)),
                         weights="learned (in-sample)", cross_fitted=False, in_sample=True)
    estimates = estimate_halves(dets, structure=structure)
    decoders = {h: make(matching_dem(est, correlated=correlated), h)
                for h, est in estimates.items()}
    return Predicted(predictions=cross_fit_decode(dets, decoders, chunk_shots=chunk_shots),
                     weights="learned (cross-fitted)", cross_fitted=True, in_sample=False)


def _circuit_dem(circuit: stim.Circuit) -> stim.DetectorErrorModel:
    try:
        return circuit_dem(circuit)
    except ValueError as exc:  # e.g. an error with 3+ detection events that is not graphlike
        raise InputError(f"the circuit has no matching graph: "
                         f"{str(exc).splitlines()[0]}") from exc


def _learned_from(source: dict, dets_path: Path) -> bool:
    """Whether a weights file's recorded samples are the file being decoded."""
    samples = source.get("samples") if isinstance(source, dict) else None
    if not samples:
        return False
    try:
        return Path(samples).resolve() == dets_path.resolve()
    except OSError:  # an unresolvable recorded path cannot be this existing file
        return False


def comparisons(decoder: str, wrong: np.ndarray, experiment: Experiment) -> list[dict]:
    """The paired comparison against each published prediction file: each decoder's errors,
    the shots only one of the two got wrong and the exact McNemar p-value."""
    out = []
    for name, pred in experiment.predictions.items():
        theirs = popcount_rows(pred ^ experiment.obs) > 0
        paired = PairedCounts.of(decoder, wrong, name, theirs)
        stats = DecodeStats(decoder=name, shots=experiment.shots, errors=int(theirs.sum()),
                            seconds=0.0, rounds=experiment.rounds)
        out.append({"decoder": name, "errors": stats.errors, "ler": stats.ler,
                    "ler_low": stats.interval[0], "ler_high": stats.interval[1],
                    "format": format_rate(stats), **paired.to_json()})
    return out


def comparison_lines(rows: list[dict]) -> list[str]:
    """Text lines of :func:`comparisons` for the terminal."""
    return [f"  vs {r['decoder']} (published): {r['errors']} errors, LER {r['format']}; "
            f"only ours wrong {r['only_a_wrong']}, only theirs wrong {r['only_b_wrong']}, "
            f"McNemar p = {r['mcnemar_p']:.2g}" for r in rows]


EXPLICIT_FLAGS = ("circuit", "dets", "obs", "dets_format", "obs_format", "rounds")


def execute_experiment(args: argparse.Namespace, *, chunk_shots: int) -> int:
    """``qecpipe decode --experiment DIR``: decode the folder's events, report the LER with
    its interval and the paired comparison against every published prediction file."""
    import json
    import time

    from qec import __version__, check_fits, estimate_detectors, write_sample_file
    from qec.experiment import DETS_FILE, read_experiment

    given = [f"--{f.replace('_', '-')}" for f in EXPLICIT_FLAGS if getattr(args, f) is not None]
    if given or args.append_observables:
        raise InputError(f"--experiment reads the folder's own files; drop "
                         f"{', '.join(given or ['--append-observables'])}")
    exp = read_experiment(args.experiment)
    check_fits(estimate_detectors(exp.num_detectors), what=f"--experiment={args.experiment!r}")
    start = time.perf_counter()
    predicted = predict(args.decoder, circuit=exp.circuit, dets=exp.dets, weights=args.weights,
                        model=args.model, dets_path=exp.path / DETS_FILE, experiment=exp,
                        in_sample=args.in_sample, chunk_shots=chunk_shots,
                        referee_budget_seconds=referee_budget_seconds(args, [args.decoder]))
    seconds = time.perf_counter() - start
    warn_over_budget(predicted.metrics)
    write_sample_file(args.out, format="b8", obs_bit_packed=predicted.predictions,
                      num_observables=exp.num_observables)
    wrong = popcount_rows(predicted.predictions ^ exp.obs) > 0
    stats = DecodeStats(decoder=args.decoder, shots=exp.shots, errors=int(wrong.sum()),
                        seconds=seconds, rounds=exp.rounds)
    rows = comparisons(args.decoder, wrong, exp)
    if args.json:
        print(json.dumps({"version": __version__, "experiment": str(args.experiment),
                          "out": str(args.out), "decoder": args.decoder,
                          "weights": predicted.weights, "cross_fitted": predicted.cross_fitted,
                          "in_sample": predicted.in_sample, "distance": exp.distance,
                          "rounds": exp.rounds, "num_detectors": exp.num_detectors,
                          **stats.to_json(), "published": rows, **predicted.metrics}))
        return 0
    print(f"{args.decoder} ({predicted.weights} weights): {exp.shots} shots of "
          f"{args.experiment} (d={exp.distance}, {exp.rounds} rounds) decoded in {seconds:.3f} s"
          f" -> {args.out}; {stats.errors} errors, LER {format_rate(stats)}")
    print("\n".join(comparison_lines(rows)) if rows else "  (no published predictions in the "
          "folder to compare with)")
    return 0
