/* edgebench firmware harness: runs the generated model on every input and measures it.
 *
 * Inputs come from the host through semihosting (inputs.bin in QEMU's working directory:
 * N inputs of EB_MODEL_INPUT_BYTES each); each output is appended to outputs.bin. Around every
 * inference and at each layer mark the harness reads the CMSDK APB timer 0, which QEMU clocks
 * from its virtual clock: with -icount the readings count executed instructions. The raw
 * readings go to stats.bin (little-endian uint32 words):
 *   header:  'EBS1', layers L, input bytes, output bytes, two back-to-back layer marks
 *   per inference: timer before model_invoke, the L+1 layer marks, timer after model_invoke,
 *                  then the same L+3 readings of the coarse timer (the dual timer divided by 256)
 *   trailer: 'EBND', stack peak in bytes, bytes of stack painted
 * The timer counts down. The two back-to-back marks give a mark's own cost, which the host
 * subtracts from the measured spans. On a real board replace the semihosting
 * I/O with the application's own input and output, and the timer with the board's (e.g. DWT). */
#include <stdint.h>
#include <string.h>
#include "model.h"

#ifndef EB_TIMER_BASE
#define EB_TIMER_BASE 0x40000000u /* CMSDK APB timer 0 on the MPS2 machines */
#endif
#define EB_TIMER_CTRL (*(volatile uint32_t *)(EB_TIMER_BASE + 0x0u))
#define EB_TIMER_VALUE (*(volatile uint32_t *)(EB_TIMER_BASE + 0x4u))
#define EB_TIMER_RELOAD (*(volatile uint32_t *)(EB_TIMER_BASE + 0x8u))
/* The CMSDK dual timer's first counter, 0x2000 above timer 0, divided by 256: a coarse count that
 * tells how many times the fine one wrapped around in a long span. */
#define EB_COARSE_LOAD (*(volatile uint32_t *)(EB_TIMER_BASE + 0x2000u))
#define EB_COARSE_VALUE (*(volatile uint32_t *)(EB_TIMER_BASE + 0x2004u))
#define EB_COARSE_CTRL (*(volatile uint32_t *)(EB_TIMER_BASE + 0x2008u))
#define EB_COARSE_ENABLE_32BIT_DIV256 0x8Au

#define EB_SYS_OPEN 0x01
#define EB_SYS_CLOSE 0x02
#define EB_SYS_WRITE0 0x04
#define EB_SYS_WRITE 0x05
#define EB_SYS_READ 0x06
#define EB_SYS_FLEN 0x0C
#define EB_MODE_RB 1
#define EB_MODE_WB 5
#define EB_STACK_PATTERN 0xDEADBEEFu

int eb_semihost(int op, void *arg);
void eb_exit(int code);
void eb_layer_mark(int layer);
extern uint32_t __stack_limit[], __stack_top[];

/* The harness's own buffers live in .eb_harness, a region outside the board's RAM (see linker.ld):
 * on a real board the input arrives from the application, not from a host file. */
#define EB_HARNESS __attribute__((section(".eb_harness"), aligned(16)))
static uint8_t eb_input[EB_MODEL_INPUT_BYTES] EB_HARNESS;
static uint8_t eb_output[EB_MODEL_OUTPUT_BYTES] EB_HARNESS;
static uint32_t eb_record[2 * (EB_MODEL_LAYERS + 3)] EB_HARNESS;
static uint32_t eb_header[6 + EB_MODEL_LAYERS + 3] EB_HARNESS; /* room for the marks' coarse readings */
static volatile uint32_t *eb_marks;

__attribute__((noinline)) void eb_layer_mark(int layer)
{
    eb_marks[layer] = EB_TIMER_VALUE;
    eb_marks[layer + EB_MODEL_LAYERS + 3] = EB_COARSE_VALUE;
}

static int eb_open(const char *name, int mode)
{
    uint32_t args[3] = {(uint32_t)name, (uint32_t)mode, (uint32_t)strlen(name)};
    return eb_semihost(EB_SYS_OPEN, args);
}

/* Semihosting READ and WRITE return the number of bytes NOT transferred. */
static int eb_transfer(int op, int fd, const void *buf, uint32_t len)
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return eb_semihost(op, args) == 0;
}

static void eb_fail(const char *message)
{
    eb_semihost(EB_SYS_WRITE0, (void *)message);
    eb_exit(2);
}

/* Fill the unused stack (from its lower bound up to just below this frame) with a pattern. */
__attribute__((noinline)) static uint32_t eb_paint_stack(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    volatile uint32_t *p = __stack_limit;
    while ((uint32_t)p < sp - 64u) {
        *p++ = EB_STACK_PATTERN;
    }
    return (uint32_t)p - (uint32_t)__stack_limit;
}

/* The stack's peak: from the top of the stack down to the lowest word no longer holding the pattern. */
static uint32_t eb_stack_peak(void)
{
    volatile uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == EB_STACK_PATTERN) {
        ++p;
    }
    return (uint32_t)__stack_top - (uint32_t)p;
}

static void eb_start_timer(void)
{
    EB_TIMER_CTRL = 0;
    EB_TIMER_RELOAD = 0xFFFFFFFFu;
    EB_TIMER_VALUE = 0xFFFFFFFFu;
    EB_TIMER_CTRL = 1;
    EB_COARSE_CTRL = 0;
    EB_COARSE_LOAD = 0xFFFFFFFFu;
    EB_COARSE_CTRL = EB_COARSE_ENABLE_32BIT_DIV256;
}

static void eb_write_header(int stats)
{
    uint32_t *header = eb_header;
    header[0] = 0x31534245u; /* "EBS1" */
    header[1] = EB_MODEL_LAYERS;
    header[2] = EB_MODEL_INPUT_BYTES;
    header[3] = EB_MODEL_OUTPUT_BYTES;
    eb_marks = &header[4];
    eb_layer_mark(0);
    eb_layer_mark(1);
    if (!eb_transfer(EB_SYS_WRITE, stats, header, 6 * sizeof(uint32_t))) {
        eb_fail("edgebench firmware: cannot write stats.bin\n");
    }
}

static void eb_run(int in, int out, int stats, uint32_t count)
{
    eb_marks = &eb_record[1];
    for (uint32_t n = 0; n < count; ++n) {
        if (!eb_transfer(EB_SYS_READ, in, eb_input, EB_MODEL_INPUT_BYTES)) {
            eb_fail("edgebench firmware: short read from inputs.bin\n");
        }
        eb_record[EB_MODEL_LAYERS + 3] = EB_COARSE_VALUE;
        eb_record[0] = EB_TIMER_VALUE;
        model_invoke(eb_input, eb_output);
        eb_record[EB_MODEL_LAYERS + 2] = EB_TIMER_VALUE;
        eb_record[2 * (EB_MODEL_LAYERS + 3) - 1] = EB_COARSE_VALUE;
        if (!eb_transfer(EB_SYS_WRITE, out, eb_output, EB_MODEL_OUTPUT_BYTES) ||
            !eb_transfer(EB_SYS_WRITE, stats, eb_record, sizeof eb_record)) {
            eb_fail("edgebench firmware: cannot write outputs.bin or stats.bin\n");
        }
    }
}

int main(void)
{
    uint32_t painted = eb_paint_stack();
    int in = eb_open("inputs.bin", EB_MODE_RB);
    int out = eb_open("outputs.bin", EB_MODE_WB);
    int stats = eb_open("stats.bin", EB_MODE_WB);
    if (in < 0 || out < 0 || stats < 0) {
        eb_fail("edgebench firmware: cannot open inputs.bin, outputs.bin or stats.bin\n");
    }
    uint32_t fd_arg = (uint32_t)in;
    int length = eb_semihost(EB_SYS_FLEN, &fd_arg);
    if (length < 0 || length % EB_MODEL_INPUT_BYTES != 0) {
        eb_fail("edgebench firmware: inputs.bin is not a whole number of inputs\n");
    }
    eb_start_timer();
    eb_write_header(stats);
    eb_run(in, out, stats, (uint32_t)length / EB_MODEL_INPUT_BYTES);
    uint32_t trailer[3] = {0x444E4245u /* "EBND" */, eb_stack_peak(), painted};
    eb_transfer(EB_SYS_WRITE, stats, trailer, sizeof trailer);
    for (int i = 0; i < 3; ++i) {
        fd_arg = (uint32_t)(i == 0 ? in : i == 1 ? out : stats);
        eb_semihost(EB_SYS_CLOSE, &fd_arg);
    }
    return 0;
}
