"""``qecpipe stream``: the real-time throughput test of the streaming decoding service.

Rounds of a long memory experiment (sampled once with stim, or read from an ``.npz`` written
by ``RoundSource.save``) arrive every ``--cycle-us`` microseconds and are decoded in parallel
windows by ``--workers`` Ray actors (0: in-process). Without ``--address`` a local Ray is
started for the run and shut down after it; with ``--address`` the run joins that cluster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qec import NOISE_NAMES, NoiseModel


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipelines._stream.ray_pool import local_cpus

    p = sub.add_parser("stream", help="real-time throughput test of windowed decoding on Ray")
    p.add_argument("--distance", type=int, required=True, help="odd code distance >= 3")
    p.add_argument("--rounds", type=int, default=1000, help="rounds >= 1 (default 1000)")
    p.add_argument("--cycle-us", type=float, default=1.0,
                   help="microseconds between rounds; 0 = all at once (default 1)")
    p.add_argument("--workers", type=int, default=local_cpus(),
                   help="decoder actors; 0 = in-process (default: the cores here)")
    p.add_argument("--address", default=None,
                   help="join a Ray cluster: auto or HOST:PORT (default: start a local Ray)")
    p.add_argument("--shots", type=int, default=4, help="parallel streams decoded in lockstep")
    p.add_argument("--basis", default="X", help="X or Z (default X)")
    p.add_argument("--noise", default="uniform", help=f"one of {', '.join(NOISE_NAMES)}")
    p.add_argument("--p", type=float, default=0.001, help="physical error rate in (0, 0.5)")
    p.add_argument("--n-com", type=int, default=0, help="commit rounds per window (default d)")
    p.add_argument("--n-buf", type=int, default=0, help="buffer rounds per side (default d)")
    p.add_argument("--max-in-flight", type=int, default=0,
                   help="windows dispatched at once (default 2 per worker)")
    p.add_argument("--input", type=Path, default=None, help="rounds from this .npz instead")
    p.add_argument("--predecoder", nargs="?", const="default", default=None, metavar="MODEL",
                   help="run the AI pre-decoder first, block by block, and decode its "
                        "residual (shipped preset name or .safetensors path; no value: the "
                        "shipped default model)")
    p.add_argument("--mode", default="soft",
                   help="pre-decoder mode: soft (per-shot weights, accurate) or hard "
                        "(commit above the calibrated threshold, fast) (default soft)")
    p.add_argument("--block-slices", type=int, default=0,
                   help="slices per pre-decoder block (default: --n-com)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def _config(args: argparse.Namespace):
    from pipelines._stream.config import StreamConfig

    if args.noise not in NOISE_NAMES:
        raise ValueError(f"--noise={args.noise!r} is unknown; choose one of "
                         f"{', '.join(NOISE_NAMES)}")
    if not 0 < args.p < 0.5:
        raise ValueError(f"--p={args.p} must be in (0, 0.5)")
    if args.address is not None and args.workers < 1:
        raise ValueError(f"--address={args.address!r} needs --workers >= 1 "
                         f"(--workers={args.workers} decodes in-process)")
    if args.input is not None and not args.input.is_file():
        raise ValueError(f"--input={str(args.input)!r} is not a file")
    return StreamConfig(distance=args.distance, rounds=args.rounds, basis=args.basis,
                        noise=NoiseModel.named(args.noise, args.p), shots=args.shots,
                        cycle_us=args.cycle_us, workers=args.workers, n_com=args.n_com,
                        n_buf=args.n_buf, max_in_flight=args.max_in_flight, seed=args.seed)


def execute(args: argparse.Namespace) -> int:
    from pipelines._command.report import ProgressBar
    from pipelines._stream.result import run_stream
    from pipelines._stream.source import RoundSource
    from qec import __version__

    config = _config(args)
    source = None
    if args.input is not None:
        source = RoundSource.from_file(args.input, task=config.task(), cycle_us=config.cycle_us)
    predecoder, pool = _predecoder(args, config), None
    with ProgressBar(f"stream d={config.distance}", enabled=not args.json) as bar:
        if config.workers == 0:
            result = run_stream(config, source=source, predecoder=predecoder,
                                progress=bar.update)
        else:
            from pipelines._stream.ray_pool import RayPool, ray_session
            from pipelines._stream.service import soft_cap_of

            with ray_session(args.address):
                pool = RayPool(config=config, soft_cap=soft_cap_of(predecoder))
                result = run_stream(config, pool=pool, source=source, predecoder=predecoder,
                                    progress=bar.update)
    out = {"version": __version__, "task": config.task().metadata(seed=config.seed),
           **result.to_json()}
    if pool is not None:
        out["ray_nodes"] = len({node for node, _ in pool.placement})
    if predecoder is not None:
        out["predecoder"] = {"model": str(args.predecoder), "mode": args.mode,
                             "policy": predecoder.policy.describe(),
                             "block_slices": predecoder.block_slices}
    if args.json:
        print(json.dumps(out))
    else:
        _print_summary(out)
    return 0


def _predecoder(args: argparse.Namespace, config):
    """The block-wise pre-decoder of ``--predecoder``/``--mode`` (None without one)."""
    if args.predecoder is None:
        return None
    if args.mode not in ("hard", "soft"):
        raise ValueError(f"--mode={args.mode!r} must be hard or soft")
    if args.block_slices < 0:
        raise ValueError(f"--block-slices={args.block_slices} must be >= 1 (0: --n-com)")
    from pipelines._decoders.blocks import BlockPredecoder
    from predecoder import load_model

    model = None if args.predecoder == "default" else args.predecoder
    try:
        loaded = load_model(model)
    except ValueError as exc:
        raise ValueError(f"--predecoder: {exc}") from exc
    return BlockPredecoder(task=config.task(), net=loaded.net, policy=loaded.policy(args.mode),
                           block_slices=args.block_slices or config.plan().n_com)


def _print_summary(out: dict) -> None:
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
        f"windowed LER {dec['errors']}/{dec['shots']} = {dec['ler']:.2e} "
        f"[{dec['ler_low']:.1e}, {dec['ler_high']:.1e}]",
    ]
    print("\n".join(lines))
