"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import LayerTensor, dequantize, describe_input, input_layout, to_artifact_input
from edgebench.runtimes.onnx_cost import onnx_graph_cost


class OrtSession:
    name = "onnxruntime"
    accepts_batch = True
    fixed_batch = None

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path, self.threads = Path(path), threads
        self._layers: tuple | None = None
        self.session = self._open(str(path))
        inp = self.session.get_inputs()[0]
        self._in = inp.name
        self._shape = [d if isinstance(d, int) else -1 for d in inp.shape]
        self.layout = input_layout(self._shape)
        self._out = self.session.get_outputs()[0].name
        dim0 = inp.shape[0] if inp.shape else None
        if isinstance(dim0, int):
            self.accepts_batch, self.fixed_batch = False, dim0
        out = self.session.get_outputs()[0]
        self.io = {"input": {"dtype": "float32"} | describe_input(self._shape, self.layout),
                   "output": {"dtype": "float32", "shape": [d if isinstance(d, int) else -1 for d in out.shape]}}

    def _open(self, model):
        """A session on a file or a serialized model, with this session's threads."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])

    @staticmethod
    def version() -> str:
        import onnxruntime

        return onnxruntime.__version__

    def batch_call(self, x: np.ndarray):
        x = to_artifact_input(np.asarray(x, dtype=np.float32), self._shape, self.layout)
        feed = {self._in: x}
        run = self.session.run
        return lambda: run(None, feed)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not self.accepts_batch:
            step = self.fixed_batch
            return np.concatenate([self.predict_batch(x[i:i + step]) for i in range(0, len(x), step)])
        return self.predict_batch(x)

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        return self.batch_call(x)()[0].astype(np.float32)

    def graph_cost(self) -> dict:
        return onnx_graph_cost(self.path)

    def close(self) -> None:
        self.session = self._layers = None

    # ---- the layers capability: intermediate outputs added to a copy of the graph ----

    def layer_tensors(self) -> list[LayerTensor]:
        """Every computing node's output, after the activation that follows it alone (Conv -> Relu)
        and, in a QDQ model, as the int8 tensor of the QuantizeLinear that follows it (what the
        next op reads), with that Q's step. Shapes from one run of the instrumented copy."""
        if self._layers is None:
            import onnx

            model = onnx.load(str(self.path))
            g = model.graph
            consts = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
            consumers: dict[str, list] = {}
            for n in g.node:
                for i in n.input:
                    consumers.setdefault(i, []).append(n)
            # The names a node's weights carry: a constant's own, followed through what is computed
            # from constants alone (a weight's DequantizeLinear, a bias' Reshape) and through an
            # integer kernel's accumulator (ConvInteger -> Cast -> the Mul that scales it). Its
            # activation inputs' names belong to other layers and are left out.
            origin = {i.name: i.name for i in g.initializer}
            for n in g.node:
                if n.op_type == "Constant" or (n.input and all(i in origin or not i for i in n.input)):
                    for o in n.output:
                        origin[o] = " ".join([o, *(origin[i] for i in n.input if i)])
                elif n.op_type in _ONNX_CARRY:
                    for o in n.output:
                        origin[o] = " ".join([n.name, o, *(origin[i] for i in n.input if i in origin)])
            kernel, chain_text, last_of_chain = _dynamic_chains(g, origin, consumers)
            found = []  # (key, name, op, text, step, zero_point, order)
            for order, n in enumerate(g.node):
                if n.op_type in _ONNX_LAYOUT or n.op_type in _ONNX_ACTIVATIONS or not n.output:
                    continue
                if n.output[0] in kernel and n.output[0] not in last_of_chain:
                    continue  # a partial value of a dynamic quantizer's chain
                key, op = n.output[0], kernel.get(n.output[0], n.op_type)
                text = " ".join([chain_text.get(n.output[0], ""), n.name, *(origin[i] for i in n.input if i in origin),
                                 *n.output]).strip()
                after = consumers.get(key, [])
                if len(after) == 1 and after[0].op_type in _ONNX_ACTIVATIONS:
                    key, op = after[0].output[0], f"{op}+{after[0].op_type}"
                    text = f"{text} {after[0].name} {key}"
                    after = consumers.get(key, [])
                step = zp = None
                if len(after) == 1 and after[0].op_type == "QuantizeLinear" and after[0].input[1] in consts:
                    q = after[0]
                    scale = consts[q.input[1]]
                    if scale.size == 1:
                        key, step = q.output[0], float(scale.reshape(()))
                        zp = int(consts[q.input[2]].reshape(())) if len(q.input) > 2 and q.input[2] in consts else 0
                found.append((key, n.output[0], op, text, step, zp, order))
            g.output.extend(onnx.ValueInfoProto(name=k) for k, *_ in found if k not in {o.name for o in g.output})
            session = self._open(model.SerializeToString())
            names = [o.name for o in session.get_outputs()]
            x0 = np.zeros([1 if d < 0 else d for d in self._shape], np.float32)
            first = dict(zip(names, session.run(None, {self._in: x0})))
            shapes = {k: np.shape(v)[1:] for k, v in first.items()}
            # An integer tensor that no QuantizeLinear wrote is an accumulator (ConvInteger's int32) or
            # a dynamic quantization's input, not a layer's value.
            # A value without the batch axis (a dynamic quantizer's scales) is no layer's either.
            found = [f for f in found if (f[4] is not None or np.asarray(first[f[0]]).dtype.kind == "f")
                     and np.ndim(first[f[0]]) >= 2]
            tensors = [LayerTensor(key=k, name=name, op=op, text=text, shape=tuple(int(d) for d in shapes[k]),
                                   step=step, order=order) for k, name, op, text, step, _, order in found]
            self._layers = (session, tensors, {k: zp for k, _, _, _, _, zp, _ in found}, names)
        return self._layers[1]

    def layer_outputs(self, x: np.ndarray, keys: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        self.layer_tensors()
        session, tensors, zps, names = self._layers
        steps = {t.key: t.step for t in tensors}
        step = len(x) if self.accepts_batch else self.fixed_batch
        got: dict[str, list] = {k: [] for k in keys}
        finals = []
        for i in range(0, len(x), step):
            xb = to_artifact_input(np.asarray(x[i:i + step], np.float32), self._shape, self.layout)
            out = dict(zip(names, session.run(None, {self._in: xb})))
            for k in keys:
                got[k].append(dequantize(out[k], steps.get(k) or 0.0, zps.get(k) or 0))
            finals.append(np.asarray(out[self._out], np.float32))
        return {k: np.concatenate(v) for k, v in got.items()}, np.concatenate(finals)

    def layer_note(self) -> str:
        return "ONNX Runtime on a copy of the graph with every layer's output added as a graph output"


# Nodes that move or re-type values (no layer ends in one), and activations folded into the node before.
_ONNX_LAYOUT = frozenset({"QuantizeLinear", "DequantizeLinear", "Transpose", "Reshape", "Flatten", "Squeeze",
                          "Unsqueeze", "Identity", "Cast", "Pad", "Constant", "Shape", "Gather", "Concat"})
_ONNX_ACTIVATIONS = frozenset({"Relu", "Clip"})
# Integer kernels whose accumulator a later Mul scales to the layer's values: their names carry on.
_ONNX_CARRY = frozenset({"ConvInteger", "MatMulInteger", "Cast"})


def _dynamic_chains(g, origin: dict, consumers: dict) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """A dynamic quantizer's layer is a chain: ConvInteger / MatMulInteger -> Cast -> Mul (the
    scales) -> Add (the bias). Its partial values (the accumulator as float, before the bias) are no
    layer's output; the chain's last node is, labelled with its kernel. Returns ({tensor: the
    chain's ops so far}, {tensor: the names its nodes and weights carry}, the chains' last tensors)."""
    kernel: dict[str, str] = {}  # tensor -> "<kernel>+<step>..." where it is a chain's value
    chain_text: dict[str, str] = {}  # the names its nodes and weights carry
    follows = {"Cast": ("ConvInteger", "MatMulInteger"), "Mul": ("Cast",), "Add": ("Mul",)}
    for n in g.node:
        if n.op_type in ("ConvInteger", "MatMulInteger"):
            kernel[n.output[0]] = n.op_type
            chain_text[n.output[0]] = " ".join([n.name, *(origin[i] for i in n.input if i in origin)])
            continue
        ins = [i for i in n.input if i in kernel and kernel[i].rsplit("+", 1)[-1] in follows.get(n.op_type, ())]
        others = [i for i in n.input if i and i not in ins]
        if len(ins) == 1 and (n.op_type != "Add" or all(i in origin for i in others)):
            kernel[n.output[0]] = f"{kernel[ins[0]]}+{n.op_type}"
            chain_text[n.output[0]] = f"{chain_text[ins[0]]} {n.name}"
    last_of_chain = {o for o in kernel if not any(c.output and c.output[0] in kernel
                                                  for c in consumers.get(o, []))}
    return kernel, chain_text, last_of_chain
