"""edgebench: train one network fairly in several frameworks, export it to embedded
formats, and verify every export on its real runtime.

From Python: edgebench.run(**options), edgebench.deploy(model, **options), edgebench.sweep(grid,
out=...), edgebench.load(run_dir), edgebench.compare(a, b) (see edgebench.api)."""

from edgebench.errors import UserError
from edgebench.version import __version__

__all__ = ["UserError", "__version__", "compare", "deploy", "load", "run", "sweep"]


def __getattr__(name: str):
    """The API is imported on first use, so `import edgebench` (and the CLI) stays light."""
    if name in ("run", "deploy", "sweep", "load", "compare", "Results", "SweepResults"):
        from edgebench import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgebench' has no attribute {name!r}")
