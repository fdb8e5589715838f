"""Streaming parity counts: the only statistics the correlation estimators read.

For every detector subset ``s`` a :class:`~noise.structure.NoiseStructure` lists (single
detectors, edge pairs, subsets of each mechanism's symptom) the accumulator counts the shots
in which an odd number of the detectors in ``s`` fired. Pair products follow exactly:
``#(x_i x_j) = (#x_i + #x_j - #(x_i XOR x_j)) / 2``. Counts are integers, so chunking, the
numpy and the torch backends agree exactly.

numpy backend: each chunk is transposed to 64 shots per uint64 word ("bit-sliced"), a
subset's parity is the XOR of its detectors' words, counted with ``np.bitwise_count``:
cost ~ shots/64 x (number of subsets) x (subset size) word operations -- linear in shots
and in the number of graph edges/mechanisms, never quadratic in detectors.

torch backend: the unpacked (S, D) uint8 chunk on ``device`` ('cpu' or 'cuda'); parities by
XOR of gathered columns, summed over shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qec import InputError, check_packed, pack_bits, unpack_bits

_ROW_BLOCK = 8192  # subsets per gather: bounds the temporary to ~_ROW_BLOCK x words x 8 bytes
BACKENDS = ("numpy", "torch")


@dataclass(frozen=True)
class ParityCounts:
    """How often each subset's parity was odd, over ``shots`` shots.

    Attributes:
        shots: number of shots counted.
        subsets: the subsets (sorted detector tuples), as in the structure.
        odd: (K,) int64 count of shots with odd parity on ``subsets[k]``.
    """

    shots: int
    subsets: tuple[tuple[int, ...], ...]
    odd: np.ndarray

    def mean(self) -> np.ndarray:
        """(K,) <parity of subset k>."""
        return self.odd / self.shots

    def __add__(self, other: ParityCounts) -> ParityCounts:
        if other.subsets is not self.subsets and other.subsets != self.subsets:
            raise InputError("cannot add ParityCounts over different subsets")
        return ParityCounts(self.shots + other.shots, self.subsets, self.odd + other.odd)

    def __sub__(self, other: ParityCounts) -> ParityCounts:
        if other.subsets is not self.subsets and other.subsets != self.subsets:
            raise InputError("cannot subtract ParityCounts over different subsets")
        return ParityCounts(self.shots - other.shots, self.subsets, self.odd - other.odd)


def subset_matrix(subsets: tuple[tuple[int, ...], ...], num_detectors: int) -> np.ndarray:
    """(K, kmax) int64 detector indices, padded with ``num_detectors`` (an all-zero row).

    Examples:
        >>> subset_matrix(((0,), (0, 2)), 3).tolist()
        [[0, 3], [0, 2]]
    """
    kmax = max(len(s) for s in subsets)
    out = np.full((len(subsets), kmax), num_detectors, dtype=np.int64)
    for k, s in enumerate(subsets):
        out[k, :len(s)] = s
    return out


class ParityAccumulator:
    """Accumulate :class:`ParityCounts` over bit-packed chunks of detection events.

    Args:
        subsets: detector subsets to count (e.g. ``NoiseStructure.subsets``).
        num_detectors: D; every chunk must be (shots, ceil(D/8)) uint8, little-endian.
        backend: 'numpy' (bit-sliced) or 'torch'.
        device: torch device for the torch backend ('cpu', 'cuda').

    Examples:
        >>> acc = ParityAccumulator(subsets=((0,), (1,), (0, 1)), num_detectors=2)
        >>> acc.add(np.array([[0b01], [0b11], [0b10]], dtype=np.uint8))
        >>> acc.counts().odd.tolist()
        [2, 2, 2]
    """

    def __init__(self, *, subsets: tuple[tuple[int, ...], ...], num_detectors: int,
                 backend: str = "numpy", device: str = "cpu") -> None:
        if backend not in BACKENDS:
            raise InputError(f"backend={backend!r} must be one of {', '.join(BACKENDS)}")
        if not subsets:
            raise InputError("subsets=() must list at least one subset")
        self.subsets = subsets
        self.num_detectors = num_detectors
        self.backend = backend
        self.device = device
        self.index = subset_matrix(subsets, num_detectors)
        if self.index[:, 0].max() >= num_detectors:
            raise InputError(f"a subset names detector {int(self.index.max())}; "
                             f"only {num_detectors} detectors exist")
        self.shots = 0
        self.odd = np.zeros(len(subsets), dtype=np.int64)

    def add(self, dets_bit_packed: np.ndarray) -> None:
        """Count one (shots, ceil(D/8)) uint8 bit-packed chunk."""
        packed = check_packed(dets_bit_packed, self.num_detectors, "dets_bit_packed")
        if packed.shape[0] == 0:
            return
        if self.backend == "numpy":
            self.odd += _odd_counts_numpy(packed, self.index, self.num_detectors)
        else:
            self.odd += _odd_counts_torch(packed, self.index, self.num_detectors, self.device)
        self.shots += int(packed.shape[0])

    def counts(self) -> ParityCounts:
        return ParityCounts(self.shots, self.subsets, self.odd.copy())


def _bit_sliced(packed: np.ndarray, num_detectors: int) -> np.ndarray:
    """(S, ceil(D/8)) packed shots -> (D + 1, ceil(S/64)) uint64, 64 shots per word."""
    dets = unpack_bits(packed, num_detectors)  # (S, D) bool
    shots = dets.shape[0]
    padded = np.zeros((num_detectors + 1, -(-shots // 64) * 64), dtype=bool)
    padded[:num_detectors, :shots] = dets.T
    return pack_bits(padded).view(np.uint64)


def _odd_counts_numpy(packed: np.ndarray, index: np.ndarray, num_detectors: int) -> np.ndarray:
    words = _bit_sliced(packed, num_detectors)  # (D + 1, W)
    out = np.empty(index.shape[0], dtype=np.int64)
    for start in range(0, index.shape[0], _ROW_BLOCK):
        block = index[start:start + _ROW_BLOCK]
        acc = words[block[:, 0]].copy()  # (K', W)
        for col in range(1, block.shape[1]):
            acc ^= words[block[:, col]]
        out[start:start + len(block)] = np.bitwise_count(acc).sum(axis=1, dtype=np.int64)
    return out


def _odd_counts_torch(packed: np.ndarray, index: np.ndarray, num_detectors: int,
                      device: str) -> np.ndarray:
    import torch

    dets = torch.from_numpy(unpack_bits(packed, num_detectors).astype(np.uint8)).to(device)
    dets = torch.cat([dets, torch.zeros_like(dets[:, :1])], dim=1)  # (S, D + 1)
    idx = torch.from_numpy(index).to(device)
    out = torch.empty(index.shape[0], dtype=torch.int64, device=device)
    block_rows = max(1, (1 << 26) // max(dets.shape[0], 1))  # ~64 MB of uint8 per block
    for start in range(0, index.shape[0], block_rows):
        block = idx[start:start + block_rows]
        acc = dets[:, block[:, 0]].clone()  # (S, K')
        for col in range(1, block.shape[1]):
            acc ^= dets[:, block[:, col]]
        out[start:start + len(block)] = acc.sum(dim=0, dtype=torch.int64)
    return out.cpu().numpy()
