"""``qecpipe learn-noise``: matching weights from detection events alone -> weights.json.

Either real samples with the circuit that produced them (the circuit gives only the
structure: which edges and mechanisms exist), or a simulated task whose noise the estimator
never reads (the structure then comes from a nominal-noise copy of the circuit).

    qecpipe learn-noise --simulate si1000 --distance 5 --p 0.004 --shots 1000000 --out w.json
    qecpipe learn-noise --samples dets.b8 --circuit circuit.stim --out w.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import stim

from noise import NoiseStructure, NoiseWeights, estimate_noise, save_noise_weights
from noise.estimate import METHODS
from noise.samples_file import SAMPLE_FORMATS, read_detector_chunks
from qec import NOISE_NAMES, NoiseModel, Task, sample_detectors

DEFAULT_SIMULATE_SHOTS = 1_000_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn-noise", help="estimate matching weights from detection events")
    p.add_argument("--samples", type=Path, default=None, help="detection events (stim format)")
    p.add_argument("--circuit", type=Path, default=None, help="stim circuit of the samples")
    p.add_argument("--format", default="b8", dest="sample_format",
                   help=f"samples format: one of {', '.join(SAMPLE_FORMATS)} (default b8)")
    p.add_argument("--append-observables", action="store_true",
                   help="the samples file holds the observables after the detectors")
    p.add_argument("--simulate", default=None, metavar="NOISE",
                   help=f"simulate instead: one of {', '.join(NOISE_NAMES)}")
    p.add_argument("--distance", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None, help="default: distance")
    p.add_argument("--basis", default="X")
    p.add_argument("--p", type=float, default=None)
    p.add_argument("--multipliers-seed", type=int, default=None,
                   help="per-qubit random multipliers 0.5-2x on the simulated noise")
    p.add_argument("--shots", type=int, default=None,
                   help=f"shots to read/simulate (simulate default {DEFAULT_SIMULATE_SHOTS})")
    p.add_argument("--method", default="mechanisms", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--backend", default="auto",
                   help="numpy, torch, or auto (torch on CUDA when a GPU is present, else numpy)")
    p.add_argument("--device", default="cuda", help="torch device for --backend torch")
    p.add_argument("--seed", type=int, default=1, help="simulation seed")
    p.add_argument("--out", type=Path, required=True, help="weights.json to write")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(handler=execute)


def _check_args(args: argparse.Namespace) -> None:
    real = args.samples is not None or args.circuit is not None
    if real == (args.simulate is not None):
        raise ValueError("give either --samples FILE --circuit FILE or --simulate NOISE "
                         "--distance d --p P")
    if real and (args.samples is None or args.circuit is None):
        raise ValueError("--samples and --circuit must be given together")
    if not real and (args.distance is None or args.p is None):
        raise ValueError("--simulate needs --distance and --p")
    if args.simulate is not None and args.simulate not in NOISE_NAMES:
        raise ValueError(f"--simulate={args.simulate!r} is unknown; choose one of "
                         f"{', '.join(NOISE_NAMES)}")
    if args.shots is not None and args.shots < 1:
        raise ValueError(f"--shots={args.shots} must be >= 1")
    if args.backend not in ("auto", "numpy", "torch"):
        raise ValueError(f"--backend={args.backend!r} must be auto, numpy or torch")
    if args.method not in METHODS:
        raise ValueError(f"--method={args.method!r} must be one of {', '.join(METHODS)}")
    try:
        args.out.open("a").close()
    except OSError as exc:
        raise ValueError(f"--out={str(args.out)!r} cannot be written: {exc.strerror}") from exc


def _read_circuit(path: Path) -> stim.Circuit:
    try:
        return stim.Circuit.from_file(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--circuit={str(path)!r} is not a readable stim circuit: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def _simulated(args: argparse.Namespace):
    noise = NoiseModel.named(args.simulate, args.p)
    task = Task(distance=args.distance, rounds=args.rounds, basis=args.basis, noise=noise)
    if args.multipliers_seed is not None:
        noise = noise.with_random_multipliers(task.circuit().num_qubits,
                                              seed=args.multipliers_seed)
        task = Task(distance=args.distance, rounds=task.rounds, basis=args.basis, noise=noise)
    shots = args.shots or DEFAULT_SIMULATE_SHOTS
    chunks = sample_detectors(task.circuit(), shots=shots, seed=args.seed)
    source = {"simulate": task.metadata(seed=args.seed), "shots": shots}
    return NoiseStructure.from_task(task), chunks, source


def _from_files(args: argparse.Namespace):
    circuit = _read_circuit(args.circuit)
    structure = NoiseStructure.from_circuit(circuit)
    chunks = read_detector_chunks(
        args.samples, num_detectors=circuit.num_detectors,
        num_observables=circuit.num_observables if args.append_observables else 0,
        sample_format=args.sample_format, max_shots=args.shots)
    source = {"samples": str(args.samples), "circuit": str(args.circuit),
              "format": args.sample_format}
    return structure, chunks, source


def _backend(backend: str, device: str) -> tuple[str, str]:
    """'auto': torch on CUDA when torch sees a GPU, else the (faster on CPU) numpy backend."""
    if backend == "numpy":
        return "numpy", "cpu"
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        if backend == "torch":
            raise ValueError("--backend=torch needs PyTorch installed")
        return "numpy", "cpu"
    import torch

    if backend == "auto":
        return ("torch", "cuda") if torch.cuda.is_available() else ("numpy", "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device={device!r} but torch sees no CUDA device; use --device cpu")
    return "torch", device


def execute(args: argparse.Namespace) -> int:
    _check_args(args)
    structure, chunks, source = _simulated(args) if args.simulate else _from_files(args)
    t0 = time.perf_counter()
    backend, device = _backend(args.backend, args.device)
    est = estimate_noise(chunks, structure=structure, method=args.method,
                         backend=backend, device=device)
    seconds = time.perf_counter() - t0
    weights = NoiseWeights.from_estimate(est, source={**source, "seconds": seconds})
    save_noise_weights(weights, args.out)
    summary = {"out": str(args.out), "method": est.method, "backend": f"{backend}:{device}",
               "shots": est.shots,
               "num_detectors": structure.num_detectors, "num_edges": structure.num_edges,
               "median_edge_prob": float(np.nanmedian(est.edge_prob)), "seconds": seconds}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"learned {structure.num_edges} edge weights ({est.method}) from {est.shots} "
              f"shots in {seconds:.1f} s; median edge p = {summary['median_edge_prob']:.3g}; "
              f"wrote {args.out}")
    return 0
