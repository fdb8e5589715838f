"""``qecpipe train``: train a pre-decoder on the fly from stim samples; write safetensors.

Example: ``qecpipe train --preset small --steps 4000 --out model.safetensors``. The weights
file records the preset, receptive field, widths, noise range, steps, shots seen, seed,
version and the commit threshold; ``--checkpoint`` keeps a resumable copy (weights + AdamW
state, safetensors, no pickle) every ``--checkpoint-every`` steps, ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PRESET_NAMES = ("small", "medium", "fast", "accurate")
NOISE_CHOICES = ("uniform", "si1000", "stim")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an AI pre-decoder (data generated on the fly)")
    p.add_argument("--preset", default="small", help=f"one of {', '.join(PRESET_NAMES)}")
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps")
    p.add_argument("--batch", type=int, default=64, help="shots per step")
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate")
    p.add_argument("--noise", default="uniform",
                   help=f"training noise family: one of {', '.join(NOISE_CHOICES)} (default "
                        "uniform); recorded in the weights file")
    p.add_argument("--p-min", type=float, default=0.002, help="lowest training p")
    p.add_argument("--p-max", type=float, default=0.008, help="highest training p")
    p.add_argument("--init", type=Path, default=None,
                   help="warm start from this weights file (same preset), e.g. a shipped model")
    p.add_argument("--distances", default="3,5,7", help="training distances, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op CPU threads (default 1: cheapest per step when shared)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="commit threshold (logit) stored in the file; calibrate it with "
                        "bench/predecoder.py --calibrate")
    p.add_argument("--out", type=Path, required=True, help="weights file (.safetensors)")
    p.add_argument("--checkpoint", type=Path, default=None, help="resumable checkpoint file")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--snapshots", default="", help="steps at which to save weights copies "
                   "(comma-separated) into --snapshot-dir, e.g. for a learning curve")
    p.add_argument("--snapshot-dir", type=Path, default=None)
    p.add_argument("--eval-every", type=int, default=500,
                   help="steps between held-out soft/hard pre-decoder vs PM checks (0: never)")
    p.add_argument("--eval-shots", type=int, default=2000,
                   help="held-out shots per check (d=5, X basis, the training noise family)")
    p.add_argument("--eval-p", type=float, default=0.006, help="p of the held-out check")
    p.add_argument("--log", type=Path, default=None, help="CSV of loss and held-out checks")
    p.set_defaults(handler=execute)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is an error."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device={device!r} must be auto, cpu or cuda")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device=cuda but torch sees no CUDA device")
    return device


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ValueError(f"{flag}={text!r} must be comma-separated integers") from exc


def _config(args: argparse.Namespace):
    from predecoder.train import TrainConfig

    if args.preset not in PRESET_NAMES:
        raise ValueError(f"--preset={args.preset!r} must be one of {', '.join(PRESET_NAMES)}")
    if args.threads < 1:
        raise ValueError(f"--threads={args.threads} must be >= 1")
    if args.out.suffix != ".safetensors":
        raise ValueError(f"--out={str(args.out)!r} must end in .safetensors")
    return TrainConfig(
        preset=args.preset, noise=args.noise, steps=args.steps, batch=args.batch, lr=args.lr,
        p_min=args.p_min, eval_shots=args.eval_shots, eval_p=args.eval_p,
        init_path=str(args.init) if args.init is not None else None,
        p_max=args.p_max, distances=_ints(args.distances, "--distances"), seed=args.seed,
        device=resolve_device(args.device), eval_every=args.eval_every,
        checkpoint_path=str(args.checkpoint) if args.checkpoint else None,
        checkpoint_every=args.checkpoint_every,
        snapshot_steps=_ints(args.snapshots, "--snapshots"),
        snapshot_dir=str(args.snapshot_dir) if args.snapshot_dir else None,
        log_path=str(args.log) if args.log else None)


def execute(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.resume is not None and not args.resume.is_file():
        raise ValueError(f"--resume={str(args.resume)!r} does not exist")
    import torch

    from predecoder.inference import DEFAULT_SOFT_CAP
    from predecoder.train import train
    from predecoder.weights import save_weights

    # One intra-op thread per process by default: on a shared 2-core machine two threads cost
    # ~3x the CPU time per step for ~the same wall time (measured).
    torch.set_num_threads(args.threads)

    with _Progress(config.steps) as bar:
        result = train(config, resume=args.resume, progress=bar.update)
    record = {**result.training_record(), "command": "qecpipe " + " ".join(sys.argv[1:])}
    save_weights(args.out, result.net, preset=config.preset, threshold=args.threshold,
                 soft_cap=DEFAULT_SOFT_CAP, training=record)
    print(f"wrote {args.out} (preset={config.preset}, steps={result.step}, "
          f"shots seen={result.shots_seen}, {result.seconds:.0f} s on {config.device})")
    return 0


class _Progress:
    """rich progress bar on stderr with the loss and the last held-out check."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.last_check = ""

    def __enter__(self) -> _Progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress("[bold]train", BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), "{task.fields[info]}",
                                 console=Console(stderr=True))
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.total, info="")
        return self

    def update(self, record: dict) -> None:
        info = f"loss {record['loss']:.4f}"
        if "eval_pm_errors" in record:
            self.last_check = (f" | held-out errors PM {record['eval_pm_errors']}, soft "
                               f"{record['eval_soft_errors']}, hard@0 "
                               f"{record['eval_pre_errors']}, SDR {record['eval_sdr']:.2f}")
        info += self.last_check
        self.progress.update(self.task, completed=record["step"], info=info)

    def __exit__(self, *exc) -> None:
        self.progress.stop()
