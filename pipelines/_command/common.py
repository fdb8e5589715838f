"""What the subcommands share: value checks for flags, and every flag that more than one
subcommand takes, defined once here so that one concept has one name and one default.

Every flag's value is checked by argparse through a ``type=`` function from here, so a bad
value is refused before any work with one line naming the flag, the value and the rule
(``argument --shots: '-3' must be an integer in [1, 1000000000]``).

The vocabulary (docs/design.md, "One vocabulary"): ``--p`` defaults to :data:`DEFAULT_P`
everywhere but ``stream`` (:data:`STREAM_P`); the decoder is ``--decoder NAME`` (the
registry's names, ``qecpipe decoders``) and the pre-decoder's weights ``--model``; detection
events are ``--dets`` (``--dets-format``); ``--device`` defaults to ``auto``. Older names
(``stream --predecoder/--mode``, ``serve --mode``, ``learn-noise --samples/--format``) still
work as aliases.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS
from qec import NOISE_NAMES, InputError, NoiseModel, Task, check_output_path

MAX_SHOTS = 10**9          # per run or per basis: beyond this, use sinter over many processes
MAX_DISTANCE = 99
MAX_ROUNDS = 1_000_000
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_P = 0.006
"""The one default physical error rate of every subcommand: below uniform noise's threshold
(about 0.7%), inside the shipped model's training range (0.002-0.008) and ``train
--eval-p``, and high enough that ``qecpipe run`` collects its 100 errors per decoder in about a
minute at d = 13 (at p = 0.003 it would need ~40x the shots)."""
STREAM_P = 0.001
"""``stream``'s default p, the one documented exception: a stream runs thousands of rounds,
and at 0.006 nearly every shot of 1,000 rounds ends with a logical flip (windowed LER ~0.5),
so its LER line would check nothing; 0.001, a hardware-like rate, keeps it meaningful."""
# The decoders of the windowed pipelines (stream, serve), by their mode there (no correlated
# variants in windows); the modes are also the older values of their --mode flags.
_MODE_DECODER = {"pymatching": "pymatching", "hard": "predecoder+pymatching",
                 "soft": "predecoder+soft-matching"}
WINDOWED_DECODERS = tuple(_MODE_DECODER.values())


def integer(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi] (no upper bound when ``hi`` is None)."""
    rule = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")
        return value

    parse.__name__ = rule
    return parse


def odd_integer(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an odd integer in [lo, hi] (a code distance)."""
    inner = integer(lo, hi)

    def parse(text: str) -> int:
        try:
            value = inner(text)
        except argparse.ArgumentTypeError:
            value = 0
        if value % 2 == 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be an odd integer in [{lo}, {hi}]")
        return value

    return parse


def number(lo: float, hi: float, *, open_lo: bool = False,
           open_hi: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (or open at either end)."""
    rule = f"a number in {'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}") from None
        bad_lo = value <= lo if open_lo else value < lo
        bad_hi = value >= hi if open_hi else value > hi
        if not math.isfinite(value) or bad_lo or bad_hi:
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")
        return value

    return parse


def one_of(*names: str) -> Callable[[str], str]:
    """An argparse type: one of ``names`` (listed in the message)."""
    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{text!r} must be one of {', '.join(names)}")
        return text

    return parse


def output_file(suffix: str | None = None) -> Callable[[str], Path]:
    """An argparse type: a path qecpipe can write atomically (checked now, created later)."""
    def parse(text: str) -> Path:
        try:
            return check_output_path(text, flag="", suffix=suffix)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def input_file(text: str) -> Path:
    """An argparse type: an existing regular file."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing file")
    return path


def torch_device(text: str) -> str:
    """An argparse type: auto or a torch device name, cpu, cuda or cuda:N (checked, not
    opened)."""
    head, _, index = text.partition(":")
    if text == "auto":
        return text
    if head not in ("cpu", "cuda") or (index and not (head == "cuda" and index.isdigit())):
        raise argparse.ArgumentTypeError(f"{text!r} must be auto, cpu, cuda or cuda:N")
    return text


def shipped_model_names() -> list[str]:
    """The shipped pre-decoder models (weights files in the installed ``predecoder`` package),
    found without importing it (and torch) so that ``--help`` stays fast."""
    import importlib.util

    spec = importlib.util.find_spec("predecoder")
    folders = list(spec.submodule_search_locations or []) if spec else []
    return sorted(p.stem for folder in folders for p in (Path(folder) / "weights").glob(
        "*.safetensors"))


def model_help() -> str:
    return (f"pre-decoder model: a shipped model ({', '.join(shipped_model_names())}) or a "
            ".safetensors path (default: small)")


def add_task_flags(p: argparse.ArgumentParser, *, rounds_default: int | None = None,
                   both_bases: bool = False, distance_required: bool = True,
                   p_default: float = DEFAULT_P) -> None:
    """--distance, --rounds, --basis, --noise, --p and --multipliers-seed."""
    p.add_argument("--distance", type=odd_integer(3, MAX_DISTANCE), required=distance_required,
                   help=f"odd code distance in [3, {MAX_DISTANCE}]")
    p.add_argument("--rounds", type=integer(1, MAX_ROUNDS), default=rounds_default,
                   help=f"rounds in [1, {MAX_ROUNDS}] (default: "
                        f"{rounds_default if rounds_default else 'the distance'})")
    bases = ("X", "Z", "both") if both_bases else ("X", "Z")
    p.add_argument("--basis", type=one_of(*bases), default="X",
                   help=f"{', '.join(bases)} (default X)")
    p.add_argument("--noise", type=one_of(*NOISE_NAMES), default="uniform",
                   help=f"noise model: {', '.join(NOISE_NAMES)} (default uniform)")
    add_p_flag(p, default=p_default)
    p.add_argument("--multipliers-seed", type=integer(0), default=None,
                   help="per-qubit random multipliers 0.5-2x on the noise, from this seed "
                        "(default: none)")


def add_referee_budget_flag(p: argparse.ArgumentParser) -> None:
    """``--referee-budget-ms``: the consensus decoders' referee time per batch."""
    p.add_argument("--referee-budget-ms", type=number(0, 1e9), default=None,
                   help="predecoder+consensus...: most referee milliseconds per batch of "
                        "shots; contested shots past it keep the soft answer and are counted "
                        "(default: no limit)")


def referee_budget_seconds(args: argparse.Namespace, decoders: list[str]) -> float | None:
    """--referee-budget-ms in seconds, refused when no decoder named has a referee."""
    from pipelines._decoders.consensus import CONSENSUS_DECODERS

    if args.referee_budget_ms is None:
        return None
    if not any(name in CONSENSUS_DECODERS for name in decoders):
        raise InputError(f"--referee-budget-ms={args.referee_budget_ms:g} applies to the "
                         f"consensus decoders only ({', '.join(CONSENSUS_DECODERS)}); none "
                         f"of {', '.join(decoders)} has a referee")
    return args.referee_budget_ms / 1000


def add_p_flag(p: argparse.ArgumentParser, *, default: float = DEFAULT_P) -> None:
    """--p, the physical error rate: :data:`DEFAULT_P` in every subcommand but ``stream``
    (:data:`STREAM_P`, for the reason given there)."""
    p.add_argument("--p", type=number(0, 0.5, open_lo=True, open_hi=True), default=default,
                   help=f"physical error rate in (0, 0.5) (default {default})")


def add_model_flag(p: argparse.ArgumentParser, *, extra: str = "") -> None:
    """--model: the pre-decoder's weights (a shipped name or a .safetensors path)."""
    p.add_argument("--model", default=None, help=model_help() + extra)


def add_device_flag(p: argparse.ArgumentParser, *, what: str = "pre-decoder",
                    any_cuda: bool = False) -> None:
    """--device, default auto (CUDA when torch sees a GPU, else the CPU); ``any_cuda``
    also accepts cuda:N."""
    p.add_argument("--device", type=torch_device if any_cuda else one_of(*DEVICES),
                   default="auto", help=f"{what} device: auto, cpu or cuda"
                   f"{' or cuda:N' if any_cuda else ''} (default auto: CUDA when torch sees a "
                   "GPU, else the CPU)")


def add_dets_flags(p: argparse.ArgumentParser, *, required: bool, formats: Sequence[str],
                   default_format: str | None, help: str) -> None:
    """--dets FILE and --dets-format, detection events in one of stim's ``formats``
    (``--samples`` and ``--format`` are their older names in ``learn-noise``, kept working)."""
    names = p.add_mutually_exclusive_group(required=required)
    names.add_argument("--dets", type=input_file, default=None, action=_StoreNamingFlag,
                       help=help)
    names.add_argument("--samples", dest="dets", type=input_file, default=argparse.SUPPRESS,
                       action=_StoreNamingFlag, help="older name of --dets")
    p.set_defaults(dets_flag="--dets")
    formats_group = p.add_mutually_exclusive_group()
    formats_group.add_argument("--dets-format", type=one_of(*formats), default=default_format,
                               help=f"{', '.join(formats)} (default: "
                                    f"{default_format or 'from the extension'})")
    formats_group.add_argument("--format", dest="dets_format", type=one_of(*formats),
                               default=argparse.SUPPRESS, help="older name of --dets-format")


class _StoreNamingFlag(argparse.Action):
    """Store the value, and in ``<dest>_flag`` the spelling the user typed (an alias or the
    flag's own name), so that messages name the flag as it was given."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string)


def add_windowed_decoder_flags(p: argparse.ArgumentParser, *, default: str,
                               predecoder_alias: bool) -> None:
    """--decoder and --model of ``stream`` and ``serve`` (:data:`WINDOWED_DECODERS`), plus
    their older names: ``--mode pymatching|hard|soft`` (serve) or ``--mode hard|soft`` with
    ``--predecoder [MODEL]`` (stream). :func:`windowed_decoder` reads them back."""
    p.add_argument("--decoder", type=one_of(*WINDOWED_DECODERS), default=None,
                   help=f"one of {', '.join(WINDOWED_DECODERS)} (default {default})")
    add_model_flag(p, extra="; predecoder+... only")
    modes = ("hard", "soft") if predecoder_alias else tuple(_MODE_DECODER)
    p.add_argument("--mode", type=one_of(*modes), default=None, dest="old_mode", metavar="MODE",
                   help="older name of --decoder: " + ", ".join(
                       f"--mode {m} is --decoder {_MODE_DECODER[m]}" for m in modes))
    if predecoder_alias:
        p.add_argument("--predecoder", nargs="?", const="", default=None, metavar="MODEL",
                       dest="old_predecoder", help="older name: --predecoder [MODEL] is "
                       "--decoder predecoder+soft-matching [--model MODEL]")
    p.set_defaults(default_decoder=default)


def windowed_decoder(args: argparse.Namespace) -> tuple[str, str | None]:
    """(decoder, model) of :func:`add_windowed_decoder_flags`' flags, old names included;
    two flags that disagree are refused."""
    old_pre = getattr(args, "old_predecoder", None)
    old_pre = "" if old_pre == "default" else old_pre    # its old spelling of "no value"
    implied = None
    if args.old_mode is not None:
        if old_pre is None and args.decoder is None and hasattr(args, "old_predecoder"):
            raise InputError(f"--mode={args.old_mode!r} applies to the pre-decoder; give "
                             f"--decoder {_MODE_DECODER[args.old_mode]}")
        implied = _MODE_DECODER[args.old_mode]
    elif old_pre is not None:
        implied = _MODE_DECODER["soft"]
    if args.decoder is not None and implied is not None and implied != args.decoder:
        raise InputError(f"--decoder={args.decoder!r} and its older name "
                         f"{_old_flags(args)} (= {implied}) disagree; give --decoder only")
    model = args.model
    if old_pre:
        if model is not None and model != old_pre:
            raise InputError(f"--model={model!r} and --predecoder={old_pre!r} name two "
                             "models; give --model only")
        model = old_pre
    decoder = args.decoder or implied or args.default_decoder
    if model is not None and decoder not in PREDECODER_DECODERS:
        raise InputError(f"--model={model!r} applies to the pre-decoder only; "
                         f"--decoder={decoder!r} does not use one")
    return decoder, model


def windowed_mode(decoder: str) -> str:
    """'pymatching', 'hard' or 'soft': the mode of windowed decoder ``decoder``."""
    return next(mode for mode, name in _MODE_DECODER.items() if name == decoder)


def _old_flags(args: argparse.Namespace) -> str:
    old = [f"--mode {args.old_mode}"] * (args.old_mode is not None)
    if getattr(args, "old_predecoder", None) is not None:
        old.append("--predecoder")
    return " ".join(old)


def tasks_from_args(args: argparse.Namespace) -> list[Task]:
    """One task per basis named by the task flags (``--basis both``: X then Z)."""
    bases = ["X", "Z"] if args.basis == "both" else [args.basis]
    return [task_of(args, basis) for basis in bases]


def task_of(args: argparse.Namespace, basis: str) -> Task:
    """The task of the task flags in ``basis``, with the per-qubit multipliers if asked."""
    noise = NoiseModel.named(args.noise, args.p)
    task = Task(distance=args.distance, rounds=args.rounds, basis=basis, noise=noise)
    if args.multipliers_seed is None:
        return task
    noise = noise.with_random_multipliers(task.circuit().num_qubits, seed=args.multipliers_seed)
    return Task(distance=args.distance, rounds=task.rounds, basis=basis, noise=noise)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is refused."""
    import torch

    if device not in DEVICES:
        raise InputError(f"--device={device!r} must be one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device=cuda but torch sees no CUDA device; use --device cpu")
    return device


@contextlib.contextmanager
def stdout_for_json(enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``emit(text)``; with ``enabled``, while the block runs the process's standard
    output (file descriptor 1) points at stderr, so whatever Ray or a C extension prints lands
    there and ``--json`` output is exactly the one object ``emit`` writes.

    Under a test harness that replaced ``sys.stdout`` by an in-memory stream, Python-level
    writes are already captured there and descriptor 1 is left alone.
    """
    try:
        real = enabled and sys.stdout.fileno() == 1
    except (OSError, ValueError, io.UnsupportedOperation):
        real = False
    if not real:
        yield lambda text: print(text, flush=True)
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(os.dup(saved), "w")
    try:
        yield lambda text: (out.write(text + "\n"), out.flush())
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        out.close()
