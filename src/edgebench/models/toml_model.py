"""`--model PATH.toml`: the user's own architecture as a layer list.

    name = "tiny-cnn"                 # optional (default: the file's name)
    [[layers]]
    type = "Conv2D"                   # Conv2D, DepthwiseConv2D, MaxPool2D, AvgPool2D,
    name = "conv1"                    #   GlobalAveragePooling, BatchNorm, ReLU, ReLU6, Add,
    filters = 8                       #   Flatten, Dense, Dropout
    kernel = 3                        # or [3, 3]; stride likewise
    padding = "same"                  # "valid", or [[top, bottom], [left, right]]
    activation = "relu"               # relu, relu6 or none
    [[layers]]
    type = "Add"                      # a residual: the layer before plus `other`
    other = "conv1"
    input = "bn2"                     # any layer may read another than the one before it

Everything is checked before anything runs; an error names the file, the layer and the value.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgebench.errors import ConfigError
from edgebench.models.layers import TYPES, Layer


def read_toml(path, flag: str, missing_hint: str = "") -> dict:
    """A TOML file given to `flag` (--config, --model), or a one-line ConfigError naming it."""
    import tomllib

    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: file not found{missing_hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{flag} {path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{flag} {path}: not valid TOML ({e})") from None


def load(path: Path) -> tuple[str, tuple[Layer, ...]]:
    doc = read_toml(path, "--model", " (or give a built-in model name)")
    extra = sorted(set(doc) - {"name", "layers"})
    if extra:
        raise ConfigError(f"--model {path}: unknown key(s) {', '.join(extra)}; a model file has name and [[layers]]")
    rows = doc.get("layers")
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"--model {path}: no [[layers]]; see the README's model format")
    layers = []
    for i, row in enumerate(rows, start=1):
        try:
            layers.append(_layer(i, row))
        except ConfigError as e:
            raise ConfigError(f"--model {path}: {e}") from None
    name = doc.get("name", Path(path).stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"--model {path}: name must be a non-empty string, got {name!r}")
    return name, tuple(layers)


def _layer(i: int, row: dict) -> Layer:
    if not isinstance(row, dict) or "type" not in row:
        raise ConfigError(f"layer {i}: no type; valid types: {', '.join(TYPES)}")
    kind = row["type"]
    if kind not in TYPES:
        raise ConfigError(f"layer {i}: unknown type {kind!r}; valid types: {', '.join(TYPES)}")
    cls = TYPES[kind]
    name = row.get("name", f"{kind.lower()}_{i}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"layer {i} ({kind}): name must be a non-empty string, got {name!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(row) - known - {"type"})
    if unknown:
        raise ConfigError(f"layer '{name}' ({kind}): unknown field(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(known - {'name'}))}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name != "name"]
    missing = [f for f in required if f not in row]
    if missing:
        raise ConfigError(f"layer '{name}' ({kind}): missing {', '.join(missing)}")
    args = {k: v for k, v in row.items() if k not in ("type", "name")}
    if args.get("activation") == "none":
        args["activation"] = None
    for key in ("input", "other"):
        if key in args and not isinstance(args[key], str):
            raise ConfigError(f"layer '{name}' ({kind}): {key} must name a layer, got {args[key]!r}")
    for key in ("use_bias",):
        if key in args and not isinstance(args[key], bool):
            raise ConfigError(f"layer '{name}' ({kind}): {key} must be true or false, got {args[key]!r}")
    return cls(name, **args)
