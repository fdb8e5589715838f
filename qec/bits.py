"""Bit-packing in stim's convention: uint8, little-endian within each byte."""

from __future__ import annotations

import numpy as np

from qec.errors import InputError, InputTypeError


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(shots, n) bool/0-1 -> (shots, ceil(n/8)) uint8, little-endian within a byte.

    Examples:
        >>> pack_bits(np.array([[1, 0, 0, 0, 0, 0, 0, 0, 1]]))
        array([[1, 1]], dtype=uint8)
    """
    return np.packbits(np.asarray(bits, dtype=bool), axis=1, bitorder="little")


def unpack_bits(packed: np.ndarray, num_bits: int) -> np.ndarray:
    """(shots, ceil(n/8)) uint8 -> (shots, num_bits) bool; the inverse of :func:`pack_bits`.

    Examples:
        >>> unpack_bits(np.array([[1, 1]], dtype=np.uint8), 9).astype(int)
        array([[1, 0, 0, 0, 0, 0, 0, 0, 1]])
    """
    packed = check_packed(packed, num_bits, "packed")
    return np.unpackbits(packed, axis=1, count=num_bits, bitorder="little").astype(bool)


def check_packed(packed: np.ndarray, num_bits: int, name: str) -> np.ndarray:
    """Validate a bit-packed array's dtype and width; return it as a 2-D uint8 array."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise InputTypeError(f"{name} has dtype {packed.dtype}; bit-packed shots must be uint8")
    width = (num_bits + 7) // 8
    if packed.ndim != 2 or packed.shape[1] != width:
        raise InputError(f"{name} has shape {packed.shape}; expected (shots, {width}) for "
                         f"{num_bits} bits packed 8 per byte")
    return packed


def popcount_rows(packed: np.ndarray) -> np.ndarray:
    """Number of set bits per row of a bit-packed array (int64)."""
    return np.unpackbits(packed, axis=1).sum(axis=1, dtype=np.int64)
