/* PAD (up to 4-D, constant padding), int8 and float32 alike: a byte copy of the input into the
 * middle of the output, the rest filled with the padding value: the output zero point for int8
 * (real 0.0), 0.0f (all-zero bytes) for float32.
 */
#include "eb_kernels.h"

void eb_pad(const eb_pad_params *p, const void *in, void *out) {
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    int32_t od[4], i, a, b, c;
    for (i = 0; i < 4; ++i) od[i] = p->before[i] + p->dims[i] + p->after[i];
    memset(dst, p->fill, (size_t)od[0] * od[1] * od[2] * od[3] * p->elem_bytes);
    for (a = 0; a < p->dims[0]; ++a) {
        for (b = 0; b < p->dims[1]; ++b) {
            for (c = 0; c < p->dims[2]; ++c) {
                const int32_t o = (((a + p->before[0]) * od[1] + b + p->before[1]) * od[2] + c + p->before[2]) * od[3]
                                  + p->before[3];
                const int32_t s = ((a * p->dims[1] + b) * p->dims[2] + c) * p->dims[3];
                memcpy(dst + o * p->elem_bytes, src + s * p->elem_bytes, (size_t)p->dims[3] * p->elem_bytes);
            }
        }
    }
}
