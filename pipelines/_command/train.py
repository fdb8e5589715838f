"""``qecpipe train``: train a pre-decoder on the fly from stim samples; write safetensors.

Example: ``qecpipe train --preset small --steps 4000 --out model.safetensors``. The weights
file records the preset, receptive field, widths, noise range, steps, shots seen, seed,
version and the (uncalibrated) hard-mode threshold; ``--checkpoint`` keeps a resumable copy
(weights + AdamW state, safetensors, no pickle) every ``--checkpoint-every`` steps,
``--resume`` continues it. Every output path is checked before the first step.

Noise from a device: ``--noise-from FILE`` (repeatable) trains on fixed DEMs instead of a
noise family: a stim DEM file (its detector coordinates give the layout) or a
``qecpipe learn-noise`` weights file, each with ``--noise-circuit`` (the experiment's circuit,
in the same order; needed for weights files, optional for DEMs). Whole volumes of each DEM are
sampled with stim; the source (kind, file, SHA-256) goes into the weights file::

    qecpipe learn-noise --samples even.b8 --circuit circuit_noisy.stim --out learned.json
    qecpipe train --init small --noise-from learned.json --noise-circuit circuit_noisy.stim \
        --out sycamore.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines._command.common import (
    DEFAULT_P,
    add_device_flag,
    input_file,
    integer,
    number,
    odd_integer,
    one_of,
    output_file,
    resolve_device,
)
from pipelines._command.report import ProgressBar
from qec import NOISE_NAMES, InputError, RunFailure, check_output_dir

PRESET_NAMES = ("small", "medium", "fast", "accurate")
MAX_TRAIN_DISTANCE = 25     # the DEM of every training distance is held in memory at once


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an AI pre-decoder (data generated on the fly)")
    p.add_argument("--preset", type=one_of(*PRESET_NAMES), default="small",
                   help=f"one of {', '.join(PRESET_NAMES)} (default small)")
    p.add_argument("--steps", type=integer(1, 10**8), default=4000,
                   help="optimizer steps (default 4000)")
    p.add_argument("--batch", type=integer(1, 1 << 16), default=64,
                   help="shots per step (default 64)")
    p.add_argument("--lr", type=number(0, 1, open_lo=True), default=2e-3,
                   help="peak AdamW learning rate in (0, 1] (default 0.002)")
    p.add_argument("--noise", type=one_of(*NOISE_NAMES), default="uniform",
                   help=f"training noise family: one of {', '.join(NOISE_NAMES)} (default "
                        "uniform); recorded in the weights file")
    p.add_argument("--p-min", type=number(0, 0.5, open_lo=True, open_hi=True), default=0.002,
                   help="lowest training p (default 0.002)")
    p.add_argument("--p-max", type=number(0, 0.5, open_lo=True, open_hi=True), default=0.008,
                   help="highest training p (default 0.008)")
    p.add_argument("--noise-from", type=input_file, action="append", default=[],
                   metavar="FILE",
                   help="train on this fixed noise instead of --noise: a stim DEM (.dem) or a "
                        "learn-noise weights file (.json); repeat for several experiments")
    p.add_argument("--noise-circuit", type=input_file, action="append", default=[],
                   metavar="FILE",
                   help="the stim circuit of each --noise-from file, in the same order "
                        "(required for weights files; a DEM's own coordinates serve otherwise)")
    p.add_argument("--init", type=input_file, default=None,
                   help="warm start from this weights file (same preset), e.g. a shipped model")
    p.add_argument("--distances", type=distance_list, default=(3, 5, 7),
                   help="training distances, comma-separated odd integers in [3, "
                        f"{MAX_TRAIN_DISTANCE}] (default 3,5,7)")
    p.add_argument("--seed", type=integer(0), default=0, help="(default 0)")
    add_device_flag(p, what="training")
    p.add_argument("--threads", type=integer(1, 256), default=1,
                   help="torch intra-op CPU threads (default 1: cheapest per step when shared)")
    p.add_argument("--threshold", type=number(-100, 100), default=30.0,
                   help="hard-mode commit threshold (logit) stored in the file, marked "
                        "uncalibrated (default 30: commit nothing); calibrate it with "
                        "`qecpipe calibrate`")
    p.add_argument("--out", type=output_file(".safetensors"), required=True,
                   help="weights file (.safetensors)")
    p.add_argument("--checkpoint", type=output_file(".safetensors"), default=None,
                   help="resumable checkpoint file (.safetensors)")
    p.add_argument("--checkpoint-every", type=integer(1), default=500, help="(default 500)")
    p.add_argument("--resume", type=input_file, default=None,
                   help="continue from this checkpoint")
    p.add_argument("--snapshots", type=step_list, default=(),
                   help="steps at which to save weights copies (comma-separated) into "
                        "--snapshot-dir, e.g. for a learning curve")
    p.add_argument("--snapshot-dir", type=Path, default=None)
    p.add_argument("--eval-every", type=integer(0), default=500,
                   help="steps between held-out soft/hard pre-decoder vs PM checks (0: never; "
                        "default 500)")
    p.add_argument("--eval-shots", type=integer(100, 10**7), default=2000,
                   help="held-out shots per check (d=5, X basis, the training noise family; "
                        "default 2000)")
    p.add_argument("--eval-p", type=number(0, 0.5, open_lo=True, open_hi=True), default=DEFAULT_P,
                   help=f"p of the held-out check (default {DEFAULT_P}, --p's default)")
    p.add_argument("--log", type=output_file(".csv"), default=None,
                   help="CSV of loss and held-out checks (appended)")
    p.set_defaults(handler=execute)


def distance_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated odd distances in [3, MAX_TRAIN_DISTANCE]."""
    parse = odd_integer(3, MAX_TRAIN_DISTANCE)
    values = tuple(parse(v.strip()) for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} must list at least one distance")
    return values


def step_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated step numbers >= 1."""
    parse = integer(1)
    return tuple(parse(v.strip()) for v in text.split(",") if v.strip())


def _config(args: argparse.Namespace):
    from predecoder.train import TrainConfig

    if args.snapshots and args.snapshot_dir is None:
        raise InputError("--snapshots needs --snapshot-dir")
    if args.snapshot_dir is not None:
        check_output_dir(args.snapshot_dir, flag="--snapshot-dir")
    family = (args.noise, args.p_min, args.p_max, args.distances)
    if args.noise_from and family != ("uniform", 0.002, 0.008, (3, 5, 7)):
        raise InputError("--noise-from replaces --noise, --p-min, --p-max and --distances (the "
                         "DEMs fix the noise, distance and rounds); drop those flags")
    if args.p_min > args.p_max:
        raise InputError(f"--p-min={args.p_min} must be <= --p-max={args.p_max}")
    if args.init is not None:      # refuse a wrong file before any step (and any output)
        from predecoder.model import PRESETS
        from predecoder.weights import load_weights

        try:
            load_weights(args.init, expect=PRESETS[args.preset])
        except InputError as exc:
            raise InputError(f"--init: {exc}") from exc
    return TrainConfig(
        noise_from=noise_sources(args.noise_from, args.noise_circuit),
        preset=args.preset, noise=args.noise, steps=args.steps, batch=args.batch, lr=args.lr,
        p_min=args.p_min, eval_shots=args.eval_shots, eval_p=args.eval_p,
        init_path=str(args.init) if args.init is not None else None,
        p_max=args.p_max, distances=args.distances, seed=args.seed,
        device=resolve_device(args.device), eval_every=args.eval_every,
        checkpoint_path=str(args.checkpoint) if args.checkpoint else None,
        checkpoint_every=args.checkpoint_every, snapshot_steps=args.snapshots,
        snapshot_dir=str(args.snapshot_dir) if args.snapshot_dir else None,
        log_path=str(args.log) if args.log else None)


def noise_sources(paths: list[Path], circuits: list[Path]):
    """``--noise-from`` / ``--noise-circuit`` -> DemNoise tuple (every file checked)."""
    from predecoder.noise_source import DemNoise

    if circuits and len(circuits) != len(paths):
        raise InputError(f"--noise-circuit was given {len(circuits)} times for {len(paths)} "
                         "--noise-from files; give one circuit per file, in the same order")
    out = []
    for k, path in enumerate(paths):
        circuit = circuits[k] if circuits else None
        try:
            if path.suffix == ".json":
                out.append(_weights_source(path, circuit))
            else:
                out.append(DemNoise.from_dem_file(path, circuit_path=circuit))
        except InputError as exc:
            raise InputError(f"--noise-from={str(path)!r}: {exc}") from exc
    return tuple(out)


def _weights_source(path: Path, circuit_path: Path | None):
    """A learn-noise weights file as a DEM to sample: its mechanisms (correlated) when it has
    them, else its edges; checked against the circuit it was learned for."""
    from noise import NoiseStructure, load_noise_weights
    from predecoder.noise_source import DemNoise, file_record, read_circuit

    if circuit_path is None:
        raise InputError("a weights file needs --noise-circuit (the circuit it was learned "
                         "for): it holds no detector coordinates")
    circuit = read_circuit(circuit_path)
    weights = load_noise_weights(path)
    weights.check_matches(NoiseStructure.from_circuit(circuit),
                          what=f"--noise-circuit={str(circuit_path)!r}")
    dem = weights.dem(correlated=weights.mechanisms is not None)
    source = {**file_record(path, kind="noise-weights", circuit_path=circuit_path),
              "method": weights.method, "learned_from_shots": weights.shots}
    return DemNoise.from_dem(dem, circuit=circuit, source=source)


def execute(args: argparse.Namespace) -> int:
    config = _config(args)
    import torch

    from predecoder.inference import DEFAULT_SOFT_CAP
    from predecoder.train import check_checkpoint, train
    from predecoder.weights import save_weights

    # One intra-op thread per process by default: on a shared 2-core machine two threads cost
    # ~3x the CPU time per step for ~the same wall time (measured).
    torch.set_num_threads(args.threads)

    if args.resume is not None:     # checked before the progress bar or any step starts
        check_checkpoint(args.resume, config)
    start = (f"{config.steps:,} steps of {config.batch} shots ({config.noise} noise, d = "
             f"{','.join(map(str, config.distances))}) on {config.device}")
    with ProgressBar("train", start=start, unit="steps", delay_s=0) as bar:
        result = train(config, resume=args.resume, progress=_progress(bar, config.steps))
    record = {**result.training_record(), "command": "qecpipe " + " ".join(sys.argv[1:])}
    if not torch.isfinite(torch.cat([p.flatten() for p in result.net.parameters()])).all():
        raise RunFailure("training diverged: the network's weights are not finite; no model "
                         "was written; lower --lr")
    save_weights(args.out, result.net, preset=config.preset, threshold=args.threshold,
                 soft_cap=DEFAULT_SOFT_CAP, training=record, calibrated=False)
    print(f"wrote {args.out} (preset={config.preset}, steps={result.step}, "
          f"shots seen={result.shots_seen}, {result.seconds:.0f} s on {config.device})")
    return 0


def _progress(bar, total: int):
    """A ``train`` progress callback showing the loss and the last held-out check on ``bar``."""
    last_check = ""

    def update(record: dict) -> None:
        nonlocal last_check
        if "eval_pm_errors" in record:
            last_check = (f" | held-out errors PM {record['eval_pm_errors']}, soft "
                          f"{record['eval_soft_errors']}, hard@0 {record['eval_pre_errors']}, "
                          f"SDR {record['eval_sdr']:.2f}")
        bar.update(record["step"], total, info=f"loss {record['loss']:.4f}{last_check}")

    return update
