"""Property-based tests of the --config loader: any TOML document either loads into options of
the right types or is refused with a ConfigError; nothing else escapes."""

import json

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
        default = PARAMS[name]
        if isinstance(default, bool):
            assert isinstance(value, bool)
        elif isinstance(default, int):
            assert isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
