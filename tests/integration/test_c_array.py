"""The C array of a model compiles with the system C compiler and prints the model's bytes."""

import shutil

import pytest

from edgebench.exporters import c_array
from tests.unit.test_mcu_units import _model


@pytest.mark.skipif(shutil.which("cc") is None, reason="no system C compiler")
def test_c_array_compiles_and_prints_the_model(tmp_path):
    model = _model(3001)
    c_array.write(model, tmp_path / "m", source_name="m.tflite", arena_bytes=None)
    res = c_array.compile_check(tmp_path / "m", model)
    assert res == {"compiler": shutil.which("cc"), "compiles": True, "aligned": True, "bytes_match": True}
    # A corrupted array is caught by the byte comparison.
    src = tmp_path / "m" / "model_data.cc"
    first = f"0x{model[0]:02x}"
    src.write_text(src.read_text().replace(first, f"0x{(model[0] + 1) % 256:02x}", 1))
    assert c_array.compile_check(tmp_path / "m", model)["bytes_match"] is False
    (tmp_path / "m" / "model_data.h").write_text("this is not C\n")
    bad = c_array.compile_check(tmp_path / "m", model)
    assert bad["compiles"] is False and bad["error"]
