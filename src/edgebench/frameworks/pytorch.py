"""PyTorch: the manual training loop a typical user writes, with every choice pinned."""

from __future__ import annotations

import math
import time

import numpy as np

from edgebench.config import ModelSpec, OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.model import Weights


class PyTorchAdapter:
    name = "pytorch"

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set in this process (only possible when reused in tests)
            pass
        self.torch = torch

    def versions(self) -> dict[str, str]:
        return {"torch": self.torch.__version__}

    def build(self, spec: ModelSpec, weights: Weights):
        nn = self.torch.nn
        layers: list = []
        for i, (fan_in, fan_out) in enumerate(spec.layer_sizes):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(spec.hidden):
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with self.torch.no_grad():
            for lin, (kernel, bias) in zip(linears, weights):
                # nn.Linear stores (out, in); the shared kernels are (in, out).
                lin.weight.copy_(self.torch.from_numpy(np.ascontiguousarray(kernel.T)))
                lin.bias.copy_(self.torch.from_numpy(bias))
        return model

    def _optimizer(self, params, opt: OptimizerSpec):
        o = self.torch.optim
        if opt.name == "sgd":
            return o.SGD(params, lr=opt.learning_rate, momentum=0.0, dampening=0.0, weight_decay=0.0)
        return o.Adam(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                      weight_decay=0.0, amsgrad=False)

    def load_data(self, x, y):
        return self.torch.from_numpy(x), self.torch.from_numpy(y)  # shares the NumPy memory

    def train(self, model, data, order, batch_size, optimizer, on_epoch, on_step=None, compiled=False):
        torch = self.torch
        xs, ys = data
        # Compiled mode: torch.compile (Inductor) on the model, forward and backward. The optimizer
        # stays eager: the aligned epsilon changes every step and would recompile a compiled step.
        forward = torch.compile(model) if compiled else model
        opt = self._optimizer(model.parameters(), optimizer)
        loss_fn = torch.nn.CrossEntropyLoss()  # mean over the batch, as Keras
        n = len(ys)
        history = []
        # Keras' epsilon placement (see OptimizerSpec): PyTorch's update with eps_t =
        # eps / sqrt(1 - beta2**t) equals Keras' update with eps, step for step.
        align_eps = optimizer.name == "adam" and optimizer.epsilon_placement == "aligned"
        step = 0
        model.train()
        for epoch, perm in enumerate(order, start=1):
            t0 = time.perf_counter()
            perm_t = torch.from_numpy(perm)
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            for start, stop in batches(n, batch_size):
                idx = perm_t[start:stop]  # each batch gathered by index, as a DataLoader does
                xb, yb = xs[idx], ys[idx]
                step += 1
                if align_eps:
                    eps_t = optimizer.epsilon / math.sqrt(1.0 - optimizer.beta2 ** step)
                    for group in opt.param_groups:
                        group["eps"] = eps_t
                opt.zero_grad(set_to_none=True)
                logits = forward(xb)
                loss = loss_fn(logits, yb)
                loss.backward()
                opt.step()
                # Running figures from the pre-update logits, as Keras' fit() reports them.
                with torch.no_grad():
                    loss_sum += loss.detach().double() * (stop - start)
                    correct += (logits.argmax(dim=1) == yb).sum()
                if on_step is not None:
                    on_step(step, model)
            dt = time.perf_counter() - t0
            rec = EpochRecord(epoch, float(loss_sum) / n, int(correct) / n, dt)
            history.append(rec)
            on_epoch(rec)
        return history

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        model.eval()
        with self.torch.inference_mode():
            return model(self.torch.from_numpy(x)).numpy().astype(np.float32)

    def get_weights(self, model) -> Weights:
        linears = [m for m in model if isinstance(m, self.torch.nn.Linear)]
        return [(lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()) for lin in linears]
