"""The Keras adapter builds any Network: checked against a float64 NumPy forward pass written
from the layer definitions, weights round-trip in Keras layouts, BatchNorm updates by our rule,
and the MLP stays the Keras model every earlier run trained."""

import numpy as np
import pytest

from edgebench.models import layers as L
from edgebench.models import weights as W
from edgebench.models import zoo
from edgebench.models.network import Network
from tests.conftest import needs_tf
from tests.framework.nets import np_forward, tiny_res, trained_like

pytestmark = [pytest.mark.framework, needs_tf]

NETS = [zoo.mlp((28, 28, 1), 10), zoo.lenet5((28, 28, 1), 10), zoo.dscnn((28, 28, 1), 10, filters=8, blocks=2),
        zoo.resnet8((28, 28, 1), 10), tiny_res()]


@pytest.fixture(scope="module")
def tf():
    from edgebench.frameworks.tensorflow import TensorFlowAdapter

    return TensorFlowAdapter(1)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_build_matches_the_layer_definitions_and_weights_round_trip(tf, net):
    w = trained_like(net)
    model = tf.build(net, w)
    x = np.random.default_rng(0).random((6, *net.input_shape), dtype=np.float32)
    np.testing.assert_allclose(tf.predict(model, x), np_forward(net, w, x), atol=2e-5)
    assert model.count_params() == net.parameter_count
    back = tf.get_weights(model)
    assert back.keys() == w.keys()
    for layer, arrays in w.items():
        assert back[layer].keys() == arrays.keys(), layer
        for k, v in arrays.items():
            np.testing.assert_array_equal(back[layer][k], v, err_msg=f"{layer}.{k}")


def test_predict_takes_flat_rows_too(tf):
    net = zoo.lenet5((28, 28, 1), 10)
    model = tf.build(net, W.initial(net, 1))
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(tf.predict(model, x.reshape(3, -1)), tf.predict(model, x))


def test_the_mlp_is_the_model_every_earlier_run_trained(tf):
    net = zoo.mlp((28, 28, 1), 10, hidden=(64,))
    model = tf.build(net, W.initial(net, 0))
    assert model.name == "mlp" and tuple(model.inputs[0].shape) == (None, 784)
    assert [(type(layer).__name__, layer.name) for layer in model.layers] == [
        ("InputLayer", "image"), ("Dense", "dense_0"), ("Dense", "dense_1")]
    assert model.get_layer("dense_0").activation.__name__ == "relu"
    assert model.get_layer("dense_1").activation.__name__ == "linear"


def test_explicit_pads_become_zero_padding_then_valid_convs(tf):
    net = tiny_res()
    model = tf.build(net, W.initial(net, 0))
    assert model.get_layer("stem_pad").padding == ((0, 1), (0, 1))  # 16 -> 8 at stride 2: odd pad at the end
    assert model.get_layer("conv3_pad").padding == ((1, 0), (0, 1))
    assert model.get_layer("dw").depth_multiplier == 2
    assert all(getattr(layer, "padding", "valid") == "valid" for layer in model.layers
               if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D"))
    with pytest.raises(ValueError):
        model.get_layer("pw_pad")  # a 1x1 'valid' conv has no pads


def test_batchnorm_running_statistics_follow_our_rule(tf):
    """One training step with learning rate 0: running mean and variance move by the layer's
    momentum (weight of the old value) towards the batch's mean and biased variance."""
    from edgebench.config import OptimizerSpec

    net = Network("bn", (L.Conv2D("c", 4, kernel=3, padding="valid", use_bias=False),
                         L.BatchNorm("bn", momentum=0.8, epsilon=1e-5), L.ReLU("r"),
                         L.GlobalAveragePooling("g"), L.Dense("d", 3)), (6, 6, 2), 3)
    w = trained_like(net)
    model = tf.build(net, w)
    rng = np.random.default_rng(1)
    x = rng.random((8, 6, 6, 2), dtype=np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    k = w["c"]["kernel"].astype(np.float64)
    out = np.zeros((8, 4, 4, 4))
    for i in range(3):
        for j in range(3):
            out += x[:, i:i + 4, j:j + 4, :].astype(np.float64) @ k[i, j]
    mean, var = out.mean(axis=(0, 1, 2)), out.var(axis=(0, 1, 2))  # biased
    opt = OptimizerSpec(name="sgd", learning_rate=0.0)
    tf.train(model, tf.load_data(x, y), np.arange(8)[None], 8, opt, lambda rec: None)
    got = tf.get_weights(model)["bn"]
    np.testing.assert_allclose(got["moving_mean"], 0.8 * w["bn"]["moving_mean"] + 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["moving_variance"], 0.8 * w["bn"]["moving_variance"] + 0.2 * var, rtol=1e-4)
