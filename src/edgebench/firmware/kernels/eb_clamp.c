/* Standalone activations that are a clamp: RELU6 on int8 (TFLite keeps the input's quantization:
 * clamp to [zero point, 6.0 quantized as round(6 / scale) + zero point]), RELU and RELU6 on float32
 * (clamp to [0, inf) or [0, 6] with std::max / std::min's tie rules).
 */
#include "eb_kernels.h"

void eb_clamp_s8(const eb_clamp_s8_params *p, const int8_t *in, int8_t *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) out[i] = (int8_t)eb_clamp(in[i], p->lo, p->hi);
}

void eb_clamp_f32(const eb_clamp_f32_params *p, const float *in, float *out) {
    int32_t i;
    for (i = 0; i < p->n; ++i) {
        const float v = in[i] < p->lo ? p->lo : in[i];
        out[i] = p->has_hi && p->hi < v ? p->hi : v;
    }
}
