"""``qecpipe run``: sample once, decode the same shots with every decoder, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from noise.task_weights import DEFAULT_LEARN_SHOTS, task_dem_factory
from pipelines._command.report import ProgressBar, render_table, write_sinter_csv
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS
from pipelines._decoders.registry import DECODER_NAMES, make_decoder
from pipelines._decoders.run import RunResult, run_task
from qec import NOISE_NAMES, NoiseModel, Task

DEFAULT_DECODERS = ("pymatching", "pymatching-correlated", "predecoder+soft-matching")
DEFAULT_SHOTS = 8_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="sample a memory experiment and compare decoders")
    p.add_argument("--distance", type=int, required=True, help="odd code distance >= 3")
    p.add_argument("--rounds", type=int, default=None, help="rounds >= 1 (default: distance)")
    p.add_argument("--basis", default="X", help="X, Z or both (default X)")
    p.add_argument("--noise", default="uniform", help=f"one of {', '.join(NOISE_NAMES)}")
    p.add_argument("--p", type=float, default=0.003, help="physical error rate in (0, 0.5)")
    p.add_argument("--shots", type=int, default=DEFAULT_SHOTS, help="shots per basis")
    p.add_argument("--max-errors", type=int, default=None,
                   help="stop once every decoder has this many errors")
    p.add_argument("--decoder", action="append", default=None, dest="decoders",
                   help=f"repeatable; one of {', '.join(DECODER_NAMES)}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="write sinter CSV rows here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--weights", default="true",
                   help="matching weights: true, learned (estimated from a separate seeded "
                        "sample), uniform, or a weights.json from learn-noise")
    p.add_argument("--learn-shots", type=int, default=DEFAULT_LEARN_SHOTS,
                   help="estimation shots for --weights learned")
    p.add_argument("--model", default=None,
                   help="pre-decoder weights: small, fast, accurate (shipped presets) or a "
                        ".safetensors path (default: the shipped default model)")
    p.add_argument("--device", default="auto", help="pre-decoder device: auto, cpu or cuda")
    p.set_defaults(handler=execute)


def _bases(basis: str) -> list[str]:
    if basis == "both":
        return ["X", "Z"]
    if basis not in ("X", "Z"):
        raise ValueError(f"--basis={basis!r} must be X, Z or both")
    return [basis]


def _check_args(args: argparse.Namespace) -> None:
    if args.shots < 1:
        raise ValueError(f"--shots={args.shots} must be >= 1")
    if args.seed < 0:
        raise ValueError(f"--seed={args.seed} must be >= 0")
    if args.noise not in NOISE_NAMES:
        raise ValueError(f"--noise={args.noise!r} is unknown; "
                         f"choose one of {', '.join(NOISE_NAMES)}")
    if not 0 < args.p < 0.5:
        raise ValueError(f"--p={args.p} must be in (0, 0.5)")
    if args.out is not None:
        try:
            args.out.open("a").close()
        except OSError as exc:
            raise ValueError(f"--out={str(args.out)!r} cannot be written: {exc.strerror}") from exc


def execute(args: argparse.Namespace) -> int:
    _check_args(args)
    decoders = list(args.decoders or DEFAULT_DECODERS)
    model, device = _model_args(args, decoders)
    noise = NoiseModel.named(args.noise, args.p)
    tasks = [Task(distance=args.distance, rounds=args.rounds, basis=b, noise=noise)
             for b in _bases(args.basis)]
    results: list[RunResult] = []
    for task in tasks:
        built = _build_decoders(task, decoders, args, model=model, device=device)
        with ProgressBar(f"d={task.distance} {task.basis}", enabled=not args.json) as bar:
            results.append(run_task(task, shots=args.shots, decoders=decoders, seed=args.seed,
                                    max_errors=args.max_errors, progress=bar.update,
                                    built=built))
    if args.out is not None:
        write_sinter_csv(args.out, results)
    if args.json:
        print(json.dumps({**_json(results, args.basis), "weights": str(args.weights)}))
    else:
        for r in results:
            render_table(r)
    return 0


def _json(results: list[RunResult], basis: str) -> dict:
    from qec import __version__

    if basis != "both":
        return results[0].to_json(__version__)
    return {"version": __version__,
            "bases": {r.task.basis: results[i].to_json(__version__) for i, r in enumerate(results)}}


def _model_args(args: argparse.Namespace, decoders: list[str]) -> tuple[str | None, str]:
    """Validate --model/--device up front (exit 2 on a bad value, before any sampling)."""
    if not any(name in PREDECODER_DECODERS for name in decoders) and args.model is None:
        return None, "cpu"   # no pre-decoder: never import torch
    from pipelines._command.train import resolve_device
    from predecoder.weights import resolve_model

    device = resolve_device(args.device)
    try:
        resolve_model(args.model)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from exc
    return args.model, device


def _build_decoders(task: Task, decoders: list[str], args: argparse.Namespace, *,
                    model: str | None, device: str) -> dict:
    """Every named decoder, its global matcher built from the --weights DEM.

    Decoders whose name ends in 'correlated' get the correlated DEM (mechanisms with
    learned probabilities); --weights true keeps the task's own DEM.
    """
    dem_for = task_dem_factory(task, weights=args.weights, seed=args.seed,
                               learn_shots=args.learn_shots)
    return {name: make_decoder(name, task, dem=dem_for(name.endswith("correlated")),
                               model=model, device=device) for name in decoders}
