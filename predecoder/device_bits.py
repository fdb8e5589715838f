"""Bit-packed shots onto a torch device and back: the bridge between ``qec.bits`` (numpy, stim's
little-endian convention) and the network.

On CUDA the bits stay on the GPU: stim's packed bytes go over, CuPy unpacks them and hands
them to torch through DLPack (zero-copy), and packs the results there, so only packed bytes
cross the bus. Without CuPy, torch shifts and masks the bytes on the device. On the CPU
numpy does the work through :func:`qec.unpack_bits` and :func:`qec.pack_bits`.

Examples:
    >>> import numpy as np
    >>> packed = np.array([[0b101, 1]], dtype=np.uint8)
    >>> bits = unpack_to_device(packed, 9, "cpu")
    >>> bits.int().tolist(), pack_from_device(bits).tolist()
    ([[1, 0, 1, 0, 0, 0, 0, 0, 1]], [[5, 1]])
"""

from __future__ import annotations

import numpy as np
import torch

from qec import check_packed, pack_bits, unpack_bits


def unpack_to_device(packed: np.ndarray, num_bits: int, device: str) -> torch.Tensor:
    """(S, ceil(n/8)) uint8 packed -> (S, n) torch bool on ``device``."""
    packed = check_packed(packed, num_bits, "packed")
    if not str(device).startswith("cuda"):
        return torch.from_numpy(unpack_bits(packed, num_bits))
    cupy = _cupy()
    if cupy is not None:   # cupy.unpackbits has no axis: flatten, then reshape
        bits = cupy.unpackbits(cupy.asarray(packed).reshape(-1), bitorder="little")
        bits = bits.reshape(packed.shape[0], -1)[:, :num_bits]          # (S, n) uint8
        return torch.from_dlpack(cupy.ascontiguousarray(bits)).bool()
    packed_t = torch.from_numpy(packed).to(device)
    shifts = torch.arange(8, device=device, dtype=torch.uint8)
    bits = (packed_t.unsqueeze(-1) >> shifts) & 1                      # (S, B, 8) little-endian
    return bits.reshape(packed.shape[0], -1)[:, :num_bits].bool()


def pack_from_device(bits: torch.Tensor) -> np.ndarray:
    """(S, n) torch bool on any device -> (S, ceil(n/8)) numpy uint8 packed."""
    if bits.device.type == "cuda":
        cupy = _cupy()
        if cupy is not None:  # cupy.packbits has no axis: pad rows to whole bytes, flatten
            s, n = bits.shape
            width = (n + 7) // 8
            padded = cupy.zeros((s, width * 8), dtype=cupy.uint8)
            padded[:, :n] = cupy.from_dlpack(bits.to(dtype=torch.uint8).contiguous())
            return cupy.asnumpy(cupy.packbits(padded.reshape(-1), bitorder="little")
                                .reshape(s, width))
    return pack_bits(bits.cpu().numpy())


def _cupy():
    try:
        import cupy
    except ImportError:  # optional extra `qecpipe[gpu]`: fall back to torch/numpy bit work
        return None
    return cupy
