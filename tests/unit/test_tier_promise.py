"""The unit tier keeps its promise: starting a child process or importing a framework fails the
test, even where the code under test catches the error (tests/unit/conftest.py)."""

import importlib
import multiprocessing
import os
import subprocess
import sys

import pytest

from tests.unit import conftest as tier


@pytest.fixture
def expect_violation():
    """The test breaks the promise on purpose: its recorded violation is checked, then forgiven."""
    yield
    assert tier._violations, "the guard let it through"
    tier._violations.clear()


@pytest.mark.parametrize("start", [
    lambda: subprocess.run([sys.executable, "-c", "pass"]),
    lambda: os.system("true"),
    lambda: multiprocessing.get_context("spawn").Process(target=print).start(),
    lambda: os.fork(),
], ids=["subprocess", "os.system", "multiprocessing", "fork"])
def test_a_child_process_is_refused(start, expect_violation):
    with pytest.raises(tier.TierViolation, match="starts a child process"):
        start()


def test_a_framework_import_is_refused_even_when_caught(tmp_path, monkeypatch, expect_violation):
    """A stand-in framework (the real ones need not be installed here): installed, found by
    find_spec, refused on import, and recorded although the code swallowed the error."""
    (tmp_path / "fakeframework").mkdir()
    (tmp_path / "fakeframework" / "__init__.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(tier, "FORBIDDEN_IMPORTS", tier.FORBIDDEN_IMPORTS | {"fakeframework"})
    assert importlib.util.find_spec("fakeframework") is not None  # asking is allowed
    try:
        importlib.import_module("fakeframework")
    except ImportError:
        raise AssertionError("refused as an ImportError, which optional-import code would swallow")
    except tier.TierViolation:
        pass
    assert "fakeframework" not in sys.modules
    assert any("imports fakeframework" in v for v in tier._violations)
