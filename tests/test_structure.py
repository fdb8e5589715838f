"""The package map of docs/design.md, enforced: import directions, no private names across
modules, no import cycles, short modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qec", "predecoder", "noise", "pipelines")
PIPELINES = {"pipelines", "pipelines._windows", "pipelines._decoders", "pipelines._stream",
             "pipelines._serve", "pipelines._command"}
# package (or pipelines subpackage) -> the qecpipe packages it may import
ALLOWED = {
    "qec": {"qec"},
    "predecoder": {"qec", "predecoder"},
    "noise": {"qec", "noise"},
    "pipelines._windows": {"qec", "pipelines._windows"},
    "pipelines._decoders": {"qec", "predecoder", "noise", "pipelines._windows",
                            "pipelines._decoders"},
    "pipelines._stream": {"qec", "predecoder", "pipelines._windows", "pipelines._decoders",
                          "pipelines._stream"},
    "pipelines._serve": {"qec", "predecoder", "pipelines._windows", "pipelines._decoders",
                         "pipelines._stream", "pipelines._serve"},
    "pipelines._command": {"qec", "predecoder", "noise", *PIPELINES},
    "pipelines": {"qec", "predecoder", "noise", *PIPELINES},
}
FORBIDDEN_THIRD_PARTY = {"qec": {"torch", "ray"}, "predecoder": {"ray"}, "noise": {"ray"}}
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module imported, names imported from it) for every import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, tuple(alias.name for alias in node.names)))
    return out


def _owner(module: str) -> str:
    """The ALLOWED key a module belongs to (its pipelines subpackage, else its package)."""
    parts = module.split(".")
    if parts[0] == "pipelines" and len(parts) > 1 and parts[1].startswith("_"):
        return ".".join(parts[:2])
    return parts[0]


def _target(imported: str) -> str | None:
    top = imported.split(".")[0]
    return _owner(imported) if top in PACKAGES else None


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module):
    owner = _owner(module)
    for imported, _ in _imports(MODULES[module]):
        target = _target(imported)
        if target is not None:
            assert target in ALLOWED[owner], f"{module} imports {imported}"
        top = imported.split(".")[0]
        assert top not in FORBIDDEN_THIRD_PARTY.get(owner, set()), f"{module} imports {top}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_across_modules(module):
    for imported, names in _imports(MODULES[module]):
        if _target(imported) is None or imported == module:
            continue
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{module} imports private {private} from {imported}"


def test_no_import_cycles_between_modules():
    graph = {m: {imp for imp, _ in _imports(p) if imp in MODULES and imp != m}
             for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for nxt in graph[m]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_short(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it (about 500 at most)"


def test_nothing_below_pipelines_imports_it_and_qec_imports_no_torch_at_runtime():
    import subprocess
    import sys

    code = ("import sys, qec, predecoder, noise; "
            "print(sorted(m for m in ('pipelines', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"
    code = "import sys, qec; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "False"


def test_the_design_notes_map_every_subpackage():
    notes = (ROOT / "docs" / "design.md").read_text()
    subpackages = sorted({_owner(m) for m in MODULES if _owner(m).startswith("pipelines._")})
    for name in [*PACKAGES, *(s.split(".")[1] for s in subpackages)]:
        assert f"`{name}`" in notes, f"docs/design.md does not map {name}"
