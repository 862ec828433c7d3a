"""A sweep's grid (issue 15, first step): GRID.toml -> the list of points, each a RunConfig that
`edgebench run` would accept, checked before anything runs.

    [fixed]                       # run options every point shares (as in `run --config`)
    epochs = 2
    formats = "tflite"
    [axes]                        # run options to vary: a list of values each
    model = ["mlp", "lenet5"]
    batch_size = [32, 64]
    lr = [0.001, 0.003]
    zip = [["batch_size", "lr"]]  # optional: these axes move together (same length), not as a product
    devices = ["x86-server", "rpi4"]   # optional: where each artifact is measured (cluster sweeps)

Points are the product of the axes (a zipped group counts as one axis), in the order the axes
are written, the last varying fastest. Every point is validated as a run: an unknown option, an
empty axis, a value of the wrong type, or a value `run` would refuse is a one-line ConfigError
naming the axis and the value.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgebench.config import RunConfig, validate
from edgebench.errors import ConfigError, UserError

SECTIONS = ("fixed", "axes", "devices")
# A Ray node label value (Kubernetes label syntax): what `ray start --labels` accepts.
DEVICE_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class Point:
    index: int  # 1-based, in grid order
    values: dict[str, Any]  # the axis values of this point, by option name
    config: RunConfig

    @property
    def name(self) -> str:
        """A folder name: the point's number and its axis values."""
        parts = [f"{k}={_short(v)}" for k, v in self.values.items()]
        return f"p{self.index:03d}" + ("-" + "-".join(parts) if parts else "")


@dataclass(frozen=True)
class Grid:
    fixed: dict[str, Any]
    axes: dict[str, list]
    zipped: tuple[tuple[str, ...], ...]
    devices: tuple[str, ...]
    points: tuple[Point, ...]


def _short(v: Any) -> str:
    text = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return "".join(c if c.isalnum() or c in ".,_+" else "_" for c in text)[:40]


def load(path: Path) -> Grid:
    from edgebench.models.toml_model import read_toml

    return expand(read_toml(path, "sweep"), str(path))


def expand(doc: dict, where: str = "grid") -> Grid:
    """The grid's points, every one validated; ConfigError (one line) at the first problem."""
    from edgebench.options import check_values, defaults, to_config

    unknown = [k for k in doc if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; a grid has [fixed], [axes] and "
                          "devices")
    fixed_doc = doc.get("fixed", {})
    axes_doc = dict(doc.get("axes", {}))
    if not isinstance(fixed_doc, dict) or not isinstance(axes_doc, dict):
        raise ConfigError(f"{where}: [fixed] and [axes] must be tables")
    zipped_doc = axes_doc.pop("zip", [])
    fixed = check_values(fixed_doc, f"{where} [fixed]")
    axes: dict[str, list] = {}
    for key, values in axes_doc.items():
        name = key.replace("-", "_")
        if not isinstance(values, list):
            raise ConfigError(f"{where} [axes]: '{key}' must be a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"{where} [axes]: '{key}' is empty; give it at least one value")
        if name in fixed:
            raise ConfigError(f"{where}: '{key}' is both fixed and an axis")
        # Each value checked as that option would be in a --config file.
        axes[name] = [check_values({key: v}, f"{where} [axes] {key}")[name] for v in values]
    zipped = _zips(zipped_doc, axes, where)
    devices = doc.get("devices", [])
    if not isinstance(devices, list) or not all(isinstance(d, str) and d for d in devices):
        raise ConfigError(f"{where}: devices must be a list of device names, got {devices!r}")
    if len(set(devices)) != len(devices):
        raise ConfigError(f"{where}: devices lists a name twice")
    for d in devices:
        if not DEVICE_NAME.fullmatch(d):
            raise ConfigError(f"{where}: device {d!r} is not a valid node label value (letters, digits, '-', '_' "
                              "and '.', at most 63, starting and ending with a letter or digit)")

    # The axes in the order written; a zipped group is one axis, at its first member's place.
    groups: list[tuple[str, ...]] = []
    for name in axes:
        group = next((z for z in zipped if name in z), (name,))
        if group not in groups:
            groups.append(group)
    choices = [list(zip(*(axes[n] for n in g))) for g in groups]
    base = {**defaults(), **fixed}
    points = []
    shapes: dict[str, tuple] = {}
    for i, combo in enumerate(itertools.product(*choices), start=1):
        values = {n: v for g, vs in zip(groups, combo) for n, v in zip(g, vs)}
        try:
            cfg = to_config({**base, **values})
            validate(cfg)
            _check_model(cfg, shapes)
        except (ConfigError, UserError) as e:
            said = ", ".join(f"{n}={v!r}" for n, v in values.items())
            raise ConfigError(f"{where}: point {i} ({said or 'the fixed options'}): {e}") from None
        points.append(Point(i, values, cfg))
    return Grid(fixed, axes, zipped, tuple(devices), tuple(points))


def _check_model(cfg: RunConfig, shapes: dict) -> None:
    """The network builds for the data set's images, as `run` checks before writing anything (each
    data set read once, its first images only)."""
    from edgebench import data

    key = (cfg.dataset, cfg.num_classes)
    if key not in shapes:
        ds = data.load(cfg.dataset, limit_train=1, limit_test=1, num_classes=cfg.num_classes)
        shapes[key] = (ds.image_shape, ds.num_classes)
    image_shape, classes = shapes[key]
    replace(cfg.model, input_size=math.prod(image_shape), num_classes=classes).network(image_shape)


def _zips(doc, axes: dict[str, list], where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(doc, list) or not all(isinstance(g, list) for g in doc):
        raise ConfigError(f"{where} [axes]: zip must be a list of lists of axis names, e.g. [[\"batch_size\", \"lr\"]]")
    groups, seen = [], set()
    for g in doc:
        names = tuple(n.replace("-", "_") for n in g)
        if len(names) < 2:
            raise ConfigError(f"{where} [axes]: a zip group needs two axes or more, got {g!r}")
        for n in names:
            if n not in axes:
                raise ConfigError(f"{where} [axes]: zip names '{n}', which is not an axis")
            if n in seen:
                raise ConfigError(f"{where} [axes]: '{n}' is in two zip groups")
            seen.add(n)
        lengths = {n: len(axes[n]) for n in names}
        if len(set(lengths.values())) != 1:
            raise ConfigError(f"{where} [axes]: zipped axes must have the same length, got "
                              + ", ".join(f"{n} {k}" for n, k in lengths.items()))
        groups.append(names)
    return tuple(groups)
