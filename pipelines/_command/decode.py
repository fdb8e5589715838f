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
    input_file,
    integer,
    one_of,
    output_file,
    resolve_device,
)
from pipelines._command.report import ProgressBar
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS, warn_if_other_noise
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
    check_fits,
    circuit_dem,
    estimate_detectors,
    format_rate,
    noise_family_of,
    popcount_rows,
    read_sample_file,
    sample_format_from_path,
    write_sample_file,
)

DECODE_CHUNK_SHOTS = 1 << 16
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode detection events from a file (stim's formats)")
    p.add_argument("--circuit", type=input_file, required=True,
                   help="the stim circuit that was run")
    add_dets_flags(p, required=True, formats=SAMPLE_FORMATS, default_format=None,
                   help="detection events, one shot each")
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
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    validate_decoder_names([args.decoder])
    if args.model is not None and args.decoder not in PREDECODER_DECODERS:
        raise InputError(f"--model={args.model!r} applies to the pre-decoder only; "
                         f"--decoder={args.decoder!r} does not use one")
    if args.append_observables and args.obs is not None:
        raise InputError("--obs and --append-observables both give the observables; use one")
    circuit = _read_circuit(args.circuit)
    dets, obs = _read_inputs(args, circuit)
    rounds = _rounds(args.rounds, circuit)
    check_fits(estimate_detectors(circuit.num_detectors), what=f"--circuit={str(args.circuit)!r}")
    device = resolve_device(args.device) if args.decoder in PREDECODER_DECODERS else "cpu"
    decoder = make_decoder_for_dem(args.decoder, _matching_dem(args.circuit, circuit),
                                   model=args.model, device=device)
    if args.decoder in PREDECODER_DECODERS:
        warn_if_other_noise(decoder.loaded, noise_family_of(circuit),
                            whose=f"the circuit's (--circuit {args.circuit.name})")
    predictions, seconds = _decode(decoder, dets, label=f"decode {args.decoder}")
    write_sample_file(args.out, format="b8", obs_bit_packed=predictions,
                      num_observables=circuit.num_observables)
    stats = None
    if obs is None:
        log.warning("without --obs (or --append-observables) nothing checks that --dets was "
                    "sampled from --circuit: a file of another circuit whose size happens to "
                    "fit decodes as garbage")
    else:
        errors = int(np.count_nonzero(popcount_rows(predictions ^ obs)))
        stats = DecodeStats(decoder=args.decoder, shots=dets.shape[0], errors=errors,
                            seconds=seconds, rounds=rounds or 1)
        if stats.shots >= 100 and stats.interval[0] > 0.4:
            log.warning("the predictions match the observables no better than chance "
                        "(LER %.2f over %d shots): were --dets and --obs sampled from "
                        "--circuit?", stats.ler, stats.shots)
    if args.json:
        print(json.dumps(_json(args, circuit, dets.shape[0], seconds, stats, rounds)))
    else:
        print(_summary(args, dets.shape[0], seconds, stats, rounds))
    return 0


def _decode(decoder, dets: np.ndarray, *, label: str) -> tuple[np.ndarray, float]:
    """Bit-packed predictions of every shot of ``dets`` and the decoding seconds, chunk by
    chunk with progress on stderr."""
    shots, parts = dets.shape[0], []
    start = time.perf_counter()
    with ProgressBar(label, start=f"{shots:,} shots", unit="shots") as bar:
        for i in range(0, shots, DECODE_CHUNK_SHOTS):
            parts.append(decoder.decode_batch(dets[i:i + DECODE_CHUNK_SHOTS]))
            bar.update(min(i + DECODE_CHUNK_SHOTS, shots), shots)
    return np.concatenate(parts), time.perf_counter() - start


def _read_circuit(path: Path) -> stim.Circuit:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InputError(f"--circuit={str(path)!r} cannot be read: {why}") from exc
    try:
        circuit = stim.Circuit(text)
    except ValueError as exc:  # stim's parse error names the problem; keep it on one line
        raise InputError(f"--circuit={str(path)!r} is not a stim circuit: "
                         f"{' '.join(str(exc).split())}") from exc
    if circuit.num_detectors == 0 or circuit.num_observables == 0:
        raise InputError(f"--circuit={str(path)!r} has {circuit.num_detectors} detectors and "
                         f"{circuit.num_observables} observables; decoding needs at least one "
                         "of each")
    return circuit


def _matching_dem(path: Path, circuit: stim.Circuit) -> stim.DetectorErrorModel:
    try:
        return circuit_dem(circuit)
    except ValueError as exc:  # e.g. an error with 3+ detection events that is not graphlike
        raise InputError(f"--circuit={str(path)!r}: no matching graph: "
                         f"{str(exc).splitlines()[0]}") from exc


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


def _rounds(rounds: int | None, circuit: stim.Circuit) -> int | None:
    if rounds is not None:
        if rounds < 1:
            raise InputError(f"--rounds={rounds} must be >= 1")
        return rounds
    try:
        return Geometry.from_circuit(circuit).rounds
    except ValueError:  # not a rotated surface-code memory: no rounds to divide by
        return None


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
