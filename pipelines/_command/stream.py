"""``qecpipe stream``: the real-time throughput test of the streaming decoding service.

Rounds of a long memory experiment (sampled once with stim, or read from an ``.npz`` written
by ``RoundSource.save``) arrive every ``--cycle-us`` microseconds and go through the stages:
the AI pre-decoder (``--decoder predecoder+soft-matching`` or ``predecoder+pymatching``;
block by block, batched; one Ray actor per GPU, else one CPU actor) and the matchers
(parallel windows on ``--workers`` Ray actors; 0: everything in-process). Without
``--address`` a local Ray is started for the run and shut down after it; with ``--address``
the run joins that cluster.
"""

from __future__ import annotations

import argparse
import json

from pipelines._command.common import (
    MAX_ROUNDS,
    STREAM_P,
    add_task_flags,
    add_windowed_decoder_flags,
    input_file,
    integer,
    number,
    stdout_for_json,
    task_of,
    windowed_decoder,
    windowed_mode,
)
from pipelines._command.provenance import model_record, noise_record
from qec import InputError, check_fits, estimate_task


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipelines._stream.ray_session import local_cpus

    p = sub.add_parser("stream", help="real-time throughput test of windowed decoding on Ray")
    add_task_flags(p, rounds_default=1000, p_default=STREAM_P)
    p.add_argument("--cycle-us", type=number(0, 1e9), default=1.0,
                   help="microseconds between rounds; 0 = all at once (default 1)")
    p.add_argument("--workers", type=integer(0, 4096), default=local_cpus(),
                   help=f"decoder actors; 0 = in-process (default: the cores here, "
                        f"{local_cpus()})")
    p.add_argument("--address", default=None,
                   help="join a Ray cluster: auto or HOST:PORT (default: start a local Ray)")
    p.add_argument("--shots", type=integer(1, 1 << 16), default=4,
                   help="parallel streams decoded in lockstep (default 4)")
    p.add_argument("--n-com", type=integer(0, MAX_ROUNDS), default=0,
                   help="commit rounds per window (default: the distance)")
    p.add_argument("--n-buf", type=integer(0, MAX_ROUNDS), default=0,
                   help="buffer rounds per side (default: the distance)")
    p.add_argument("--max-in-flight", type=integer(0, 1 << 16), default=0,
                   help="calls out at once per stage (default 2 per worker)")
    p.add_argument("--batch-windows", type=integer(1, 1 << 12), default=8,
                   help="most windows per matcher call, when that many are ready (default 8)")
    p.add_argument("--batch-blocks", type=integer(1, 1 << 12), default=16,
                   help="most blocks per pre-decoder call (one forward pass) (default 16)")
    p.add_argument("--input", type=input_file, default=None,
                   help="rounds from this .npz (RoundSource.save) instead of sampling them")
    add_windowed_decoder_flags(p, default="pymatching", predecoder_alias=True)
    p.add_argument("--block-slices", type=integer(0, MAX_ROUNDS), default=0,
                   help="slices per pre-decoder block (default: --n-com)")
    p.add_argument("--seed", type=integer(0), default=1, help="(default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def _config(args: argparse.Namespace):
    from pipelines._stream.config import StreamConfig

    if args.address is not None and args.workers < 1:
        raise InputError(f"--address={args.address!r} needs --workers >= 1 "
                         f"(--workers={args.workers} decodes in-process)")
    config = StreamConfig(distance=args.distance, rounds=args.rounds, basis=args.basis,
                          noise=task_of(args, args.basis).noise, shots=args.shots,
                          cycle_us=args.cycle_us, workers=args.workers, n_com=args.n_com,
                          n_buf=args.n_buf, max_in_flight=args.max_in_flight,
                          batch_windows=args.batch_windows, batch_blocks=args.batch_blocks,
                          seed=args.seed)
    plan = config.plan()
    widest = max(w.hi - w.lo for w in plan.windows)
    check_fits(estimate_task(distance=args.distance, rounds=widest + 6),
               what=f"windows of {widest} rounds at --distance {args.distance}")
    stream_bytes = args.shots * (args.distance ** 2 - 1) * (args.rounds + 1) * 3
    if stream_bytes > 8 * 2**30:
        raise InputError(f"--rounds {args.rounds} x --shots {args.shots} at --distance "
                         f"{args.distance}: the stream's detection events need about "
                         f"{stream_bytes / 2**30:.0f} GiB in memory (at most 8 GiB)")
    return config


def execute(args: argparse.Namespace) -> int:
    from pipelines._command.report import ProgressBar
    from pipelines._stream.result import run_stream
    from pipelines._stream.source import RoundSource
    from qec import __version__

    config = _config(args)
    source = None
    if args.input is not None:
        source = RoundSource.from_file(args.input, task=config.task(), cycle_us=config.cycle_us)
    (predecoder, model), pool, pre_pool = _predecoder(args, config), None, None
    with stdout_for_json(args.json) as emit, \
            ProgressBar(f"stream d={config.distance}", enabled=not args.json) as bar:
        if config.workers == 0:
            result = run_stream(config, source=source, predecoder=predecoder,
                                progress=bar.update)
        else:
            from pipelines._stream.ray_pool import RayPool, RayPredecoderPool
            from pipelines._stream.ray_session import ray_session
            from pipelines._stream.service import soft_cap_of

            with ray_session(args.address):
                pool = RayPool(config=config, soft_cap=soft_cap_of(predecoder))
                if predecoder is not None:
                    pre_pool = RayPredecoderPool(predecoder=predecoder)
                result = run_stream(config, pool=pool, source=source, predecoder=predecoder,
                                    predecoder_pool=pre_pool, progress=bar.update)
        out = {"version": __version__, "task": config.task().metadata(seed=config.seed),
               "seed": config.seed,
               "noise": noise_record(config.task(), multipliers_seed=args.multipliers_seed),
               "weights_source": {"source": "true"}, **result.to_json()}
        if pool is not None:
            placed = pool.placement + (pre_pool.placement if pre_pool is not None else [])
            out["ray_nodes"] = len({node for node, _ in placed})
            if pre_pool is not None:
                out["predecoder_actors"] = {"count": pre_pool.num_workers,
                                            "gpus": pre_pool.gpus}
        if predecoder is not None:
            out["predecoder"] = {"model": model_record(model),
                                 "mode": predecoder.policy.mode,
                                 "policy": predecoder.policy.describe(),
                                 "block_slices": predecoder.block_slices}
        emit(json.dumps(out) if args.json else _summary(out))
    return 0


def _predecoder(args: argparse.Namespace, config):
    """The block-wise pre-decoder of ``--decoder``/``--model`` (None for pymatching) and the
    model's name as given (None: the shipped default)."""
    decoder, model = windowed_decoder(args)
    if decoder == "pymatching":
        return None, None
    from pipelines._decoders.blocks import BlockPredecoder
    from predecoder import load_model

    try:
        loaded = load_model(model)
    except ValueError as exc:   # name the flag the user gave the model with
        flag = "--predecoder" if getattr(args, "old_predecoder", None) else "--model"
        raise InputError(f"{flag}: {exc}") from exc
    policy = loaded.policy(windowed_mode(decoder))
    return BlockPredecoder(task=config.task(), net=loaded.net, policy=policy,
                           block_slices=args.block_slices or config.plan().n_com), model


def _summary(out: dict) -> str:
    dec = next(iter(out["decoders"].values()))
    lines = [
        f"d={out['task']['distance']} rounds={out['rounds']} shots={out['shots']} "
        f"cycle={out['cycle_us']} us workers={out['workers']} "
        f"windows={out['windows_committed']} (n_com={out['n_com']}, n_buf={out['n_buf']})",
        f"sustained {out['rounds_per_second']:.0f} rounds/s; window latency p50 "
        f"{out['window_latency_us_p50']:.0f} us, p99 {out['window_latency_us_p99']:.0f} us",
        f"max backlog {out['max_backlog_rounds']} rounds (bound {out['backlog_bound_rounds']}); "
        f"kept up: {'yes' if out['kept_up'] else 'no'}; windows re-run: {out['windows_rerun']}",
        "per worker: " + ", ".join(f"#{k} {v['windows']} windows, {v['rounds_per_second']:.0f}"
                                   " rounds/s" for k, v in out["per_worker"].items()),
        f"mean window decode {out['mean_window_decode_us']:.0f} us"
        + (f"; N_par for {out['cycle_us']} us cycle: {out['n_par']}" if "n_par" in out else ""),
        *(f"stage {name}: {st['jobs']} jobs in {st['calls']} calls "
          f"({st['mean_jobs_per_call']:.1f} per call), {st['work_us_per_round']:.0f} us of work "
          f"per round, N_par for a 1 us cycle: {st['n_par_1us']}"
          for name, st in out["stages"].items()),
        (f"windowed LER {dec['errors']}/{dec['shots']}: < {dec['ler_high']:.1e} (95% upper "
         "bound; no errors)") if dec["ler_is_upper_bound"] else
        (f"windowed LER {dec['errors']}/{dec['shots']} = {dec['ler']:.2e} "
         f"[{dec['ler_low']:.1e}, {dec['ler_high']:.1e}]"),
    ]
    return "\n".join(lines)
