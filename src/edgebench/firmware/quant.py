"""Offline quantization arithmetic for the C generator (float64, the formulas TFLite Micro's
kernels use when they prepare a layer), so that the C kernels only ever see integer constants.

- quantize_multiplier: a real multiplier M as (m, s), m in [2^30, 2^31), M = m * 2^(s - 31)
  (frexp, the significand rounded half away from zero to 31 bits).
- activation_range: the fused activation's clamp in the output's integer domain (float32 division,
  rounded half away from zero).
- softmax_exp_table: the int8 softmax's exponentials of (x - max) as Q0.31, by the fixed-point
  algorithm (input rescaled to Q5.26, then exp on negative values: a Taylor polynomial on
  [-1/4, 0) and a barrel of exp(-2^k) factors).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def round_away(x: float) -> int:
    """std::round: to nearest, ties away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(m: float) -> tuple[int, int]:
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    fixed = round_away(q * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(fixed), int(shift)


def f32(x) -> float:
    """A float32 value as the exact Python float (double) it converts to."""
    return float(np.float32(x))


def activation_range(act: int, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127):
    """(act_min, act_max) for fused activation act (0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6)."""
    def q(v: float) -> int:
        return int(zero_point) + round_away(float(np.float32(v) / np.float32(scale)))
    if act == 0:
        return qmin, qmax
    if act == 1:
        return max(qmin, q(0.0)), qmax
    if act == 3:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == 2:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(act)


def float_activation_range(act: int) -> tuple[float, float]:
    big = float(np.finfo(np.float32).max)
    return {0: (-big, big), 1: (0.0, big), 2: (-1.0, 1.0), 3: (0.0, 6.0)}[act]


# ---- the int32 fixed-point primitives, with C's semantics ----

def wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    return v >> 31 if v >= 0 else -((-v) >> 31)


def rdbp(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def sat_shl(x: int, e: int) -> int:
    threshold = (1 << (31 - e)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << e


def mbqm(x: int, m: int, s: int) -> int:
    left, right = max(s, 0), max(-s, 0)
    return rdbp(srdhm(wrap32(x << left), m), right)


def _exp_quarter(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    t = rdbp(wrap32(srdhm(wrap32(rdbp(x4, 2) + x3), 715827883) + x2), 1)
    return wrap32(1895147668 + srdhm(1895147668, wrap32(x + t)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))


def exp_on_negative_values_q5(a: int) -> int:
    """exp(a) for a <= 0 given in Q5.26, as Q0.31."""
    quarter = 1 << 24
    a_mod = wrap32((a & (quarter - 1)) - quarter)
    result = _exp_quarter(sat_shl(a_mod, 5))
    remainder = wrap32(a_mod - a)
    for exponent, multiplier in _BARREL:
        if remainder & (1 << (26 + exponent)):
            result = srdhm(result, multiplier)
    return INT32_MAX if a == 0 else result


def softmax_exp_table(input_scale: float, beta: float) -> list[int]:
    """exp_lut[d] for d = max - x in 0..255 (0 below the input radius, as the reference skips)."""
    real = min(beta * input_scale * (1 << (31 - 5)), (1 << 31) - 1.0)
    mult, left_shift = quantize_multiplier(real)
    radius = math.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left_shift))
    table = []
    for d in range(256):
        diff = -d
        if diff < -radius:
            table.append(0)
            continue
        rescaled = srdhm(wrap32(diff * (1 << left_shift)), mult)
        table.append(exp_on_negative_values_q5(rescaled))
    return table


def mean_multiplier(mult: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite Micro's folding of 1/count into an int8 MEAN's output multiplier."""
    s = min(count.bit_length() - 1, 32, 31 + shift)
    return int((mult << s) // count), shift - s
