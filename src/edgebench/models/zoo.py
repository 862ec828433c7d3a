"""The built-in models, each a function of the data set's image shape and class count."""

from __future__ import annotations

import math

from edgebench.models.layers import (
    Add,
    BatchNorm,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling,
    MaxPool2D,
    ReLU,
    Shape,
)
from edgebench.models.network import Network


def mlp(input_shape: Shape, num_classes: int, hidden: tuple[int, ...] = (64,)) -> Network:
    """The lab's network: dense layers with ReLU on the flattened image, then logits. It takes
    the image as one vector (its exports keep a [batch, 784] input, as in every earlier run), and
    its layers keep their names (dense_0, dense_1, ...), so earlier weights files read the same."""
    layers = [Dense(f"dense_{i}", units, activation="relu") for i, units in enumerate(hidden)]
    layers.append(Dense(f"dense_{len(hidden)}", num_classes))
    return Network("mlp", tuple(layers), (math.prod(input_shape),), num_classes)


def lenet5(input_shape: Shape, num_classes: int) -> Network:
    """LeCun et al. 1998 as usually written today: conv 6 5x5 'same', max pool, conv 16 5x5
    'valid', max pool, dense 120, 84, logits; ReLU."""
    return Network("lenet5", (
        Conv2D("conv1", 6, kernel=5, padding="same", activation="relu"),
        MaxPool2D("pool1"),
        Conv2D("conv2", 16, kernel=5, padding="valid", activation="relu"),
        MaxPool2D("pool2"),
        Flatten("flatten"),
        Dense("fc1", 120, activation="relu"),
        Dense("fc2", 84, activation="relu"),
        Dense("logits", num_classes),
    ), tuple(input_shape), num_classes)


def _conv_bn_relu(name: str, filters: int, kernel: int, stride: int, **kw) -> list:
    return [Conv2D(f"{name}", filters, kernel=kernel, stride=stride, padding="same", use_bias=False, **kw),
            BatchNorm(f"{name}_bn"), ReLU(f"{name}_relu")]


def dscnn(input_shape: Shape, num_classes: int, filters: int = 64, blocks: int = 4) -> Network:
    """MLPerf Tiny's keyword-spotting DS-CNN in shape (a strided first conv, then depthwise +
    pointwise blocks with BatchNorm and ReLU, global average pooling, dense), on 28x28 images:
    the first conv is 3x3 with stride 2 (10x4 on the 49x10 spectrogram in MLPerf). MLPerf's
    dropout (0.4) is left out: masks cannot be matched across frameworks."""
    layers = _conv_bn_relu("conv1", filters, 3, 2)
    for b in range(1, blocks + 1):
        layers += [DepthwiseConv2D(f"dw{b}", kernel=3, padding="same", use_bias=False), BatchNorm(f"dw{b}_bn"),
                   ReLU(f"dw{b}_relu")]
        layers += _conv_bn_relu(f"pw{b}", filters, 1, 1)
    layers += [GlobalAveragePooling("pool"), Dense("logits", num_classes)]
    return Network("dscnn", tuple(layers), tuple(input_shape), num_classes)


def resnet8(input_shape: Shape, num_classes: int) -> Network:
    """MLPerf Tiny's image-classification ResNet-8 in shape: a 16-filter stem, three residual
    stages of 16, 32 and 64 filters (the last two strided, with a 1x1 strided projection on the
    shortcut), BatchNorm after every conv, global average pooling, dense."""
    layers = _conv_bn_relu("stem", 16, 3, 1)
    block_in = "stem_relu"
    for stage, filters in enumerate((16, 32, 64), start=1):
        stride = 1 if stage == 1 else 2
        name = f"s{stage}"
        layers += [Conv2D(f"{name}a", filters, kernel=3, stride=stride, padding="same", use_bias=False,
                          input=block_in),
                   BatchNorm(f"{name}a_bn"), ReLU(f"{name}a_relu"),
                   Conv2D(f"{name}b", filters, kernel=3, padding="same", use_bias=False), BatchNorm(f"{name}b_bn")]
        shortcut = block_in
        if stride != 1:
            layers += [Conv2D(f"{name}_proj", filters, kernel=1, stride=stride, padding="valid", use_bias=False,
                              input=block_in), BatchNorm(f"{name}_proj_bn")]
            shortcut = f"{name}_proj_bn"
        layers += [Add(f"{name}_add", other=shortcut, input=f"{name}b_bn"), ReLU(f"{name}_relu")]
        block_in = f"{name}_relu"
    layers += [GlobalAveragePooling("pool"), Dense("logits", num_classes)]
    return Network("resnet8", tuple(layers), tuple(input_shape), num_classes)


BUILTIN = {"mlp": mlp, "lenet5": lenet5, "dscnn": dscnn, "resnet8": resnet8}
