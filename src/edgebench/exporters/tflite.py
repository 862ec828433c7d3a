"""TensorFlow Lite flatbuffers via the TFLite converter."""

from __future__ import annotations

from pathlib import Path

from edgebench.config import ModelSpec


def from_keras(model, path: Path, spec: ModelSpec) -> None:
    import tensorflow as tf

    # from_keras_model freezes the weights into constants and keeps the batch dimension
    # dynamic (shape_signature [-1, 784]). A bare concrete function does not freeze Keras 3
    # variables: it yields a 2.5 KB model of uninitialised resource variables.
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    Path(path).write_bytes(converter.convert())
