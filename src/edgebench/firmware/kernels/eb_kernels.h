/* edgebench kernels: the layer parameters and the fixed-point helpers shared by the kernels.
 *
 * Quantization follows the TFLite quantization specification: real = scale * (q - zero_point),
 * int8 activations, int8 symmetric weights (per channel for convolutions), int32 bias with scale
 * input_scale * weight_scale. A real multiplier M (computed offline in double precision) is an
 * int32 significand m in [2^30, 2^31) and a power-of-two exponent s: M = m * 2^(s - 31).
 *
 * Rounding (the "double rounding" used by TFLite Micro's reference kernels):
 *   eb_mbqm(x, m, s) = eb_rdbp(eb_srdhm(x * 2^max(s,0), m), max(-s,0))
 *   eb_srdhm(a, b)   = the high 32 bits of 2*a*b, rounded to nearest, ties away from zero,
 *                      saturating the one overflow case (a = b = INT32_MIN);
 *   eb_rdbp(x, e)    = x / 2^e rounded to nearest, ties away from zero.
 * Right shifts of negative numbers are written portably (no implementation-defined behaviour),
 * products that may exceed 32 bits are done in 64 bits, and left shifts go through uint32_t.
 */
#ifndef EB_KERNELS_H
#define EB_KERNELS_H

#include <stdint.h>
#include <string.h>

/* ---- fixed-point helpers ---- */

/* Arithmetic shift right (floor division by 2^e), portable for negative x. */
static inline int32_t eb_asr(int32_t x, int e) {
    return x < 0 ? ~(int32_t)((uint32_t)~x >> e) : (int32_t)((uint32_t)x >> e);
}

/* x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31). */
static inline int32_t eb_rdbp(int32_t x, int e) {
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return eb_asr(x, e) + (remainder > threshold ? 1 : 0);
}

/* round(a * b / 2^31), ties away from zero; saturates a = b = INT32_MIN to INT32_MAX. */
static inline int32_t eb_srdhm(int32_t a, int32_t b) {
    int64_t ab;
    if (a == b && a == INT32_MIN) return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    if (ab >= 0) return (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    /* truncating division of a negative number by 2^31 */
    return (int32_t)-((-(ab + 1 - ((int64_t)1 << 30))) >> 31);
}

/* x * 2^e with saturation (0 <= e < 31). */
static inline int32_t eb_sat_shl(int32_t x, int e) {
    const int32_t threshold = (int32_t)((((uint32_t)1) << (31 - e)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* x * m * 2^(s - 31), rounded as TFLite Micro's MultiplyByQuantizedMultiplier. */
static inline int32_t eb_mbqm(int32_t x, int32_t m, int32_t s) {
    const int left = s > 0 ? (int)s : 0;
    const int right = s > 0 ? 0 : (int)-s;
    return eb_rdbp(eb_srdhm((int32_t)((uint32_t)x << left), m), right);
}

static inline int32_t eb_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* min(max(v, lo), hi) with std::max / std::min's tie rules (keeps the sign of a zero v). */
static inline float eb_clampf(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    return hi < v ? hi : v;
}

/* ---- layer parameters ---- */

/* The sliding-window geometry shared by convolutions and pooling (NHWC, batch 1). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;        /* padding before (top, left) */
} eb_window;

/* int8 requantization of an int32 accumulator. */
typedef struct {
    int32_t in_offset;           /* -input zero point */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* activation clamp in the output's integer domain */
    int32_t per_channel;         /* 1: mult/shift per output channel; 0: one value */
    const int32_t *mult;
    const int32_t *shift;
} eb_requant;

/* int8 ADD: a and b are rescaled to a common scale (left_shift 20), summed, requantized. */
typedef struct {
    int32_t n;                   /* elements (standalone ADD) */
    int32_t a_offset, a_mult, a_shift;
    int32_t b_offset, b_mult, b_shift;
    int32_t left_shift;
    int32_t out_mult, out_shift, out_offset;
    int32_t act_min, act_max;
} eb_add_s8_params;

typedef struct {
    int32_t n;
    float act_min, act_max;
} eb_add_f32_params;

typedef struct {
    eb_window w;
    int32_t groups;              /* 1 for an ordinary convolution */
    eb_requant q;
    const int8_t *filter;        /* [out_c][k_h][k_w][in_c / groups] */
    const int32_t *bias;         /* [out_c] or NULL */
    const eb_add_s8_params *add; /* fused ADD (the conv value is operand a) or NULL */
} eb_conv_s8_params;

typedef struct {
    eb_window w;
    int32_t groups;
    float act_min, act_max;
    const float *filter;
    const float *bias;
    const eb_add_f32_params *add;
} eb_conv_f32_params;

typedef struct {
    eb_window w;                 /* out_c = in_c * depth_mult */
    int32_t depth_mult;
    eb_requant q;
    const int8_t *filter;        /* [k_h][k_w][out_c] */
    const int32_t *bias;
} eb_dw_s8_params;

typedef struct {
    eb_window w;
    int32_t depth_mult;
    float act_min, act_max;
    const float *filter;
    const float *bias;
} eb_dw_f32_params;

typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t w_offset;            /* -weights zero point */
    eb_requant q;
    const int8_t *filter;        /* [out_depth][in_depth] */
    const int32_t *bias;
} eb_fc_s8_params;

typedef struct {
    int32_t batches, in_depth, out_depth;
    float act_min, act_max;
    const float *filter;
    const float *bias;
} eb_fc_f32_params;

typedef struct {
    eb_window w;
    int32_t act_min, act_max;
} eb_pool_s8_params;

typedef struct {
    eb_window w;
    float act_min, act_max;
} eb_pool_f32_params;

/* MEAN / SUM over any of 4 (leading-1 extended) dimensions. */
typedef struct {
    int32_t dims[4];
    int32_t reduce[4];           /* 1: the axis is reduced */
    int32_t in_zp, out_zp;       /* int8 only */
    int32_t mult, shift;         /* int8 only; MEAN's 1/N is folded in */
    int32_t mean;                /* float only: divide by the count */
} eb_reduce_params;

typedef struct {
    int32_t dims[4];
    int32_t before[4], after[4];
    int32_t elem_bytes;
    uint8_t fill;                /* int8: the zero point's byte; float: 0 */
} eb_pad_params;

typedef struct {
    int32_t dims[4];             /* the input's dimensions, leading 1s added up to 4-D */
    int32_t perm[4];             /* output dimension d is input dimension perm[d] */
    int32_t elem_bytes;
} eb_transpose_params;

typedef struct {
    int32_t n;
    int32_t in_zero_point, out_zero_point;
    int32_t mult, shift;         /* scale_in / scale_out = mult * 2^(shift - 31) */
    int32_t act_min, act_max;    /* QUANTIZE: -128, 127; RELU: the output zero point, 127 */
} eb_requant_params;

typedef struct {
    int32_t n;
    int32_t lo, hi;              /* RELU6 int8: the input's zero point and 6.0 quantized */
} eb_clamp_s8_params;

typedef struct {
    int32_t n;
    float lo, hi;
    int32_t has_hi;              /* RELU6: 1; RELU: 0 (no upper bound) */
} eb_clamp_f32_params;

typedef struct {
    int32_t outer, depth;
    const int32_t *exp_lut;      /* [256]: exp((x - max) * beta) in Q0.31, index max - x */
} eb_softmax_s8_params;

typedef struct {
    int32_t outer, depth;
    float beta;
} eb_softmax_f32_params;

typedef struct {
    int32_t n;
    float scale;
    int32_t zero_point;
} eb_quant_params;

/* ---- kernels ---- */
void eb_conv_s8(const eb_conv_s8_params *p, const int8_t *in, const int8_t *other, int8_t *out);
void eb_conv_f32(const eb_conv_f32_params *p, const float *in, const float *other, float *out);
void eb_dw_s8(const eb_dw_s8_params *p, const int8_t *in, int8_t *out);
void eb_dw_f32(const eb_dw_f32_params *p, const float *in, float *out);
void eb_fc_s8(const eb_fc_s8_params *p, const int8_t *in, int8_t *out);
void eb_fc_f32(const eb_fc_f32_params *p, const float *in, float *out);
void eb_avgpool_s8(const eb_pool_s8_params *p, const int8_t *in, int8_t *out);
void eb_maxpool_s8(const eb_pool_s8_params *p, const int8_t *in, int8_t *out);
void eb_avgpool_f32(const eb_pool_f32_params *p, const float *in, float *out);
void eb_maxpool_f32(const eb_pool_f32_params *p, const float *in, float *out);
void eb_reduce_s8(const eb_reduce_params *p, const int8_t *in, int8_t *out);
void eb_reduce_f32(const eb_reduce_params *p, const float *in, float *out);
int8_t eb_add_s8_value(const eb_add_s8_params *p, int32_t a, int32_t b);
void eb_add_s8(const eb_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out);
void eb_add_f32(const eb_add_f32_params *p, const float *a, const float *b, float *out);
void eb_pad(const eb_pad_params *p, const void *in, void *out);
void eb_transpose(const eb_transpose_params *p, const void *in, void *out);
void eb_softmax_s8(const eb_softmax_s8_params *p, const int8_t *in, int8_t *out);
void eb_softmax_f32(const eb_softmax_f32_params *p, const float *in, float *out);
void eb_quantize_f32_s8(const eb_quant_params *p, const float *in, int8_t *out);
void eb_dequantize_s8_f32(const eb_quant_params *p, const int8_t *in, float *out);
void eb_requantize_s8(const eb_requant_params *p, const int8_t *in, int8_t *out);
void eb_clamp_s8(const eb_clamp_s8_params *p, const int8_t *in, int8_t *out);
void eb_clamp_f32(const eb_clamp_f32_params *p, const float *in, float *out);

#endif /* EB_KERNELS_H */
