"""A sweep's grid: product and zipped axes, every point a valid run, one-line errors."""

import pytest

from edgebench.errors import ConfigError
from edgebench.sweeps.grid import expand, load


def test_product_in_written_order():
    g = expand({"fixed": {"epochs": 2, "formats": "tflite"},
                "axes": {"model": ["mlp", "lenet5"], "batch-size": [32, 64]}})
    assert [p.values for p in g.points] == [{"model": "mlp", "batch_size": 32}, {"model": "mlp", "batch_size": 64},
                                            {"model": "lenet5", "batch_size": 32},
                                            {"model": "lenet5", "batch_size": 64}]
    p = g.points[2]
    assert p.config.model.name == "lenet5" and p.config.batch_size == 32 and p.config.epochs == 2
    assert p.config.formats == ("tflite",) and p.name == "p003-model=lenet5-batch_size=32"


def test_zip_moves_axes_together_and_devices():
    g = expand({"axes": {"batch_size": [32, 64], "lr": [0.001, 0.002], "seed": [0, 1],
                         "zip": [["batch_size", "lr"]]}, "devices": ["x86", "rpi4"]})
    assert [(p.config.batch_size, p.config.optimizer.learning_rate, p.config.seed) for p in g.points] == [
        (32, 0.001, 0), (32, 0.001, 1), (64, 0.002, 0), (64, 0.002, 1)]
    assert g.devices == ("x86", "rpi4")


def test_no_axes_is_one_point():
    g = expand({"fixed": {"frameworks": ["tensorflow", "pytorch"]}})
    assert len(g.points) == 1 and g.points[0].config.frameworks == ("tensorflow", "pytorch")


@pytest.mark.parametrize("doc, words", [
    ({"axes": {"colour": ["red"]}}, ["unknown key(s) colour"]),
    ({"fixed": {"epochs": "many"}}, ["[fixed]", "'epochs' must be int"]),
    ({"axes": {"epochs": []}}, ["'epochs' is empty"]),
    ({"axes": {"epochs": 3}}, ["must be a list"]),
    ({"axes": {"epochs": [1, 0]}}, ["point 2", "epochs=0", "--epochs must be a positive integer"]),
    ({"axes": {"model": ["mlp", "nonet"]}}, ["point 2", "nonet"]),
    ({"axes": {"frameworks": ["tensorflow", "caffe"]}}, ["point 2", "caffe"]),
    ({"axes": {"lr": [0.1], "batch_size": [1, 2], "zip": [["lr", "batch_size"]]}}, ["same length"]),
    ({"axes": {"lr": [0.1], "zip": [["lr", "seed"]]}}, ["'seed', which is not an axis"]),
    ({"fixed": {"seed": 1}, "axes": {"seed": [1, 2]}}, ["both fixed and an axis"]),
    ({"fixd": {}}, ["unknown section(s) fixd"]),
    ({"devices": ["a", "a"]}, ["twice"]),
    ({"devices": ["rpi 5"]}, ["'rpi 5'", "label value"]),
    ({"devices": ["-x86"]}, ["'-x86'"]),
])
def test_bad_grids(doc, words):
    with pytest.raises(ConfigError) as e:
        expand(doc, "g.toml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("g.toml")
    for w in words:
        assert w in msg, msg


def test_load_from_file(tmp_path):
    f = tmp_path / "grid.toml"
    f.write_text('[fixed]\nepochs = 1\n[axes]\nhidden = ["32", "64,32"]\n')
    g = load(f)
    assert [p.config.model.hidden for p in g.points] == [(32,), (64, 32)]
    with pytest.raises(ConfigError, match="not valid TOML"):
        (tmp_path / "bad.toml").write_text("[axes\n")
        load(tmp_path / "bad.toml")
