"""TensorFlow / Keras 3: what a typical user writes (model.fit), with every choice pinned.

Any models.Network becomes a Keras Functional model, channels-last as Keras is, each layer named
after the network's layer. Padding is the network's explicit pads (ZeroPadding2D, then a 'valid'
convolution), so every framework pads provably alike; BatchNorm takes the layer's momentum (the
weight of the old running value, Keras' own convention) and epsilon, and keeps a biased running
variance, as our rule says; Flatten is channels-last, as in the network."""

from __future__ import annotations

import time

import numpy as np

from edgebench.config import OptimizerSpec
from edgebench.frameworks.base import EpochRecord
from edgebench.models import layers as L
from edgebench.models.network import Network
from edgebench.models.weights import Weights

# Our array names -> the order of Keras' own weights, per Keras layer class.
_KERAS_ARRAYS = {
    "Dense": ("kernel", "bias"),
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("kernel", "bias"),  # Keras' depthwise_kernel (kh, kw, C, M) is our kernel
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
}


class TensorFlowAdapter:
    name = "tensorflow"

    def __init__(self, threads: int) -> None:
        import tensorflow as tf

        # Must run before TensorFlow creates its thread pools (before any op executes).
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised: only when reused in one process (tests)
            pass
        import keras

        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"KERAS_BACKEND is '{keras.backend.backend()}', expected 'tensorflow'")
        self.tf, self.keras = tf, keras

    def versions(self) -> dict[str, str]:
        return {"tensorflow": self.tf.__version__, "keras": self.keras.__version__}

    def _layer(self, node, x, outputs):
        """Apply one network node to the Keras tensor x (its first input); returns the output."""
        kl = self.keras.layers
        layer = node.layer
        name = layer.name
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
            (t, b), (left, r) = layer.pads(node.in_shape)
            if t or b or left or r:
                x = kl.ZeroPadding2D(((t, b), (left, r)), name=f"{name}_pad")(x)
            if isinstance(layer, L.Conv2D):
                return kl.Conv2D(layer.filters, layer.kernel, strides=layer.stride, padding="valid",
                                 activation=layer.activation, use_bias=layer.use_bias, name=name)(x)
            return kl.DepthwiseConv2D(layer.kernel, strides=layer.stride, padding="valid",
                                      depth_multiplier=layer.multiplier, activation=layer.activation,
                                      use_bias=layer.use_bias, name=name)(x)
        if isinstance(layer, L.Dense):
            return kl.Dense(layer.units, activation=layer.activation, use_bias=layer.use_bias, name=name)(x)
        if isinstance(layer, L.MaxPool2D):
            return kl.MaxPooling2D(layer.pool, strides=layer.stride, padding="valid", name=name)(x)
        if isinstance(layer, L.AvgPool2D):
            return kl.AveragePooling2D(layer.pool, strides=layer.stride, padding="valid", name=name)(x)
        if isinstance(layer, L.GlobalAveragePooling):
            return kl.GlobalAveragePooling2D(name=name)(x)
        if isinstance(layer, L.BatchNorm):
            return kl.BatchNormalization(axis=-1, momentum=layer.momentum, epsilon=layer.epsilon, name=name)(x)
        if isinstance(layer, L.ReLU):
            return kl.ReLU(name=name)(x)
        if isinstance(layer, L.ReLU6):
            return kl.ReLU(max_value=6.0, name=name)(x)
        if isinstance(layer, L.Add):
            return kl.Add(name=name)([x, outputs[layer.other]])
        if isinstance(layer, L.Flatten):
            return kl.Flatten(name=name)(x)  # channels-last (h, w, c), as the network flattens
        if isinstance(layer, L.Dropout):
            return kl.Dropout(layer.rate, name=name)(x)
        raise NotImplementedError(f"layer '{name}': type {layer.type} has no Keras counterpart here")

    def build(self, net: Network, weights: Weights):
        keras = self.keras
        inputs = keras.Input(tuple(net.input_shape), name="image", dtype="float32")
        outputs = {"input": inputs}
        for node in net.nodes:
            outputs[node.layer.name] = self._layer(node, outputs[node.inputs[0]], outputs)
        # The MLP's model is exactly the one every earlier run trained: Input (784,) named image,
        # Dense layers dense_0.. (ReLU on the hidden ones), model name "mlp".
        model = keras.Model(inputs, outputs[net.nodes[-1].layer.name], name=net.name)
        for node in net.nodes:
            arrays = weights.get(node.layer.name)
            if not node.params:
                continue
            if arrays is None:
                raise KeyError(f"no weights for layer '{node.layer.name}'")
            keras_layer = model.get_layer(node.layer.name)
            names = [n for n in _KERAS_ARRAYS[type(keras_layer).__name__] if n in node.params]
            keras_layer.set_weights([np.asarray(arrays[n], np.float32) for n in names])
        return model

    def _optimizer(self, opt: OptimizerSpec):
        o = self.keras.optimizers
        if opt.name == "sgd":
            return o.SGD(learning_rate=opt.learning_rate, momentum=0.0, nesterov=False)
        return o.Adam(learning_rate=opt.learning_rate, beta_1=opt.beta1, beta_2=opt.beta2,
                      epsilon=opt.epsilon, amsgrad=False)

    # Keras' fast path: XLA-compiled train step, several steps per tf.function call.
    STEPS_PER_EXECUTION = 100

    def load_data(self, x, y):
        return self.tf.constant(x), self.tf.constant(y)

    def train(self, model, data, order, batch_size, optimizer, on_epoch, on_step=None, compiled=False):
        keras, tf = self.keras, self.tf
        x, y = data
        callbacks = []
        if on_step is not None:  # twin mode only: a per-batch callback costs time in fit()
            counter = {"step": 0}

            class StepHook(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    counter["step"] += 1
                    on_step(counter["step"], model)

            callbacks.append(StepHook())
        # Eager mode: jit_compile=False is what Keras' "auto" resolves to on a CPU; stated so it
        # cannot drift. Compiled mode: XLA and STEPS_PER_EXECUTION steps per call.
        model.compile(
            optimizer=self._optimizer(optimizer),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=bool(compiled),
            steps_per_execution=self.STEPS_PER_EXECUTION if compiled else 1,
        )
        history = []
        for epoch, perm in enumerate(order, start=1):
            t0 = time.perf_counter()
            # One fit() per epoch over the shared permutation: shuffle=False keeps our order.
            # Keras caches its train function across fit() calls, so nothing is retraced. The
            # tensors are gathered in TensorFlow: NumPy arrays would be copied and converted by
            # fit() every epoch (about 0.5 s here), which a one-fit() lab script pays only once.
            idx = tf.constant(perm)
            h = model.fit(tf.gather(x, idx), tf.gather(y, idx), batch_size=batch_size, epochs=1,
                          shuffle=False, verbose=0, callbacks=callbacks)
            dt = time.perf_counter() - t0
            rec = EpochRecord(epoch, float(h.history["loss"][0]), float(h.history["accuracy"][0]), dt)
            history.append(rec)
            on_epoch(rec)
        return history

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        """Logits for channels-last images (N, *input_shape); (N, H*W*C) rows are reshaped."""
        shape = tuple(model.inputs[0].shape[1:])
        if tuple(x.shape[1:]) != shape and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
            x = x.reshape(len(x), *shape)
        out = [model(x[i:i + 2000], training=False).numpy() for i in range(0, len(x), 2000)]
        return np.concatenate(out).astype(np.float32)

    def activations(self, model, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Each named layer's output on x (inference mode), channels-last: Keras' own values."""
        keras = self.keras
        shape = tuple(model.inputs[0].shape[1:])
        x = x.reshape(len(x), *shape)
        sub = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
        outs = sub([x], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return {n: np.asarray(o, np.float32) for n, o in zip(names, outs)}

    def save(self, model, folder) -> str:
        """The trained model in Keras' own format, as a user would save it (`edgebench deploy` takes it)."""
        model.save(str(folder / "model.keras"))
        return "model.keras"

    def get_weights(self, model) -> Weights:
        out: Weights = {}
        for layer in model.layers:
            names = _KERAS_ARRAYS.get(type(layer).__name__)
            if names is None:
                continue
            arrays = [np.asarray(a) for a in layer.get_weights()]
            if len(arrays) < len(names):  # no bias (use_bias=False)
                names = names[:len(arrays)]
            out[layer.name] = {n: a for n, a in zip(names, arrays)}
        return out
