"""``qecpipe calibrate MODEL``: choose a model's commit settings on held-out shots.

Hard mode gets its threshold (the lowest at which the pre-decoder never adds errors at the
calibration points), soft mode its weight cap; both are written into the weights file, which
is then marked calibrated. Shots are held out: their seed is never a benchmark's.

    qecpipe calibrate my.safetensors                 # in place (atomically)
    qecpipe calibrate small --out small_again.safetensors
"""

from __future__ import annotations

import argparse

from pipelines._command.common import integer, one_of, output_file
from pipelines._command.report import ProgressBar
from qec import NOISE_NAMES, InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate a pre-decoder's commit settings")
    p.add_argument("model", help="a shipped model's name or a .safetensors path")
    p.add_argument("--out", type=output_file(".safetensors"), default=None,
                   help="where to write the calibrated model (default: MODEL itself, "
                        "replaced atomically; a shipped model needs --out)")
    p.add_argument("--noise", type=one_of(*NOISE_NAMES), default=None,
                   help="noise family of the held-out shots (default: the one the model was "
                        "trained on)")
    p.add_argument("--shots", type=integer(200, 10**6), default=6000,
                   help="held-out shots per calibration point (default 6000)")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    from predecoder.calibrate import POINTS_BY_NOISE, save_calibrated
    from predecoder.weights import load_weights, resolve_model, shipped_models

    try:
        path = resolve_model(args.model)
    except InputError as exc:
        raise InputError(f"MODEL: {exc}") from exc
    if args.out is None and args.model in shipped_models():
        raise InputError(f"MODEL={args.model!r} is a shipped model; give --out FILE for the "
                         "calibrated copy")
    loaded = load_weights(path)
    out = args.out or path
    noise = args.noise or loaded.noise_family or "uniform"
    total = len(POINTS_BY_NOISE[noise]) * 2        # every point in both bases
    start = (f"{total} held-out points ({noise} noise, X and Z) of {args.shots:,} shots, "
             "every commit setting on each")
    with ProgressBar(f"calibrate {path.name}", start=start, unit="points") as bar:
        done = 0

        def point_done(ev) -> None:
            nonlocal done
            done += 1
            bar.update(done, total, info=f"last d={ev.task.distance} p={ev.task.noise.p:g} "
                                         f"{ev.task.basis}: PyMatching {ev.pm_errors} errors")

        cal = save_calibrated(loaded, out, shots=args.shots, noise=noise, progress=point_done)
    print(f"wrote {out}: hard mode commits logit > {cal.threshold:g} (rule {cal.rule}); "
          f"soft mode caps weights at {cal.soft_cap:g}")
    return 0
