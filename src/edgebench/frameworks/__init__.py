"""Framework adapters, imported lazily so a missing framework is a skipped row, not a crash."""

from __future__ import annotations

from edgebench.registry import Framework, register

register(Framework("tensorflow", "edgebench.frameworks.tensorflow:TensorFlowAdapter", ("tensorflow", "keras"), "tf",
                   title="TensorFlow", colour="#ff8f00", role="trains the network (Keras model.fit)",
                   distribution="tensorflow-cpu", aliases=("tf", "keras")))
register(Framework("pytorch", "edgebench.frameworks.pytorch:PyTorchAdapter", ("torch",), "torch",
                   title="PyTorch", colour="#ee4c2c", role="trains the network (a plain training loop)",
                   aliases=("torch",)))
register(Framework("jax", "edgebench.frameworks.jax:JaxAdapter", ("jax", "jaxlib", "flax", "optax"), "jax",
                   title="JAX", colour="#5e97f6", role="trains the network (Flax + Optax, jax.jit)",
                   aliases=("flax",)))
register(Framework("numpy", "edgebench.frameworks.numpy_ref:NumpyAdapter", ("numpy",), "",
                   title="NumPy (reference)", colour="#4d4d4d", default=False,
                   role="reference: the same MLP, SGD and Adam in plain NumPy (tests, twin checks)"))
