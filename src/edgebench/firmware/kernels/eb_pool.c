/* AVERAGE_POOL_2D and MAX_POOL_2D (NHWC, batch 1), int8 and float32.
 *
 * The window of output (y, x) covers input rows y * stride_h - pad_h + [0, k_h) (likewise
 * columns), cut to the input: padded taps are not counted.
 * int8 average (input and output share scale and zero point): sum of the taps' integers, divided
 * by their count n rounding half away from zero: (sum + n/2) / n if sum > 0, else (sum - n/2) / n
 * (C division truncates), then clamped to the fused activation's range.
 * int8 max: the largest tap, clamped. float32: sum / n (float division) or the max, clamped.
 */
#include "eb_kernels.h"

typedef struct { int32_t y0, y1, x0, x1; } eb_span;

static eb_span window_span(const eb_window *w, int32_t oy, int32_t ox) {
    eb_span s;
    const int32_t iy = oy * w->stride_h - w->pad_h, ix = ox * w->stride_w - w->pad_w;
    s.y0 = iy < 0 ? 0 : iy;
    s.y1 = iy + w->k_h < w->in_h ? iy + w->k_h : w->in_h;
    s.x0 = ix < 0 ? 0 : ix;
    s.x1 = ix + w->k_w < w->in_w ? ix + w->k_w : w->in_w;
    return s;
}

static int32_t pool_s8(const eb_pool_s8_params *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c, int is_max) {
    const eb_window *w = &p->w;
    const eb_span s = window_span(w, oy, ox);
    int32_t acc = is_max ? -128 : 0, n = 0, y, x;
    for (y = s.y0; y < s.y1; ++y) {
        for (x = s.x0; x < s.x1; ++x) {
            const int32_t v = in[(y * w->in_w + x) * w->in_c + c];
            if (is_max) acc = v > acc ? v : acc;
            else acc += v;
            ++n;
        }
    }
    if (!is_max && n > 0) acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
    return eb_clamp(acc, p->act_min, p->act_max);
}

static void pool_s8_all(const eb_pool_s8_params *p, const int8_t *in, int8_t *out, int is_max) {
    const eb_window *w = &p->w;
    int32_t oy, ox, c;
    for (oy = 0; oy < w->out_h; ++oy)
        for (ox = 0; ox < w->out_w; ++ox)
            for (c = 0; c < w->out_c; ++c)
                out[(oy * w->out_w + ox) * w->out_c + c] = (int8_t)pool_s8(p, in, oy, ox, c, is_max);
}

void eb_avgpool_s8(const eb_pool_s8_params *p, const int8_t *in, int8_t *out) { pool_s8_all(p, in, out, 0); }
void eb_maxpool_s8(const eb_pool_s8_params *p, const int8_t *in, int8_t *out) { pool_s8_all(p, in, out, 1); }

static float pool_f32(const eb_pool_f32_params *p, const float *in, int32_t oy, int32_t ox, int32_t c, int is_max) {
    const eb_window *w = &p->w;
    const eb_span s = window_span(w, oy, ox);
    float acc = is_max ? -3.40282347e+38f : 0.0f;
    int32_t n = 0, y, x;
    for (y = s.y0; y < s.y1; ++y) {
        for (x = s.x0; x < s.x1; ++x) {
            const float v = in[(y * w->in_w + x) * w->in_c + c];
            if (is_max) acc = acc < v ? v : acc;
            else acc += v;
            ++n;
        }
    }
    if (!is_max && n > 0) acc = acc / (float)n;
    return eb_clampf(acc, p->act_min, p->act_max);
}

static void pool_f32_all(const eb_pool_f32_params *p, const float *in, float *out, int is_max) {
    const eb_window *w = &p->w;
    int32_t oy, ox, c;
    for (oy = 0; oy < w->out_h; ++oy)
        for (ox = 0; ox < w->out_w; ++ox)
            for (c = 0; c < w->out_c; ++c)
                out[(oy * w->out_w + ox) * w->out_c + c] = pool_f32(p, in, oy, ox, c, is_max);
}

void eb_avgpool_f32(const eb_pool_f32_params *p, const float *in, float *out) { pool_f32_all(p, in, out, 0); }
void eb_maxpool_f32(const eb_pool_f32_params *p, const float *in, float *out) { pool_f32_all(p, in, out, 1); }
