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
    input_file,
    integer,
    model_help,
    one_of,
    output_file,
)
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS
from pipelines._decoders.registry import (
    DECODER_NAMES,
    make_decoder_for_dem,
    validate_decoder_names,
)
from qec import (
    SAMPLE_FORMATS,
    DecodeStats,
    Geometry,
    InputError,
    file_circuit_dem,
    format_rate,
    mcnemar_exact,
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
    p.add_argument("--circuit", type=input_file, required=True,
                   help="the stim circuit that was run")
    p.add_argument("--dets", type=input_file, required=True,
                   help="detection events, one shot each")
    p.add_argument("--dets-format", choices=SAMPLE_FORMATS, default=None,
                   help="b8, 01 or dets (default: from the extension)")
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
    p.add_argument("--model", default=None, help=model_help() + "; predecoder+... only")
    p.add_argument("--rounds", type=integer(1, MAX_ROUNDS), default=None,
                   help="rounds for the LER per round (default: from the circuit's layout)")
    p.add_argument("--allow-worse-than-no-decoding", action="store_true",
                   help="with observables: keep predictions that are significantly worse than "
                        "predicting no flip (refused by default: the samples and circuit "
                        "usually do not match)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    validate_decoder_names([args.decoder])
    if args.model is not None and args.decoder not in PREDECODER_DECODERS:
        raise InputError(f"--model={args.model!r} applies to the pre-decoder only; "
                         f"--decoder={args.decoder!r} does not use one")
    if args.append_observables and args.obs is not None:
        raise InputError("--obs and --append-observables both give the observables; use one")
    circuit = read_circuit_file(args.circuit, flag="--circuit")
    dets, obs = _read_inputs(args, circuit)
    rounds = _rounds(args, circuit)
    dem = file_circuit_dem(circuit, flag="--circuit", path=args.circuit)
    try:
        decoder = make_decoder_for_dem(args.decoder, dem, model=args.model)
    except InputError as exc:   # the model file (the DEM and layout were checked above)
        if args.model is None:
            raise
        raise InputError(f"--model: {exc}") from exc
    start = time.perf_counter()
    predictions = _decode_all(decoder, dets, args.dets)
    seconds = time.perf_counter() - start
    stats = None
    if obs is not None:
        _check_against_no_decoding(args, predictions, obs)
        errors = int(np.count_nonzero(popcount_rows(predictions ^ obs)))
        stats = DecodeStats(decoder=args.decoder, shots=dets.shape[0], errors=errors,
                            seconds=seconds, rounds=rounds or 1)
    write_sample_file(args.out, format="b8", obs_bit_packed=predictions,
                      num_observables=circuit.num_observables)
    if obs is None:
        log.warning("without --obs (or --append-observables) nothing checks that --dets was "
                    "sampled from --circuit: a file of another circuit whose size happens to "
                    "fit decodes as garbage")
    if args.json:
        print(json.dumps(_json(args, circuit, dets.shape[0], seconds, stats, rounds)))
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


def _decode_all(decoder, dets: np.ndarray, path: Path) -> np.ndarray:
    """Predictions for every shot, chunk by chunk; a shot the decoder refuses (detection
    events the circuit cannot produce) is reported against --dets, with the shot number in
    the file (the decoder counts from its chunk's start)."""
    out = []
    for start in range(0, dets.shape[0], DECODE_CHUNK_SHOTS):
        try:
            out.append(decoder.decode_batch(dets[start:start + DECODE_CHUNK_SHOTS]))
        except InputError as exc:
            where = f" (shots counted from {start})" if start else ""
            raise InputError(f"--dets={str(path)!r}{where}: {exc}") from exc
    return np.concatenate(out)


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
        if args.decoder in PREDECODER_DECODERS:
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
    from qec import __version__

    out = {"version": __version__, "circuit": str(args.circuit), "dets": str(args.dets),
           "obs": str(args.dets) if args.append_observables else (
               None if args.obs is None else str(args.obs)), "out": str(args.out),
           "decoder": args.decoder, "num_detectors": circuit.num_detectors,
           "num_observables": circuit.num_observables, "shots": shots, "rounds": rounds,
           "seconds": seconds}
    if stats is not None:
        fields = stats.to_json()
        if rounds is None:  # no layout: per-shot numbers only
            fields = {k: v for k, v in fields.items() if "per_round" not in k}
        out.update(fields)
    return out
