"""laserjnd: JND prediction for video and image compression (LASeR-JND and MTJND in PyTorch)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
