"""``qecpipe decode``: decode detection events sampled elsewhere (stim's b8, 01 or dets files).

Every input is checked against the circuit before any decoding runs: the detection-event file
must hold ``circuit.num_detectors`` bits per shot, the observable file
``circuit.num_observables``, and both the same number of shots. Predictions are written in b8.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import stim

from pipelines._command.common import (
    MAX_ROUNDS,
    add_dets_flags,
    add_device_flag,
    add_model_flag,
    add_referee_budget_flag,
    input_file,
    integer,
    one_of,
    output_file,
    referee_budget_seconds,
    resolve_device,
)
from pipelines._command.decode_weights import (
    execute_experiment,
    predict,
    warn_over_budget,
    weights_flag,
)
from pipelines._command.report import ProgressBar
from pipelines._decoders.predecoder_pipeline import warn_if_other_noise
from pipelines._decoders.registry import DECODER_NAMES, MODEL_DECODERS, validate_decoder_names
from qec import (
    SAMPLE_FORMATS,
    DecodeStats,
    Geometry,
    InputError,
    file_circuit_dem,
    file_sha256,
    format_rate,
    mcnemar_exact,
    noise_family_of,
    popcount_rows,
    read_circuit_file,
    read_sample_file,
    sample_format_from_path,
    write_sample_file,
)

DECODE_CHUNK_SHOTS = 1 << 16
WORSE_THAN_NO_DECODING_ALPHA = 1e-6
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode detection events from a file (stim's formats)")
    p.add_argument("--experiment", default=None, metavar="DIR",
                   help="an experiment folder in the layout of Google's published data "
                        "(circuit_noisy.stim, detection_events.b8, obs_flips_actual.01, "
                        "optional obs_flips_predicted_by_*.01 and pij_*.dem): decode it and "
                        "compare with each published prediction file (instead of --circuit, "
                        "--dets, --obs)")
    p.add_argument("--circuit", type=input_file, default=None,
                   help="the stim circuit that was run (required without --experiment)")
    add_dets_flags(p, required=False, formats=SAMPLE_FORMATS, default_format=None,
                   help="detection events, one shot each (required without --experiment)")
    p.add_argument("--obs", type=input_file, default=None,
                   help="actual observable flips; with it the LER is reported")
    p.add_argument("--append-observables", action="store_true",
                   help="the --dets file holds the observables after the detectors "
                        "(stim detect --append_observables); report the LER from them")
    p.add_argument("--obs-format", choices=SAMPLE_FORMATS, default=None,
                   help="b8, 01 or dets (default: from the extension)")
    p.add_argument("--decoder", required=True, type=one_of(*DECODER_NAMES),
                   help=f"one of {', '.join(DECODER_NAMES)}")
    p.add_argument("--out", type=output_file(), required=True,
                   help="predicted observable flips (b8), written atomically")
    add_model_flag(p, extra="; predecoder+... only")
    add_device_flag(p)
    p.add_argument("--rounds", type=integer(1, MAX_ROUNDS), default=None,
                   help="rounds for the LER per round (default: from the circuit's layout)")
    p.add_argument("--allow-worse-than-no-decoding", action="store_true",
                   help="with observables: keep predictions that are significantly worse than "
                        "predicting no flip (refused by default: the samples and circuit "
                        "usually do not match)")
    p.add_argument("--weights", type=weights_flag, default=None,
                   help="matching weights: circuit (the circuit's DEM, default), learned "
                        "(learned from the events being decoded, cross-fitted: each half of "
                        "the shots decoded with weights learned on the other), pij (with "
                        "--experiment: the folder's published cross-fitted DEMs), or a .dem "
                        "file or learn-noise .json weights file")
    p.add_argument("--in-sample", action="store_true",
                   help="with learned weights: learn from every shot and decode them all "
                        "(in-sample, optimistic; reported as such)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_referee_budget_flag(p)
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    validate_decoder_names([args.decoder])
    if args.model is not None and args.decoder not in MODEL_DECODERS:
        raise InputError(f"--model={args.model!r} applies to the pre-decoder only; "
                         f"--decoder={args.decoder!r} does not use one")
    if args.experiment is not None:
        return execute_experiment(args, chunk_shots=DECODE_CHUNK_SHOTS)
    if args.circuit is None or args.dets is None:
        raise InputError("give --experiment DIR, or --circuit FILE and --dets FILE")
    if args.append_observables and args.obs is not None:
        raise InputError("--obs and --append-observables both give the observables; use one")
    circuit = read_circuit_file(args.circuit, flag="--circuit")
    dets, obs = _read_inputs(args, circuit)
    rounds = _rounds(args, circuit)
    file_circuit_dem(circuit, flag="--circuit", path=args.circuit)  # no matching graph: say so
    device = _device_and_noise_warning(args, noise_family_of(circuit),
                                       whose=f"the circuit's (--circuit {args.circuit.name})")
    with ProgressBar(f"decode {args.decoder}", start=f"{dets.shape[0]:,} shots",
                     unit="shots") as bar:
        start = time.perf_counter()
        predicted = predict(args.decoder, circuit=circuit, dets=dets, weights=args.weights,
                            model=args.model, dets_path=args.dets, in_sample=args.in_sample,
                            chunk_shots=DECODE_CHUNK_SHOTS, device=device,
                            referee_budget_seconds=referee_budget_seconds(args, [args.decoder]))
        seconds = time.perf_counter() - start
        bar.update(dets.shape[0], dets.shape[0])
    predictions = predicted.predictions
    stats = None
    if obs is not None:
        _check_against_no_decoding(args, predictions, obs)
        errors = int(np.count_nonzero(popcount_rows(predictions ^ obs)))
        stats = DecodeStats(decoder=args.decoder, shots=dets.shape[0], errors=errors,
                            seconds=seconds, rounds=rounds or 1)
    write_sample_file(args.out, format="b8", obs_bit_packed=predictions,
                      num_observables=circuit.num_observables)
    warn_over_budget(predicted.metrics)
    if obs is None:
        log.warning("without --obs (or --append-observables) nothing checks that --dets was "
                    "sampled from --circuit: a file of another circuit whose size happens to "
                    "fit decodes as garbage")
    if args.json:
        print(json.dumps({**_json(args, circuit, dets.shape[0], seconds, stats, rounds),
                          "weights": predicted.weights, "cross_fitted": predicted.cross_fitted,
                          "in_sample": predicted.in_sample, **predicted.metrics}))
    else:
        print(_summary(args, dets.shape[0], seconds, stats, rounds))
    return 0


def _check_against_no_decoding(args: argparse.Namespace, predictions: np.ndarray,
                               obs: np.ndarray) -> None:
    """Refuse predictions that are significantly WORSE than predicting "no flip" on every shot
    (the baseline any decoder of the right circuit beats below threshold): on the same shots,
    an exact one-sided McNemar test of the decoder's wrong shots against the baseline's, at
    ``WORSE_THAN_NO_DECODING_ALPHA``. It catches samples of another circuit of the same size
    (another basis, another noise) and circuits the decoder does not fit (a colour code given
    to a matcher) while never refusing a decoder that is no worse than the baseline more than
    once in 10^6 runs. ``--allow-worse-than-no-decoding`` keeps the predictions anyway (e.g.
    far above threshold, where both are near 1/2)."""
    wrong = popcount_rows(predictions ^ obs) > 0
    baseline_wrong = popcount_rows(obs) > 0
    only_decoder = int(np.count_nonzero(wrong & ~baseline_wrong))
    only_baseline = int(np.count_nonzero(baseline_wrong & ~wrong))
    p_value = mcnemar_exact(only_decoder, only_baseline, alternative="greater")
    if p_value >= WORSE_THAN_NO_DECODING_ALPHA:
        return
    shots = len(wrong)
    what = (f"--decoder={args.decoder!r} is wrong on {int(wrong.sum())} of {shots} shots "
            f"(LER {wrong.mean():.2%}), significantly more than predicting no flip "
            f"({int(baseline_wrong.sum())}, {baseline_wrong.mean():.2%}; exact one-sided "
            f"McNemar p = {p_value:.1e} on the {only_decoder} + {only_baseline} shots where "
            "they differ)")
    if args.allow_worse_than_no_decoding:
        log.warning("%s; kept because of --allow-worse-than-no-decoding", what)
        return
    raise InputError(f"{what}: --dets={str(args.dets)!r} and the observables do not match "
                     f"--circuit={str(args.circuit)!r} (another basis or circuit?), or the "
                     "decoder does not fit this circuit; nothing written (pass "
                     "--allow-worse-than-no-decoding to keep the predictions)")


def _device_and_noise_warning(args: argparse.Namespace, family: str | None, *,
                              whose: str) -> str:
    """The pre-decoder's device for --device, after warning when its model was trained on
    other noise than the circuit's (as ``run`` warns for a task's); 'cpu' for the matchers."""
    if args.decoder not in MODEL_DECODERS:
        return "cpu"
    from predecoder import load_model

    try:
        loaded = load_model(args.model)
    except ValueError as exc:
        raise InputError(f"--model: {exc}") from exc
    warn_if_other_noise(loaded, family, whose=whose)
    return resolve_device(args.device)


def _read_inputs(args: argparse.Namespace, circuit: stim.Circuit
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Bit-packed (dets, obs or None), every file checked against the circuit's counts."""
    num_d, num_o = circuit.num_detectors, circuit.num_observables
    if args.append_observables:
        return _read_samples(args.dets, args.dets_format, "--dets", num_d, num_o)
    dets, _ = _read_samples(args.dets, args.dets_format, "--dets", num_d, 0)
    if args.obs is None:
        return dets, None
    _, obs = _read_samples(args.obs, args.obs_format, "--obs", 0, num_o)
    if obs.shape[0] != dets.shape[0]:
        raise InputError(f"--obs={str(args.obs)!r} holds {obs.shape[0]} shots but "
                         f"--dets={str(args.dets)!r} holds {dets.shape[0]}")
    return dets, obs


def _read_samples(
    path: Path, fmt: str | None, flag: str, num_d: int, num_o: int
) -> tuple[np.ndarray, np.ndarray]:
    """The file's (dets, obs), validated against the circuit's detector/observable counts."""
    if fmt is None:
        try:
            fmt = sample_format_from_path(path)
        except ValueError as exc:
            raise InputError(f"{flag}: {exc} with {flag}-format") from exc
    try:
        chunk = read_sample_file(path, format=fmt, num_detectors=num_d, num_observables=num_o)
    except OSError as exc:
        raise InputError(f"{flag}={str(path)!r} cannot be read: {exc.strerror}") from exc
    except ValueError as exc:  # the reader names the file and the problem; add the circuit
        what = " and ".join([f"{num_d} detectors"] * bool(num_d)
                            + [f"{num_o} observables"] * bool(num_o))
        raise InputError(f"{flag}: {exc} (the circuit has {what})") from exc
    if chunk.shots == 0:
        raise InputError(f"{flag}={str(path)!r} holds no shots")
    return chunk.dets, chunk.obs


def _rounds(args: argparse.Namespace, circuit: stim.Circuit) -> int | None:
    """The rounds to divide the LER by (--rounds, else the circuit's layout; None if it has
    none). The pre-decoder needs that layout: without it, the circuit is refused for it."""
    try:
        layout_rounds = Geometry.from_circuit(circuit).rounds
    except ValueError as exc:  # not a rotated surface-code memory: no rounds to divide by
        if args.decoder in MODEL_DECODERS:
            raise InputError(f"--decoder={args.decoder!r} needs a rotated surface-code memory "
                             f"circuit (the pre-decoder reads its layout from the DETECTOR "
                             f"coordinates); --circuit={str(args.circuit)!r}: {exc}; the "
                             "matching decoders take any circuit") from exc
        layout_rounds = None
    return args.rounds if args.rounds is not None else layout_rounds


def _summary(args, shots: int, seconds: float, stats: DecodeStats | None,
             rounds: int | None) -> str:
    head = f"{args.decoder}: {shots} shots decoded in {seconds:.3f} s -> {args.out}"
    if stats is None:
        return head
    per_round = "" if rounds is None else (
        f", per round {'< ' if stats.ler_is_upper_bound else ''}{stats.ler_per_round:.2e}"
        f" ({rounds} rounds)")
    return f"{head}; {stats.errors} errors, LER {format_rate(stats)}{per_round}"


def _json(args, circuit: stim.Circuit, shots: int, seconds: float,
          stats: DecodeStats | None, rounds: int | None) -> dict:
    from pipelines._command.provenance import model_record
    from qec import __version__

    out = {"version": __version__, "circuit": str(args.circuit),
           "circuit_sha256": file_sha256(args.circuit), "dets": str(args.dets),
           "obs": str(args.dets) if args.append_observables else (
               None if args.obs is None else str(args.obs)), "out": str(args.out),
           "decoder": args.decoder, "num_detectors": circuit.num_detectors,
           "num_observables": circuit.num_observables, "shots": shots, "rounds": rounds,
           "seconds": seconds,
           # the circuit's own DEM weights every matcher: its noise is the circuit file's
           "weights_source": {"source": "circuit"},
           "model": model_record(args.model) if args.decoder in MODEL_DECODERS else None}
    if stats is not None:
        fields = stats.to_json()
        if rounds is None:  # no layout: per-shot numbers only
            fields = {k: v for k, v in fields.items() if "per_round" not in k}
        out.update(fields)
    return out
