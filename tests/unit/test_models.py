"""Framework-neutral models: shapes, parameters, MACs and FLOPs against published figures and
hand counts; every bad layer refused in one line naming it; initial weights as before."""

import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.errors import ConfigError

from edgebench.models import build, weights
from edgebench.models.layers import (Add, AvgPool2D, BatchNorm, Conv2D, Dense, DepthwiseConv2D, Flatten,
                                     GlobalAveragePooling, MaxPool2D, resolve_pads)
from edgebench.models.network import Network

MNIST = ((28, 28, 1), 10)


def test_lenet5_matches_the_published_count():
    net = build("lenet5", *MNIST)
    # ../shared/notes/models.md: 61,706 parameters, 416,520 MACs.
    assert net.parameter_count == 61_706 and net.macs_per_sample == 416_520
    assert [r["output_shape"] for r in net.layer_table()] == [
        [28, 28, 6], [14, 14, 6], [10, 10, 16], [5, 5, 16], [400], [120], [84], [10]]
    assert sum(r["macs_share"] for r in net.layer_table()) == pytest.approx(1.0)


def test_resnet8_on_cifar_matches_mlperf_tiny():
    # MLPerf Tiny's IC ResNet-8 .tflite (BatchNorm folded): 77,706 parameters, 12.50 M MACs.
    net = build("resnet8", (32, 32, 3), 10)
    assert net.deployed_parameter_count == 77_706
    assert net.trainable_parameter_count == net.parameter_count - 2 * 336  # running mean and variance of 336 channels
    assert net.macs_per_sample == 12_501_632
    mnist = build("resnet8", *MNIST)
    assert [n.out_shape for n in mnist.nodes if n.layer.name in ("s1_add", "s2_add", "s3_add")] == [
        (28, 28, 16), (14, 14, 32), (7, 7, 64)]


def test_dscnn_shape():
    net = build("dscnn", *MNIST)
    assert net.nodes[0].out_shape == (14, 14, 64)
    dw = next(n for n in net.nodes if n.layer.name == "dw1")
    assert dw.params == {"kernel": (3, 3, 64, 1)} and dw.macs == 14 * 14 * 64 * 9
    # 3x3 stem without bias + 4 x (depthwise 576 + pointwise 4096) + 5 BatchNorms x 4 x 64 + dense 650.
    assert net.parameter_count == 576 + 4 * (576 + 4096) + 9 * 4 * 64 + 650


def test_mlp_costs_and_weights_are_the_labs():
    net = build("mlp", *MNIST, hidden=(64,))
    assert net.parameter_count == ModelSpec().parameter_count == 50_890 and net.macs_per_sample == 50_816
    assert net.train_flops_per_sample() == {"forward": 2 * 50_816, "weight_grad": 2 * 50_816, "input_grad": 2 * 640,
                                            "total": 6 * 50_816 - 2 * 50_176}
    # The draws of every earlier run: one Glorot-uniform kernel per layer, in order, from seed [s, 0].
    rng = np.random.default_rng(np.random.SeedSequence([7, 0]))
    new = weights.initial(net, 7)
    for i, (fi, fo) in enumerate([(784, 64), (64, 10)]):
        limit = np.sqrt(6.0 / (fi + fo))
        np.testing.assert_array_equal(new[f"dense_{i}"]["kernel"],
                                      rng.uniform(-limit, limit, size=(fi, fo)).astype(np.float32))
        assert not new[f"dense_{i}"]["bias"].any()


def test_training_flops_skip_the_image_gradient_only():
    net = build("lenet5", *MNIST)
    f = net.train_flops_per_sample()
    assert f["forward"] == f["weight_grad"] == 2 * 416_520
    assert f["input_grad"] == 2 * (416_520 - 117_600)  # conv1 reads the image


def test_same_padding_puts_the_odd_pad_bottom_right():
    assert resolve_pads("same", (28, 28), (3, 3), (2, 2)) == ((0, 1), (0, 1))
    assert resolve_pads("same", (28, 28), (5, 5), (1, 1)) == ((2, 2), (2, 2))
    assert resolve_pads("valid", (28, 28), (5, 5), (1, 1)) == ((0, 0), (0, 0))
    net = Network("t", (Conv2D("c", 4, kernel=3, stride=2), GlobalAveragePooling("g"), Dense("d", 10)), (28, 28, 1), 10)
    assert net.nodes[0].out_shape == (14, 14, 4)


def test_weights_round_trip_and_their_shapes(tmp_path):
    net = build("resnet8", *MNIST)
    w = weights.initial(net, 0)
    assert w["s2a"]["kernel"].shape == (3, 3, 16, 32) and w["s2a"]["kernel"].dtype == np.float32
    assert np.all(w["s2a_bn"]["gamma"] == 1) and np.all(w["s2a_bn"]["moving_mean"] == 0)
    limit = np.sqrt(6 / (9 * 16 + 9 * 32))
    assert 0.9 * limit < np.abs(w["s2a"]["kernel"]).max() <= limit
    weights.save(w, tmp_path / "w.npz")
    back = weights.load(tmp_path / "w.npz")
    assert back.keys() == w.keys() and all(np.array_equal(back[k][a], w[k][a]) for k in w for a in w[k])


@pytest.mark.parametrize("layers, message", [
    ((Conv2D("c", 4), MaxPool2D("p", pool=40), Flatten("f"), Dense("d", 10)),
     "layer 'p' (MaxPool2D): a 40x40 window does not fit the input (28, 28, 4)"),
    ((Dense("d", 10),), "layer 'd' (Dense) needs a vector input, got shape (28, 28, 1)"),
    ((Flatten("f"), Conv2D("c", 4)), "layer 'c' (Conv2D) needs an image (H, W, C) input, got shape (784)"),
    ((Conv2D("a", 4), Conv2D("b", 8), Add("add", other="a"), GlobalAveragePooling("g"), Dense("d", 10)),
     "layer 'add' (Add): 'b' gives (28, 28, 8) but 'a' gives (28, 28, 4); they must match"),
    ((Conv2D("a", 4), Add("add", other="ghost")), "layer 'add' (Add): 'ghost' is not a layer before it"),
    ((Conv2D("a", 4), Conv2D("a", 4)), "two layers are named 'a'"),
    ((Flatten("f"), Dense("d", 12)), "layer 'd' (Dense) is the last layer and gives (12), but the data set has 10"),
    ((Conv2D("c", 4, input="later"),), "layer 'c': input 'later' is not a layer before it"),
])
def test_a_layer_that_does_not_fit_names_itself(layers, message):
    with pytest.raises(ConfigError) as e:
        Network("t", layers, (28, 28, 1), 10)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D("c", -3), "layer 'c': filters must be a positive integer, got -3"),
    (lambda: Conv2D("c", 4, kernel=(3, 0)), "layer 'c': kernel must be a positive integer or a pair"),
    (lambda: Conv2D("c", 4, padding="full"), "layer 'c': padding must be 'same', 'valid' or [[top, bottom]"),
    (lambda: Dense("d", 4, activation="tanh"), "layer 'd': activation must be relu, relu6 or none"),
    (lambda: BatchNorm("b", momentum=1.5), "layer 'b': momentum must be in [0, 1)"),
    (lambda: AvgPool2D("a", pool=0), "layer 'a': pool must be a positive integer"),
    (lambda: DepthwiseConv2D("d", multiplier=0), "layer 'd': multiplier must be a positive integer, got 0"),
])
def test_bad_layer_values_are_refused(make, message):
    with pytest.raises(ConfigError, match=None) as e:
        make()
    assert message in str(e.value)


TOML = '''
name = "tiny-res"
[[layers]]
type = "Conv2D"
name = "c1"
filters = 4
kernel = [3, 3]
activation = "relu"
[[layers]]
type = "BatchNorm"
name = "bn"
[[layers]]
type = "Conv2D"
name = "c2"
filters = 4
padding = [[1, 1], [1, 1]]
[[layers]]
type = "Add"
other = "c1"
[[layers]]
type = "ReLU6"
[[layers]]
type = "AvgPool2D"
pool = 2
[[layers]]
type = "Flatten"
[[layers]]
type = "Dropout"
rate = 0.0
[[layers]]
type = "Dense"
units = 10
activation = "none"
'''


def test_a_toml_model_builds_with_shapes_from_the_data(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(TOML)
    net = build(str(path), *MNIST)
    assert net.name == "tiny-res" and [n.layer.name for n in net.nodes][3:6] == ["add_4", "relu6_5", "avgpool2d_6"]
    assert net.nodes[-1].in_shape == (14 * 14 * 4,) and net.nodes[2].out_shape == (28, 28, 4)
    fashion = build(str(path), (28, 28, 1), 10)
    assert fashion.parameter_count == net.parameter_count


@pytest.mark.parametrize("text, message", [
    ('[[layers]]\ntype = "Conv3D"\n', "layer 1: unknown type 'Conv3D'; valid types: Conv2D, DepthwiseConv2D"),
    ('[[layers]]\ntype = "Conv2D"\nname = "c"\n', "layer 'c' (Conv2D): missing filters"),
    ('[[layers]]\ntype = "Dense"\nunits = 10\nsize = 3\n', "layer 'dense_1' (Dense): unknown field(s) size"),
    ('[[layers]]\ntype = "Dense"\nunits = -10\n', "layer 'dense_1': units must be a positive integer, got -10"),
    ('[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Add"\nother = "nope"\n',
     "layer 'add_2' (Add): 'nope' is not a layer before it"),
    ('layers = 3\n', "no [[layers]]"),
    ('[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Dense"\nunits = 10\n[[layers]]\ntype = "Dense"\nunits = 3\n',
     "layer 'dense_3' (Dense) is the last layer and gives (3), but the data set has 10 classes"),
    ('nme = "x"\n[[layers]]\ntype = "Flatten"\n', "unknown key(s) nme"),
    ("[[layers\n", "not valid TOML"),
])
def test_toml_errors_name_the_file_and_the_layer(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        build(str(path), *MNIST)
    assert str(e.value).startswith(f"--model {path}: ") and message in str(e.value), str(e.value)


def test_unknown_model_names_the_choices():
    with pytest.raises(ConfigError, match="unknown --model 'vgg'; built-in: mlp, lenet5, dscnn, resnet8, or a .toml"):
        build("vgg", *MNIST)
    with pytest.raises(ConfigError, match="file not found"):
        build("missing.toml", *MNIST)
