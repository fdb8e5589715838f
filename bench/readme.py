"""Copy generated tables from bench/results/ into the README's marked blocks.

A block in README.md looks like::

    <!-- bench:baseline.md -->
    ...replaced with the contents of bench/results/baseline.md...
    <!-- /bench:baseline.md -->

so the README's numbers are the result files' numbers, never retyped. A block
``<!-- cli:run -->`` holds ``qecpipe run --help``, so the CLI reference is the parser's own.

    python -m bench.readme            # rewrite README.md in place
    python -m bench.readme --check    # exit 1 if README.md differs from the results
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from bench._meta import REPO_ROOT, write_text

BLOCK = re.compile(r"(<!-- (?P<kind>bench|cli):(?P<name>[\w.\-]*) -->\n)(?P<body>.*?)"
                   r"(<!-- /(?P=kind):(?P=name) -->)", re.DOTALL)
HELP_WIDTH = "100"


def render(readme: str, results: Path) -> str:
    """``readme`` with every marked block replaced by its results file."""
    def fill(m: re.Match) -> str:
        if m.group("kind") == "cli":
            text = "```text\n" + cli_help(m.group("name")).rstrip("\n") + "\n```"
        else:
            path = results / m.group("name")
            if not path.exists():
                raise FileNotFoundError(f"README block names {path}, which does not exist")
            text = path.read_text().rstrip("\n")
        return m.group(1) + text + "\n" + m.group(5)
    return BLOCK.sub(fill, readme)


def cli_help(subcommand: str) -> str:
    """``qecpipe [SUBCOMMAND] --help`` at a fixed width (independent of the terminal)."""
    import os
    from unittest import mock

    from pipelines._command.main import build_parser

    with mock.patch.dict(os.environ, {"COLUMNS": HELP_WIDTH}):
        parser = build_parser()
        if not subcommand:
            return parser.format_help()
        sub = next(a for a in parser._subparsers._group_actions if a.choices)  # noqa: SLF001
        return sub.choices[subcommand].format_help()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--quick", action="store_true", help="accepted for `bench all`; no-op")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    old = args.readme.read_text()
    new = render(old, args.results)
    if args.check:
        if new != old:
            print("README.md differs from bench/results; run python -m bench.readme",
                  file=sys.stderr)
            return 1
        return 0
    write_text(args.readme, new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
