"""Every notebook in notebooks/ runs top to bottom, and its saved copy shows its plots."""

from __future__ import annotations

from pathlib import Path

import nbclient  # the test extra: nbclient, nbformat, ipykernel
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 120
IMAGE_TYPES = ("image/png", "image/svg+xml")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_saved_notebook_is_executed_and_shows_its_plots(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were saved without outputs"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was saved with an error: {errors[0].get('ename')}"
    images = [o for c in code for o in c.outputs if any(t in o.get("data", {})
                                                        for t in IMAGE_TYPES)]
    assert images, f"{path.name} was saved without any plot"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_without_error(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}})  # files a notebook writes go here
    client.execute()  # raises CellExecutionError naming the cell on any error
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
