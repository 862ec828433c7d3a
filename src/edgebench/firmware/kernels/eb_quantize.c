/* QUANTIZE (float32 -> int8, and int8 -> int8: requantize) and DEQUANTIZE (int8 -> float32), per
 * tensor.
 *
 * QUANTIZE: q = round(x / scale) + zero_point (float division; round half away from zero, as
 * roundf), clamped to [-128, 127]. The rounded value is bounded before the integer conversion,
 * so out-of-range and infinite inputs saturate instead of overflowing.
 * Requantize (int8 -> int8, TFLite's Requantize): q_out = eb_mbqm(q_in - zp_in, m, s) + zp_out,
 * clamped to [act_min, act_max], where m * 2^(s - 31) = scale_in / scale_out (computed offline in double).
 * A standalone RELU (int8) is the same with act_min = the output zero point (real 0).
 * DEQUANTIZE: x = scale * (q - zero_point), one float multiplication (the product of a float and
 * a 9-bit integer rounded once, as the double-precision product TFLite rounds to float).
 */
#include <math.h>
#include "eb_kernels.h"

void eb_quantize_f32_s8(const eb_quant_params *p, const float *in, int8_t *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) {
        float r = roundf(in[i] / p->scale);
        r = r >= -1024.0f ? r : -1024.0f;   /* also maps NaN to the low end */
        r = r > 1024.0f ? 1024.0f : r;
        out[i] = (int8_t)eb_clamp((int32_t)r + p->zero_point, -128, 127);
    }
}

void eb_dequantize_s8_f32(const eb_quant_params *p, const int8_t *in, float *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) out[i] = p->scale * (float)((int32_t)in[i] - p->zero_point);
}

void eb_requantize_s8(const eb_requant_params *p, const int8_t *in, int8_t *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) {
        const int32_t v = eb_mbqm((int32_t)in[i] - p->in_zero_point, p->mult, p->shift) + p->out_zero_point;
        out[i] = (int8_t)eb_clamp(v, p->act_min, p->act_max);
    }
}
