"""The README's code is code: its Python runs, and its test command is what CI runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run_as_scripts(index, tmp_path):
    """Each Python block, saved as a script and run in a fresh interpreter from an empty
    folder, as a user would: it exits 0 and prints its results (decoder names among them)."""
    script = tmp_path / f"readme_example_{index}.py"
    script.write_text(_blocks("python")[index])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "pymatching" in proc.stdout


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = README.split("## Set up: two commands")[1].split("\n## ")[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, flags=re.DOTALL)]
    assert len(commands) == 2
    assert commands[0].endswith("qecpipe run --distance 13")
    assert "torch==2.13.0" in commands[0] and "torch==2.13.0" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_tables_equal_the_result_files():
    from bench.readme import render

    assert render(README, ROOT / "bench" / "results") == README
