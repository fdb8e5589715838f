"""The service's ledger of blocks: each block decoded once, a re-sent block answered from here.

A block is identified by its client (the request's ``client`` field, "" when absent), its
``block_id`` and a digest of what it carries (events, shots, whether the residual is asked).
The ledger keeps the answer of every block it answered, so a client that re-sends a block (its
connection broke, the ingress or the proxy restarted, it timed out) gets the same answer again
without the block being decoded twice; a re-send that arrives while the block is still being
decoded waits for that decoding. The same ``block_id`` with other events is a new block (a
client that numbers its blocks from 0 in every run is not answered with last run's result).
Only successful answers are kept: a refused request is tried again when re-sent.

Counts per client (``ClientCounts``) say what happened: blocks ``answered`` (decoded, once
each), ``answered_again`` (re-sends answered from the ledger), ``in_flight`` (being decoded
now), ``refused`` (answered with an error), ``evicted`` (answers dropped to bound memory).

Memory is bounded: at most ``max_blocks`` answers and ``max_bytes`` of answer bodies are kept,
the oldest dropped first (a block re-sent after its answer was dropped is decoded again and
counted again: the counts are exact while ``evicted`` is 0), and counts for at most
``max_clients`` clients (the least recently seen client's counts are dropped; the totals keep
everything). The ledger lives in the ingress replica's memory: see docs/design.md §7 for what
happens when the ingress dies.

Examples:
    >>> import asyncio
    >>> ledger = Ledger(max_blocks=10, max_bytes=1 << 20)
    >>> async def decode():
    ...     return 200, {"block_id": "7", "predictions": "AA=="}
    >>> async def twice():
    ...     first = await ledger.answer("me", "7", "d1", decode)
    ...     again = await ledger.answer("me", "7", "d1", decode)
    ...     return first[1].get("replayed"), again[1]["replayed"]
    >>> asyncio.run(twice())
    (None, True)
    >>> ledger.counts("me")
    {'answered': 1, 'answered_again': 1, 'in_flight': 0, 'refused': 0, 'evicted': 0}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from qec import InputError

MAX_BLOCKS = 65_536
MAX_BYTES = 64 << 20
MAX_CLIENTS = 4_096

Decode = Callable[[], Awaitable[tuple[int, dict]]]


@dataclass
class ClientCounts:
    """What the ledger did for one client (module docstring)."""

    answered: int = 0
    answered_again: int = 0
    in_flight: int = 0
    refused: int = 0
    evicted: int = 0


@dataclass
class _Entry:
    digest: str
    future: asyncio.Future      # (status, body) of the one decoding of this block
    size: int = 0               # bytes of the kept body (0 while in flight)
    done: bool = False


class Ledger:
    """Blocks answered per client, bounded (module docstring).

    Args:
        max_blocks: answers kept at most.
        max_bytes: bytes of kept answer bodies at most.
        max_clients: clients whose counts are kept at most.
    """

    def __init__(self, *, max_blocks: int = MAX_BLOCKS, max_bytes: int = MAX_BYTES,
                 max_clients: int = MAX_CLIENTS) -> None:
        for name, v in (("max_blocks", max_blocks), ("max_bytes", max_bytes),
                        ("max_clients", max_clients)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name}={v!r} must be an integer >= 1")
        self.max_blocks, self.max_bytes, self.max_clients = max_blocks, max_bytes, max_clients
        self.entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.clients: OrderedDict[str, ClientCounts] = OrderedDict()
        self.totals = ClientCounts()
        self.kept_bytes = 0

    async def answer(self, client: str, block_id: str, digest: str,
                     decode: Decode) -> tuple[int, dict]:
        """(status, body) for this block: from the ledger if it was answered (or is being
        decoded), else from ``decode()``, run once. An answer from the ledger carries
        ``"replayed": true``."""
        key = (client, block_id)
        entry = self.entries.get(key)
        if entry is not None and entry.digest == digest:
            status, body = await asyncio.shield(entry.future)
            if status != 200:                     # the decoding it waited for was refused
                self._count(client, "refused")
                return status, body
            self._count(client, "answered_again")
            if entry.done:
                self.entries.move_to_end(key)
            return status, {**body, "replayed": True}
        if entry is not None:                     # same id, other events: a new block
            self._drop(key)
        entry = _Entry(digest, asyncio.get_running_loop().create_future())
        self.entries[key] = entry
        self._count(client, "in_flight")
        try:
            status, body = await decode()
        except BaseException as exc:
            self._forget(key, entry)
            entry.future.set_exception(exc)
            entry.future.exception()              # retrieved: no "never retrieved" warning
            raise
        finally:
            self._count(client, "in_flight", -1)
        entry.future.set_result((status, body))
        if status != 200:
            self._forget(key, entry)
            self._count(client, "refused")
            return status, body
        self._count(client, "answered")
        entry.done, entry.size = True, len(json.dumps(body))
        self.kept_bytes += entry.size
        self._evict()
        return status, body

    def counts(self, client: str | None = None) -> dict:
        """The counts of ``client`` (zeros if unknown), or the totals when None."""
        if client is None:
            return asdict(self.totals)
        return asdict(self.clients.get(client, ClientCounts()))

    def report(self) -> dict:
        """Everything ``GET /ledger`` shows."""
        return {"totals": self.counts(), "clients": {c: asdict(n) for c, n in
                                                     self.clients.items()},
                "kept_blocks": sum(e.done for e in self.entries.values()),
                "kept_bytes": self.kept_bytes,
                "limits": {"max_blocks": self.max_blocks, "max_bytes": self.max_bytes,
                           "max_clients": self.max_clients}}

    def _count(self, client: str, name: str, step: int = 1) -> None:
        counts = self.clients.get(client)
        if counts is None:
            counts = self.clients[client] = ClientCounts()
            while len(self.clients) > self.max_clients:
                self.clients.popitem(last=False)
        self.clients.move_to_end(client)
        setattr(counts, name, getattr(counts, name) + step)
        setattr(self.totals, name, getattr(self.totals, name) + step)

    def _forget(self, key: tuple, entry: _Entry) -> None:
        if self.entries.get(key) is entry:
            del self.entries[key]

    def _drop(self, key: tuple) -> None:
        entry = self.entries.pop(key)
        self.kept_bytes -= entry.size

    def _evict(self) -> None:
        while len(self.entries) > self.max_blocks or self.kept_bytes > self.max_bytes:
            key = next((k for k, e in self.entries.items() if e.done), None)
            if key is None:        # only blocks in flight are left: nothing to drop yet
                return
            self._drop(key)
            self._count(key[0], "evicted")


def block_digest(payload: dict) -> str:
    """What identifies a block's content: its events, shots and whether it asks for the
    residual (16 hex digits of SHA-256)."""
    text = f"{payload.get('shots')}|{payload.get('return_residual', False)}|{payload['dets']}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
