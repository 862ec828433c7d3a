"""The Python API without a run: errors it raises before any work starts."""

import pytest

import edgebench
from edgebench.errors import UserError


def test_load_of_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(UserError, match="not an edgebench run"):
        edgebench.load(tmp_path)
