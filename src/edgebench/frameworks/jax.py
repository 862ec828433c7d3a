"""JAX with Flax (network) and Optax (Adam): a jitted training step, as a JAX user writes it."""

from __future__ import annotations

import time

import numpy as np

from edgebench.config import ModelSpec, OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.model import Weights


class JaxAdapter:
    name = "jax"

    def __init__(self, threads: int) -> None:
        import jax

        jax.config.update("jax_platforms", "cpu")
        self.jax = jax

    def versions(self) -> dict[str, str]:
        import flax
        import optax

        return {"jax": self.jax.__version__, "flax": flax.__version__, "optax": optax.__version__}

    def build(self, spec: ModelSpec, weights: Weights):
        import flax.linen as nn
        import jax.numpy as jnp

        hidden, classes = spec.hidden, spec.num_classes

        class MLP(nn.Module):
            @nn.compact
            def __call__(self, x):
                # Layers named explicitly: the shared weights are loaded by name.
                for i, units in enumerate(hidden):
                    x = nn.relu(nn.Dense(units, name=f"dense_{i}")(x))
                return nn.Dense(classes, name=f"dense_{len(hidden)}")(x)

        module = MLP()
        params = {"params": {f"dense_{i}": {"kernel": jnp.asarray(k), "bias": jnp.asarray(b)}
                             for i, (k, b) in enumerate(weights)}}
        return {"module": module, "params": params}

    def _optimizer(self, opt: OptimizerSpec):
        import optax

        if opt.name == "sgd":
            return optax.sgd(opt.learning_rate)
        eps = opt.epsilon
        if opt.epsilon_placement == "aligned":
            # Optax adds eps after the bias correction, like PyTorch; eps_t = eps/sqrt(1-b2^t)
            # gives Keras' rule exactly (count is the number of steps already taken).
            def eps(count, e=opt.epsilon, b2=opt.beta2):
                import jax.numpy as jnp

                return e / jnp.sqrt(1.0 - b2 ** (count + 1))
        return optax.inject_hyperparams(optax.adam)(learning_rate=opt.learning_rate, b1=opt.beta1,
                                                     b2=opt.beta2, eps=eps, eps_root=0.0)

    def load_data(self, x, y):
        jax = self.jax
        return jax.device_put(x), jax.device_put(y.astype(np.int32))

    def train(self, model, data, order, batch_size, optimizer, on_epoch, on_step=None, compiled=False):
        import jax
        import jax.numpy as jnp
        import optax

        xd, yd = data
        module = model["module"]
        tx = self._optimizer(optimizer)
        params = model["params"]
        opt_state = tx.init(params)

        def step_fn(params, opt_state, xd, yd, idx):
            # The batch is gathered inside the jitted step from the arrays already in JAX's memory
            # (passed as arguments: a closed-over array would be baked into the program).
            xb, yb = jnp.take(xd, idx, axis=0), jnp.take(yd, idx, axis=0)

            def loss_fn(p):
                logits = module.apply(p, xb)
                return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), logits

            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            correct = jnp.sum(jnp.argmax(logits, axis=-1) == yb)
            return optax.apply_updates(params, updates), opt_state, loss * idx.shape[0], correct

        step = jax.jit(step_fn)

        @jax.jit
        def scan_epoch(params, opt_state, xd, yd, idx):
            # Compiled mode: every full batch of the epoch in one XLA program (lax.scan).
            def body(carry, batch_idx):
                p, s, l, c = step_fn(*carry, xd, yd, batch_idx)
                return (p, s), (l, c)

            (params, opt_state), (ls, cs) = jax.lax.scan(body, (params, opt_state), idx)
            return params, opt_state, ls.sum(), cs.sum()

        n = int(yd.shape[0])
        history = []
        global_step = 0
        for epoch, perm in enumerate(order, start=1):
            t0 = time.perf_counter()
            perm = perm.astype(np.int32)
            loss_sum, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
            todo = list(batches(n, batch_size))
            if compiled:
                full = n // batch_size
                params, opt_state, loss_sum, correct = scan_epoch(
                    params, opt_state, xd, yd, perm[:full * batch_size].reshape(full, batch_size))
                todo = todo[full:]  # a last, shorter batch goes through the single step
                global_step += full
            for start, stop in todo:
                params, opt_state, l, c = step(params, opt_state, xd, yd, perm[start:stop])
                loss_sum, correct = loss_sum + l, correct + c
                global_step += 1
                if on_step is not None:
                    on_step(global_step, {"module": module, "params": params})
            loss_value = float(loss_sum) / n  # blocks until the epoch's work is done
            dt = time.perf_counter() - t0
            rec = EpochRecord(epoch, loss_value, int(correct) / n, dt)
            history.append(rec)
            on_epoch(rec)
        model["params"] = params
        return history

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        apply = self.jax.jit(model["module"].apply)
        out = [np.asarray(apply(model["params"], x[i:i + 2000])) for i in range(0, len(x), 2000)]
        return np.concatenate(out).astype(np.float32)

    def get_weights(self, model) -> Weights:
        p = model["params"]["params"]
        return [(np.asarray(p[f"dense_{i}"]["kernel"]), np.asarray(p[f"dense_{i}"]["bias"]))
                for i in range(len(p))]
