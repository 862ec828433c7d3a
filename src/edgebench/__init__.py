"""edgebench: train one network fairly in several frameworks, export it to embedded
formats, and verify every export on its real runtime."""

__version__ = "0.1.0"

from edgebench.errors import UserError  # noqa: E402

__all__ = ["UserError", "__version__"]
