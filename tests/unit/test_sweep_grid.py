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
    ({"fixed": {"epochs": "many"}}, ["[fixed]", "'epochs' must be an integer"]),
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


def test_axes_take_the_values_a_user_writes_in_toml(tmp_path):
    """Plain integers for hidden (the README's own style), a list of integers for a multi-layer
    hidden, booleans for switches, integers for float options."""
    f = tmp_path / "grid.toml"
    f.write_text('[axes]\nhidden = [16, [32, 16], "64,32"]\ntwin = [true, false]\nno-mcu = [true]\n'
                 'lr = [1, 0.5]\nbatch-size = [32]\n')
    g = load(f)
    assert sorted({p.config.model.hidden for p in g.points}) == [(16,), (32, 16), (64, 32)]
    assert {p.config.twin for p in g.points} == {True, False} and all(not p.config.microcontroller for p in g.points)
    assert {p.config.optimizer.learning_rate for p in g.points} == {1.0, 0.5}
    assert g.points[0].name.startswith("p001-hidden=16-twin=True")
    assert [p for p in g.points if p.values["hidden"] == "32,16"][0].name.startswith("p")


@pytest.mark.parametrize("axis, words", [
    ("hidden = [1.5]", ["'hidden' must be a layer size (64), a comma list", "got 1.5"]),
    ("hidden = [0]", ["point 1", "--hidden sizes must be positive, got 0"]),
    ("twin = [1]", ["'twin' must be true or false, got 1"]),
    ("batch-size = [32.5]", ["'batch-size' must be an integer, got 32.5"]),
])
def test_really_wrong_axis_values_are_one_line(tmp_path, axis, words):
    f = tmp_path / "grid.toml"
    f.write_text(f"[axes]\n{axis}\n")
    with pytest.raises(ConfigError) as e:
        load(f)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_load_from_file(tmp_path):
    f = tmp_path / "grid.toml"
    f.write_text('[fixed]\nepochs = 1\n[axes]\nhidden = ["32", "64,32"]\n')
    g = load(f)
    assert [p.config.model.hidden for p in g.points] == [(32,), (64, 32)]
    with pytest.raises(ConfigError, match="not valid TOML"):
        (tmp_path / "bad.toml").write_text("[axes\n")
        load(tmp_path / "bad.toml")
