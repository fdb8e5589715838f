"""qecpipe: surface-code decoding with stim, an AI pre-decoder, PyMatching, noise learning and Ray.

One ``main(argv)`` dispatches to a module per subcommand.

Bad input exits with code 2 and one line naming the value and what is allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines._command import decode, learn_noise, run, stream, train

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command-line value; its message names the value and the rule."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2; never a usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from qec import __version__

    parser = _Parser(prog="qecpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"qecpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in (run, decode, learn_noise, stream, train):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qecpipe`` with ``argv`` (default: sys.argv[1:]); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"qecpipe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError) as exc:
        # Library validation errors name the value and the rule; show them, not a traceback.
        print(f"qecpipe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qecpipe: interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
