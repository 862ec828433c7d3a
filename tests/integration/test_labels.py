"""Labels decide the network's output size: a stray label must not make a bigger network without a
word. Through the real CLI: one line naming the file, the label value and how many there are."""

import numpy as np

from tests.conftest import make_idx_folder, write_idx
from tests.integration.test_faults_cli import _assert_user_error, _run


def _stray(tmp_path):
    """Labels 0-2, and one 200 in the training labels (the case seen: a 201-class network)."""
    folder = make_idx_folder(tmp_path / "stray", classes=3)
    y = np.random.default_rng(1).integers(0, 3, 60).astype(np.uint8)
    y[17] = 200
    write_idx(folder / "train-labels-idx1-ubyte.gz", y, gz=True)
    return folder


def test_a_stray_label_is_an_error_not_a_bigger_network(tmp_path):
    p = _run("run", "--frameworks", "numpy", "--dataset", str(_stray(tmp_path)), "--out", str(tmp_path / "r"))
    _assert_user_error(p, "train-labels-idx1-ubyte.gz: label 200 (1 of 60 labels) makes 201 classes, but 197 of "
                          "them (3, 4, 5, 6, 7, ...) have no example")
    assert "--num-classes" in p.stderr and not (tmp_path / "r").exists()


def test_num_classes_bounds_every_label(tmp_path):
    p = _run("run", "--frameworks", "numpy", "--dataset", str(_stray(tmp_path)), "--num-classes", "3",
             "--out", str(tmp_path / "r"))
    _assert_user_error(p, "train-labels-idx1-ubyte.gz: label 200 is outside 0..2 (--num-classes 3); 1 of 60 labels are")


def test_num_classes_allows_classes_without_examples(tmp_path):
    folder = make_idx_folder(tmp_path / "three", classes=3)
    p = _run("run", "--frameworks", "numpy", "--dataset", str(folder), "--num-classes", "5", "--epochs", "1",
             "--repeats", "1", "--warmup", "0", "--no-mcu", "--formats", "none", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    import json

    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert r["config"]["num_classes"] == 5 and r["trainings"][0]["status"] == "ok"
    assert r["model"]["num_classes"] == 5 and r["model"]["layers"][-1]["units"] == 5


def test_a_test_label_no_training_example_has(tmp_path):
    folder = make_idx_folder(tmp_path / "t", classes=3)
    y = np.zeros(20, np.uint8)
    y[3] = 7
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y, gz=True)
    p = _run("run", "--frameworks", "numpy", "--dataset", str(folder), "--out", str(tmp_path / "r"))
    _assert_user_error(p, "t10k-labels-idx1-ubyte.gz: label 7 (1 of 20 labels) makes 8 classes, but 5 of them "
                          "(3, 4, 5, 6, 7) have no example in train-labels-idx1-ubyte.gz")
