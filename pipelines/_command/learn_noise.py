"""``qecpipe learn-noise``: matching weights from detection events alone -> weights.json.

Either real samples with the circuit that produced them (the circuit gives only the
structure: which edges and mechanisms exist), or a simulated task whose noise the estimator
never reads (the structure then comes from a nominal-noise copy of the circuit).

    qecpipe learn-noise --simulate si1000 --distance 5 --p 0.004 --shots 1000000 --out w.json
    qecpipe learn-noise --dets dets.b8 --circuit circuit.stim --out w.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from noise import (
    NoiseStructure,
    NoiseWeights,
    count_parities,
    estimate_from_counts,
    save_noise_weights,
)
from noise.estimate import METHODS
from noise.samples_file import SAMPLE_FORMATS, read_detector_chunks
from pipelines._command.common import (
    MAX_DISTANCE,
    MAX_ROUNDS,
    MAX_SHOTS,
    add_dets_flags,
    add_device_flag,
    add_p_flag,
    input_file,
    integer,
    odd_integer,
    one_of,
    output_file,
    task_of,
)
from qec import (
    NOISE_NAMES,
    InputError,
    check_fits,
    estimate_task,
    file_circuit_dem,
    file_sha256,
    read_circuit_file,
    sample_detectors,
)

DEFAULT_SIMULATE_SHOTS = 1_000_000
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn-noise", help="estimate matching weights from detection events")
    add_dets_flags(p, required=False, formats=SAMPLE_FORMATS, default_format="b8",
                   help="detection events, one shot each (stim's formats)")
    p.add_argument("--circuit", type=input_file, default=None,
                   help="stim circuit of the --dets file")
    p.add_argument("--append-observables", action="store_true",
                   help="the --dets file holds the observables after the detectors")
    p.add_argument("--simulate", type=one_of(*NOISE_NAMES), default=None, metavar="NOISE",
                   help=f"simulate instead: one of {', '.join(NOISE_NAMES)}")
    p.add_argument("--distance", type=odd_integer(3, MAX_DISTANCE), default=None,
                   help=f"with --simulate: odd code distance in [3, {MAX_DISTANCE}]")
    p.add_argument("--rounds", type=integer(1, MAX_ROUNDS), default=None,
                   help="with --simulate: rounds (default: the distance)")
    p.add_argument("--basis", type=one_of("X", "Z"), default="X",
                   help="with --simulate: X or Z (default X)")
    add_p_flag(p)
    p.add_argument("--multipliers-seed", type=integer(0), default=None,
                   help="per-qubit random multipliers 0.5-2x on the simulated noise")
    p.add_argument("--shots", type=integer(1000, MAX_SHOTS), default=None,
                   help=f"shots to read/simulate, at least 1000 (simulate default "
                        f"{DEFAULT_SIMULATE_SHOTS:,}; default for files: all of them)")
    p.add_argument("--method", type=one_of(*METHODS), default="mechanisms",
                   help=f"one of {', '.join(METHODS)} (default mechanisms)")
    p.add_argument("--backend", type=one_of("auto", "numpy", "torch"), default="auto",
                   help="numpy, torch, or auto (torch on CUDA when a GPU is present, else "
                        "numpy) (default auto)")
    add_device_flag(p, what="--backend torch", any_cuda=True)
    p.add_argument("--seed", type=integer(0), default=1, help="simulation seed (default 1)")
    p.add_argument("--out", type=output_file(), required=True,
                   help="weights.json to write (atomically)")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(handler=execute)


def _check_args(args: argparse.Namespace) -> None:
    real = args.dets is not None or args.circuit is not None
    if real == (args.simulate is not None):
        raise InputError("give either --dets FILE --circuit FILE or --simulate NOISE "
                         "--distance d")
    if real and (args.dets is None or args.circuit is None):
        raise InputError("--dets and --circuit must be given together")
    if not real and args.distance is None:
        raise InputError("--simulate needs --distance")
    if not real:
        check_fits(estimate_task(distance=args.distance, rounds=args.rounds or args.distance),
                   what=f"--distance {args.distance} --rounds {args.rounds or args.distance}")


def _simulated(args: argparse.Namespace):
    args.noise = args.simulate       # the shared task flags' name for the noise family
    task = task_of(args, args.basis)
    shots = args.shots or DEFAULT_SIMULATE_SHOTS
    chunks = sample_detectors(task.circuit(), shots=shots, seed=args.seed)
    source = {"simulate": {**task.metadata(seed=args.seed),
                           "multipliers_seed": args.multipliers_seed}, "shots": shots}
    return NoiseStructure.from_task(task), chunks, source


def _from_files(args: argparse.Namespace):
    circuit = read_circuit_file(args.circuit, flag="--circuit",
                                need_observables=args.append_observables)
    bits = circuit.num_detectors + (circuit.num_observables if args.append_observables else 0)
    if args.dets_format == "b8" and bits % 8 == 0:
        log.warning("--dets=%r: a b8 file has no header and %d bits per shot leave no "
                    "padding to check, so nothing verifies that it was sampled from --circuit "
                    "(a file of another circuit whose size fits would be read as garbage)",
                    str(args.dets), bits)
    dem = file_circuit_dem(circuit, flag="--circuit", path=args.circuit)
    if dem.num_errors == 0:
        raise InputError(f"--circuit={str(args.circuit)!r} has no error mechanisms (a noiseless "
                         "circuit); learn-noise reads which errors exist from the circuit's "
                         "noise: give the noisy circuit (any probabilities)")
    try:
        structure = NoiseStructure.from_dem(dem)
    except InputError as exc:   # e.g. an edge that flips different observables in two errors
        raise InputError(f"--circuit={str(args.circuit)!r}: {exc}") from exc
    chunks = read_detector_chunks(
        args.dets, num_detectors=circuit.num_detectors,
        num_observables=circuit.num_observables if args.append_observables else 0,
        sample_format=args.dets_format, max_shots=args.shots)
    source = {"samples": str(args.dets), "circuit": str(args.circuit),
              "circuit_sha256": file_sha256(args.circuit), "format": args.dets_format}
    return structure, chunks, source


def _backend(backend: str, device: str) -> tuple[str, str]:
    """(backend, device). Backend 'auto': torch on a CUDA device, else the (faster on CPU)
    numpy backend; device 'auto': CUDA when torch sees a GPU, else the CPU."""
    if backend == "numpy":
        return "numpy", "cpu"
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        if backend == "torch":
            raise InputError("--backend=torch needs PyTorch installed")
        return "numpy", "cpu"
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if backend == "auto":
            backend = "torch" if device == "cuda" else "numpy"
    elif backend == "auto":   # an explicit device: torch there, numpy on the CPU
        backend = "numpy" if device == "cpu" else "torch"
    if backend == "numpy":
        return "numpy", "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device={device!r} but torch sees no CUDA device; use --device cpu")
    return "torch", device


def execute(args: argparse.Namespace) -> int:
    _check_args(args)
    structure, chunks, source = _simulated(args) if args.simulate else _from_files(args)
    t0 = time.perf_counter()
    backend, device = _backend(args.backend, args.device)
    try:
        counts = count_parities(chunks, structure=structure, backend=backend, device=device)
    except InputError as exc:   # a samples file that does not fit the circuit
        if not args.dets:
            raise
        raise InputError(f"{args.dets_flag}={str(args.dets)!r}: {exc}") from exc
    try:
        est = estimate_from_counts(counts, structure=structure, method=args.method)
    except InputError as exc:   # too few shots, or statistics no independent errors give
        where = f"{args.dets_flag}={str(args.dets)!r}" if args.dets else "--simulate"
        raise InputError(f"{where}: {exc}") from exc
    seconds = time.perf_counter() - t0
    weights = NoiseWeights.from_estimate(est, source={**source, "seconds": seconds})
    save_noise_weights(weights, args.out)
    summary = {"out": str(args.out), "method": est.method, "backend": f"{backend}:{device}",
               "shots": est.shots,
               "num_detectors": structure.num_detectors, "num_edges": structure.num_edges,
               "median_edge_prob": float(np.nanmedian(est.edge_prob)), "seconds": seconds,
               "source": source}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"learned {structure.num_edges} edge weights ({est.method}) from {est.shots} "
              f"shots of {_describe(source)} in {seconds:.1f} s; median edge p = "
              f"{summary['median_edge_prob']:.3g}; wrote {args.out}")
    return 0


def _describe(source: dict) -> str:
    """'si1000 p=0.004 (multipliers seed 3), seed 1' or 'dets.b8 (circuit c.stim)'."""
    if "simulate" not in source:
        return f"{source['samples']} (circuit {source['circuit']})"
    task = source["simulate"]
    mult = task["multipliers_seed"]
    return (f"{task['noise']} p={task['p']:g} d={task['distance']} "
            f"({'no multipliers' if mult is None else f'multipliers seed {mult}'}), "
            f"seed {task['seed']}")
