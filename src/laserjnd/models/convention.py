"""How a model is fed: channel order, value scale and input size.

Datasets and the inference API always hand out RGB float frames in [0, 1], shape (B, 3, H, W).
Each model carries an :class:`InputConvention` that turns that canonical form into what the
network was trained on (the originals: BGR from OpenCV; LASeR-JND raw 0..255, MTJND 0..1).
Reconstruction targets go through the same conversion, so losses are computed in model space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..data.preprocess import Geometry


@dataclass(frozen=True)
class InputConvention:
    channel_order: str = "bgr"  # "rgb" or "bgr"
    scale: float = 255.0  # canonical [0,1] values are multiplied by this
    input_size: tuple[int, int] = (352, 640)  # (H, W) of the model input
    geometry_mode: str = "resize"  # how a frame becomes the input: see data.preprocess.Geometry
    tile: int = 0  # tile side of the "tiles" geometry

    def __post_init__(self):
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")

    @property
    def geometry(self) -> Geometry:
        return Geometry(tuple(self.input_size), self.geometry_mode, self.tile)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Canonical RGB [0,1] (B,3,H,W) -> model input space."""
        if self.channel_order == "bgr":
            x = x.flip(1)
        return x * self.scale if self.scale != 1.0 else x

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        """Model space (e.g. a reconstructed frame) -> canonical RGB [0,1]."""
        x = x / self.scale if self.scale != 1.0 else x
        return x.flip(1) if self.channel_order == "bgr" else x

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InputConvention":
        return cls(channel_order=d["channel_order"], scale=float(d["scale"]), input_size=tuple(d["input_size"]),
                   geometry_mode=d.get("geometry_mode", "resize"), tile=int(d.get("tile", 0)))


LASER_CONVENTION = InputConvention("bgr", 255.0, (352, 640))
MTJND_CONVENTION = InputConvention("bgr", 1.0, (270, 480))
