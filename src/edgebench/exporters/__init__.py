"""Exporters: small per-format functions that import their converter only when called."""
