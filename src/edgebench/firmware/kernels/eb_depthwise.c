/* DEPTHWISE_CONV_2D (NHWC, batch 1), int8 and float32, with a depth multiplier.
 *
 * Output channel oc = ic * depth_mult + m reads input channel ic only:
 *   acc = sum over ky, kx of w[ky][kx][oc] * (in[iy][ix][ic] - in_zp)   (taps outside skipped)
 *   acc += bias[oc]; v = eb_mbqm(acc, mult[oc], shift[oc]) + out_zp, clamped (int8, as CONV_2D).
 * float32: the same sum in the same order (ky, kx), then + bias, then the activation clamp.
 */
#include "eb_kernels.h"

static int32_t dw_acc_s8(const eb_dw_s8_params *p, const int8_t *in, int32_t iy0, int32_t ix0, int32_t ic, int32_t oc) {
    const eb_window *w = &p->w;
    int32_t acc = 0, ky, kx;
    for (ky = 0; ky < w->k_h; ++ky) {
        const int32_t iy = iy0 + ky * w->dil_h;
        for (kx = 0; kx < w->k_w; ++kx) {
            const int32_t ix = ix0 + kx * w->dil_w;
            if (iy < 0 || iy >= w->in_h || ix < 0 || ix >= w->in_w) continue;
            acc += (int32_t)p->filter[(ky * w->k_w + kx) * w->out_c + oc]
                   * ((int32_t)in[(iy * w->in_w + ix) * w->in_c + ic] + p->q.in_offset);
        }
    }
    return acc;
}

void eb_dw_s8(const eb_dw_s8_params *p, const int8_t *in, int8_t *out) {
    const eb_window *w = &p->w;
    int32_t oy, ox, ic, m;
    for (oy = 0; oy < w->out_h; ++oy) {
        for (ox = 0; ox < w->out_w; ++ox) {
            for (ic = 0; ic < w->in_c; ++ic) {
                for (m = 0; m < p->depth_mult; ++m) {
                    const int32_t oc = ic * p->depth_mult + m;
                    const int32_t k = p->q.per_channel ? oc : 0;
                    int32_t acc = dw_acc_s8(p, in, oy * w->stride_h - w->pad_h, ox * w->stride_w - w->pad_w, ic, oc);
                    if (p->bias) acc += p->bias[oc];
                    acc = eb_mbqm(acc, p->q.mult[k], p->q.shift[k]) + p->q.out_offset;
                    out[(oy * w->out_w + ox) * w->out_c + oc] = (int8_t)eb_clamp(acc, p->q.act_min, p->q.act_max);
                }
            }
        }
    }
}

static float dw_acc_f32(const eb_dw_f32_params *p, const float *in, int32_t iy0, int32_t ix0, int32_t ic, int32_t oc) {
    const eb_window *w = &p->w;
    float acc = 0.0f;
    int32_t ky, kx;
    for (ky = 0; ky < w->k_h; ++ky) {
        const int32_t iy = iy0 + ky * w->dil_h;
        for (kx = 0; kx < w->k_w; ++kx) {
            const int32_t ix = ix0 + kx * w->dil_w;
            if (iy < 0 || iy >= w->in_h || ix < 0 || ix >= w->in_w) continue;
            acc += in[(iy * w->in_w + ix) * w->in_c + ic] * p->filter[(ky * w->k_w + kx) * w->out_c + oc];
        }
    }
    return acc;
}

void eb_dw_f32(const eb_dw_f32_params *p, const float *in, float *out) {
    const eb_window *w = &p->w;
    int32_t oy, ox, ic, m;
    for (oy = 0; oy < w->out_h; ++oy) {
        for (ox = 0; ox < w->out_w; ++ox) {
            for (ic = 0; ic < w->in_c; ++ic) {
                for (m = 0; m < p->depth_mult; ++m) {
                    const int32_t oc = ic * p->depth_mult + m;
                    float v = dw_acc_f32(p, in, oy * w->stride_h - w->pad_h, ox * w->stride_w - w->pad_w, ic, oc);
                    v += p->bias ? p->bias[oc] : 0.0f;
                    out[(oy * w->out_w + ox) * w->out_c + oc] = eb_clampf(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
