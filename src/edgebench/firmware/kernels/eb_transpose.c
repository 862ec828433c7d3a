/* TRANSPOSE (up to 4-D), int8 and float32 alike: out[i0][i1][i2][i3] = in[...] with input index
 * perm[d] taking output index d. Pure data movement: no arithmetic, so bit-exact by construction.
 */
#include "eb_kernels.h"

void eb_transpose(const eb_transpose_params *p, const void *in, void *out) {
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    int32_t stride[4], od[4], os[4], i[4], d;
    stride[3] = 1;
    for (d = 2; d >= 0; --d) stride[d] = stride[d + 1] * p->dims[d + 1];
    for (d = 0; d < 4; ++d) {
        od[d] = p->dims[p->perm[d]];
        os[d] = stride[p->perm[d]];   /* input stride of output dimension d */
    }
    for (i[0] = 0; i[0] < od[0]; ++i[0]) {
        for (i[1] = 0; i[1] < od[1]; ++i[1]) {
            for (i[2] = 0; i[2] < od[2]; ++i[2]) {
                for (i[3] = 0; i[3] < od[3]; ++i[3]) {
                    const int32_t s = i[0] * os[0] + i[1] * os[1] + i[2] * os[2] + i[3] * os[3];
                    memcpy(dst, src + s * p->elem_bytes, (size_t)p->elem_bytes);
                    dst += p->elem_bytes;
                }
            }
        }
    }
}
