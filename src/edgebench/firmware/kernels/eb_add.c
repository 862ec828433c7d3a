/* ADD (elementwise, same shapes), int8 and float32; also the second half of a fused CONV_2D+ADD.
 *
 * int8 (TFLite's scheme): each operand is offset by its zero point, shifted left by 20 bits,
 * rescaled to half the larger input scale (eb_mbqm with a multiplier below one), the two are
 * summed, and the sum is rescaled to the output scale (eb_mbqm) and offset by the output zero
 * point, then clamped to the fused activation's range:
 *   a' = eb_mbqm((a - a_zp) << 20, a_mult, a_shift), b' likewise,
 *   v  = eb_mbqm(a' + b', out_mult, out_shift) + out_zp.
 * float32: v = clamp(a + b).
 * out may be the same memory as a or b (each index is read before it is written).
 */
#include "eb_kernels.h"

int8_t eb_add_s8_value(const eb_add_s8_params *p, int32_t a, int32_t b) {
    const int32_t sa = eb_mbqm((int32_t)((uint32_t)(a + p->a_offset) << p->left_shift), p->a_mult, p->a_shift);
    const int32_t sb = eb_mbqm((int32_t)((uint32_t)(b + p->b_offset) << p->left_shift), p->b_mult, p->b_shift);
    const int32_t v = eb_mbqm(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)eb_clamp(v, p->act_min, p->act_max);
}

void eb_add_s8(const eb_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) out[i] = eb_add_s8_value(p, a[i], b[i]);
}

void eb_add_f32(const eb_add_f32_params *p, const float *a, const float *b, float *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) out[i] = eb_clampf(a[i] + b[i], p->act_min, p->act_max);
}
