"""The package version, in a module of its own so that every module can read it without importing
the package root (which imports the API on first use)."""

__version__ = "0.1.0"
