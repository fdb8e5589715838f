"""``qecpipe circuit``: write a task's circuit (and its decomposed DEM) for other tools.

The files every README example needs: ``sinter collect --circuits``, ``stim sample_dem``,
``qecpipe decode`` and ``qecpipe learn-noise --circuit`` take them.

    qecpipe circuit --distance 5 --noise si1000 --p 0.003 --out circuits/d5.stim --dem d5.dem
"""

from __future__ import annotations

import argparse

from pipelines._command.common import add_task_flags, output_file, task_of
from qec import atomic_write, check_fits, estimate_task


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("circuit", help="write a memory experiment's stim circuit (and DEM)")
    add_task_flags(p)
    p.add_argument("--out", type=output_file(".stim"), required=True,
                   help="the circuit file to write (.stim)")
    p.add_argument("--dem", type=output_file(".dem"), default=None,
                   help="also write its graphlike-decomposed detector error model (.dem), the "
                        "one every matcher in qecpipe (and sinter) builds")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    check_fits(estimate_task(distance=args.distance, rounds=args.rounds or args.distance),
               what=f"--distance {args.distance}")
    task = task_of(args, args.basis)
    circuit = task.circuit()
    atomic_write(args.out, str(circuit) + "\n")
    written = [f"{args.out} ({circuit.num_detectors} detectors, {circuit.num_observables} "
               f"observable)"]
    if args.dem is not None:
        atomic_write(args.dem, str(task.dem()) + "\n")
        written.append(str(args.dem))
    print(f"wrote {' and '.join(written)}: d={task.distance} rounds={task.rounds} "
          f"basis={task.basis} noise={task.noise.name} p={task.noise.p:g}")
    return 0
