"""Where a circuit's detectors sit on the canonical rotated layout: inferred, never assumed.

The canonical layout is that of ``stim.Circuit.generated("surface_code:rotated_memory_*")``
and :func:`qec.memory_circuit`: the stabilizer at (x, y) lies on plaquette (row, col) =
(y/2, x/2) of a (d+1)x(d+1) lattice; it is an X check iff row + col is odd; the boundary X
checks sit on rows 0 and d, the boundary Z checks on columns 0 and d; and the circuit's CNOT
order makes the decomposed DEM's edges take only the offsets of :data:`EDGE_OFFSETS`.

Other circuits put their detectors on a rotated, reflected, translated or scaled copy of that
lattice (Google's Sycamore circuits: measure qubits at (1, 4), (3, 2), (3, 4), ..., the layout
turned by 45 degrees). :func:`infer_frame` finds the similarity that maps detector (x, y)
onto (row, col) from the coordinates alone (no detector order is assumed): it takes the
shortest vector between two detector positions as a lattice step (or as the diagonal of one,
when only one basis has detectors), tries the eight symmetries of the square, and keeps the
one under which (1) every detector lands on a lattice cell of a distance-d patch, (2) the
first-round detectors (the memory basis) form one checkerboard colour, (3) the boundary
checks sit on the canonical sides, and (4) every edge of the circuit's decomposed DEM has an
offset of the table. (1)-(3) leave two candidates (the identity and the half turn of the
canonical frame); (4) tells them apart by the direction of the hook edges, which is what the
pre-decoder's edge classes (and the orientation its models were trained in) depend on.

Examples:
    >>> import numpy as np, stim
    >>> from qec.graph import MatchingGraph
    >>> c = stim.Circuit.generated("surface_code:rotated_memory_z", distance=3, rounds=3,
    ...                            after_clifford_depolarization=0.001)
    >>> xyt = np.array(list(c.get_detector_coordinates().values()))
    >>> turned = xyt[:, :2] @ np.array([[0.5, 0.5], [-0.5, 0.5]]) + 10   # 45 deg, /sqrt(2)
    >>> dem = c.detector_error_model(decompose_errors=True)
    >>> frame = infer_frame(turned, first_round=xyt[:, 2] == 0, rounds=xyt[:, 2].astype(int),
    ...                     edges=lambda: MatchingGraph.from_dem(dem).edge_dets)
    >>> frame.distance, bool((frame.cells(turned) == xyt[:, [1, 0]] // 2).all())
    (3, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qec.errors import InputError

# (dt, drow, dcol) from an edge's anchor (its endpoint with the smaller (round, row, col)) to
# its other endpoint, for every non-boundary edge of the canonical layout's decomposed DEM.
EDGE_OFFSETS: tuple[tuple[int, int, int], ...] = (
    (0, 1, -1), (0, 1, 1),                       # spacelike, same round (diagonal neighbours)
    (1, 0, 0),                                   # timelike (measurement error)
    (1, -1, -1), (1, -1, 1), (1, 1, -1),         # spacetime diagonals (hook / CNOT faults)
    (1, -2, 0), (1, 0, -2),                      # spacetime, two plaquettes apart
)
# The same table split by the anchor's check type: a Z (X) check's hook edges are the X
# (Z) check's turned by a quarter, so only this split tells a patch from its transpose with
# X and Z swapped (short experiments may show too few hooks for the plain table to).
EDGE_OFFSETS_BY_BASIS: dict[str, frozenset[tuple[int, int, int]]] = {
    "X": frozenset({(0, 1, -1), (0, 1, 1), (1, 0, 0), (1, -1, -1), (1, -1, 1), (1, -2, 0)}),
    "Z": frozenset({(0, 1, -1), (0, 1, 1), (1, 0, 0), (1, -1, -1), (1, 1, -1), (1, 0, -2)}),
}
_TOL = 1e-6
_EdgeSource = Callable[[], np.ndarray]


@dataclass(frozen=True)
class LayoutFrame:
    """The similarity map (x, y) -> (row, col) = matrix @ (x, y) + offset of one circuit.

    Attributes:
        distance: code distance d (plaquette rows and columns 0..d).
        matrix: 2x2 (row-major) linear part, a scaled rotation or reflection.
        offset: the translation (row, col).
    """

    distance: int
    matrix: tuple[tuple[float, float], tuple[float, float]]
    offset: tuple[float, float]

    def continuous(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) coordinates -> (N, 2) float (row, col), before rounding."""
        return np.asarray(xy, dtype=float) @ np.asarray(self.matrix).T + np.asarray(self.offset)

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) stabilizer coordinates -> (N, 2) int64 plaquette (row, col)."""
        return np.rint(self.continuous(xy)).astype(np.int64)

    def data_cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) qubit coordinates -> (N, 2) float data-qubit (row, col) = plaquette - 1/2
        (integers in [0, d-1] exactly for the patch's data qubits)."""
        return self.continuous(xy) - 0.5

    @property
    def is_identity(self) -> bool:
        """True for the canonical coordinates themselves: (row, col) = (y/2, x/2)."""
        return (np.allclose(self.matrix, ((0, 0.5), (0.5, 0)), atol=_TOL)
                and np.allclose(self.offset, 0, atol=_TOL))


def infer_frame(xy: np.ndarray, *, first_round: np.ndarray, rounds: np.ndarray,
                edges: _EdgeSource | None = None, basis: str | None = None) -> LayoutFrame:
    """The one frame that puts detectors at ``xy`` on the canonical layout.

    Args:
        xy: (D, 2) float detector (x, y) coordinates, in any detector order.
        first_round: (D,) bool, the detectors of the first time slice (memory basis only).
        rounds: (D,) int time slice of every detector (for the edge offsets).
        edges: returns the decomposed DEM's (E, 2) detector pairs (boundary = -1); called
            only when the coordinates alone leave two orientations (not for canonical ones).
        basis: the memory basis ('X' or 'Z'), when known: needed only when no detector of
            the other basis exists (one round), where a patch and its transpose with X and
            Z swapped are otherwise indistinguishable.

    Returns:
        The :class:`LayoutFrame`.

    Raises:
        InputError: naming what is wrong when no orientation (or more than one) fits.
    """
    first_round = np.asarray(first_round, dtype=bool)
    candidates, why = _candidates(np.asarray(xy, dtype=float), first_round)
    if basis is not None:
        if basis not in ("X", "Z"):
            raise InputError(f"basis={basis!r} must be 'X' or 'Z'")
        candidates = [f for f in candidates if _memory_basis(f, xy, first_round) == basis]
        why = f"no orientation puts the first-round detectors on {basis} checks"
    if not candidates:
        raise InputError(f"detector coordinates are not a rotated surface-code layout: {why}")
    identity = [f for f in candidates if f.is_identity]
    if identity or len(candidates) == 1:
        return (identity or candidates)[0]
    if edges is None:
        raise InputError("detector coordinates fit the rotated layout in "
                         f"{len(candidates)} orientations and no DEM edges were given to "
                         "tell them apart")
    pairs = edges()
    fits = [f for f in candidates if _edges_fit(f.cells(xy), np.asarray(rounds), pairs)]
    if len(fits) > 1 and len({_memory_basis(f, xy, first_round) for f in fits}) > 1:
        raise InputError("the coordinates and DEM edges fit both a patch and its transpose "
                         "with X and Z swapped (only the memory basis has detectors or time "
                         "edges: one or two rounds?); pass basis='X' or 'Z'")
    if len(fits) != 1:
        raise InputError(f"detector coordinates are not a rotated surface-code layout: "
                         f"{len(fits)} of the {len(candidates)} orientations that fit the "
                         "coordinates put every edge of the circuit's decomposed DEM on the "
                         f"rotated layout's offsets (dt, drow, dcol) {EDGE_OFFSETS}; exactly "
                         "one must (another code, or another CNOT order)")
    return fits[0]


def _memory_basis(frame: LayoutFrame, xy: np.ndarray, first: np.ndarray) -> str:
    r, c = frame.cells(np.asarray(xy, dtype=float)[first]).T
    return "X" if (r[0] + c[0]) % 2 == 1 else "Z"


def _candidates(xy: np.ndarray, first: np.ndarray) -> tuple[list[LayoutFrame], str]:
    """Frames that pass checks (1)-(3), and why the last rejected one failed."""
    points = np.unique(xy, axis=0)
    if len(points) < 2:
        return [], f"{len(points)} distinct detector position(s)"
    step = _shortest_step(points)
    rot = np.array([-step[1], step[0]])
    found: dict[tuple, LayoutFrame] = {}
    why = "no lattice found"
    for e1, e2 in ((step, rot), ((step + rot) / 2, (step - rot) / 2)):
        for a, b in ((e1, e2), (e2, e1)):
            for sa in (1, -1):
                for sb in (1, -1):
                    frame, why_not = _try_frame(xy, first, sa * a, sb * b)
                    if frame is None:
                        why = why_not
                    else:
                        found[tuple(map(tuple, frame.cells(xy)))] = frame
    return list(found.values()), why


def _shortest_step(points: np.ndarray) -> np.ndarray:
    diff = (points[:, None, :] - points[None, :, :]).reshape(-1, 2)
    norm = np.hypot(diff[:, 0], diff[:, 1])
    scale = max(float(np.abs(points).max()), 1.0)
    ok = norm > _TOL * scale
    return diff[ok][np.argmin(norm[ok])]


def _try_frame(xy: np.ndarray, first: np.ndarray, a: np.ndarray,
               b: np.ndarray) -> tuple[LayoutFrame | None, str]:
    """The frame with unit steps a (+1 row) and b (+1 col), centred on its patch."""
    inv = np.linalg.inv(np.stack([a, b], axis=1))           # (row, col) = inv @ (x, y)
    rc = xy @ inv.T
    lo, hi = rc.min(axis=0), rc.max(axis=0)
    span = hi - lo
    d = int(round(span.max()))
    if np.any(np.abs(rc - rc[0] - np.rint(rc - rc[0])) > 1e-4) or abs(span.max() - d) > 1e-4:
        return None, "detector positions do not lie on a square lattice"
    if d < 3 or d % 2 == 0 or np.any(np.abs(span - np.rint(span)) > 1e-4) or not set(
            np.rint(span).astype(int).tolist()) <= {d, d - 2}:
        return None, f"detectors span {np.rint(span).astype(int).tolist()} lattice steps; " \
                     "a rotated patch of odd distance d >= 3 spans d (and d - 2 per basis)"
    offset = (d - np.rint(span)) / 2 - lo                    # centre the patch on (d/2, d/2)
    frame = LayoutFrame(distance=d, matrix=tuple(map(tuple, inv.tolist())),
                        offset=tuple(offset.tolist()))
    problem = _layout_problem(frame.cells(xy), first, d)
    return (None if problem else frame), problem


def _layout_problem(cells: np.ndarray, first: np.ndarray, d: int) -> str:
    """'' when checks (2)-(3) pass, else what is wrong (the frame is then dropped)."""
    r, c = cells[:, 0], cells[:, 1]
    if r.min() < 0 or c.min() < 0 or r.max() > d or c.max() > d:
        return f"detectors fall outside a {d + 1}x{d + 1} plaquette lattice"
    x_check = (r + c) % 2 == 1
    if not first.any() or len(set(x_check[first].tolist())) != 1:
        return "first-round detectors mix both checkerboard colours: not a memory experiment"
    rows_side = (r == 0) | (r == d)
    cols_side = (c == 0) | (c == d)
    if not x_check[rows_side].all() or x_check[cols_side].any():
        return "boundary checks are not on the sides of a rotated patch"
    return ""


def _edges_fit(cells: np.ndarray, rounds: np.ndarray, pairs: np.ndarray) -> bool:
    """Whether every non-boundary edge's (dt, drow, dcol) is in the table of its anchor's
    check type (:data:`EDGE_OFFSETS_BY_BASIS`)."""
    pairs = pairs[(pairs >= 0).all(axis=1)]
    full = np.concatenate([rounds[:, None], cells], axis=1)
    a, b = full[pairs[:, 0]], full[pairs[:, 1]]
    earlier = _lex_less(a, b)
    anchor = np.where(earlier[:, None], a, b)
    other = np.where(earlier[:, None], b, a)
    x_anchor = (anchor[:, 1] + anchor[:, 2]) % 2 == 1
    for basis, rows in (("X", x_anchor), ("Z", ~x_anchor)):
        if not {tuple(o) for o in (other - anchor)[rows].tolist()} <= EDGE_OFFSETS_BY_BASIS[basis]:
            return False
    return True


def _lex_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) bool: row-wise lexicographic a < b for (N, 3) int arrays."""
    out = np.zeros(len(a), dtype=bool)
    decided = np.zeros(len(a), dtype=bool)
    for k in range(a.shape[1]):
        less, more = a[:, k] < b[:, k], a[:, k] > b[:, k]
        out |= ~decided & less
        decided |= less | more
    return out
