"""``qecpipe run``: sample once, decode the same shots with every decoder, compare, report.

Like ``sinter collect``, a run stops at whichever comes first: ``--max-shots`` shots, or every
decoder having ``--max-errors`` errors (so every decoder's rate rests on enough errors). Every
pair of decoders is compared on the same shots (exact McNemar test), with a plain-words verdict.

Like sinter, a run draws a fresh random seed unless ``--seed`` is given, so two runs of one task
sample independent shots and their ``--out`` rows merge into honest statistics; the seed is
printed (and in ``--json``), so ``--seed`` repeats any run exactly. Every output records what
made it: the seed, the noise (multipliers' seed included), the weights source and the model
(``pipelines._command.provenance``).
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
from pathlib import Path

from noise.task_weights import DEFAULT_LEARN_SHOTS, task_dem_factory
from pipelines._command.common import (
    MAX_SHOTS,
    add_device_flag,
    add_model_flag,
    add_referee_budget_flag,
    add_task_flags,
    integer,
    one_of,
    output_file,
    referee_budget_seconds,
    resolve_device,
    tasks_from_args,
)
from pipelines._command.provenance import (
    csv_metadata,
    csv_model_metadata,
    model_record,
    noise_record,
    weights_record,
)
from pipelines._command.report import ProgressBar, append_sinter_csv, render_table
from pipelines._decoders.consensus import CONSENSUS_DECODERS
from pipelines._decoders.registry import (
    DECODER_NAMES,
    MODEL_DECODERS,
    make_decoder,
    validate_decoder_names,
)
from pipelines._decoders.run import RunResult, run_task
from qec import InputError, Task, check_fits, estimate_task

DEFAULT_DECODERS = ("pymatching", "pymatching-correlated", "predecoder+soft-matching")
DEFAULT_MAX_SHOTS = 1_000_000
DEFAULT_MAX_ERRORS = 100
SEED_BITS = 63   # a fresh seed per run: two runs share shots with probability ~ 2^-63
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="sample a memory experiment and compare decoders")
    add_task_flags(p, both_bases=True)
    p.add_argument("--max-shots", type=integer(1, MAX_SHOTS), default=DEFAULT_MAX_SHOTS,
                   help=f"stop after this many shots per basis (default {DEFAULT_MAX_SHOTS:,})")
    p.add_argument("--max-errors", type=integer(1), default=DEFAULT_MAX_ERRORS,
                   help="stop once every decoder has this many errors (default "
                        f"{DEFAULT_MAX_ERRORS})")
    p.add_argument("--decoder", action="append", default=None, dest="decoders",
                   type=one_of(*DECODER_NAMES),
                   help=f"repeatable; one of {', '.join(DECODER_NAMES)} (default: "
                        f"{', '.join(DEFAULT_DECODERS)})")
    p.add_argument("--seed", type=integer(0, 2**SEED_BITS - 1), default=None,
                   help="sampling seed; repeats a run exactly (default: a fresh random seed, "
                        "printed, as sinter draws one, so runs never share shots)")
    p.add_argument("--out", type=output_file(".csv"), default=None,
                   help="append sinter CSV rows to this file (created if missing)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--weights", default="true",
                   help="matching weights: true, learned (estimated from a separate seeded "
                        "sample), uniform, or a weights.json from learn-noise (default true)")
    p.add_argument("--learn-shots", type=integer(1000, MAX_SHOTS), default=DEFAULT_LEARN_SHOTS,
                   help=f"estimation shots for --weights learned (default "
                        f"{DEFAULT_LEARN_SHOTS:,})")
    add_model_flag(p)
    add_device_flag(p)
    add_referee_budget_flag(p)
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    decoders = list(args.decoders or DEFAULT_DECODERS)
    if len(set(decoders)) != len(decoders):
        raise InputError(f"--decoder names a decoder twice: {decoders}")
    validate_decoder_names(decoders)   # e.g. a referee's optional package, before any output
    tasks = tasks_from_args(args)
    for task in tasks:
        check_fits(estimate_task(distance=task.distance, rounds=task.rounds),
                   what=f"--distance {task.distance} --rounds {task.rounds}")
    model, device = _model_args(args, decoders)
    if args.seed is None:
        args.seed = secrets.randbits(SEED_BITS)
    results: list[RunResult] = []
    provenance: list[dict] = []
    for task in tasks:
        dem_for = _dem_factory(task, args)    # a bad --weights is refused before any output
        budget = referee_budget_seconds(args, decoders)
        provenance.append(_provenance(task, args, decoders, model))
        start = (f"{', '.join(decoders)} on up to {args.max_shots:,} shots (until each has "
                 f"{args.max_errors} errors)")
        with ProgressBar(f"run d={task.distance} {task.basis}", start=start,
                         unit="shots") as bar:
            built = _build_decoders(task, decoders, dem_for, model=model, device=device,
                                    referee_budget_seconds=budget)
            results.append(run_task(task, shots=args.max_shots, decoders=decoders,
                                    seed=args.seed, max_errors=args.max_errors,
                                    progress=bar.update, built=built,
                                    chunk_shots=chunk_shots_for(task)))
        title = _title(task, args, built, device, provenance[-1]["model"])
        if not args.json:
            render_table(results[-1], title=title)
    if args.out is not None:
        append_sinter_csv(args.out, results, metadata=[_csv_metadata(r.task, prov, decoders)
                                                       for r, prov in zip(results, provenance)])
    if args.json:
        print(json.dumps(_json(results, provenance, args.basis)))
    return 0


def _provenance(task: Task, args: argparse.Namespace, decoders: list[str],
                model: str | None) -> dict:
    """What made this task's numbers: seed, noise, weights source and model (None when no
    decoder uses a pre-decoder)."""
    uses_model = any(name in MODEL_DECODERS for name in decoders)
    return {"seed": args.seed,
            "noise": noise_record(task, multipliers_seed=args.multipliers_seed),
            "weights": str(args.weights),
            "weights_source": weights_record(args.weights, learn_shots=args.learn_shots,
                                             seed=args.seed),
            "model": model_record(model) if uses_model else None}


def _csv_metadata(task: Task, provenance: dict, decoders: list[str]) -> tuple[dict, dict]:
    """(metadata every row shares, extra metadata per decoder): the pre-decoder's rows carry
    the model; the matchers' rows do not depend on it, so they merge across models."""
    shared = csv_metadata(task, noise=provenance["noise"],
                          weights=provenance["weights_source"])
    model = provenance["model"]
    return shared, {name: csv_model_metadata(model) for name in decoders
                    if name in MODEL_DECODERS}


def chunk_shots_for(task: Task) -> int:
    """Shots per sampling block: about 2^20 detector bits, a power of two in [256, 16384].
    It depends on the task only, so a seed gives the same shots whatever the decoders; small
    enough at d = 13 for the progress bar to move every few seconds under the pre-decoder."""
    target = (1 << 20) // max(task.circuit().num_detectors, 1)
    return max(256, min(16384, 1 << max(target.bit_length() - 1, 0)))


def _json(results: list[RunResult], provenance: list[dict], basis: str) -> dict:
    """One basis: its result with its provenance; both: each basis's, and the provenance the
    bases share (seed, weights source, model) at the top as well."""
    from qec import __version__

    objects = [{**r.to_json(__version__), **prov} for r, prov in zip(results, provenance)]
    if basis != "both":
        return objects[0]
    shared = {key: provenance[0][key] for key in ("seed", "noise", "weights", "weights_source",
                                                  "model")}
    return {"version": __version__, **shared,
            "bases": {r.task.basis: obj for r, obj in zip(results, objects)}}


def _model_args(args: argparse.Namespace, decoders: list[str]) -> tuple[str | None, str]:
    """Validate --model/--device up front (exit 2 on a bad value, before any sampling)."""
    if not any(name in MODEL_DECODERS for name in decoders):
        if args.model is not None:
            raise InputError(f"--model={args.model!r} applies to the pre-decoder decoders "
                             f"only; none of --decoder {', '.join(decoders)} uses one")
        return None, "cpu"   # no pre-decoder: never import torch
    from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS, mode_of
    from predecoder.weights import load_model, resolve_model

    device = resolve_device(args.device)
    try:
        resolve_model(args.model)
    except InputError as exc:
        raise InputError(f"--{exc}") from exc
    loaded = load_model(args.model, device=device)   # cached: the build loads it again free
    for name in decoders:     # e.g. soft mode (the consensus decoders' too) without a soft_cap
        if name in MODEL_DECODERS:
            loaded.policy(mode_of(name) if name in PREDECODER_DECODERS else "soft")
    return args.model, device


def _dem_factory(task: Task, args: argparse.Namespace):
    """``dem(correlated)`` of --weights for ``task`` (a bad --weights value or file raises
    now; --weights learned estimates on the first call)."""
    try:
        dem_for = task_dem_factory(task, weights=args.weights, seed=args.seed,
                                   learn_shots=args.learn_shots)
    except InputError as exc:
        raise InputError(f"--weights: {exc}") from exc
    _warn_if_learned_on_other_noise(task, args.weights)
    return dem_for


def _build_decoders(task: Task, decoders: list[str], dem_for, *, model: str | None,
                    device: str, referee_budget_seconds: float | None) -> dict:
    """Every named decoder, its global matcher built from the --weights DEM ``dem_for``.

    Decoders whose name ends in 'correlated' get the correlated DEM (mechanisms with
    learned probabilities); --weights true keeps the task's own DEM.
    """
    return {name: make_decoder(name, task, dem=dem_for(name.endswith("correlated")
                                                       or name in CONSENSUS_DECODERS),
                               model=model, device=device,
                               referee_budget_seconds=referee_budget_seconds)
            for name in decoders}


def _warn_if_learned_on_other_noise(task: Task, weights: str) -> None:
    """A weights file simulated from other noise (another family, p or multipliers) decodes
    this task with the wrong weights: say so, as ``run`` does for a model trained on other
    noise. Files learned from samples name no noise and are trusted."""
    if str(weights) in ("true", "learned", "uniform"):
        return
    from noise.weights_file import load_noise_weights

    simulated = load_noise_weights(weights).source.get("simulate")
    if not isinstance(simulated, dict) or "noise_fingerprint" not in simulated:
        return
    if simulated["noise_fingerprint"] != task.noise.fingerprint:
        learned = (f"{simulated.get('noise')} p={simulated.get('p')} multipliers-seed="
                   f"{simulated.get('multipliers_seed')}")
        log.warning("--weights=%r was learned from other noise (%s) than this run decodes "
                    "(%s p=%g, noise fingerprint %s); pass the same --noise, --p and "
                    "--multipliers-seed that learn-noise simulated", str(weights), learned,
                    task.noise.name, task.noise.p, task.noise.fingerprint)


def _title(task: Task, args: argparse.Namespace, built: dict, device: str,
           model: dict | None) -> str:
    """What the run was: task (multipliers' seed too), seed, weights, and the pre-decoder's
    model (file and hash), mode and device."""
    mult = "" if args.multipliers_seed is None else f" multipliers-seed={args.multipliers_seed}"
    parts = [f"rotated surface code d={task.distance} rounds={task.rounds} basis={task.basis} "
             f"noise={task.noise.name} p={task.noise.p:g}{mult} seed={args.seed} "
             f"weights={args.weights}"]
    for name, dec in built.items():
        if name in MODEL_DECODERS:
            parts.append(f"{name}: model {Path(dec.loaded.path).name} (sha256 "
                         f"{model['sha256']}), {dec.policy.describe()}, {device}")
    return "; ".join(parts)
