"""The training loop of each framework written out bare, as a lab script would: no edgebench
adapter, no callbacks, no events, no Network walk. Used by harness_overhead.py as the reference.

python benchmarks/bare_train.py FRAMEWORK RUN_DIR   (RUN_DIR from an edgebench run: its inputs/)

It trains the model the run's config names, `mlp` or `lenet5` (any other is refused), on the
run's data slice, batch order (inputs/batch_order.npy), initial weights (inputs/initial_weights.npz,
Keras layouts, converted here explicitly where a framework stores another layout), optimizer
settings (Adam's epsilon placement as each edgebench adapter sets it, or plain SGD) and threads.
Only the epochs are timed, as edgebench times them: the sum of per-epoch perf_counter intervals;
reading the data, reshaping it to images, building the model and loading the weights come before,
and evaluation after.

Prints one JSON line: {"framework", "model", "train_time_s", "test_accuracy",
"max_abs_weight_diff"}: the last is the largest |bare - edgebench| over the final weights (Keras
layouts) against the run's RUN_DIR/FRAMEWORK/final_weights.npz (repeat 1), or null when the run
has none (its first mode is not eager). Harness_overhead.py reads only train_time_s.
"""

import json
import math
import os
import sys
import time

import numpy as np

MODELS = ("mlp", "lenet5")

# LeNet-5 as src/edgebench/models/zoo.py defines it (what results.json's model.layers must say):
# type, name, and the attributes that fix the computation.
LENET5 = (
    ("Conv2D", "conv1", {"filters": 6, "kernel": [5, 5], "stride": [1, 1], "padding": "same", "activation": "relu",
                         "use_bias": True}),
    ("MaxPool2D", "pool1", {"pool": [2, 2], "stride": [2, 2]}),
    ("Conv2D", "conv2", {"filters": 16, "kernel": [5, 5], "stride": [1, 1], "padding": "valid", "activation": "relu",
                         "use_bias": True}),
    ("MaxPool2D", "pool2", {"pool": [2, 2], "stride": [2, 2]}),
    ("Flatten", "flatten", {}),
    ("Dense", "fc1", {"units": 120, "activation": "relu", "use_bias": True}),
    ("Dense", "fc2", {"units": 84, "activation": "relu", "use_bias": True}),
    ("Dense", "logits", {"activation": None, "use_bias": True}),
)
LENET5_WEIGHTED = ("conv1", "conv2", "fc1", "fc2", "logits")


def _check_lenet5(desc: dict) -> None:
    layers = desc.get("layers") or []
    found = [(la.get("type"), la.get("name")) for la in layers]
    want = [(t, n) for t, n, _ in LENET5]
    problems = [] if found == want else [f"layers {found} where {want} is expected"]
    for la, (_, name, attrs) in zip(layers, LENET5):
        for k, v in attrs.items():
            if la.get(k) != v:
                problems.append(f"{name}.{k} = {la.get(k)!r}, expected {v!r}")
    shape = desc.get("input_shape") or []
    if len(shape) != 3:
        problems.append(f"input_shape {shape}: an (H, W, C) image is expected")
    if problems:
        raise SystemExit("bare_train.py: this run's lenet5 is not the LeNet-5 written out here (zoo.py changed?): "
                         + "; ".join(problems))


def main(fw: str, run_dir: str) -> None:
    results = json.load(open(os.path.join(run_dir, "results.json")))
    cfg, desc = results["config"], results["model"]
    model_name = cfg["model"]["name"]
    if model_name not in MODELS:
        raise SystemExit(f"bare_train.py: the run trained model '{model_name}'; only {', '.join(MODELS)} are "
                         "written out bare here")
    if fw not in ("tensorflow", "pytorch", "jax"):
        raise SystemExit(f"bare_train.py: unknown framework '{fw}' (tensorflow, pytorch or jax)")
    if model_name == "lenet5":
        _check_lenet5(desc)
    threads = cfg["threads"]
    from edgebench.worker import pin_threads

    pin_threads(threads)  # the first `threads` cores, as edgebench pins each training process
    from edgebench import data  # reading the data is outside the timed region, as in edgebench

    ds = data.load(cfg["dataset"], limit_train=cfg["limit_train"], limit_test=cfg["limit_test"])
    in_shape = tuple(desc["input_shape"])  # (784,) for the MLP, (28, 28, 1) for LeNet-5 on MNIST
    # A view of the flat (N, 784) rows as the network takes them (channels-last images for LeNet-5).
    x, y = ds.x_train.reshape(len(ds.x_train), *in_shape), ds.y_train
    x_test, y_test = ds.x_test.reshape(len(ds.x_test), *in_shape), ds.y_test
    order = np.load(os.path.join(run_dir, "inputs", "batch_order.npy"))
    w = np.load(os.path.join(run_dir, "inputs", "initial_weights.npz"))
    if model_name == "mlp":
        names = [f"dense_{i}" for i in range(len(w.files) // 2)]
    else:
        names = list(LENET5_WEIGHTED)
    kernels = [w[f"{n}.kernel"] for n in names]  # Keras layouts: conv (kh, kw, cin, cout), dense (in, out)
    biases = [w[f"{n}.bias"] for n in names]
    num_classes = kernels[-1].shape[1]
    opt = cfg["optimizer"]
    adam = opt["name"] == "adam"
    # Keras' epsilon placement (edgebench's default, "aligned"): Keras adds epsilon before the bias
    # correction, PyTorch and Optax after it; eps_t = eps / sqrt(1 - beta2**t) at step t makes
    # theirs Keras' rule exactly. "native" leaves each its own.
    aligned = adam and opt.get("epsilon_placement", "aligned") == "aligned"
    bs = cfg["batch_size"]
    epoch_times = []

    if fw == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras

        L = keras.layers
        if model_name == "mlp":
            model = keras.Sequential([keras.Input(in_shape)] +
                                     [L.Dense(k.shape[1], activation="relu") for k in kernels[:-1]] +
                                     [L.Dense(num_classes)])
        else:
            # Keras 'same' on a 5x5 stride-1 conv pads 2 on every side (total pad 4, split evenly:
            # only an odd total puts the extra row/column bottom/right), so it is exactly the
            # symmetric padding=2 of the PyTorch module below and Flax's 'SAME'.
            model = keras.Sequential([
                keras.Input(in_shape),
                L.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
                L.MaxPooling2D(2, name="pool1"),
                L.Conv2D(16, 5, padding="valid", activation="relu", name="conv2"),
                L.MaxPooling2D(2, name="pool2"),
                L.Flatten(name="flatten"),  # channels-last (h, w, c): the file's fc1 kernel as is
                L.Dense(120, activation="relu", name="fc1"),
                L.Dense(84, activation="relu", name="fc2"),
                L.Dense(num_classes, name="logits"),
            ])
        # Keras stores conv HWIO and dense (in, out): the file's layouts, no conversion.
        model.set_weights([a for pair in zip(kernels, biases) for a in pair])
        optimizer = (keras.optimizers.Adam(opt["learning_rate"], opt["beta1"], opt["beta2"], opt["epsilon"])
                     if adam else keras.optimizers.SGD(opt["learning_rate"]))
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=False)
        xt, yt = tf.constant(x), tf.constant(y)  # loaded once, outside the timed region
        for perm in order:
            t0 = time.perf_counter()
            idx = tf.constant(perm)
            model.fit(tf.gather(xt, idx), tf.gather(yt, idx), batch_size=bs, epochs=1, shuffle=False, verbose=0)
            epoch_times.append(time.perf_counter() - t0)
        logits = np.concatenate([model(x_test[i:i + 2000], training=False).numpy()
                                 for i in range(0, len(x_test), 2000)])
        final = [np.asarray(a) for a in model.get_weights()]  # kernel, bias per layer, Keras layouts
    elif fw == "pytorch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        if model_name == "mlp":
            layers = []
            for i, k in enumerate(kernels):
                layers += [torch.nn.Linear(*k.shape)] + ([torch.nn.ReLU()] if i < len(kernels) - 1 else [])
            model = torch.nn.Sequential(*layers)
            weighted = [m for m in model if isinstance(m, torch.nn.Linear)]
        else:
            h, wd, c = in_shape
            flat = 16 * ((h // 2 - 4) // 2) * ((wd // 2 - 4) // 2)

            class LeNet5(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    # padding=2 on the 5x5 stride-1 conv is exactly Keras'/Flax' 'same' here (2 on
                    # every side; see the Keras model above).
                    self.conv1 = torch.nn.Conv2d(c, 6, 5, padding=2)
                    self.conv2 = torch.nn.Conv2d(6, 16, 5)
                    self.fc1 = torch.nn.Linear(flat, 120)
                    self.fc2 = torch.nn.Linear(120, 84)
                    self.logits = torch.nn.Linear(84, num_classes)

                def forward(self, xb):
                    xb = xb.permute(0, 3, 1, 2)  # the NHWC batch to NCHW, once per step
                    xb = F.max_pool2d(F.relu(self.conv1(xb)), 2)
                    xb = F.max_pool2d(F.relu(self.conv2(xb)), 2)
                    # Flatten channels-last: permute NCHW back to NHWC, then flatten (h, w, c), as
                    # Keras and Flax do, so fc1 takes the file's kernel (transposed, as any
                    # nn.Linear). The other way (keeping the NCHW flatten and permuting fc1's rows
                    # to (c, h, w) once at load) saves a small copy per step, but edgebench's
                    # module flattens channels-last: this keeps the two computing the same thing,
                    # so the ratio measures the harness, not a different forward.
                    xb = xb.permute(0, 2, 3, 1).flatten(1)
                    xb = F.relu(self.fc1(xb))
                    xb = F.relu(self.fc2(xb))
                    return self.logits(xb)

            model = LeNet5()
            weighted = [model.conv1, model.conv2, model.fc1, model.fc2, model.logits]
        with torch.no_grad():
            for m, k, b in zip(weighted, kernels, biases):
                # conv HWIO -> OIHW; dense (in, out) -> nn.Linear's (out, in)
                kt = k.transpose(3, 2, 0, 1) if k.ndim == 4 else k.T
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(kt)))
                m.bias.copy_(torch.from_numpy(b))
        if adam:
            o = torch.optim.Adam(model.parameters(), lr=opt["learning_rate"], betas=(opt["beta1"], opt["beta2"]),
                                 eps=opt["epsilon"])
        else:
            o = torch.optim.SGD(model.parameters(), lr=opt["learning_rate"])
        step = 0
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        model.train()
        for perm in order:
            t0 = time.perf_counter()
            perm = torch.from_numpy(perm)
            loss_sum, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64)
            for s in range(0, len(perm), bs):
                xb, yb = xt[perm[s:s + bs]], yt[perm[s:s + bs]]
                step += 1
                if aligned:
                    o.param_groups[0]["eps"] = opt["epsilon"] / math.sqrt(1 - opt["beta2"] ** step)
                o.zero_grad()
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                loss.backward()
                o.step()
                with torch.no_grad():  # the running loss and accuracy a lab script prints per epoch
                    loss_sum += loss.detach().double() * len(logits)
                    correct += (logits.argmax(1) == yb).sum()
            float(loss_sum), int(correct)
            epoch_times.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            logits = np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x_test[i:i + 2000]))).numpy()
                                     for i in range(0, len(x_test), 2000)])
        final = []
        for m in weighted:
            wt = m.weight.detach().numpy()
            final += [wt.transpose(2, 3, 1, 0) if wt.ndim == 4 else wt.T, m.bias.detach().numpy()]  # back to Keras'
    else:
        import flax.linen as nn
        import jax
        import jax.numpy as jnp
        import optax

        if model_name == "mlp":
            class Model(nn.Module):
                @nn.compact
                def __call__(self, h):
                    for i, k in enumerate(kernels[:-1]):
                        h = nn.relu(nn.Dense(k.shape[1], name=f"dense_{i}")(h))
                    return nn.Dense(num_classes, name=f"dense_{len(kernels) - 1}")(h)
        else:
            class Model(nn.Module):
                @nn.compact
                def __call__(self, h):  # channels-last (N, H, W, C), as Flax is
                    # 'SAME' here is 2 on every side, as Keras 'same' and PyTorch padding=2 (see above).
                    h = nn.relu(nn.Conv(6, (5, 5), padding="SAME", name="conv1")(h))
                    h = nn.max_pool(h, (2, 2), strides=(2, 2))  # Flax pools with stride 1 unless told
                    h = nn.relu(nn.Conv(16, (5, 5), padding="VALID", name="conv2")(h))
                    h = nn.max_pool(h, (2, 2), strides=(2, 2))
                    h = h.reshape(h.shape[0], -1)  # (h, w, c), as Keras: the file's fc1 kernel as is
                    h = nn.relu(nn.Dense(120, name="fc1")(h))
                    h = nn.relu(nn.Dense(84, name="fc2")(h))
                    return nn.Dense(num_classes, name="logits")(h)

        m = Model()
        # Flax stores conv HWIO and dense (in, out): the file's layouts, no conversion.
        params = {"params": {n: {"kernel": jnp.asarray(k), "bias": jnp.asarray(b)}
                             for n, k, b in zip(names, kernels, biases)}}
        if adam:
            eps = ((lambda c: opt["epsilon"] / jnp.sqrt(1.0 - opt["beta2"] ** (c + 1))) if aligned
                   else opt["epsilon"])  # count c = steps already taken
            tx = optax.inject_hyperparams(optax.adam)(learning_rate=opt["learning_rate"], b1=opt["beta1"],
                                                      b2=opt["beta2"], eps=eps)
        else:
            tx = optax.sgd(opt["learning_rate"])
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
        for perm in order:
            t0 = time.perf_counter()
            perm = perm.astype(np.int32)
            loss_sum, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
            for s in range(0, len(perm), bs):
                params, state, lsum, c = step(params, state, xd, yd, perm[s:s + bs])
                loss_sum, correct = loss_sum + lsum, correct + c
            float(loss_sum), int(correct)  # the running figures a lab script prints per epoch
            epoch_times.append(time.perf_counter() - t0)
        apply = jax.jit(m.apply)
        logits = np.concatenate([np.asarray(apply(params, x_test[i:i + 2000])) for i in range(0, len(x_test), 2000)])
        final = [np.asarray(params["params"][n][a]) for n in names for a in ("kernel", "bias")]

    diff = None
    ref = os.path.join(run_dir, fw, "final_weights.npz")
    if cfg.get("modes", ["eager"])[0] == "eager" and os.path.exists(ref):  # repeat 1 of the eager training
        with np.load(ref) as e:
            diff = max(float(np.max(np.abs(a - e[f"{n}.{k}"])))
                       for a, (n, k) in zip(final, [(n, k) for n in names for k in ("kernel", "bias")]))
    print(json.dumps({"framework": fw, "model": model_name, "train_time_s": sum(epoch_times),
                      "test_accuracy": float(np.mean(logits.argmax(1) == y_test)), "max_abs_weight_diff": diff}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    main(sys.argv[1], sys.argv[2])
