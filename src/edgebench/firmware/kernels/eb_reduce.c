/* MEAN and SUM over any set of axes of a (up to) 4-D tensor, int8 and float32.
 *
 * Each output element gathers the input elements that differ from it only on reduced axes, in
 * row-major order (the order TFLite's reference reduction adds them in).
 * int8: s = sum of the integers - in_zp * n (n = elements per output), then
 *   v = eb_mbqm(s, mult, shift) + out_zp, clamped to [-128, 127]; mult/shift encode
 *   in_scale / out_scale, and for MEAN also 1/n (folded offline, as TFLite Micro does:
 *   shift' = min(floor(log2 n), 32, 31 + shift), mult' = (mult << shift') / n, shift -= shift').
 * float32: the float sum, divided by n (float division) for MEAN.
 */
#include "eb_kernels.h"

/* Offsets of the input elements feeding output element `o` are visited by walking the reduced
 * axes as an odometer over the 4 extended dimensions. */
typedef struct { int32_t n_out, n_red; int32_t stride[4]; } eb_reduce_geom;

static eb_reduce_geom reduce_geom(const eb_reduce_params *p) {
    eb_reduce_geom g;
    int32_t i;
    g.n_out = 1;
    g.n_red = 1;
    g.stride[3] = 1;
    for (i = 2; i >= 0; --i) g.stride[i] = g.stride[i + 1] * p->dims[i + 1];
    for (i = 0; i < 4; ++i) {
        if (p->reduce[i]) g.n_red *= p->dims[i];
        else g.n_out *= p->dims[i];
    }
    return g;
}

/* The input offset of the first element of output o (its kept coordinates, reduced ones 0). */
static int32_t reduce_base(const eb_reduce_params *p, const eb_reduce_geom *g, int32_t o) {
    int32_t i, off = 0;
    for (i = 3; i >= 0; --i) {
        if (p->reduce[i]) continue;
        off += (o % p->dims[i]) * g->stride[i];
        o /= p->dims[i];
    }
    return off;
}

/* The offset (from the base) of the r-th reduced element in row-major order. */
static int32_t reduce_step(const eb_reduce_params *p, const eb_reduce_geom *g, int32_t r) {
    int32_t i, off = 0;
    for (i = 3; i >= 0; --i) {
        if (!p->reduce[i]) continue;
        off += (r % p->dims[i]) * g->stride[i];
        r /= p->dims[i];
    }
    return off;
}

void eb_reduce_s8(const eb_reduce_params *p, const int8_t *in, int8_t *out) {
    const eb_reduce_geom g = reduce_geom(p);
    int32_t o, r;
    for (o = 0; o < g.n_out; ++o) {
        const int32_t base = reduce_base(p, &g, o);
        int32_t sum = 0;
        for (r = 0; r < g.n_red; ++r) sum += in[base + reduce_step(p, &g, r)];
        sum -= p->in_zp * g.n_red;
        out[o] = (int8_t)eb_clamp(eb_mbqm(sum, p->mult, p->shift) + p->out_zp, -128, 127);
    }
}

void eb_reduce_f32(const eb_reduce_params *p, const float *in, float *out) {
    const eb_reduce_geom g = reduce_geom(p);
    int32_t o, r;
    for (o = 0; o < g.n_out; ++o) {
        const int32_t base = reduce_base(p, &g, o);
        float sum = 0.0f;
        for (r = 0; r < g.n_red; ++r) sum += in[base + reduce_step(p, &g, r)];
        out[o] = p->mean ? sum / (float)g.n_red : sum;
    }
}
