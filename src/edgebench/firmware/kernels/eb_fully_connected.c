/* FULLY_CONNECTED, int8 and float32: out[b][o] = sum_d w[o][d] * in[b][d] (+ bias[o]).
 *
 * int8: acc = sum_d (w[o][d] - w_zp) * (in[b][d] - in_zp) + bias[o];
 *       v = eb_mbqm(acc, mult, shift) + out_zp (one multiplier, or one per output channel),
 *       clamped to the fused activation's range.
 * float32: the sum in order of d, then + bias, then the activation clamp.
 * The input is read as [batches][in_depth] whatever its shape (keep_num_dims only changes the
 * output tensor's shape, not its bytes).
 */
#include "eb_kernels.h"

void eb_fc_s8(const eb_fc_s8_params *p, const int8_t *in, int8_t *out) {
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->in_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *f = p->filter + o * p->in_depth;
            const int32_t k = p->q.per_channel ? o : 0;
            int32_t acc = 0;
            for (d = 0; d < p->in_depth; ++d)
                acc += ((int32_t)f[d] + p->w_offset) * ((int32_t)x[d] + p->q.in_offset);
            if (p->bias) acc += p->bias[o];
            acc = eb_mbqm(acc, p->q.mult[k], p->q.shift[k]) + p->q.out_offset;
            out[b * p->out_depth + o] = (int8_t)eb_clamp(acc, p->q.act_min, p->q.act_max);
        }
    }
}

void eb_fc_f32(const eb_fc_f32_params *p, const float *in, float *out) {
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const float *x = in + b * p->in_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const float *f = p->filter + o * p->in_depth;
            float acc = 0.0f;
            for (d = 0; d < p->in_depth; ++d) acc += x[d] * f[d];
            acc += p->bias ? p->bias[o] : 0.0f;
            out[b * p->out_depth + o] = eb_clampf(acc, p->act_min, p->act_max);
        }
    }
}
