"""What a decoding service decodes and how it is deployed: one frozen, validated value."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qec import InputError, NoiseModel, Task

WILDCARD_HOSTS = ("0.0.0.0", "::")
MODES = ("pymatching", "hard", "soft")


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """A decoding service for one task family.

    Args:
        distance, rounds, basis, noise: the memory experiment every request belongs to (its
            :attr:`qec.Task.fingerprint` must come with each request).
        mode: ``pymatching`` (no pre-decoder), ``hard`` or ``soft`` (pre-decoder modes).
        model: the pre-decoder's shipped name or weights path (None: the shipped default).
        n_com, n_buf: windowed decoding of long experiments (0, 0: the whole volume at once).
        predecoder_replicas, matcher_replicas: replicas at start.
        max_replicas: autoscaling upper bound per deployment (0: fixed replica counts).
        max_batch: most requests the pre-decoder stacks into one forward pass.
        batch_wait_ms: how long it waits for a batch to fill.
        max_shots: most shots one request may carry.
        ledger_blocks, ledger_mb: the ledger of answered blocks keeps at most this many
            answers and this many MiB of them (``pipelines._serve.ledger``).
        host, port: where the HTTP ingress listens.

    Examples:
        >>> c = ServeConfig(distance=3, rounds=3, noise=NoiseModel.uniform(0.001))
        >>> c.mode, c.task().fingerprint == c.fingerprint
        ('soft', True)
        >>> ServeConfig(distance=3, noise=NoiseModel.uniform(0.001), mode="fast")
        Traceback (most recent call last):
        ...
        qec.errors.InputError: mode='fast' must be one of pymatching, hard, soft
    """

    distance: int
    noise: NoiseModel
    rounds: int | None = None
    basis: str = "X"
    mode: str = "soft"
    model: str | None = None
    n_com: int = 0
    n_buf: int = 0
    predecoder_replicas: int = 1
    matcher_replicas: int = 1
    max_replicas: int = 0
    max_batch: int = 16
    batch_wait_ms: float = 2.0
    max_shots: int = 4096
    ledger_blocks: int = 65_536
    ledger_mb: int = 64
    host: str = "127.0.0.1"
    port: int = 8000

    def __post_init__(self) -> None:
        self.task()
        if self.mode not in MODES:
            raise InputError(f"mode={self.mode!r} must be one of {', '.join(MODES)}")
        for name, low in (("n_com", 0), ("n_buf", 0), ("predecoder_replicas", 1),
                          ("matcher_replicas", 1), ("max_replicas", 0), ("max_batch", 1),
                          ("max_shots", 1), ("ledger_blocks", 1), ("ledger_mb", 1),
                          ("port", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"{name}={v!r} must be an integer >= {low}")
        if self.port > 65535:
            raise InputError(f"port={self.port} must be at most 65535")
        if not isinstance(self.host, str) or not self.host or any(c.isspace() or c == "/"
                                                                  for c in self.host):
            raise InputError(f"host={self.host!r} must be an address or host name of this "
                             "machine (e.g. 127.0.0.1)")
        if (self.n_com == 0) != (self.n_buf == 0):
            raise InputError(f"n_com={self.n_com}, n_buf={self.n_buf}: give both (windowed "
                             "decoding) or neither (the whole volume)")
        if self.max_replicas and self.max_replicas < max(self.predecoder_replicas,
                                                        self.matcher_replicas):
            raise InputError(f"max_replicas={self.max_replicas} must be 0 (fixed) or at least "
                             "the starting replica counts")
        if not (isinstance(self.batch_wait_ms, (int, float))
                and math.isfinite(self.batch_wait_ms) and 0 <= self.batch_wait_ms <= 1000):
            raise InputError(f"batch_wait_ms={self.batch_wait_ms!r} must be a number in "
                             "[0, 1000]")

    def task(self) -> Task:
        return Task(distance=self.distance, noise=self.noise, rounds=self.rounds,
                    basis=self.basis)

    @property
    def fingerprint(self) -> str:
        return self.task().fingerprint

    @property
    def windowed(self) -> bool:
        return self.n_com > 0

    @property
    def uses_predecoder(self) -> bool:
        return self.mode != "pymatching"

    @property
    def every_interface(self) -> bool:
        """The HTTP ingress listens on every interface (a wildcard address)."""
        return self.host in WILDCARD_HOSTS

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
