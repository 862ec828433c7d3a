/* SOFTMAX over the last axis, int8 -> int8 (output scale 1/256, zero point -128) and float32.
 *
 * int8, TFLite's fixed-point scheme: for each row, d = x - max(row) (in [-255, 0]).
 * e(d) = exp(d * in_scale * beta) as a Q0.31 number, computed offline (double checked against the
 * integer algorithm: d rescaled by the softmax input multiplier to Q5.26, then the fixed-point
 * exp_on_negative_values) and stored in exp_lut[-d]; e = 0 where d is below the cut-off diff_min.
 *   sum = sum over the row of eb_rdbp(e(d), 12)          (Q12.19 accumulator)
 *   r   = 1 / sum as Q0.31 with num_bits_over_unit k     (eb_reciprocal: Newton-Raphson, 3 steps)
 *   out = eb_rdbp(eb_srdhm(r, e(d)), k + 31 - 8) - 128, clamped to [-128, 127].
 * float32: e = expf((x - max) * beta), out = e / sum(e), in the row's order.
 */
#include <math.h>
#include "eb_kernels.h"

static int eb_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* 1 / (1 + a) for a in [0, 1) (Q0.31 in and out): x = 48/17 - 32/17 * h with h = (1 + a) / 2,
 * then three Newton-Raphson steps x += x * (1 - h * x), in Q2.29; the result is x / 2. */
static int32_t eb_one_over_one_plus(int32_t a) {
    const int32_t one_q2 = (int32_t)1 << 29;
    const int64_t s = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + eb_srdhm(half_denominator, -1010580540);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = one_q2 - eb_srdhm(half_denominator, x);
        x = x + eb_sat_shl(eb_srdhm(x, one_minus), 2);
    }
    return eb_sat_shl(x, 1);
}

/* 1 / sum for a positive Q12.19 sum: the Q0.31 reciprocal of sum scaled into [1, 2), and the
 * number of bits the sum had over one. */
static int32_t eb_reciprocal(int32_t sum, int *bits_over_unit) {
    const int headroom_plus_one = eb_clz32((uint32_t)sum);
    const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u);
    *bits_over_unit = 12 - headroom_plus_one;
    return eb_one_over_one_plus(shifted_minus_one);
}

void eb_softmax_s8(const eb_softmax_s8_params *p, const int8_t *in, int8_t *out) {
    int32_t r, c;
    for (r = 0; r < p->outer; ++r) {
        const int8_t *x = in + r * p->depth;
        int8_t *y = out + r * p->depth;
        int32_t mx = -128, sum = 0, scale;
        int bits;
        for (c = 0; c < p->depth; ++c) mx = x[c] > mx ? x[c] : mx;
        for (c = 0; c < p->depth; ++c) sum += eb_rdbp(p->exp_lut[mx - x[c]], 12);
        scale = eb_reciprocal(sum, &bits);
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = eb_rdbp(eb_srdhm(scale, p->exp_lut[mx - x[c]]), bits + 31 - 8) - 128;
            y[c] = (int8_t)eb_clamp(v, -128, 127);
        }
    }
}

void eb_softmax_f32(const eb_softmax_f32_params *p, const float *in, float *out) {
    int32_t r, c;
    for (r = 0; r < p->outer; ++r) {
        const float *x = in + r * p->depth;
        float *y = out + r * p->depth;
        float mx = -3.40282347e+38f, sum = 0.0f;
        for (c = 0; c < p->depth; ++c) mx = mx < x[c] ? x[c] : mx;
        for (c = 0; c < p->depth; ++c) {
            y[c] = expf((x[c] - mx) * p->beta);
            sum += y[c];
        }
        for (c = 0; c < p->depth; ++c) y[c] = y[c] / sum;
    }
}
