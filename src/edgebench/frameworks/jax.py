"""JAX with Flax (network) and Optax (Adam): a jitted training step, as a JAX user writes it.

Any models.Network becomes one Flax linen module that walks Network.nodes, each layer a Flax
submodule named after the network's layer (the MLP's are dense_0, dense_1, ... as in every earlier
run), keeping each layer's output by name (residual Adds read them). Flax is channels-last, as the
network: images go in (N, H, W, C) and Flatten is (h, w, c) natively. Conv kernels are HWIO as in
Keras; a depthwise conv is Conv(C*M, feature_group_count=C) with kernel (kh, kw, 1, C*M), Keras'
(kh, kw, C, M) reshaped (output channel c*M + m in both). Padding is the network's explicit
((top, bottom), (left, right)) pads; pooling is 'VALID' with its strides passed (Flax's default
stride is 1, not the window). BatchNorm takes the layer's momentum (the weight of the old running
value, Flax's own convention) and epsilon, with use_fast_variance=False (mean of squared
deviations, not E[x^2] - E[x]^2); its running variance is biased, as the rule says.

The model is {"module", "params", "net"}: "params" holds the whole variables dict ({"params":
..., "batch_stats": ...} when there is a BatchNorm), so `module.apply(model["params"], x)` is the
inference-mode forward (train=False: running statistics, no dropout) an exporter needs.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from edgebench.config import OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.models import layers as L
from edgebench.models.network import Network
from edgebench.models.weights import Weights

PREDICT_CHUNK = 2000
DROPOUT_SEED = 0  # dropout masks (rate > 0 only) from jax.random.fold_in(PRNGKey(DROPOUT_SEED), step)


@functools.cache
def _module_class():
    import flax.linen as nn
    import jax.numpy as jnp

    def activate(x, activation):
        if activation == "relu":
            return nn.relu(x)
        if activation == "relu6":
            return nn.relu6(x)
        return x

    class FlaxNet(nn.Module):
        """Any Network; __call__(x, train) takes channels-last (N, *net.input_shape)."""

        net: Network

        @nn.compact
        def __call__(self, x, train: bool = False):
            outs = {"input": x}
            for node in self.net.nodes:
                layer = node.layer
                x = outs[node.inputs[0]]
                if isinstance(layer, L.Conv2D):
                    x = nn.Conv(layer.filters, layer.kernel, strides=layer.stride, padding=layer.pads(node.in_shape),
                                use_bias=layer.use_bias, name=layer.name)(x)
                    x = activate(x, layer.activation)
                elif isinstance(layer, L.DepthwiseConv2D):
                    c = node.in_shape[2]
                    x = nn.Conv(c * layer.multiplier, layer.kernel, strides=layer.stride,
                                padding=layer.pads(node.in_shape), feature_group_count=c, use_bias=layer.use_bias,
                                name=layer.name)(x)
                    x = activate(x, layer.activation)
                elif isinstance(layer, L.Dense):
                    x = activate(nn.Dense(layer.units, use_bias=layer.use_bias, name=layer.name)(x), layer.activation)
                elif isinstance(layer, L.BatchNorm):
                    x = nn.BatchNorm(use_running_average=not train, momentum=layer.momentum, epsilon=layer.epsilon,
                                     use_fast_variance=False, name=layer.name)(x)
                elif isinstance(layer, L.MaxPool2D):
                    x = nn.max_pool(x, layer.pool, strides=layer.stride, padding="VALID")
                elif isinstance(layer, L.AvgPool2D):
                    x = nn.avg_pool(x, layer.pool, strides=layer.stride, padding="VALID")
                elif isinstance(layer, L.GlobalAveragePooling):
                    x = jnp.mean(x, axis=(1, 2))
                elif isinstance(layer, L.ReLU):
                    x = nn.relu(x)
                elif isinstance(layer, L.ReLU6):
                    x = nn.relu6(x)
                elif isinstance(layer, L.Add):
                    x = x + outs[node.inputs[1]]
                elif isinstance(layer, L.Flatten):
                    x = x.reshape(x.shape[0], -1)  # channels-last (h, w, c), as the network flattens
                elif isinstance(layer, L.Dropout):
                    if layer.rate > 0:
                        x = nn.Dropout(layer.rate, deterministic=not train, name=layer.name)(x)
                else:
                    raise NotImplementedError(f"layer '{layer.name}': type {layer.type} has no Flax counterpart here")
                outs[layer.name] = x
                self.sow("intermediates", f"{layer.name}:out", x)  # a no-op unless apply(mutable=["intermediates"])
            return x

    return FlaxNet


def _has_dropout(net: Network) -> bool:
    return any(isinstance(n.layer, L.Dropout) and n.layer.rate > 0 for n in net.nodes)


def _step_function(module, tx, mutable: list[str]):
    """One training step (params, state, opt_state, xd, yd, idx, rng) -> (params, state, opt_state,
    summed loss, correct); not jitted here: the single step and the compiled epoch each jit it."""
    import jax
    import jax.numpy as jnp
    import optax

    def step_fn(params, state, opt_state, xd, yd, idx, rng):
        # The batch is gathered inside the jitted step from the arrays already in JAX's memory
        # (passed as arguments: a closed-over array would be baked into the program).
        xb, yb = jnp.take(xd, idx, axis=0), jnp.take(yd, idx, axis=0)
        rngs = {"dropout": rng} if rng is not None else None

        def loss_fn(p):
            if mutable:
                logits, new_state = module.apply({"params": p, **state}, xb, train=True, mutable=mutable,
                                                 rngs=rngs)
            else:
                logits, new_state = module.apply({"params": p}, xb, train=True, rngs=rngs), state
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), (logits, new_state)

        (loss, (logits, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == yb)
        return optax.apply_updates(params, updates), dict(new_state), opt_state, loss * idx.shape[0], correct

    return step_fn


def _scan_epoch(step_fn):
    """Compiled mode: every full batch of the epoch in one XLA program (lax.scan)."""
    import jax

    @jax.jit
    def scan_epoch(params, state, opt_state, xd, yd, idx, rngs):
        def body(carry, batch):
            p, st, s, l, c = step_fn(*carry, xd, yd, *batch)
            return (p, st, s), (l, c)

        (params, state, opt_state), (ls, cs) = jax.lax.scan(body, (params, state, opt_state), (idx, rngs))
        return params, state, opt_state, ls.sum(), cs.sum()

    return scan_epoch


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

    # ---- model and weights (Keras layouts in and out) ----

    def build(self, net: Network, weights: Weights):
        import jax.numpy as jnp

        params, stats = {}, {}
        for node in net.nodes:
            if not node.params:
                continue
            layer = node.layer
            arrays = weights.get(layer.name)
            if arrays is None:
                raise KeyError(f"no weights for layer '{layer.name}'")
            for name, shape in node.params.items():
                if tuple(np.shape(arrays[name])) != tuple(shape):
                    raise ValueError(f"layer '{layer.name}': {name} of shape {tuple(np.shape(arrays[name]))} "
                                     f"where {tuple(shape)} is needed")

            def arr(name, shape=None):
                a = np.asarray(arrays[name], np.float32)
                return jnp.asarray(a if shape is None else a.reshape(shape))

            if isinstance(layer, L.BatchNorm):
                params[layer.name] = {"scale": arr("gamma"), "bias": arr("beta")}
                stats[layer.name] = {"mean": arr("moving_mean"), "var": arr("moving_variance")}
                continue
            if isinstance(layer, L.DepthwiseConv2D):
                kh, kw, c, m = node.params["kernel"]
                p = {"kernel": arr("kernel", (kh, kw, 1, c * m))}  # (kh, kw, C, M) -> (kh, kw, 1, C*M)
            else:
                p = {"kernel": arr("kernel")}  # conv HWIO and dense (in, out): Keras' layouts
            if layer.use_bias:
                p["bias"] = arr("bias")
            params[layer.name] = p
        variables = {"params": params}
        if stats:
            variables["batch_stats"] = stats
        return {"module": _module_class()(net), "params": variables, "net": net}

    def get_weights(self, model) -> Weights:
        net: Network = model["net"]
        variables = model["params"]
        params, stats = variables["params"], variables.get("batch_stats", {})
        out: Weights = {}
        for node in net.nodes:
            if not node.params:
                continue
            layer = node.layer
            if isinstance(layer, L.BatchNorm):
                p, s = params[layer.name], stats[layer.name]
                out[layer.name] = {"gamma": np.array(p["scale"]), "beta": np.array(p["bias"]),
                                   "moving_mean": np.array(s["mean"]), "moving_variance": np.array(s["var"])}
                continue
            p = params[layer.name]
            kernel = np.array(p["kernel"])
            if isinstance(layer, L.DepthwiseConv2D):
                kernel = kernel.reshape(node.params["kernel"])  # (kh, kw, 1, C*M) -> (kh, kw, C, M)
            out[layer.name] = {"kernel": kernel}
            if layer.use_bias:
                out[layer.name]["bias"] = np.array(p["bias"])
        return out

    # ---- training ----

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

        xd, yd = data
        module, net = model["module"], model["net"]
        if tuple(xd.shape[1:]) != tuple(net.input_shape):  # flat images: viewed as the network takes them
            xd = xd.reshape(xd.shape[0], *net.input_shape)
        tx = self._optimizer(optimizer)
        # Trained: the "params" collection. Carried alongside: BatchNorm's running statistics
        # ("batch_stats"), updated by the forward pass (none for the MLP: an empty dict).
        params = model["params"]["params"]
        state = {k: v for k, v in model["params"].items() if k != "params"}
        mutable = list(state)
        dropout = _has_dropout(net)
        opt_state = tx.init(params)

        step_fn = _step_function(module, tx, mutable)
        step = jax.jit(step_fn)
        scan_epoch = _scan_epoch(step_fn)
        base_key = jax.random.PRNGKey(DROPOUT_SEED) if dropout else None

        def current():
            return {**model, "params": {"params": params, **state}}

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
                rngs = (jax.vmap(lambda s: jax.random.fold_in(base_key, s))(
                    jnp.arange(global_step + 1, global_step + full + 1)) if dropout else None)
                params, state, opt_state, loss_sum, correct = scan_epoch(
                    params, state, opt_state, xd, yd, perm[:full * batch_size].reshape(full, batch_size), rngs)
                todo = todo[full:]  # a last, shorter batch goes through the single step
                global_step += full
            for start, stop in todo:
                global_step += 1
                rng = jax.random.fold_in(base_key, global_step) if dropout else None
                params, state, opt_state, l, c = step(params, state, opt_state, xd, yd, perm[start:stop], rng)
                loss_sum, correct = loss_sum + l, correct + c
                if on_step is not None:
                    on_step(global_step, current())
            loss_value = float(loss_sum) / n  # blocks until the epoch's work is done
            dt = time.perf_counter() - t0
            rec = EpochRecord(epoch, loss_value, int(correct) / n, dt)
            history.append(rec)
            on_epoch(rec)
        model["params"] = {"params": params, **state}
        return history

    def activations(self, model, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Each named layer's output on x in inference mode, as Flax computes it (channels-last)."""
        net = model["net"]
        x = x.reshape(len(x), *net.input_shape)
        _, state = model["module"].apply(model["params"], x, mutable=["intermediates"])
        got = state["intermediates"]
        return {n: np.asarray(got[f"{n}:out"][0], np.float32) for n in names}

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        """Logits of channels-last images (N, *input_shape), inference mode (running statistics)."""
        net = model["net"]
        if tuple(x.shape[1:]) != tuple(net.input_shape):
            x = x.reshape(len(x), *net.input_shape)
        apply = self.jax.jit(model["module"].apply)
        out = [np.asarray(apply(model["params"], x[i:i + PREDICT_CHUNK])) for i in range(0, len(x), PREDICT_CHUNK)]
        if not out:
            return np.zeros((0, net.num_classes), np.float32)
        return np.concatenate(out).astype(np.float32)
