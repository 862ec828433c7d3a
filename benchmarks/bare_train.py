"""The training loop of each framework written out bare, as a lab script would: no edgebench
adapter, no callbacks, no events. Used by harness_overhead.py as the reference.

python benchmarks/bare_train.py FRAMEWORK RUN_DIR   (RUN_DIR from an edgebench run: its inputs/)
Prints one JSON line: {"framework", "train_time_s"}.
"""

import json
import os
import sys
import time

import numpy as np


def main(fw: str, run_dir: str) -> None:
    cfg = json.load(open(os.path.join(run_dir, "results.json")))["config"]
    threads = cfg["threads"]
    from edgebench import data  # reading the data is outside the timed region, as in edgebench

    ds = data.load(cfg["dataset"], limit_train=cfg["limit_train"], limit_test=cfg["limit_test"])
    x, y = ds.x_train, ds.y_train
    order = np.load(os.path.join(run_dir, "inputs", "batch_order.npy"))
    w = np.load(os.path.join(run_dir, "inputs", "initial_weights.npz"))
    kernels = [w[f"dense_{i}.kernel"] for i in range(len(w.files) // 2)]
    biases = [w[f"dense_{i}.bias"] for i in range(len(w.files) // 2)]
    opt = cfg["optimizer"]
    bs = cfg["batch_size"]
    if fw == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras

        model = keras.Sequential([keras.Input((x.shape[1],))] +
                                 [keras.layers.Dense(k.shape[1], activation="relu") for k in kernels[:-1]] +
                                 [keras.layers.Dense(kernels[-1].shape[1])])
        model.set_weights([a for pair in zip(kernels, biases) for a in pair])
        model.compile(optimizer=keras.optimizers.Adam(opt["learning_rate"], opt["beta1"], opt["beta2"], opt["epsilon"]),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                      jit_compile=False)
        xt, yt = tf.constant(x), tf.constant(y)  # loaded once, outside the timed region
        t0 = time.perf_counter()
        for perm in order:
            idx = tf.constant(perm)
            model.fit(tf.gather(xt, idx), tf.gather(yt, idx), batch_size=bs, epochs=1, shuffle=False, verbose=0)
        dt = time.perf_counter() - t0
    elif fw == "pytorch":
        import math

        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        layers = []
        for i, (k, b) in enumerate(zip(kernels, biases)):
            lin = torch.nn.Linear(*k.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(k.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin] + ([torch.nn.ReLU()] if i < len(kernels) - 1 else [])
        model = torch.nn.Sequential(*layers)
        o = torch.optim.Adam(model.parameters(), lr=opt["learning_rate"], betas=(opt["beta1"], opt["beta2"]),
                             eps=opt["epsilon"])
        step = 0
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        t0 = time.perf_counter()
        for perm in order:
            perm = torch.from_numpy(perm)
            loss_sum, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64)
            for s in range(0, len(perm), bs):
                xb, yb = xt[perm[s:s + bs]], yt[perm[s:s + bs]]
                step += 1
                o.param_groups[0]["eps"] = opt["epsilon"] / math.sqrt(1 - opt["beta2"] ** step)
                o.zero_grad()
                logits = model(xb)
                loss = torch.nn.functional.cross_entropy(logits, yb)
                loss.backward()
                o.step()
                with torch.no_grad():  # the running loss and accuracy a lab script prints per epoch
                    loss_sum += loss.detach().double() * len(logits)
                    correct += (logits.argmax(1) == yb).sum()
            float(loss_sum), int(correct)
        dt = time.perf_counter() - t0
    elif fw == "jax":
        import flax.linen as nn
        import jax
        import jax.numpy as jnp
        import optax

        class MLP(nn.Module):
            @nn.compact
            def __call__(self, h):
                for i, k in enumerate(kernels[:-1]):
                    h = nn.relu(nn.Dense(k.shape[1], name=f"dense_{i}")(h))
                return nn.Dense(kernels[-1].shape[1], name=f"dense_{len(kernels) - 1}")(h)

        m = MLP()
        params = {"params": {f"dense_{i}": {"kernel": jnp.asarray(k), "bias": jnp.asarray(b)}
                             for i, (k, b) in enumerate(zip(kernels, biases))}}
        tx = optax.inject_hyperparams(optax.adam)(
            learning_rate=opt["learning_rate"], b1=opt["beta1"], b2=opt["beta2"],
            eps=lambda c: opt["epsilon"] / jnp.sqrt(1.0 - opt["beta2"] ** (c + 1)))
        state = tx.init(params)

        @jax.jit
        def step(p, s, xd, yd, idx):
            xb, yb = xd[idx], yd[idx]

            def loss_fn(q):
                logits = m.apply(q, xb)
                return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), logits

            (loss, logits), g = jax.value_and_grad(loss_fn, has_aux=True)(p)
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s, loss * xb.shape[0], jnp.sum(jnp.argmax(logits, -1) == yb)

        xd, yd = jax.device_put(x), jax.device_put(y.astype(np.int32))
        t0 = time.perf_counter()
        for perm in order:
            perm = perm.astype(np.int32)
            loss_sum, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
            for s in range(0, len(perm), bs):
                params, state, lsum, c = step(params, state, xd, yd, perm[s:s + bs])
                loss_sum, correct = loss_sum + lsum, correct + c
            float(loss_sum), int(correct)  # the running figures a lab script prints per epoch
        dt = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown framework {fw}")
    print(json.dumps({"framework": fw, "train_time_s": dt}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
