"""Sweeps over grids of run configurations (issue 15). grid.py: GRID.toml -> validated points."""
