"""qecpipe: surface-code decoding with stim, an AI pre-decoder, PyMatching, noise learning and Ray.

One ``main(argv)`` dispatches to a module per subcommand, inside one error boundary:

- bad input (``qec.InputError``, an argparse error, or an ``OSError``/``EOFError`` reading or
  writing a file the user named) prints ONE line naming the flag or file, the value and what
  is allowed, and exits with code 2;
- anything else is a bug in qecpipe: one line saying so, exit code 1; ``--debug`` shows the
  traceback instead;
- Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from pipelines._command import (
    calibrate,
    circuit,
    decode,
    decoders,
    learn_noise,
    loadtest,
    run,
    serve,
    stream,
    train,
)
from qec import InputError, RunFailure

EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 2, 1, 130
COMMANDS = (run, decode, learn_noise, stream, serve, loadtest, train, calibrate, circuit, decoders)
TOP_LEVEL_FLAGS = ("-h", "--help", "--version", "--debug")


class UsageError(InputError):
    """A bad command line (unknown flag, missing or malformed value)."""


class _Formatter(argparse.HelpFormatter):
    """--help shows every flag's default (unless the help text already names it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.default not in (None, False, argparse.SUPPRESS)
                and action.option_strings):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, exit 2; never a usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from qec import __version__

    parser = _Parser(prog="qecpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"qecpipe {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an internal error (a bug) instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qecpipe`` with ``argv`` (default: sys.argv[1:]); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        _check_top_level(argv, parser)
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except InputError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (OSError, EOFError) as exc:   # a file the user named could not be read or written
        return _fail(_io_message(exc), EXIT_USAGE)
    except RunFailure as exc:     # valid work that failed (diverged, workers kept dying)
        return _fail(f"the run failed: {exc}", EXIT_BUG)
    except KeyboardInterrupt:
        print("qecpipe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 -- the boundary: a bug gets one line, not a dump
        if debug:
            raise
        return _fail(f"internal error (a bug in qecpipe): {type(exc).__name__}: {exc}; "
                     "re-run with --debug for the traceback", EXIT_BUG, prefix="qecpipe: ")


def _check_top_level(argv: list[str], parser: argparse.ArgumentParser) -> None:
    """Flags before the subcommand must be qecpipe's own (argparse would otherwise report the
    subcommand's missing arguments instead of the unknown flag)."""
    names = set(_subcommands(parser))
    for arg in argv:
        if arg in names:
            return
        if arg not in TOP_LEVEL_FLAGS:
            raise UsageError(f"unrecognized argument {arg!r} before the subcommand; qecpipe "
                             f"takes {', '.join(TOP_LEVEL_FLAGS)} there, then one of "
                             f"{', '.join(sorted(names))}")
    if not {"-h", "--help", "--version"} & set(argv):
        raise UsageError(f"give a subcommand: one of {', '.join(sorted(names))} "
                         "(qecpipe --help lists them)")


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return list(action.choices)


def _io_message(exc: OSError | EOFError) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename!s}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _fail(message: str, code: int, *, prefix: str = "qecpipe: error: ") -> int:
    print(prefix + " ".join(message.split()), file=sys.stderr)   # always exactly one line
    return code


def entry_point() -> None:
    # A file-size limit (ulimit -f) then fails a write with EFBIG, which the atomic writers
    # report, instead of killing the process mid-file.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
