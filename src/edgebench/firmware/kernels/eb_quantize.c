/* QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), per tensor.
 *
 * QUANTIZE: q = round(x / scale) + zero_point (float division; round half away from zero, as
 * roundf), clamped to [-128, 127]. The rounded value is bounded before the integer conversion,
 * so out-of-range and infinite inputs saturate instead of overflowing.
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
