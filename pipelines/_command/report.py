"""Human output of runs: rich tables on stdout, progress on stderr, sinter CSV files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qec import InputError, format_rate, sinter_csv_header, sinter_rows, update_text


class ProgressBar:
    """Progress of one long step on stderr; standard output is never touched.

    On a terminal: a rich bar (done/total, ETA, ``info``) that appears once the step has run
    ``delay_s``. Elsewhere (a pipe, a log file, CI): one line when the step starts and one
    summary line when it ends (shots or steps done, seconds, the last ``info``), so a log says
    what ran and for how long, and never holds a half-drawn bar. Bad input must be refused
    before the block starts (its error is then the only line on stderr), or ``start`` left
    None.

    Args:
        label: what runs, e.g. ``"run d=13 X"``; every line starts ``qecpipe: {label}:``.
        enabled: False: print nothing at all.
        delay_s: the bar appears only for work longer than this (terminal only).
        start: the start line's text, printed on entering the block; None: "started",
            printed at the first :meth:`update` (nothing at all if the block fails before).
        unit: what ``done``/``total`` count, e.g. ``"shots"``.

    Examples:
        >>> import io, sys
        >>> sys.stderr, saved = io.StringIO(), sys.stderr
        >>> with ProgressBar("run d=3 X", start="started", unit="shots") as bar:
        ...     bar.update(500, 1000, {"pymatching": 2})
        >>> text, sys.stderr = sys.stderr.getvalue(), saved
        >>> print(text, end="")  # doctest: +ELLIPSIS
        qecpipe: run d=3 X: started
        qecpipe: run d=3 X: 500/1,000 shots in ... s; errors pymatching 2
    """

    def __init__(self, label: str, *, enabled: bool = True, delay_s: float = 2.0,
                 start: str | None = None, unit: str = "") -> None:
        self.label, self.enabled, self.delay_s = label, enabled, delay_s
        self.start_text, self.unit = start, unit
        self._progress = None
        self._task = None
        self._start = 0.0
        self._terminal = False
        self._last: tuple[int, int, str] | None = None
        self._announced = False

    def __enter__(self) -> ProgressBar:
        self._start = time.perf_counter()
        self._terminal = _is_terminal(sys.stderr)
        if self.start_text is not None:
            self._announce(self.start_text)
        return self

    def _announce(self, text: str) -> None:
        if self.enabled and not self._terminal and not self._announced:
            self._line(text)
            self._announced = True

    def update(self, done: int, total: int, errors: dict[str, int] | None = None, *,
               info: str | None = None) -> None:
        """``done`` of ``total`` so far; ``errors`` (per decoder) or ``info`` describe it."""
        if info is None:
            info = "" if not errors else "errors " + ", ".join(
                f"{k} {v}" for k, v in errors.items())
        self._last = (done, total, info)
        self._announce("started")
        if not self.enabled or not self._terminal:
            return
        if self._progress is None:
            if time.perf_counter() - self._start < self.delay_s:
                return
            self._start_bar(total)
        self._progress.update(self._task, completed=done, total=total, info=info)

    def _start_bar(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), "{task.fields[info]}",
                                  console=Console(stderr=True), transient=True,
                                  refresh_per_second=2)
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total, info="")

    def __exit__(self, exc_type, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
        if not self._announced:
            return
        seconds = time.perf_counter() - self._start
        if self._last is None:
            what = f"{'stopped' if exc_type else 'done'} in {seconds:.0f} s"
        else:
            done, total, info = self._last
            what = (f"{'stopped at ' if exc_type else ''}{done:,}/{total:,}"
                    f"{' ' + self.unit if self.unit else ''} in {seconds:.0f} s"
                    f"{'; ' + info if info else ''}")
        self._line(what)

    def _line(self, text: str) -> None:
        print(f"qecpipe: {self.label}: {text}", file=sys.stderr, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # closed or not a real file: not a terminal
        return False


def render_table(result, *, title: str | None = None) -> None:
    """Print one run's summary table to stdout (``title``: what the run was)."""
    from rich.console import Console
    from rich.table import Table

    t = result.task
    title = title or (f"rotated surface code d={t.distance} rounds={t.rounds} "
                      f"basis={t.basis} noise={t.noise.name} p={t.noise.p:g}")
    table = Table(title=f"{title}\nshots={result.shots:,} detection-event density="
                        f"{result.detection_event_density:.4f}")
    for col in ("decoder", "errors", "LER per shot [95%]", "LER per round", "µs/round",
                "shots/s"):
        table.add_column(col, justify="right" if col != "decoder" else "left")
    for name, s in result.stats.items():
        bound = "< " if s.ler_is_upper_bound else ""
        table.add_row(name, str(s.errors), format_rate(s), f"{bound}{s.ler_per_round:.2e}",
                      f"{s.us_per_round:.2f}", f"{s.shots / max(s.seconds, 1e-9):,.0f}")
    # Piped output (logs, CI) gets a fixed width so rows never wrap mid-number.
    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print(table)
    stages = _stage_table(result)
    if stages is not None:
        console.print(stages)
    if result.paired:
        console.print(_paired_table(result.paired))
        for line in paired_verdicts(result.paired):
            console.print(line, highlight=False, soft_wrap=True)  # a line, never cut mid-way


def _paired_table(paired):
    from rich.table import Table

    table = Table(title="paired comparison (same shots; exact McNemar test)")
    for col in ("decoder A", "decoder B", "only A wrong", "only B wrong", "McNemar p"):
        table.add_column(col, justify="left" if col.startswith("decoder") else "right")
    for p in paired:
        table.add_row(p.a, p.b, str(p.only_a), str(p.only_b), f"{p.p_value:.2g}")
    return table


def paired_verdicts(paired, *, alpha: float = 0.05) -> list[str]:
    """One plain-words line per pair: which decoder is better on these shots, or that these
    shots show no significant difference (McNemar p >= ``alpha``), which is not a proof that
    there is none: more shots resolve a smaller one."""
    lines = []
    for p in paired:
        if p.p_value >= alpha:
            lines.append(f"{p.a} vs {p.b}: no significant difference on these shots "
                         f"({p.only_a} vs {p.only_b} shots only one got wrong, p = "
                         f"{p.p_value:.2g}); more shots (--max-errors) resolve a smaller one")
        else:
            better, worse = (p.b, p.a) if p.only_a > p.only_b else (p.a, p.b)
            lines.append(f"{better} beats {worse} on these shots ({max(p.only_a, p.only_b)} "
                         f"vs {min(p.only_a, p.only_b)} shots only one got wrong, p = "
                         f"{p.p_value:.2g})")
    return lines


def _stage_table(result):
    """Per-stage metrics of composed decoders (pre-decoder, matching, SDR), if any."""
    from rich.table import Table

    extras = {name: m for name, m in result.extra.items() if m}
    if not extras:
        return None
    keys = sorted({k for m in extras.values() for k in m})
    table = Table(title="pipeline stages (same shots)")
    table.add_column("decoder")
    for key in keys:
        table.add_column(key.replace("_", " ").replace(" us ", " µs "), justify="right")
    for name, metrics in extras.items():
        table.add_row(name, *(f"{metrics[k]:.3g}" if k in metrics else "" for k in keys))
    return table


def append_sinter_csv(path: Path, results, *, metadata: list[tuple[dict, dict]]) -> None:
    """Append every decoder's stats of every run to a sinter CSV file (created with its header
    if missing; refused if it is not a sinter CSV), atomically and under the append lock
    (``qec.update_text``), so runs appending to one file at once keep every row.

    ``metadata[i]`` is run i's (metadata every row shares, extra metadata per decoder name).
    The seed is not in it, so runs of one experiment with other seeds merge into the same rows
    (``sinter combine``); the noise, weights source and model are, so other experiments never
    merge with them."""
    header = sinter_csv_header()
    lines = []
    for r, (shared, per_decoder) in zip(results, metadata, strict=True):
        lines += sinter_rows(r.stats.values(), circuit=r.task.circuit(), json_metadata=shared,
                             per_decoder=per_decoder)

    def appended(old: str) -> str:
        if old and old.splitlines()[0].strip() != header.strip():
            raise InputError(f"--out={str(path)!r} is not a sinter CSV (its first line is "
                             f"{old.splitlines()[0][:60]!r}); qecpipe appends to sinter CSV "
                             "files only")
        prefix = old if not old or old.endswith("\n") else old + "\n"
        return prefix + "\n".join(lines if old else [header, *lines]) + "\n"

    update_text(path, appended)
