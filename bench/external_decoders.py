"""Decode stim b8 detection events with an external reference decoder.

Standalone helper so the benchmark can put reference decoders on the *same* shots as qecpipe's
own decoders. It imports nothing from qecpipe (only stdlib, numpy, stim and the decoder
package) and is meant to run in the separate venv ``.venv-ref``, created with::

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install stim numpy beliefmatching tesseract-decoder

Usage::

    .venv-ref/bin/python bench/external_decoders.py --decoder {beliefmatching,tesseract} \\
        --dem FILE.dem --dets FILE.b8 --out PRED.b8 [--json TIMING.json] [--shots N]

``FILE.dem`` is a decomposed detector error model (``circuit.detector_error_model(
decompose_errors=True, approximate_disjoint_errors=True)`` written with ``str()``),
``FILE.b8`` holds ``num_detectors`` bit-packed (little-endian) detection events per shot, and
``PRED.b8`` receives the predicted observable flips (``num_observables`` bits per shot).

Decoders and settings:

* ``beliefmatching``: ``BeliefMatching(dem, max_bp_iters=20, bp_method="product_sum")`` (the
  package defaults, as in its README), ``decode_batch`` over all shots.
* ``tesseract``: the "long-beam" configuration of the Tesseract paper / README (also the
  package's default ``tesseract`` sinter decoder): ``det_beam=20, beam_climbing=True,
  pqlimit=1_000_000, no_revisit_dets=True`` and 21 ``DetIndex`` detector orders (seed 0);
  ``--tesseract-preset short`` selects the paper's short-beam set (15 / 200_000 / 16 orders).
  Shots are decoded one at a time with ``TesseractDecoder.decode``; shots the decoder flags as
  low-confidence are counted in the JSON.

``seconds`` / ``us_per_shot`` in the JSON time the decoding loop only (single thread); package
import and decoder construction are excluded (the latter is ``config.setup_seconds``).

Exit status 2 with a one-line message on missing files, an unparsable DEM, or a detector-count
mismatch. b8 has no header, so a mismatch is caught from the file size and zero padding bits;
pass ``--shots N`` to also catch mismatches that keep the same number of bytes per shot.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import stim

TESSERACT_PRESETS: dict[str, dict[str, int]] = {
    "long": {"det_beam": 20, "pqlimit": 1_000_000, "num_det_orders": 21},
    "short": {"det_beam": 15, "pqlimit": 200_000, "num_det_orders": 16},
}
Result = tuple[np.ndarray, dict[str, Any], float]  # predictions, config, decode seconds


def fail(msg: str) -> NoReturn:
    """Print a one-line error and exit with status 2."""
    print(f"external_decoders: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_dets(path: Path, num_detectors: int) -> np.ndarray:
    """Read b8 detection events as a (shots, num_detectors) bool array, checking the size."""
    raw = np.fromfile(path, dtype=np.uint8)
    width = (num_detectors + 7) // 8
    if width == 0 or raw.size % width:
        fail(f"{path}: {raw.size} bytes is not a multiple of {width} bytes/shot "
             f"(DEM has {num_detectors} detectors)")
    bits = np.unpackbits(raw.reshape(-1, width), axis=1, bitorder="little")
    if bits[:, num_detectors:].any():
        fail(f"{path}: padding bits set; shots have more than the DEM's {num_detectors} detectors")
    return bits[:, :num_detectors].astype(bool)


def decode_beliefmatching(dem: stim.DetectorErrorModel, dets: np.ndarray, iters: int) -> Result:
    """Decode all shots with belief-matching (BP, then MWPM with BP-reweighted edges)."""
    from beliefmatching import BeliefMatching

    config: dict[str, Any] = {"max_bp_iters": iters, "bp_method": "product_sum"}
    t0 = time.perf_counter()
    decoder = BeliefMatching(dem, **config)
    t1 = time.perf_counter()
    preds = np.asarray(decoder.decode_batch(dets), dtype=bool)
    config["setup_seconds"] = t1 - t0
    return preds, config, time.perf_counter() - t1


def decode_tesseract(dem: stim.DetectorErrorModel, dets: np.ndarray, preset: str) -> Result:
    """Decode all shots with Tesseract (A*/beam search for the most likely error)."""
    from tesseract_decoder import tesseract, utils

    p = TESSERACT_PRESETS[preset]
    t0 = time.perf_counter()
    det_orders = utils.build_det_orders(
        dem=dem, num_det_orders=p["num_det_orders"], method=utils.DetOrder.DetIndex, seed=0
    )
    decoder = tesseract.TesseractConfig(
        dem=dem, det_beam=p["det_beam"], beam_climbing=True, pqlimit=p["pqlimit"],
        no_revisit_dets=True, merge_errors=True, det_orders=det_orders,
    ).compile_decoder()
    t1 = time.perf_counter()
    preds = np.zeros((dets.shape[0], dem.num_observables), dtype=bool)
    low_conf = 0
    for i, shot in enumerate(dets):
        preds[i] = decoder.decode(shot)
        low_conf += bool(decoder.low_confidence_flag)
    seconds = time.perf_counter() - t1
    config = {"preset": preset, **p, "beam_climbing": True, "no_revisit_dets": True,
              "merge_errors": True, "det_order_method": "DetIndex", "det_order_seed": 0,
              "low_confidence_shots": low_conf, "setup_seconds": t1 - t0}
    return preds, config, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decoder", required=True, choices=["beliefmatching", "tesseract"])
    ap.add_argument("--dem", required=True, type=Path, help="decomposed stim DEM text file")
    ap.add_argument("--dets", required=True, type=Path, help="detection events, b8")
    ap.add_argument("--out", required=True, type=Path, help="predicted observable flips, b8")
    ap.add_argument("--json", type=Path, help="write decoder/version/timing/config JSON")
    ap.add_argument("--shots", type=int, help="expected shot count (stricter mismatch check)")
    ap.add_argument("--max-bp-iters", type=int, default=20, help="beliefmatching BP iterations")
    ap.add_argument("--tesseract-preset", choices=sorted(TESSERACT_PRESETS), default="long")
    args = ap.parse_args(argv)

    for path in (args.dem, args.dets):
        if not path.is_file():
            fail(f"no such file: {path}")
    try:
        dem = stim.DetectorErrorModel(args.dem.read_text())
    except (ValueError, IndexError, RuntimeError) as exc:
        fail(f"{args.dem}: not a stim DEM ({str(exc).splitlines()[0]})")
    dets = read_dets(args.dets, dem.num_detectors)
    shots = int(dets.shape[0])
    if args.shots is not None and shots != args.shots:
        fail(f"{args.dets}: {shots} shots of {dem.num_detectors} detectors, expected "
             f"{args.shots}: detector-count mismatch between DEM and shots?")

    if args.decoder == "beliefmatching":
        preds, config, seconds = decode_beliefmatching(dem, dets, args.max_bp_iters)
        package = "beliefmatching"
    else:
        preds, config, seconds = decode_tesseract(dem, dets, args.tesseract_preset)
        package = "tesseract-decoder"

    args.out.parent.mkdir(parents=True, exist_ok=True)
    stim.write_shot_data_file(
        data=preds, path=str(args.out), format="b8", num_observables=dem.num_observables
    )
    if args.json:
        record = {"decoder": args.decoder, "version": importlib.metadata.version(package),
                  "shots": shots, "seconds": seconds,
                  "us_per_shot": 1e6 * seconds / shots if shots else None, "config": config}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.decoder}: {shots} shots decoded in {seconds:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
