"""laserjnd: JND prediction for video and image compression (LASeR-JND and MTJND in PyTorch).

``laserjnd.load(checkpoint=None).predict("frame.png")`` -> ``{"jnd1": .., "jnd2": .., "jnd3": ..}``;
with no checkpoint the bundled default model is used.
"""

__version__ = "0.1.0"


def load(checkpoint=None, device=None, batch_size: int = 8):
    """Load a predictor (lazy import keeps ``import laserjnd`` light)."""
    from .api import load as _load

    return _load(checkpoint, device=device, batch_size=batch_size)


__all__ = ["__version__", "load"]
