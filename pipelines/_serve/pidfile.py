"""The pid file of a running ``qecpipe serve``: what it records and how it is trusted.

The file is one JSON line written by the service itself::

    {"program": "qecpipe serve", "pid": 4242, "port": 8000, "started": "1234567"}

``started`` is the process's start time (field 22 of ``/proc/PID/stat``, clock ticks since
boot). ``serve --stop`` signals the pid only when the file is such a record AND the process
with that pid started at that time: a file holding a bare pid (``echo $! > x.pid``), a file of
something else, or a pid reused by another process after the service exited is refused, never
signalled. ``serve`` writes the file only where no file is, or where a record of a service
that has exited is (a stale record); any other existing file is left alone and refused.

Examples:
    >>> import os, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "s.pid"
    >>> record = ServiceRecord.of_this_process(port=8000)
    >>> write_record(path, record); read_record(path) == record, record.running()
    (True, True)
    >>> record.pid == os.getpid()
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from qec import InputError, atomic_write

PROGRAM = "qecpipe serve"


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, as text), or None if it
    does not exist or this system has no ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()   # after "pid (comm)": field 3 onwards
    return fields[19] if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    """An exited child its parent has not reaped yet: gone for our purpose."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True, kw_only=True)
class ServiceRecord:
    """What a running service writes into its pid file (module docstring)."""

    pid: int
    port: int
    started: str | None

    @classmethod
    def of_this_process(cls, *, port: int) -> ServiceRecord:
        return cls(pid=os.getpid(), port=port, started=process_start(os.getpid()))

    def running(self) -> bool:
        """The process that wrote this record is still running (same pid, same start)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:   # exists, another user's: not ours unless the start matches
            pass
        if _zombie(self.pid):
            return False
        return self.started is None or process_start(self.pid) == self.started

    def to_text(self) -> str:
        return json.dumps({"program": PROGRAM, **asdict(self)}) + "\n"


def read_record(path: Path) -> ServiceRecord | None:
    """The record in ``path``; None if there is no file; InputError (naming --pid-file) if
    the file is not a ``qecpipe serve`` pid file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--pid-file={str(path)!r} cannot be read ({exc})") from None
    try:
        data = json.loads(text)
        if data.get("program") != PROGRAM:
            raise ValueError("not ours")
        record = ServiceRecord(pid=data["pid"], port=data["port"], started=data["started"])
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                   for v in (record.pid, record.port)):
            raise ValueError("bad pid or port")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InputError(f"--pid-file={str(path)!r} is not a pid file written by `qecpipe "
                         f"serve` (it holds {text[:40]!r}); qecpipe signals and replaces only "
                         "its own pid files") from None
    return record


def write_record(path: Path, record: ServiceRecord) -> None:
    atomic_write(path, record.to_text())


def remove_if_ours(path: Path, record: ServiceRecord) -> None:
    """Delete ``path`` if it still holds ``record`` (not a file someone put there since)."""
    try:
        if read_record(path) == record:
            path.unlink(missing_ok=True)
    except InputError:   # replaced by something else meanwhile: not ours to delete
        pass
