"""Noiseless rotated surface-code memory circuits, built by the project.

Layout (the convention of ``stim.Circuit.generated("surface_code:rotated_memory_*")``):
data qubit (col a, row b) sits at coordinates (2a+1, 2b+1); the stabilizer measured by
the ancilla at plaquette (i, j) sits at (2i, 2j) and touches the data qubits of columns
i-1, i and rows j-1, j. A plaquette is X-type iff i + j is odd. Weight-2 X checks line
the top and bottom boundaries, weight-2 Z checks the left and right ones, so the logical
X runs down data column 0 and the logical Z along data row 0.

CNOT schedule (hook-safe, stim's): X checks touch SE, SW, NE, NW; Z checks SE, NE, SW, NW.
An ancilla fault after the second CNOT spreads to the last two data qubits, which lie
perpendicular to the logical of the same type, so no weight-2 hook shortens the distance.
Using stim's order makes ``NoiseModel.stim(...)`` reproduce ``stim.Circuit.generated``'s
detector error model exactly (tested).

Noise is added afterwards by a :class:`qec.NoiseModel`; this module knows nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import stim

from qec.errors import InputError, InputTypeError

Basis = Literal["X", "Z"]

# Data-qubit offsets (dx, dy) from an ancilla at (2i, 2j), per CNOT layer.
_X_ORDER = ((1, 1), (-1, 1), (1, -1), (-1, -1))  # SE, SW, NE, NW
_Z_ORDER = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # SE, NE, SW, NW


def validate_distance(distance: object) -> int:
    """Return ``distance`` if it is an odd integer >= 3, else raise with the rule."""
    if isinstance(distance, bool) or not isinstance(distance, int):
        raise InputTypeError(f"distance={distance!r} must be an int")
    if distance < 3 or distance % 2 == 0:
        raise InputError(f"distance={distance} must be an odd integer >= 3")
    return distance


def validate_rounds(rounds: object) -> int:
    """Return ``rounds`` if it is an integer >= 1, else raise with the rule."""
    if isinstance(rounds, bool) or not isinstance(rounds, int):
        raise InputTypeError(f"rounds={rounds!r} must be an int")
    if rounds < 1:
        raise InputError(f"rounds={rounds} must be an integer >= 1")
    return rounds


def validate_basis(basis: object) -> Basis:
    """Return ``basis`` if it is 'X' or 'Z', else raise with the rule."""
    if basis not in ("X", "Z"):
        raise InputError(f"basis={basis!r} must be 'X' or 'Z'")
    return basis  # type: ignore[return-value]


@dataclass(frozen=True)
class _Layout:
    """Qubit indices and coordinates of one rotated patch."""

    distance: int
    data: dict[tuple[int, int], int]  # (x, y) -> qubit index
    x_checks: dict[tuple[int, int], int]
    z_checks: dict[tuple[int, int], int]

    @property
    def ancillas(self) -> list[int]:
        return sorted([*self.x_checks.values(), *self.z_checks.values()])

    def coords(self) -> dict[int, tuple[int, int]]:
        merged = {**self.data, **self.x_checks, **self.z_checks}
        return {q: xy for xy, q in merged.items()}


def _plaquette_exists(i: int, j: int, d: int, is_x: bool) -> bool:
    if 1 <= i <= d - 1 and 1 <= j <= d - 1:
        return True
    on_top_bottom = j in (0, d) and 1 <= i <= d - 1
    on_left_right = i in (0, d) and 1 <= j <= d - 1
    return (on_top_bottom and is_x) or (on_left_right and not is_x)


def _layout(distance: int) -> _Layout:
    coords: list[tuple[tuple[int, int], str]] = []
    for y in range(2 * distance + 1):
        for x in range(2 * distance + 1):
            if x % 2 == 1 and y % 2 == 1:
                coords.append(((x, y), "data"))
            elif x % 2 == 0 and y % 2 == 0:
                i, j = x // 2, y // 2
                is_x = (i + j) % 2 == 1
                if _plaquette_exists(i, j, distance, is_x):
                    coords.append(((x, y), "x" if is_x else "z"))
    data, xs, zs = {}, {}, {}
    for q, (xy, kind) in enumerate(coords):
        {"data": data, "x": xs, "z": zs}[kind][xy] = q
    return _Layout(distance, data, xs, zs)


def _cnot_layers(layout: _Layout) -> list[list[int]]:
    layers: list[list[int]] = []
    for k in range(4):
        targets: list[int] = []
        for (x, y), anc in layout.x_checks.items():
            dx, dy = _X_ORDER[k]
            if (x + dx, y + dy) in layout.data:
                targets += [anc, layout.data[(x + dx, y + dy)]]
        for (x, y), anc in layout.z_checks.items():
            dx, dy = _Z_ORDER[k]
            if (x + dx, y + dy) in layout.data:
                targets += [layout.data[(x + dx, y + dy)], anc]
        layers.append(targets)
    return layers


def _round_body(layout: _Layout, ancillas: list[int], xs: list[int]) -> stim.Circuit:
    body = stim.Circuit()
    body.append("H", xs)
    for targets in _cnot_layers(layout):
        body.append("TICK")
        body.append("CX", targets)
    body.append("TICK")
    body.append("H", xs)
    body.append("TICK")
    body.append("MR", ancillas)
    return body


def _detectors(
    circuit: stim.Circuit, layout: _Layout, ancillas: list[int], checks: dict, first: bool
) -> None:
    """Compare each check in ``checks`` with its previous outcome (or preparation)."""
    n = len(ancillas)
    for (x, y), anc in sorted(checks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        k = ancillas.index(anc)
        recs = [stim.target_rec(k - n)]
        if not first:
            recs.append(stim.target_rec(k - 2 * n))
        circuit.append("DETECTOR", recs, [x, y, 0])


def memory_circuit(*, distance: int, rounds: int, basis: Basis) -> stim.Circuit:
    """A noiseless rotated surface-code memory experiment.

    Args:
        distance: odd code distance >= 3.
        rounds: stabilizer measurement rounds >= 1.
        basis: 'X' or 'Z', the basis of preparation, final measurement and observable.

    Returns:
        A ``stim.Circuit`` with QUBIT_COORDS, DETECTOR(x, y, t) and one OBSERVABLE_INCLUDE(0);
        ``(d*d - 1) * rounds`` detectors, like ``stim.Circuit.generated``.

    Examples:
        >>> c = memory_circuit(distance=3, rounds=2, basis="X")
        >>> c.num_detectors, c.num_observables
        (16, 1)
    """
    distance, rounds = validate_distance(distance), validate_rounds(rounds)
    basis = validate_basis(basis)
    layout = _layout(distance)
    ancillas, xs = layout.ancillas, sorted(layout.x_checks.values())
    same = layout.x_checks if basis == "X" else layout.z_checks
    data = sorted(layout.data.values())

    c = stim.Circuit()
    for q, (x, y) in sorted(layout.coords().items()):
        c.append("QUBIT_COORDS", [q], [x, y])
    c.append("RX" if basis == "X" else "R", data)
    c.append("R", ancillas)
    c.append("TICK")
    c += _round_body(layout, ancillas, xs)
    _detectors(c, layout, ancillas, same, first=True)
    if rounds > 1:
        loop = stim.Circuit()
        loop.append("TICK")
        loop += _round_body(layout, ancillas, xs)
        loop.append("SHIFT_COORDS", [], [0, 0, 1])
        _detectors(loop, layout, ancillas, {**layout.x_checks, **layout.z_checks}, first=False)
        c.append(stim.CircuitRepeatBlock(rounds - 1, loop))
    c.append("TICK")
    c.append("MX" if basis == "X" else "M", data)
    _final_detectors(c, layout, ancillas, data, same)
    _observable(c, layout, data, basis)
    return c


def _final_detectors(
    c: stim.Circuit, layout: _Layout, ancillas: list[int], data: list[int], checks: dict
) -> None:
    nd, na = len(data), len(ancillas)
    for (x, y), anc in sorted(checks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        recs = []
        for dx in (-1, 1):
            for dy in (-1, 1):
                q = layout.data.get((x + dx, y + dy))
                if q is not None:
                    recs.append(stim.target_rec(data.index(q) - nd))
        recs.append(stim.target_rec(ancillas.index(anc) - na - nd))
        c.append("DETECTOR", recs, [x, y, 1])


def _observable(c: stim.Circuit, layout: _Layout, data: list[int], basis: Basis) -> None:
    nd = len(data)
    if basis == "X":  # logical X: data column 0 (x = 1)
        support = [q for (x, _y), q in layout.data.items() if x == 1]
    else:  # logical Z: data row 0 (y = 1)
        support = [q for (_x, y), q in layout.data.items() if y == 1]
    c.append("OBSERVABLE_INCLUDE", [stim.target_rec(data.index(q) - nd) for q in support], [0])
