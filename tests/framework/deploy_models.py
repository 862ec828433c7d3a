"""Small models made in the test itself, as a user would make them, for `edgebench deploy`.

Run as a script in a child process (`python -m tests.framework.deploy_models KIND OUT`), so the
test process never imports TensorFlow and PyTorch together. Each model is trained for three short
epochs on the first 3,000 MNIST training images: decisive logits, so agreement figures mean
something (an untrained model's logits are near-ties everywhere).
"""

from __future__ import annotations

import sys
from pathlib import Path



def mnist(n: int = 3000):
    from edgebench import data

    ds = data.load("mnist", limit_train=n, limit_test=10)
    return ds.x_train.reshape(-1, 28, 28, 1), ds.y_train


def keras_cnn(out: Path) -> None:
    """A Keras 3 CNN saved as .keras, and its TFLite float32 conversion as .tflite."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    x, y = mnist()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    model.save(str(out / "cnn.keras"))
    model.export(str(out / "cnn_savedmodel"))  # a TensorFlow SavedModel folder
    (out / "cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def savedmodel_writefile(out: Path) -> None:
    """A SavedModel whose serving function writes a file when it runs."""
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(out / "savedmodel-ran"), "the graph's WriteFile ran")
            return {"logits": tf.reshape(x, [-1, 784])[:, :10]}

    m = Writer()
    tf.saved_model.save(m, str(out / "writer_savedmodel"), signatures={"serving_default": m.serve})


def keras_lambda(out: Path) -> None:
    """A Keras model with a Lambda layer whose code, if it ever ran, would create a file."""
    import keras

    marker = str(out / "lambda-ran")

    def evil(t):
        open(marker, "w").write("the Lambda's code ran")
        return t

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(evil, name="evil_lambda"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(str(out / "lambda.keras"))
    Path(marker).unlink(missing_ok=True)  # saving traced it once; the test checks deploy never runs it


def keras_two_inputs(out: Path) -> None:
    import keras

    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    y = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Add()([a, b])))
    keras.Model([a, b], y).save(str(out / "two_inputs.keras"))


def keras_rgb(out: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(str(out / "rgb32.keras"))


def keras_tokens(out: Path) -> None:
    """A model whose input is not an image: a sequence of token ids."""
    import keras

    model = keras.Sequential([keras.Input((16,), dtype="int32"), keras.layers.Embedding(100, 8),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(str(out / "tokens.keras"))


def torch_cnn(out: Path) -> None:
    """A PyTorch CNN taking NCHW images, exported with torch.export to .pt2 (dynamic batch), and
    to ONNX with torch.onnx."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 6 * 6, 10))
    x, y = mnist()
    xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for _ in range(3):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    model.eval()
    sample = (torch.zeros(2, 1, 28, 28),)
    ep = torch.export.export(model, sample, dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(out / "cnn.pt2"))
    onnx_program = torch.onnx.export(model, sample, dynamo=True, input_names=["x"], output_names=["y"],
                                     dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False)
    onnx_program.save(str(out / "cnn.onnx"), external_data=False)


def onnx_custom_op(out: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("EvilOp", ["x"], ["y"], domain="com.example", name="evil")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 28, 28, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(out / "custom_op.onnx"))


MAKERS = {"keras_cnn": keras_cnn, "savedmodel_writefile": savedmodel_writefile, "keras_lambda": keras_lambda, "keras_two_inputs": keras_two_inputs,
          "keras_rgb": keras_rgb, "keras_tokens": keras_tokens, "torch_cnn": torch_cnn,
          "onnx_custom_op": onnx_custom_op}

if __name__ == "__main__":
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for kind in sys.argv[1].split(","):
        MAKERS[kind](out)
