"""What the project installs is skipped without it on a developer's machine and fails under
CI=true, naming what is missing and how to install it (tests/conftest.py)."""

import pytest

import tests.conftest as shared


@pytest.mark.parametrize("on_ci, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_a_missing_requirement_skips_or_fails_on_ci(monkeypatch, on_ci, outcome):
    monkeypatch.setattr(shared, "ON_CI", on_ci)
    with pytest.raises(outcome, match=r"not installed: chromium \(apt-get install chromium\)") as e:
        shared.need(False, "chromium", "apt-get install chromium")
    assert ("CI=true" in str(e.value)) is on_ci
    shared.need(True, "chromium", "apt-get install chromium")  # present: nothing happens


def test_absent_modules_are_named_with_their_extra(monkeypatch):
    monkeypatch.setattr(shared, "ON_CI", False)
    with pytest.raises(pytest.skip.Exception, match=r"not installed: edgebench_absent_a and edgebench_absent_b "
                                                    r"\(pip install -e '\.\[jax\]'\)"):
        shared.need_modules("numpy", "edgebench_absent_a", "edgebench_absent_b", extra_name="jax")
    mark = shared.needs_modules("numpy", extra_name="jax")
    assert mark.name == "needs" and mark.args[0] is True
