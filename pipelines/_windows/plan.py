"""The tiling of a long experiment's time slices into A and B windows (value types only).

See :mod:`pipelines._windows.worker` for how the windows are decoded and why the tiling makes
windowed decoding reproduce global decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qec import InputError

Layer = str  # 'A' or 'B'


@dataclass(frozen=True)
class Window:
    """One window: decode slices ``[lo, hi)``, commit edges touching ``[commit_lo, commit_hi)``.

    ``index`` is the commit order (time order of commit regions); a B window ``depends`` on the
    A windows whose artificial defects it needs.
    """

    index: int
    layer: Layer
    lo: int
    hi: int
    commit_lo: int
    commit_hi: int
    depends: tuple[int, ...] = ()

    @property
    def open_left(self) -> bool:
        """The slice before the window is undecoded (cut edges become boundary edges)."""
        return self.layer == "A" and self.lo > 0

    @property
    def open_right(self) -> bool:
        return self.layer == "A" and self.hi > self.commit_hi

    @property
    def commit_rounds(self) -> int:
        return self.commit_hi - self.commit_lo


@dataclass(frozen=True)
class WindowPlan:
    """The tiling of ``num_slices`` detector slices into A and B windows.

    Args:
        num_slices: T = rounds + 1.
        n_com: commit-region slices of an A window (>= 1).
        n_buf: buffer slices on each side of an A window, and the width of a B window (>= 1).

    Examples:
        >>> plan = WindowPlan(num_slices=12, n_com=3, n_buf=2)
        >>> [(w.layer, w.lo, w.hi, w.commit_lo, w.commit_hi) for w in plan.windows]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('A', 0, 5, 0, 3), ('B', 3, 5, 3, 5), ('A', 3, 10, 5, 8), ('B', 8, 10, 8, 10),
         ('A', 8, 12, 10, 12)]
        >>> WindowPlan(num_slices=6, n_com=3, n_buf=3).windows[0].commit_hi  # one window: global
        6
    """

    num_slices: int
    n_com: int
    n_buf: int
    windows: tuple[Window, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("num_slices", "n_com", "n_buf"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}={value!r} must be an integer >= 1")
        if self.num_slices < 2:
            raise InputError(f"num_slices={self.num_slices} must be >= 2 (rounds >= 1)")
        object.__setattr__(self, "windows", self._tile())

    @property
    def period(self) -> int:
        return self.n_com + self.n_buf

    def _tile(self) -> tuple[Window, ...]:
        T, out, s = self.num_slices, [], 0
        while True:
            last = s + self.n_com + self.n_buf >= T
            c_hi = T if last else s + self.n_com
            a = len(out)
            out.append(Window(a, "A", max(0, s - self.n_buf), min(T, c_hi + self.n_buf), s, c_hi))
            if last:
                return tuple(out)
            s_next = s + self.period
            out.append(Window(a + 1, "B", c_hi, s_next, c_hi, s_next, depends=(a, a + 2)))
            s = s_next
