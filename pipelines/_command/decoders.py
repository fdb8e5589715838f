"""``qecpipe decoders``: the decoder names ``run``, ``decode``, ``serve`` and sinter take."""

from __future__ import annotations

import argparse
import json

DESCRIPTIONS = {
    "pymatching": "PyMatching on the DEM's static weights (sinter's name)",
    "pymatching-correlated": "PyMatching with correlated matching (sinter's name)",
    "predecoder+pymatching": "AI pre-decoder, hard mode (commit above the calibrated "
                             "threshold), then PyMatching on the residual: the speed mode",
    "predecoder+pymatching-correlated": "hard mode, then correlated PyMatching",
    "predecoder+soft-matching": "AI pre-decoder, soft mode (per-shot weights |logit|), then "
                                "blossom matching on the residual: the accuracy mode",
    "predecoder+consensus": "layered: soft mode and correlated PyMatching decode every shot; "
                            "belief-matching settles the ~2 % they dispute (needs "
                            "beliefmatching: pip install 'qecpipe[referees]')",
    "predecoder+consensus-tesseract": "layered; tesseract (short beam) settles the disputed "
                                      "shots: slower (needs tesseract-decoder: "
                                      "qecpipe[referees])",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decoders", help="list the decoder names")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    from pipelines._decoders.registry import DECODER_NAMES

    if set(DESCRIPTIONS) != set(DECODER_NAMES):
        raise RuntimeError("the decoder descriptions are out of date with the registry")
    if args.json:
        print(json.dumps({"decoders": {n: DESCRIPTIONS[n] for n in DECODER_NAMES}}))
    else:
        width = max(map(len, DECODER_NAMES))
        print("\n".join(f"{n:<{width}}  {DESCRIPTIONS[n]}" for n in DECODER_NAMES))
    return 0
