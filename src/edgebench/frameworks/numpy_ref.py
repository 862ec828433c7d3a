"""NumPy reference: the same MLP, loss, batch order and optimizers as the real frameworks, in plain
float32 NumPy.

Two uses: unit tests run the whole pipeline in seconds without TensorFlow, PyTorch or JAX, and
each real framework's training is checked against it step for step
(tests/framework/test_reference_twin.py). Kept small on purpose: a reference must be easy to read.
"""

from __future__ import annotations

import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from edgebench.config import ModelSpec, OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.model import Weights


class NumpyModel:
    """The network's parameters: float32 (kernel (in, out), bias) pairs, updated in place."""

    def __init__(self, weights: Weights) -> None:
        self.weights = [(np.array(k, np.float32), np.array(b, np.float32)) for k, b in weights]


def forward(weights, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits, and the input of every dense layer (kept for the backward pass).

    Computes in the dtype of its arrays: the caller casts (float32 in training, float64 for the
    finite-difference check)."""
    inputs = []
    a = x
    last = len(weights) - 1
    for i, (k, b) in enumerate(weights):
        inputs.append(a)
        a = a @ k + b
        if i < last:
            a = np.maximum(a, 0)  # ReLU after each hidden layer; logits stay linear
    return a, inputs


def loss_and_grads(weights, x: np.ndarray, y: np.ndarray, dtype=np.float32):
    """Mean softmax cross-entropy over the batch, its gradient per (kernel, bias), and the logits.

    dtype: float32 is what the frameworks compute in; float64 lets a test check the gradient
    against finite differences without float32 rounding swamping it."""
    weights = [(k.astype(dtype, copy=False), b.astype(dtype, copy=False)) for k, b in weights]
    logits, inputs = forward(weights, x.astype(dtype, copy=False))
    rows = np.arange(len(y))
    z = logits - logits.max(axis=1, keepdims=True)  # stable softmax: exp never overflows
    e = np.exp(z)
    s = e.sum(axis=1)
    loss = np.mean(np.log(s) - z[rows, y])
    d = e / s[:, None]  # dL/dlogits = (softmax - onehot) / batch
    d[rows, y] -= 1
    d /= len(y)
    grads = []
    for i in range(len(weights) - 1, -1, -1):
        a = inputs[i]
        grads.append((a.T @ d, d.sum(axis=0)))
        if i:  # through the ReLU that made a: its gradient is 0 where it output 0
            d = (d @ weights[i][0].T) * (a > 0)
    grads.reverse()
    return float(loss), logits, grads


class _Sgd:
    def __init__(self, opt: OptimizerSpec, params: list[np.ndarray]) -> None:
        self.lr, self.params = opt.learning_rate, params

    def step(self, t: int, grads: list[np.ndarray]) -> None:
        for p, g in zip(self.params, grads):
            p -= self.lr * g  # a Python float keeps the arithmetic in float32


class _Adam:
    """Adam with both epsilon placements (see OptimizerSpec). m and v in float32, as every
    framework keeps them; the per-step scalars are computed in float64, then applied."""

    def __init__(self, opt: OptimizerSpec, params: list[np.ndarray]) -> None:
        self.opt, self.params = opt, params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, t: int, grads: list[np.ndarray]) -> None:
        o = self.opt
        bc1, bc2 = 1.0 - o.beta1 ** t, 1.0 - o.beta2 ** t
        aligned = o.epsilon_placement == "aligned"
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1.0 - o.beta1) * (g - m)
            v += (1.0 - o.beta2) * (g * g - v)
            if aligned:  # Keras: epsilon added before the bias correction of v
                p -= (o.learning_rate * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + o.epsilon)
            else:  # PyTorch / Optax: epsilon added after it
                p -= (o.learning_rate / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + o.epsilon)


class NumpyAdapter:
    name = "numpy"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def build(self, spec: ModelSpec, weights: Weights) -> NumpyModel:
        shapes = [k.shape for k, _ in weights]
        if shapes != spec.layer_sizes:
            raise ValueError(f"weights have kernel shapes {shapes}, the model spec needs {spec.layer_sizes}")
        return NumpyModel(weights)

    def load_data(self, x, y):
        return x, y  # already NumPy: nothing to move

    def train(self, model, data, order, batch_size, optimizer, on_epoch, on_step=None, compiled=False):
        # `compiled` is accepted and ignored: NumPy has no graph compiler, so both modes run this
        # same loop (a "compiled" row for numpy times the eager loop again).
        x, y = data
        n = len(y)
        params = [a for pair in model.weights for a in pair]
        opt = (_Sgd if optimizer.name == "sgd" else _Adam)(optimizer, params)
        history = []
        step = 0
        # BLAS threads as the run asked (the pipeline's child processes also set them by env).
        with threadpool_limits(limits=self.threads, user_api="blas"):
            for epoch, perm in enumerate(order, start=1):
                t0 = time.perf_counter()
                loss_sum, correct = 0.0, 0
                for start, stop in batches(n, batch_size):
                    idx = perm[start:stop]
                    xb, yb = x[idx], y[idx]
                    loss, logits, grads = loss_and_grads(model.weights, xb, yb)
                    step += 1
                    opt.step(step, [g for pair in grads for g in pair])
                    # Running figures from the pre-update logits, as Keras' fit() reports them.
                    loss_sum += loss * (stop - start)
                    correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
                    if on_step is not None:
                        on_step(step, model)
                rec = EpochRecord(epoch, loss_sum / n, correct / n, time.perf_counter() - t0)
                history.append(rec)
                on_epoch(rec)
        return history

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self.threads, user_api="blas"):
            return forward(model.weights, np.asarray(x, np.float32))[0].astype(np.float32, copy=False)

    def get_weights(self, model) -> Weights:
        return [(k.copy(), b.copy()) for k, b in model.weights]

