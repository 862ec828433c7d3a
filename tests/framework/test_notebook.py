"""The example notebook (examples/lab.ipynb) runs top to bottom on a small slice, through a real
Jupyter kernel (nbclient), and its outputs show Table 1 and the deployment matrix: it cannot rot."""

from pathlib import Path

import pytest

from tests.conftest import import_or_missing, needs_modules

nbformat = import_or_missing("nbformat", extra_name="test")
nbclient = import_or_missing("nbclient", extra_name="test")

# The notebook trains in TensorFlow, PyTorch and JAX and runs TFLite Micro.
pytestmark = [pytest.mark.framework, needs_modules("tensorflow", "torch", "jax", "tflite_micro", extra_name="all")]

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "lab.ipynb"
SLICE = ("SLICE = dict(limit_train=2000, limit_test=500, epochs=1, repeats=1, warmup=0, latency_min_time=0.1, "
         "calibration_samples=100)")


def _text(output) -> str:
    data = output.get("data", {})
    return output.get("text", "") + data.get("text/html", "") + data.get("text/plain", "") + data.get("text/markdown", "")


def test_the_example_notebook_runs_and_shows_table1_and_the_matrix(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = SLICE  # as papermill does: the small slice, set before the run
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    shown = "".join(_text(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Table 1" in shown and "Deployment" in shown  # the report, as the cell's last line shows it
    assert "size_bytes" in shown and "tflm_arena_bytes" in shown  # the matrices, as DataFrames (artifacts.csv's names)
    assert (tmp_path / "runs" / "notebook-lab" / "results.json").is_file()
    assert (tmp_path / "runs" / "notebook-beyond" / "results.json").is_file()
