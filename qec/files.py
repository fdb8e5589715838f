"""The one way qecpipe writes files: atomically, or not at all.

Every output (CSV, JSON, predictions, model weights, logs, snapshots, benchmark results) is
written to a temporary file in the target's own directory, flushed and fsynced, checked, and
only then renamed over the target. A failed write (disk full, a file-size limit, an
interrupt) leaves the previous file exactly as it was and no temporary file behind.

Appending (:func:`append_text`, :func:`update_text`) is read, change, write-and-rename under
an exclusive lock, so processes appending to one file at once (one ``qecpipe run --out`` per
point of a sweep) keep every line: without the lock the last rename would win. The lock is a
POSIX record lock (``fcntl.lockf``, honoured over NFS) on a hidden ``.NAME.lock`` file beside
the target; it is left in place, because removing a lock file while another process waits on
it would let a third one lock a new file and write at the same time.

:func:`check_output_path` validates a target BEFORE any work starts and creates nothing, so a
run never computes for an hour and then finds it cannot save.

Examples:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", "one\\n")
    >>> append_text(folder / "a.txt", "two\\n")
    >>> (folder / "a.txt").read_text()
    'one\\ntwo\\n'
    >>> check_output_path(folder, flag="--out")
    Traceback (most recent call last):
    ...
    qec.errors.InputError: --out=... is a directory; give a file name
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from qec.errors import InputError


def check_output_path(path: str | Path, *, flag: str, suffix: str | None = None) -> Path:
    """Check that ``path`` can be written atomically; create nothing. Returns it as a Path.

    Refuses a directory, a target that exists but is not a regular file (a device such as
    /dev/full, a FIFO: renaming over it would replace it), a missing or unwritable folder,
    and (with ``suffix``) a wrong extension; the message names ``flag`` and the path.
    """
    path = Path(path)
    shown = f"{flag}={str(path)!r}" if flag else repr(str(path))
    if suffix is not None and path.suffix != suffix:
        raise InputError(f"{shown} must end in {suffix}")
    if path.is_dir():
        raise InputError(f"{shown} is a directory; give a file name")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise InputError(f"{shown} exists and is not a regular file (a device or pipe?); "
                         "qecpipe writes a temporary file and renames it over the target")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{shown}: the folder {str(folder)!r} does not exist")
    if not _can_create_in(folder):
        raise InputError(f"{shown}: the folder {str(folder)!r} is not writable")
    return path


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried with an anonymous temporary file,
    gone when closed (``os.access`` says yes to root even on /proc)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:   # read-only or virtual file system: the answer is no
        return False


def check_output_dir(path: str | Path, *, flag: str) -> Path:
    """Check that folder ``path`` exists and is writable, or can be created; create nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag}={str(path)!r} exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not _can_create_in(existing):
        raise InputError(f"{flag}={str(path)!r}: {str(existing)!r} is not a writable folder")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name; renamed over
    ``path`` (after an fsync) when the block succeeds, removed when it fails or the process
    is asked to stop (Ctrl-C, or SIGTERM: see :func:`_sigterm_raises`)."""
    with _sigterm_raises(), _atomic_path(path) as tmp:
        yield tmp


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``SystemExit(143)`` (the shell's code for it)
    instead of killing the process on the spot, so the temporary file is removed on the way
    out, as on Ctrl-C. Only where SIGTERM still has its default action and in the main
    thread (a program that handles SIGTERM itself keeps its handler)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def stop(signum: int, frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _atomic_path(path: str | Path) -> Iterator[Path]:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=str(path.parent) if str(path.parent) else ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:   # the writer closed it; make its bytes durable
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)          # mkstemp makes 0600; results are meant to be read
        os.replace(tmp_path, path)
    except OSError as exc:                 # disk full, file-size limit: say which file
        tmp_path.unlink(missing_ok=True)
        kept = "the previous file is unchanged" if path.exists() else "nothing was written"
        raise OSError(exc.errno, f"cannot write it: {exc.strerror or exc}; {kept}",
                      str(path)) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(payload)
        f.flush()


def append_text(path: str | Path, text: str) -> None:
    """Append ``text`` to ``path`` (created if missing), atomically and under the append lock:
    the file holds either the old content or the old content plus ``text``, never a torn line,
    and concurrent appends from several processes all land (:func:`update_text`)."""
    update_text(path, lambda old: old + text)


_THREAD_LOCK = threading.Lock()   # lockf locks belong to the process: threads queue here first


def update_text(path: str | Path, change: Callable[[str], str]) -> None:
    """Replace ``path``'s text by ``change(old text)`` ("" when missing) atomically, holding an
    exclusive lock from the read to the rename, so every writer sees the previous writer's
    result. ``change`` runs under the lock; if it raises, the file is left untouched.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "n.txt"
        >>> for _ in range(3):
        ...     update_text(path, lambda old: str(int(old or 0) + 1))
        >>> path.read_text()
        '3'
    """
    path = Path(path)
    with _THREAD_LOCK, _file_lock(path):
        old = path.read_text() if path.exists() else ""
        atomic_write(path, change(old))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive POSIX lock on ``.NAME.lock`` beside ``path`` (see the module notes)."""
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)    # blocks until the other writer has renamed
        yield
    finally:
        os.close(fd)                      # closing releases the lock


def file_sha256(path: str | Path, *, digits: int = 12) -> str:
    """The first ``digits`` hex digits of the SHA-256 of a file's bytes: a short, stable name
    for a model or weights file in a result's provenance.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
        >>> path.write_bytes(b"abc")
        3
        >>> file_sha256(path)
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:digits]
