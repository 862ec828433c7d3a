"""Per-op C emitters for the generator: each turns one op (or a CONV_2D with its fused ADD) into
`static const` parameter data and one kernel call. Quantization constants come from quant.py.
"""

from __future__ import annotations

import numpy as np

from edgebench.firmware import quant
from edgebench.firmware.graph import Graph, Op, Tensor, Unsupported

# kernel function -> the C file that defines it
KERNEL_FILES = {
    "eb_conv_s8": "eb_conv.c", "eb_conv_f32": "eb_conv.c", "eb_dw_s8": "eb_depthwise.c",
    "eb_dw_f32": "eb_depthwise.c", "eb_fc_s8": "eb_fully_connected.c", "eb_fc_f32": "eb_fully_connected.c",
    "eb_avgpool_s8": "eb_pool.c", "eb_maxpool_s8": "eb_pool.c", "eb_avgpool_f32": "eb_pool.c",
    "eb_maxpool_f32": "eb_pool.c", "eb_reduce_s8": "eb_reduce.c", "eb_reduce_f32": "eb_reduce.c",
    "eb_add_s8": "eb_add.c", "eb_add_f32": "eb_add.c", "eb_pad": "eb_pad.c",
    "eb_softmax_s8": "eb_softmax.c", "eb_softmax_f32": "eb_softmax.c",
    "eb_quantize_f32_s8": "eb_quantize.c", "eb_dequantize_s8_f32": "eb_quantize.c",
    "eb_transpose": "eb_transpose.c", "eb_requantize_s8": "eb_quantize.c", "eb_clamp_s8": "eb_clamp.c",
    "eb_clamp_f32": "eb_clamp.c",
}
CTYPES = {"int8": "int8_t", "float32": "float", "int32": "int32_t"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def c_float(x: float) -> str:
    """A float32 value as a C literal that reads back to the same float."""
    v = float(np.float32(x))
    if np.isinf(v):
        return "-3.40282347e+38f" if v < 0 else "3.40282347e+38f"
    s = f"{v:.9g}"
    if "." not in s and "e" not in s and "n" not in s:
        s += ".0"
    return s + "f"


class Emitter:
    """Collects the declarations of model.c and the kernels the model calls."""

    def __init__(self, g: Graph, offsets: dict[int, int]):
        self.g = g
        self.offsets = offsets
        self.decls: list[str] = []
        self.functions: set[str] = set()
        self.constant_bytes = 0
        self.layer = 0

    def t(self, index: int) -> Tensor:
        return self.g.tensors[index]

    def ptr(self, index: int, const: bool = False) -> str:
        t = self.t(index)
        ctype = ("const " if const else "") + CTYPES[t.dtype]
        return f"EB_T({ctype}, {self.offsets[self.g.base(index)]})"

    def array(self, tag: str, ctype: str, values) -> str:
        name = f"eb_{tag}{self.layer}"
        vals = np.asarray(values).ravel()
        fmt = c_float if ctype == "float" else (lambda v: str(int(v)))
        items = [fmt(v) for v in vals]
        lines = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)]
        body = ",\n    ".join(lines)
        self.decls.append(f"static const {ctype} {name}[{len(items)}] = {{\n    {body}\n}};")
        self.constant_bytes += len(items) * {"int8_t": 1, "float": 4, "int32_t": 4}[ctype]
        return name

    def struct(self, ctype: str, tag: str, body: str) -> str:
        name = f"eb_{tag}{self.layer}"
        self.decls.append(f"static const {ctype} {name} = {body};")
        return name

    def call(self, fn: str, *args: str) -> str:
        self.functions.add(fn)
        return f"{fn}({', '.join(args)});"


# ---- shared pieces ----

def _act(op: Op) -> int:
    act = int(op.options.get("fusedActivationFunction", 0))
    if act not in (0, 1, 2, 3):
        raise Unsupported(op.kind, f"fused activation {ACTIVATIONS.get(act, act)}")
    return act


def _kind(em: Emitter, op: Op, *tensors: int) -> str:
    """'int8' or 'float32' for the op's activations (all the same), else Unsupported."""
    dtypes = {em.t(t).dtype for t in tensors}
    if len(dtypes) != 1:
        raise Unsupported(op.kind, f"mixed types {sorted(dtypes)}")
    return dtypes.pop()


def _nhwc(op: Op, t: Tensor) -> tuple[int, int, int]:
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise Unsupported(op.kind, f"shape {list(t.shape)} (4-D, batch 1 expected)")
    return t.shape[1], t.shape[2], t.shape[3]


def _pad(inp: int, out: int, k: int, stride: int, dil: int) -> int:
    return max((out - 1) * stride + (k - 1) * dil + 1 - inp, 0) // 2


def _window(op: Op, x: Tensor, o: Tensor, kh: int, kw: int) -> str:
    (ih, iw, ic), (oh, ow, oc) = _nhwc(op, x), _nhwc(op, o)
    sh, sw = int(op.options.get("strideH", 1)), int(op.options.get("strideW", 1))
    dh, dw = int(op.options.get("dilationHFactor", 1)), int(op.options.get("dilationWFactor", 1))
    ph, pw = _pad(ih, oh, kh, sh, dh), _pad(iw, ow, kw, sw, dw)
    return "{" + ", ".join(str(v) for v in (ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, ph, pw)) + "}"


def _const(em: Emitter, op: Op, index: int, dtype: str, what: str) -> Tensor:
    t = em.t(index)
    if not t.is_const:
        raise Unsupported(op.kind, f"{what} is not a constant")
    if t.dtype != dtype:
        hybrid = " (a hybrid model; TFLite Micro refuses it too)" if dtype == "float32" and t.dtype == "int8" else ""
        raise Unsupported(op.kind, f"{t.dtype} {what} with {dtype} activations{hybrid}")
    return t


def _bias(em: Emitter, op: Op, index_pos: int, dtype: str) -> str:
    if len(op.inputs) <= index_pos or op.inputs[index_pos] < 0:
        return "NULL"
    b = _const(em, op, op.inputs[index_pos], dtype, "bias")
    return em.array("b", CTYPES[dtype], b.data)


def _requant(em: Emitter, op: Op, x: Tensor, w: Tensor, o: Tensor, act: int) -> str:
    """The eb_requant initializer: per-channel multipliers of in_scale * w_scale / out_scale."""
    in_s, out_s = quant.f32(x.scale[0]), quant.f32(o.scale[0])
    ms = [quant.quantize_multiplier(in_s * quant.f32(ws) / out_s) for ws in w.scale]
    mult = em.array("m", "int32_t", [m for m, _ in ms])
    shift = em.array("s", "int32_t", [s for _, s in ms])
    lo, hi = quant.activation_range(act, o.scale[0], int(o.zero_point[0]))
    return (f"{{{-int(x.zero_point[0])}, {int(o.zero_point[0])}, {lo}, {hi}, "
            f"{1 if len(w.scale) > 1 else 0}, {mult}, {shift}}}")


def _float_range(act: int) -> str:
    lo, hi = quant.float_activation_range(act)
    return f"{c_float(lo)}, {c_float(hi)}"


def _add_s8_init(a: Tensor, b: Tensor, o: Tensor, act: int, n: int) -> str:
    """eb_add_s8_params as TFLite prepares an int8 ADD (left shift 20, twice the larger scale)."""
    sa, sb, so = quant.f32(a.scale[0]), quant.f32(b.scale[0]), quant.f32(o.scale[0])
    twice_max = 2 * max(sa, sb)
    am, ash = quant.quantize_multiplier(sa / twice_max)
    bm, bsh = quant.quantize_multiplier(sb / twice_max)
    om, osh = quant.quantize_multiplier(twice_max / ((1 << 20) * so))
    lo, hi = quant.activation_range(act, o.scale[0], int(o.zero_point[0]))
    vals = (n, -int(a.zero_point[0]), am, ash, -int(b.zero_point[0]), bm, bsh, 20, om, osh,
            int(o.zero_point[0]), lo, hi)
    return "{" + ", ".join(str(v) for v in vals) + "}"


# ---- emitters: (emitter, op, fused ADD or None) -> (C call, MACs) ----

def _fused_add(em: Emitter, conv: Op, add: Op | None, dtype: str) -> tuple[str, str]:
    """(pointer to the fused ADD's params or NULL, pointer to its other input or NULL)."""
    if add is None:
        return "NULL", "NULL"
    other = next(t for t in add.inputs if t != conv.outputs[0])
    a, b, o = em.t(conv.outputs[0]), em.t(other), em.t(add.outputs[0])
    if dtype == "int8":
        params = em.struct("eb_add_s8_params", "a", _add_s8_init(a, b, o, _act(add), 0))
        em.functions.add("eb_add_s8")
    else:
        params = em.struct("eb_add_f32_params", "a", f"{{0, {_float_range(_act(add))}}}")
    return "&" + params, em.ptr(other, const=True)


def emit_conv(em: Emitter, op: Op, add: Op | None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    w = _const(em, op, op.inputs[1], dtype, "filter")
    oc, kh, kw, icg = w.shape
    groups = x.shape[3] // icg
    act, window = _act(op), _window(op, x, o, kh, kw)
    out_index = add.outputs[0] if add is not None else op.outputs[0]
    if dtype == "int8":
        if np.any(w.zero_point != 0):
            raise Unsupported(op.kind, "filter with a non-zero zero point")
        q = _requant(em, op, x, w, o, act)
        body = f"{{{window}, {groups}, {q}, {em.array('w', 'int8_t', w.data)}, {_bias(em, op, 2, 'int32')}, "
    else:
        body = (f"{{{window}, {groups}, {_float_range(act)}, {em.array('w', 'float', w.data)}, "
                f"{_bias(em, op, 2, 'float32')}, ")
    add_params, other = _fused_add(em, op, add, dtype)
    sfx = "s8" if dtype == "int8" else "f32"
    p = em.struct(f"eb_conv_{sfx}_params", "p", body + add_params + "}")
    macs = o.size * kh * kw * icg
    return em.call(f"eb_conv_{sfx}", "&" + p, em.ptr(op.inputs[0], True), other, em.ptr(out_index)), macs


def emit_depthwise(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    w = _const(em, op, op.inputs[1], dtype, "filter")
    _, kh, kw, oc = w.shape
    mult = oc // x.shape[3]
    act, window = _act(op), _window(op, x, o, kh, kw)
    if dtype == "int8":
        if np.any(w.zero_point != 0):
            raise Unsupported(op.kind, "filter with a non-zero zero point")
        q = _requant(em, op, x, w, o, act)
        body = f"{{{window}, {mult}, {q}, {em.array('w', 'int8_t', w.data)}, {_bias(em, op, 2, 'int32')}}}"
    else:
        body = (f"{{{window}, {mult}, {_float_range(act)}, {em.array('w', 'float', w.data)}, "
                f"{_bias(em, op, 2, 'float32')}}}")
    sfx = "s8" if dtype == "int8" else "f32"
    p = em.struct(f"eb_dw_{sfx}_params", "p", body)
    return em.call(f"eb_dw_{sfx}", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), o.size * kh * kw


def emit_fully_connected(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    w = _const(em, op, op.inputs[1], dtype, "weights")
    if len(w.shape) != 2 or x.size % w.shape[1]:
        raise Unsupported(op.kind, f"weights {list(w.shape)} for input {list(x.shape)}")
    out_d, in_d = w.shape
    dims = f"{x.size // in_d}, {in_d}, {out_d}"
    act = _act(op)
    if dtype == "int8":
        q = _requant(em, op, x, w, o, act)
        body = (f"{{{dims}, {-int(w.zero_point[0])}, {q}, {em.array('w', 'int8_t', w.data)}, "
                f"{_bias(em, op, 2, 'int32')}}}")
    else:
        body = f"{{{dims}, {_float_range(act)}, {em.array('w', 'float', w.data)}, {_bias(em, op, 2, 'float32')}}}"
    sfx = "s8" if dtype == "int8" else "f32"
    p = em.struct(f"eb_fc_{sfx}_params", "p", body)
    return em.call(f"eb_fc_{sfx}", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), x.size * out_d


def emit_pool(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    kh, kw = int(op.options["filterHeight"]), int(op.options["filterWidth"])
    window, act = _window(op, x, o, kh, kw), _act(op)
    kind = "avgpool" if op.kind == "AVERAGE_POOL_2D" else "maxpool"
    if dtype == "int8":
        if x.scale[0] != o.scale[0] or x.zero_point[0] != o.zero_point[0]:
            raise Unsupported(op.kind, "input and output quantization differ")
        lo, hi = quant.activation_range(act, o.scale[0], int(o.zero_point[0]))
        p = em.struct("eb_pool_s8_params", "p", f"{{{window}, {lo}, {hi}}}")
    else:
        p = em.struct("eb_pool_f32_params", "p", f"{{{window}, {_float_range(act)}}}")
    sfx = "s8" if dtype == "int8" else "f32"
    return em.call(f"eb_{kind}_{sfx}", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def _reduce_axes(em: Emitter, op: Op, x: Tensor) -> tuple[list[int], list[int]]:
    if len(x.shape) > 4:
        raise Unsupported(op.kind, f"{len(x.shape)}-D input")
    axis = _const(em, op, op.inputs[1], "int32", "axis").data.ravel()
    rank = len(x.shape)
    dims = [1] * (4 - rank) + list(x.shape)
    red = [0] * 4
    for a in axis:
        red[4 - rank + (int(a) % rank)] = 1
    return dims, red


def emit_reduce(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    dims, red = _reduce_axes(em, op, x)
    count = int(np.prod([d for d, r in zip(dims, red) if r]))
    mean = op.kind == "MEAN"
    mult = shift = 0
    if dtype == "int8":
        mult, shift = quant.quantize_multiplier(quant.f32(x.scale[0]) / quant.f32(o.scale[0]))
        if mean and count > 0:
            mult, shift = quant.mean_multiplier(mult, shift, count)
    zps = (int(x.zero_point[0]), int(o.zero_point[0])) if dtype == "int8" else (0, 0)
    body = (f"{{{{{', '.join(map(str, dims))}}}, {{{', '.join(map(str, red))}}}, {zps[0]}, {zps[1]}, "
            f"{mult}, {shift}, {int(mean)}}}")
    p = em.struct("eb_reduce_params", "p", body)
    sfx = "s8" if dtype == "int8" else "f32"
    return em.call(f"eb_reduce_{sfx}", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def emit_add(em: Emitter, op: Op, _add=None):
    a, b, o = (em.t(t) for t in (*op.inputs, op.outputs[0]))
    dtype = _kind(em, op, *op.inputs, op.outputs[0])
    if not (a.size == b.size == o.size):   # shapes equal up to leading 1s: still elementwise
        raise Unsupported(op.kind, f"broadcast {list(a.shape)} + {list(b.shape)}")
    if dtype == "int8":
        p = em.struct("eb_add_s8_params", "p", _add_s8_init(a, b, o, _act(op), o.size))
    else:
        p = em.struct("eb_add_f32_params", "p", f"{{{o.size}, {_float_range(_act(op))}}}")
    sfx = "s8" if dtype == "int8" else "f32"
    args = (em.ptr(op.inputs[0], True), em.ptr(op.inputs[1], True), em.ptr(op.outputs[0]))
    return em.call(f"eb_add_{sfx}", "&" + p, *args), 0


def emit_pad(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    pads = _const(em, op, op.inputs[1], "int32", "paddings").data.reshape(-1, 2)
    rank = len(x.shape)
    if rank > 4:
        raise Unsupported(op.kind, f"{rank}-D input")
    dims = [1] * (4 - rank) + list(x.shape)
    before = [0] * (4 - rank) + [int(v) for v in pads[:, 0]]
    after = [0] * (4 - rank) + [int(v) for v in pads[:, 1]]
    fill = (int(o.zero_point[0]) & 0xFF) if dtype == "int8" else 0
    size = 1 if dtype == "int8" else 4
    body = (f"{{{{{', '.join(map(str, dims))}}}, {{{', '.join(map(str, before))}}}, "
            f"{{{', '.join(map(str, after))}}}, {size}, {fill}}}")
    p = em.struct("eb_pad_params", "p", body)
    return em.call("eb_pad", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def emit_transpose(em: Emitter, op: Op, _add=None):
    x = em.t(op.inputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    perm = [int(v) for v in _const(em, op, op.inputs[1], "int32", "permutation").data.reshape(-1)]
    rank = len(x.shape)
    if rank > 4 or sorted(perm) != list(range(rank)):
        raise Unsupported(op.kind, f"permutation {perm} of a {rank}-D input")
    lead = 4 - rank
    dims = [1] * lead + list(x.shape)
    perm4 = list(range(lead)) + [lead + v for v in perm]
    body = (f"{{{{{', '.join(map(str, dims))}}}, {{{', '.join(map(str, perm4))}}}, "
            f"{1 if dtype == 'int8' else 4}}}")
    p = em.struct("eb_transpose_params", "p", body)
    return em.call("eb_transpose", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def emit_softmax(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    depth = x.shape[-1]
    beta = float(op.options.get("beta", 1.0))
    if dtype == "int8":
        if float(o.scale[0]) != 1.0 / 256 or int(o.zero_point[0]) != -128:
            raise Unsupported(op.kind, "int8 output quantization other than scale 1/256, zero point -128")
        lut = em.array("lut", "int32_t", quant.softmax_exp_table(quant.f32(x.scale[0]), quant.f32(beta)))
        p = em.struct("eb_softmax_s8_params", "p", f"{{{x.size // depth}, {depth}, {lut}}}")
    else:
        p = em.struct("eb_softmax_f32_params", "p", f"{{{x.size // depth}, {depth}, {c_float(beta)}}}")
    sfx = "s8" if dtype == "int8" else "f32"
    return em.call(f"eb_softmax_{sfx}", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def _requantize(em: Emitter, op: Op, x: Tensor, o: Tensor) -> str:
    """int8 -> int8 QUANTIZE: TFLite's Requantize, the multiplier scale_in / scale_out in double."""
    if len(x.scale) != 1 or len(o.scale) != 1:
        raise Unsupported(op.kind, "per-channel quantization")
    mult, shift = quant.quantize_multiplier(quant.f32(x.scale[0]) / quant.f32(o.scale[0]))
    lo = int(o.zero_point[0]) if op.kind == "RELU" else -128  # RELU: real 0 and up
    p = em.struct("eb_requant_params", "p", f"{{{x.size}, {int(x.zero_point[0])}, {int(o.zero_point[0])}, "
                                            f"{mult}, {shift}, {max(lo, -128)}, 127}}")
    return em.call("eb_requantize_s8", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0]))


def emit_activation(em: Emitter, op: Op, _add=None):
    """Standalone RELU and RELU6 (not fused into the op before them)."""
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    dtype = _kind(em, op, op.inputs[0], op.outputs[0])
    if dtype == "float32":
        hi = "6.0f, 1" if op.kind == "RELU6" else "0.0f, 0"  # RELU: no upper bound
        p = em.struct("eb_clamp_f32_params", "p", f"{{{x.size}, 0.0f, {hi}}}")
        return em.call("eb_clamp_f32", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0
    if op.kind == "RELU":
        return _requantize(em, op, x, o), 0
    zp = int(x.zero_point[0])
    quotient = float(np.float32(6.0) / np.float32(x.scale[0]))  # in float, as TFLite divides
    six = min(127, max(-128, quant.round_away(quotient) + zp))
    p = em.struct("eb_clamp_s8_params", "p", f"{{{x.size}, {zp}, {six}}}")
    return em.call("eb_clamp_s8", "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


def emit_quantize(em: Emitter, op: Op, _add=None):
    x, o = em.t(op.inputs[0]), em.t(op.outputs[0])
    pair = (x.dtype, o.dtype)
    if op.kind == "QUANTIZE" and pair == ("float32", "int8"):
        q, fn = o, "eb_quantize_f32_s8"
    elif op.kind == "DEQUANTIZE" and pair == ("int8", "float32"):
        q, fn = x, "eb_dequantize_s8_f32"
    elif op.kind == "QUANTIZE" and pair == ("int8", "int8"):
        return _requantize(em, op, x, o), 0
    else:
        raise Unsupported(op.kind, f"{x.dtype} -> {o.dtype}")
    if len(q.scale) != 1:
        raise Unsupported(op.kind, "per-channel quantization")
    p = em.struct("eb_quant_params", "p", f"{{{x.size}, {c_float(q.scale[0])}, {int(q.zero_point[0])}}}")
    return em.call(fn, "&" + p, em.ptr(op.inputs[0], True), em.ptr(op.outputs[0])), 0


EMITTERS = {
    "CONV_2D": emit_conv, "DEPTHWISE_CONV_2D": emit_depthwise, "FULLY_CONNECTED": emit_fully_connected,
    "AVERAGE_POOL_2D": emit_pool, "MAX_POOL_2D": emit_pool, "MEAN": emit_reduce, "SUM": emit_reduce,
    "ADD": emit_add, "PAD": emit_pad, "SOFTMAX": emit_softmax, "QUANTIZE": emit_quantize,
    "DEQUANTIZE": emit_quantize, "TRANSPOSE": emit_transpose, "RELU": emit_activation, "RELU6": emit_activation,
}
