/* CONV_2D (NHWC, batch 1), int8 and float32, optionally fused with the ADD that consumes it.
 *
 * int8 (TFLite quantization spec, per-channel weights): for each output (y, x, oc)
 *   acc = sum over ky, kx, ic of w[oc][ky][kx][ic] * (in[iy][ix][g * icg + ic] - in_zp)
 *         where iy = y * stride_h - pad_h + ky * dil_h (likewise ix); taps outside the input are
 *         skipped (zero padding in the real domain);
 *   acc += bias[oc];
 *   v = eb_mbqm(acc, mult[oc], shift[oc]) + out_zp, clamped to the fused activation's range.
 * Grouped convolution: filter depth icg = in_c / groups; output channel oc reads group
 * oc / (out_c / groups).
 * float32: the same sum of products in the same order (ky, kx, ic), then + bias, then clamped.
 * Fused ADD (p->add not NULL): that value is then added to other[] at the same index with the
 * ADD's own arithmetic (eb_add_s8_value; float: sum and clamp). other[] may be the same memory as
 * out[]: each element of other is read just before the same element of out is written.
 */
#include "eb_kernels.h"

static int32_t conv_acc_s8(const eb_conv_s8_params *p, const int8_t *in, int32_t iy0, int32_t ix0, int32_t oc) {
    const eb_window *w = &p->w;
    const int32_t icg = w->in_c / p->groups;
    const int32_t c0 = (oc / (w->out_c / p->groups)) * icg;
    const int8_t *f = p->filter + oc * w->k_h * w->k_w * icg;
    int32_t acc = 0, ky, kx, ic;
    for (ky = 0; ky < w->k_h; ++ky) {
        const int32_t iy = iy0 + ky * w->dil_h;
        for (kx = 0; kx < w->k_w; ++kx) {
            const int32_t ix = ix0 + kx * w->dil_w;
            const int8_t *fk = f + (ky * w->k_w + kx) * icg;
            const int8_t *x;
            if (iy < 0 || iy >= w->in_h || ix < 0 || ix >= w->in_w) continue;
            x = in + (iy * w->in_w + ix) * w->in_c + c0;
            for (ic = 0; ic < icg; ++ic) acc += (int32_t)fk[ic] * ((int32_t)x[ic] + p->q.in_offset);
        }
    }
    return acc;
}

void eb_conv_s8(const eb_conv_s8_params *p, const int8_t *in, const int8_t *other, int8_t *out) {
    const eb_window *w = &p->w;
    int32_t oy, ox, oc;
    for (oy = 0; oy < w->out_h; ++oy) {
        for (ox = 0; ox < w->out_w; ++ox) {
            const int32_t base = (oy * w->out_w + ox) * w->out_c;
            for (oc = 0; oc < w->out_c; ++oc) {
                const int32_t k = p->q.per_channel ? oc : 0;
                int32_t acc = conv_acc_s8(p, in, oy * w->stride_h - w->pad_h, ox * w->stride_w - w->pad_w, oc);
                if (p->bias) acc += p->bias[oc];
                acc = eb_mbqm(acc, p->q.mult[k], p->q.shift[k]) + p->q.out_offset;
                acc = eb_clamp(acc, p->q.act_min, p->q.act_max);
                if (p->add) acc = eb_add_s8_value(p->add, acc, other[base + oc]);
                out[base + oc] = (int8_t)acc;
            }
        }
    }
}

static float conv_acc_f32(const eb_conv_f32_params *p, const float *in, int32_t iy0, int32_t ix0, int32_t oc) {
    const eb_window *w = &p->w;
    const int32_t icg = w->in_c / p->groups;
    const int32_t c0 = (oc / (w->out_c / p->groups)) * icg;
    const float *f = p->filter + oc * w->k_h * w->k_w * icg;
    float acc = 0.0f;
    int32_t ky, kx, ic;
    for (ky = 0; ky < w->k_h; ++ky) {
        const int32_t iy = iy0 + ky * w->dil_h;
        for (kx = 0; kx < w->k_w; ++kx) {
            const int32_t ix = ix0 + kx * w->dil_w;
            const float *fk = f + (ky * w->k_w + kx) * icg;
            const float *x;
            if (iy < 0 || iy >= w->in_h || ix < 0 || ix >= w->in_w) continue;
            x = in + (iy * w->in_w + ix) * w->in_c + c0;
            for (ic = 0; ic < icg; ++ic) acc += x[ic] * fk[ic];
        }
    }
    return acc;
}

void eb_conv_f32(const eb_conv_f32_params *p, const float *in, const float *other, float *out) {
    const eb_window *w = &p->w;
    int32_t oy, ox, oc;
    for (oy = 0; oy < w->out_h; ++oy) {
        for (ox = 0; ox < w->out_w; ++ox) {
            const int32_t base = (oy * w->out_w + ox) * w->out_c;
            for (oc = 0; oc < w->out_c; ++oc) {
                float v = conv_acc_f32(p, in, oy * w->stride_h - w->pad_h, ox * w->stride_w - w->pad_w, oc);
                v = eb_clampf(v + (p->bias ? p->bias[oc] : 0.0f), p->act_min, p->act_max);
                if (p->add) v = eb_clampf(v + other[base + oc], p->add->act_min, p->add->act_max);
                out[base + oc] = v;
            }
        }
    }
}
