"""Property-based tests of the --config loader: any TOML document either loads into options of
the right types or is refused with a ConfigError; nothing else escapes."""

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.errors import ConfigError
from edgebench.options import defaults, load_file

PARAMS = {k: v for k, v in defaults().items()
          if k in ("epochs", "batch_size", "lr", "frameworks", "twin", "threads", "formats", "board", "out",
                   "dataset", "hidden")}
KEYS = st.sampled_from(sorted(PARAMS) + ["batch-size", "epoch", "bogus", "limit train"])
VALUES = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                   st.text(max_size=12), st.lists(st.text(max_size=6), max_size=3))


def _toml(doc: dict) -> str:
    lines = []
    for k, v in doc.items():
        key = json.dumps(k)  # a quoted key is valid TOML for any text
        if isinstance(v, bool):
            lines.append(f"{key} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            lines.append(f"{key} = {v!r}")
        else:
            lines.append(f"{key} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_config_loader_is_total(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("cfg") / "run.toml"
    path.write_text(_toml(doc))
    try:
        out = load_file(path)
    except ConfigError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    for name, value in out.items():
        assert name in PARAMS
        assert isinstance(value, TYPES[name]) and not (TYPES[name] is not bool and isinstance(value, bool)), \
            (name, value)


TYPES = {"epochs": int, "batch_size": int, "lr": float, "frameworks": str, "twin": bool, "threads": int,
         "formats": str, "board": list, "out": Path, "dataset": str, "hidden": str}
WELL_TYPED = {"epochs": st.integers(1, 100), "lr": st.floats(1e-6, 1.0), "twin": st.booleans(),
              "threads": st.integers(1, 64), "dataset": st.text("abc-", min_size=1, max_size=8),
              "hidden": st.lists(st.integers(1, 512), min_size=1, max_size=3),
              "board": st.lists(st.text("abc:1", min_size=1, max_size=8), max_size=2)}


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({}, optional=WELL_TYPED))
def test_well_typed_documents_load_as_written(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("cfg") / "run.toml"
    path.write_text(_toml(doc))
    out = load_file(path)
    assert set(out) == set(doc)
    for name, value in doc.items():
        expected = ",".join(map(str, value)) if name == "hidden" else value
        assert out[name] == expected, name
