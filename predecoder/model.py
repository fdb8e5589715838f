"""The pre-decoder network: a fully convolutional 3-D CNN, in one module (nanoGPT style).

Conv3d (kernel k, same padding, no normalisation) + activation, repeated over ``widths``,
then an output Conv3d to one logit per edge class. Receptive field R = 1 + depth*(k-1),
counting the output conv. Local and translation-invariant: one model runs at any distance,
any number of rounds and both bases, and block-wise (see :mod:`predecoder.inference`).

Examples:
    >>> cfg = PRESETS["small"]
    >>> cfg.receptive_field, cfg.depth
    (9, 4)
    >>> import torch
    >>> net = PreDecoderNet(cfg)
    >>> tuple(net(torch.zeros(2, cfg.in_channels, 5, 6, 6)).shape)   # (B, K, T, H, W)
    (2, 9, 5, 6, 6)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from predecoder.edges import NUM_CLASSES
from predecoder.encoding import IN_CHANNELS
from qec import InputError, InputTypeError

ACTIVATIONS = ("gelu", "relu", "silu")
MAX_WIDTH, MAX_LAYERS, MAX_KERNEL = 4096, 64, 9


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a pre-decoder network (no training settings here).

    Args:
        widths: hidden channel counts, one Conv3d each (>= 1 layer).
        kernel: odd kernel size >= 3.
        in_channels: encoder channels (4).
        num_classes: output logits per cell (edge classes, 9).
        activation: one of :data:`ACTIVATIONS`.
    """

    widths: tuple[int, ...]
    kernel: int = 3
    in_channels: int = IN_CHANNELS
    num_classes: int = NUM_CLASSES
    activation: str = "gelu"

    def __post_init__(self) -> None:
        if not isinstance(self.widths, (tuple, list)) or not all(
                isinstance(w, int) and not isinstance(w, bool) for w in self.widths):
            raise InputTypeError(f"widths={self.widths!r} must be a sequence of integers")
        object.__setattr__(self, "widths", tuple(self.widths))
        if not 1 <= len(self.widths) < MAX_LAYERS or not all(
                1 <= w <= MAX_WIDTH for w in self.widths):
            raise InputError(f"widths={self.widths} must hold 1 to {MAX_LAYERS - 1} integers in "
                             f"[1, {MAX_WIDTH}]")
        if not isinstance(self.kernel, int) or not 3 <= self.kernel <= MAX_KERNEL \
                or self.kernel % 2 == 0:
            raise InputError(f"kernel={self.kernel!r} must be an odd integer in [3, "
                             f"{MAX_KERNEL}]")
        if self.in_channels < 1 or self.num_classes < 1:
            raise InputError(f"in_channels={self.in_channels} and num_classes="
                             f"{self.num_classes} must be >= 1")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"activation={self.activation!r} must be one of "
                             f"{', '.join(ACTIVATIONS)}")

    @property
    def depth(self) -> int:
        """Number of Conv3d layers, the output layer included."""
        return len(self.widths) + 1

    @property
    def receptive_field(self) -> int:
        return 1 + self.depth * (self.kernel - 1)

    @property
    def halo(self) -> int:
        """(R - 1) / 2: context each side that a tile needs for exact output."""
        return (self.receptive_field - 1) // 2

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The state-dict shape of every parameter of :class:`PreDecoderNet` (no allocation)."""
        k, chans = self.kernel, (self.in_channels, *self.widths, self.num_classes)
        shapes = {}
        for i, (c_in, c_out) in enumerate(zip(chans, chans[1:])):
            shapes[f"layers.{2 * i}.weight"] = (c_out, c_in, k, k, k)
            shapes[f"layers.{2 * i}.bias"] = (c_out,)
        return shapes

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(**{**d, "widths": tuple(d["widths"])})


PRESETS: dict[str, ModelConfig] = {
    "small": ModelConfig(widths=(32, 32, 32)),            # R = 9, CPU training and tests
    "medium": ModelConfig(widths=(64, 64, 64, 64)),       # R = 11, ~5x small's CPU cost
    "fast": ModelConfig(widths=(128, 128, 128)),          # R = 9, the paper's Model 1 shape
    "accurate": ModelConfig(widths=(128,) * 5),           # R = 13, the paper's Model 4 shape
}


class PreDecoderNet(nn.Module):
    """(B, C, T, H, W) float -> (B, K, T, H, W) edge logits, for one :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        act = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}[config.activation]
        pad = config.kernel // 2
        layers: list[nn.Module] = []
        prev = config.in_channels
        for width in config.widths:
            layers += [nn.Conv3d(prev, width, config.kernel, padding=pad), act()]
            prev = width
        layers.append(nn.Conv3d(prev, config.num_classes, config.kernel, padding=pad))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise InputError(f"input has shape {tuple(x.shape)}; expected (B, "
                             f"{self.config.in_channels}, T, H, W)")
        return self.layers(x)                                  # (B, K, T, H, W)


def num_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
