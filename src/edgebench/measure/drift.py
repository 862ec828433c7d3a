"""Twin-training drift: how far frameworks' weights and logits move apart from identical starts."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from edgebench.models import weights as init
from edgebench.models.network import Network


def forward(net: Network, weights: init.Weights, x: np.ndarray) -> np.ndarray:
    """The network in float64 NumPy (the reference backend's forward, inference mode): logits
    that differ only because the weights differ."""
    from edgebench.frameworks.numpy_ref import forward as reference

    return reference(net, weights, x.reshape(len(x), *net.input_shape), dtype=np.float64)


def _weight_diff(a: init.Weights, b: init.Weights) -> np.ndarray:
    return np.concatenate([np.abs(a[layer][k].astype(np.float64) - b[layer][k]).ravel()
                           for layer in a for k in a[layer]])


def twin_drift(run_dir: Path, net: Network, frameworks: list[str], steps: list[int], total_steps: int,
               x_test: np.ndarray) -> dict:
    points: list[tuple[str, int]] = [(f"step {s}", s) for s in steps if s < total_steps]
    points.append(("end", total_steps))
    weights: dict[str, dict[int, init.Weights]] = {}
    for fw in frameworks:
        snaps = {s: init.load(run_dir / fw / "snapshots" / f"step_{s}.npz") for _, s in points[:-1]}
        snaps[total_steps] = init.load(run_dir / fw / "final_weights.npz")
        weights[fw] = snaps
    start = init.load(run_dir / "inputs" / "initial_weights.npz")
    pairs = []
    for f1, f2 in combinations(frameworks, 2):
        rows = []
        for label, s in points:
            d = _weight_diff(weights[f1][s], weights[f2][s])
            l1, l2 = forward(net, weights[f1][s], x_test), forward(net, weights[f2][s], x_test)
            moved = max(_weight_diff(weights[f1][s], start).max(), _weight_diff(weights[f2][s], start).max())
            rows.append({"at": label, "step": s, "max_abs_weight_diff": float(d.max()),
                         "weights_within_1e-5": float(np.mean(d <= 1e-5)),
                         "max_abs_weight_change_from_init": float(moved),
                         "max_abs_logit_diff": float(np.abs(l1 - l2).max()),
                         "top1_agreement": float(np.mean(l1.argmax(1) == l2.argmax(1)))})
        own = [np.load(run_dir / fw / "test_logits.npy") for fw in (f1, f2)]
        pairs.append({"pair": [f1, f2], "points": rows,
                      "end_framework_logits_max_abs_diff": float(np.abs(own[0] - own[1]).max())})
    return {"steps": [s for _, s in points], "total_steps": total_steps, "test_samples": int(len(x_test)),
            "method": "weights saved after the given global steps; logits recomputed in float64 NumPy from "
                      "each framework's weights (so they differ only through the weights), plus the "
                      "frameworks' own float32 test logits at the end",
            "pairs": pairs}
