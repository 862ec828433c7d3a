"""TensorFlow / Keras 3: what a typical user writes (model.fit), with every choice pinned."""

from __future__ import annotations

import time

import numpy as np

from edgebench.config import ModelSpec, OptimizerSpec
from edgebench.frameworks.base import EpochRecord
from edgebench.model import Weights


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

    def build(self, spec: ModelSpec, weights: Weights):
        keras = self.keras
        inputs = keras.Input((spec.input_size,), name="image", dtype="float32")
        x = inputs
        for i, units in enumerate(spec.hidden):
            x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        logits = keras.layers.Dense(spec.num_classes, name=f"dense_{len(spec.hidden)}")(x)
        model = keras.Model(inputs, logits, name="mlp")
        model.set_weights([a for pair in weights for a in pair])
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
        out = [model(x[i:i + 2000], training=False).numpy() for i in range(0, len(x), 2000)]
        return np.concatenate(out).astype(np.float32)

    def get_weights(self, model) -> Weights:
        w = model.get_weights()
        return [(w[i], w[i + 1]) for i in range(0, len(w), 2)]
