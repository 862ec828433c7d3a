"""Issue 31: the match table (fusion groups, names, position, scaled copies), the per-layer table
through a runtime that hands back intermediate tensors, and its report, CLI and API views. NumPy
only: the runtimes here are stand-ins that quantize the source's own activations, so every
expected figure is known."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from edgebench.cli import app
from edgebench.errors import UserError
from edgebench.measure.layer_match import check_scale, groups, match, mentions
from edgebench.measure.layer_table import clean, layer_table, source_layers
from edgebench.models.zoo import lenet5, resnet8
from edgebench.runtimes.base import LayerTensor


def test_resnet8_groups_fold_batchnorm_and_relu_into_the_conv_and_the_add():
    gs = groups(resnet8((28, 28, 1), 10))
    assert [g.output for g in gs] == ["stem_relu", "s1a_relu", "s1b_bn", "s1_relu", "s2a_relu", "s2b_bn",
                                      "s2_proj_bn", "s2_relu", "s3a_relu", "s3b_bn", "s3_proj_bn", "s3_relu",
                                      "pool", "logits"]
    by = {g.output: g for g in gs}
    assert by["stem_relu"].members == ("stem", "stem_bn", "stem_relu") and by["stem_relu"].activation
    assert by["s1_relu"].members == ("s1_add", "s1_relu") and by["s1_relu"].family == "add"
    assert by["s2_proj_bn"].shape == (14, 14, 32) and not by["s2_proj_bn"].activation


def test_flatten_joins_the_layer_before_and_keeps_its_shape():
    gs = groups(lenet5((28, 28, 1), 10))
    pool2 = next(g for g in gs if g.output == "pool2")
    assert pool2.members == ("pool2", "flatten") and pool2.shape == (5, 5, 16)
    assert "flatten" not in [g.output for g in gs]


@pytest.mark.parametrize("text,layer,hit", [
    ("resnet8_1/stem_relu_1/Relu;resnet8_1/stem_bn_1/batchnorm/add_1", "stem_bn", True),
    ("resnet8_1/stem_relu_1/Relu", "stem", False),  # a segment is the layer's name, not a prefix of it
    ("edgebench.frameworks.pytorch.NetModule/torch.nn.modules.conv.Conv2d_s1b;2", "s1b", True),
    ("layers.s2_proj.weight_DequantizeLinear_Output", "s2_proj", True),
    ("layers.s2_proj.weight_DequantizeLinear_Output", "proj", True),  # "_<layer>" ends a segment
    ("jit(<lambda>)/FlaxNet/add", "s1_add", False),
])
def test_mentions(text, layer, hit):
    assert mentions(text, layer) is hit


def _t(key, op, text, shape, order, step=None):
    return LayerTensor(key=key, name=key, op=op, text=text, shape=tuple(shape), step=step, order=order)


def test_names_first_then_position_by_op_kind_and_channels_first_shapes():
    net = resnet8((28, 28, 1), 10)
    c = lambda s: (s[2], s[0], s[1])  # noqa: E731 - the ONNX side holds NCHW
    tensors = [
        _t("0", "Conv+Relu", "layers.stem.weight", c((28, 28, 16)), 0),
        _t("1", "Conv+Relu", "layers.s1a.weight", c((28, 28, 16)), 1),
        _t("2", "Conv", "layers.s1b.weight", c((28, 28, 16)), 2),
        _t("m", "Mul", "scale", c((28, 28, 16)), 3),  # an unnamed Mul before the Add: not the Add's
        _t("3", "Add+Relu", "node_add_45", c((28, 28, 16)), 4),
        # s2: the projection names s2b_bn too (JAX's fused names); fewer other groups wins
        _t("4", "Conv", "FlaxNet/s2a_bn/add max", c((14, 14, 32)), 5),
        _t("5", "Conv", "FlaxNet/s2b_bn/add", c((14, 14, 32)), 6),
        _t("6", "Conv", "FlaxNet/s2_proj_bn/add FlaxNet/s2b_bn/add", c((14, 14, 32)), 7),
        _t("7", "Add", "FlaxNet/add1", c((14, 14, 32)), 8),
    ]
    got = {m.layer: (m.tensor, m.how) for m in match(groups(net), tensors)}
    assert got["stem_relu"] == ("0", "name") and got["s1b_bn"] == ("2", "name")
    assert got["s1_relu"] == ("3", "position")  # the Add, not the earlier unnamed Mul
    assert got["s2b_bn"] == ("5", "name") and got["s2_proj_bn"] == ("6", "name")
    assert got["s2_relu"] == ("7", "position")
    assert got["s3a_relu"] == (None, "unmatched")


def test_a_scaled_copy_is_not_a_comparison():
    ref = np.random.default_rng(0).random((4, 64)).astype(np.float32)
    assert "times 49" in check_scale(ref, ref * 49)
    assert check_scale(ref, ref * 1.01) == ""
    assert check_scale(ref, -ref) == ""  # anti-correlated: an error to show, not a scale to hide


class QuantizingRuntime:
    """A runtime stand-in: every group's output quantized per tensor to int8 (the artifact's tensor),
    TFLite-like names, one op per group."""

    def __init__(self, net, source, outlier_layer=None):
        self.gs = groups(net)
        self.source = source
        self.outlier_layer = outlier_layer

    def layer_tensors(self):
        out = []
        for i, g in enumerate(self.gs):
            x = self.source[g.output]
            step = float(np.max(np.abs(x))) / 127 or 1.0
            out.append(LayerTensor(str(i), f"model/{g.output}_1/op", "OP", f"model/{g.output}_1/op", g.shape,
                                   step, i))
        return out

    def layer_outputs(self, x, keys):
        steps = {t.key: t.step for t in self.layer_tensors()}
        got = {}
        for k in keys:
            ref = self.source[self.gs[int(k)].output]
            got[k] = (np.clip(np.round(ref / steps[k]), -128, 127) * steps[k]).astype(np.float32)
        return got, got[keys[-1]]

    def layer_note(self):
        return "a stand-in that quantizes the source's outputs"


def _activations(net, n=32, outlier=None):
    rng = np.random.default_rng(1)
    out = {}
    for g in groups(net):
        a = rng.normal(0, 1, (n, *g.shape)).astype(np.float32)
        if g.activation:
            a = np.maximum(a, 0)
        if g.output == outlier:
            a[..., 0] *= 300.0  # one channel 300x the others: per-tensor int8 leaves the rest a few steps
        out[g.output] = a
    return out


def test_layer_table_flags_the_outlier_channel_layer():
    net = lenet5((28, 28, 1), 10)
    src = _activations(net, outlier="fc1")
    table = layer_table(QuantizingRuntime(net, src), net, src, np.zeros((32, 28, 28, 1), np.float32))
    rows = {r["layer"]: r for r in table["rows"]}
    assert table["first_jump"] == "fc1" and rows["fc1"]["first_jump"]
    assert rows["fc1"]["channel_sqnr_db"] < rows["conv2"]["channel_sqnr_db"] - 20
    assert all(r["max_error_steps"] <= 0.5 + 1e-6 for r in table["rows"])  # rounding: half a step at most
    assert table["matched"] == table["layers"] == len(source_layers(net))
    clean_table = clean(table)
    assert "final_output" not in clean_table and json.dumps(clean_table)
    plain = layer_table(QuantizingRuntime(net, _activations(net)), net, _activations(net), np.zeros((32, 28, 28, 1)))
    assert plain["first_jump"] is None


def _results_with_layers(tmp_path):
    from edgebench.results import save

    net = lenet5((28, 28, 1), 10)
    src = _activations(net, outlier="fc1")
    rec = clean(layer_table(QuantizingRuntime(net, src), net, src, np.zeros((32, 28, 28, 1), np.float32)))
    rec["final_output_max_diff"] = 0.0
    from tests.unit.test_report import _results, typed

    r = typed(_results())
    r.artifacts[0].result().layers = rec  # the float32 .tflite's LiteRT result, here with a table
    save(tmp_path, r)
    return r


def test_report_cli_and_api_show_the_table(tmp_path):
    from edgebench import api
    from edgebench.report.layers import dataframe, tables
    from edgebench.report.markdown import render

    r = _results_with_layers(tmp_path)
    (t,) = tables(r)
    assert t.label == "tensorflow/tflite-float32 on LiteRT" and "the error appears at fc1" in str(t.summary)
    md = render(r)
    assert "## Per-layer error" in md and "**error appears here**" in md
    df = dataframe(r)
    assert list(df[df.first_jump]["layer"]) == ["fc1"] and set(df["artifact"]) == {"tensorflow/tflite-float32"}
    assert len(api.load(tmp_path).layers("tensorflow/tflite-float32")) == len(df)
    res = CliRunner().invoke(app, ["layers", str(tmp_path), "--format", "md"])
    assert res.exit_code == 0 and "### tensorflow/tflite-float32 on LiteRT" in res.output
    res = CliRunner().invoke(app, ["layers", str(tmp_path), "pytorch/onnx-int8-static"])
    # main() prints a UserError as one line and exits non-zero (the CLI's rule for every command)
    assert isinstance(res.exception, UserError) and "there are: tensorflow/tflite-float32" in str(res.exception)


def test_keras_like_layers_fold_whatever_their_order_and_paddings_read_through():
    from edgebench.measure.layer_match import SourceNode, groups_of

    n = SourceNode
    nodes = [n("in_pad", "skip", ("input",), (30, 30, 1)), n("c1", "conv", ("in_pad",), (28, 28, 8)),
             n("c1_bn", "bn", ("c1",), (28, 28, 8)), n("c1_relu", "relu", ("c1_bn",), (28, 28, 8)),
             # a branch: the model lists both convs before either BatchNorm
             n("a", "conv", ("c1_relu",), (14, 14, 8)), n("p", "conv", ("c1_relu",), (14, 14, 8)),
             n("a_bn", "bn", ("a",), (14, 14, 8)), n("p_bn", "bn", ("p",), (14, 14, 8)),
             n("add", "add", ("a_bn", "p_bn"), (14, 14, 8)), n("add_relu", "relu", ("add",), (14, 14, 8)),
             n("flat", "transparent", ("add_relu",), (1568,)), n("fc", "dense", ("flat",), (10,))]
    gs = {g.output: g.members for g in groups_of(nodes)}
    assert gs == {"c1_relu": ("c1", "c1_bn", "c1_relu"), "a_bn": ("a", "a_bn"), "p_bn": ("p", "p_bn"),
                  "add_relu": ("add", "add_relu", "flat"), "fc": ("fc",)}


def test_a_graph_the_artifact_came_from_is_matched_by_exact_tensor_names():
    from edgebench.measure.layer_match import SourceNode, groups_of

    nodes = [SourceNode("relu", "conv", (), (4, 4, 2), exact=True), SourceNode("relu_1", "conv", (), (4, 4, 2), exact=True)]
    tensors = [_t("relu_1_QuantizeLinear_Output", "Conv", "relu_1", (2, 4, 4), 0),
               _t("relu_QuantizeLinear_Output", "Conv", "relu", (2, 4, 4), 1)]
    tensors = [LayerTensor(t.key, t.text, t.op, t.text, t.shape, None, t.order) for t in tensors]  # name = the ONNX output
    got = {m.layer: (m.tensor, m.how) for m in match(groups_of(nodes), tensors)}
    # "relu" would mention "relu_1" (a "_N" suffix): exact names keep them apart
    assert got == {"relu": ("relu_QuantizeLinear_Output", "name"), "relu_1": ("relu_1_QuantizeLinear_Output", "name")}
