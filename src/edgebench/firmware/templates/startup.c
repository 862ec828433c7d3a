/* edgebench firmware: startup for a Cortex-M core (vector table, reset, faults).
 * The reset handler enables the FPU where the build uses one, copies .data from flash to RAM,
 * zeroes .bss and calls main; main's return value ends the program. A fault ends QEMU through
 * semihosting with a non-zero exit status (3: hard fault, 4: another fault) after naming it. */
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], __stack_top[];
int main(void);
void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void eb_exit(int code);
int eb_semihost(int op, void *arg);

#define EB_SYS_WRITE0 0x04
#define EB_SYS_EXIT_EXTENDED 0x20
#define EB_ADP_STOPPED_APPLICATION_EXIT 0x20026

__attribute__((section(".isr_vector"), used))
void (*const eb_vectors[16])(void) = {
    (void (*)(void))__stack_top, /* initial stack pointer: the end of RAM */
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler,
    Default_Handler,   /* MemManage */
    Default_Handler,   /* BusFault */
    Default_Handler,   /* UsageFault */
    Default_Handler,   /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Default_Handler,   /* SVCall */
    Default_Handler,   /* DebugMonitor */
    0,
    Default_Handler,   /* PendSV */
    Default_Handler,   /* SysTick */
};

/* A semihosting call: operation in r0, argument in r1, `bkpt 0xab`; the result comes back in r0. */
int eb_semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* SYS_EXIT_EXTENDED: QEMU exits with `code` as its own exit status. */
void eb_exit(int code)
{
    uint32_t block[2] = {EB_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    eb_semihost(EB_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU) before any floating-point instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = _sidata, *dst = _sdata;
    while (dst < _edata) {
        *dst++ = *src++;
    }
    for (dst = _sbss; dst < _ebss; ++dst) {
        *dst = 0;
    }
    eb_exit(main());
}

void HardFault_Handler(void)
{
    eb_semihost(EB_SYS_WRITE0, (void *)"edgebench firmware: hard fault\n");
    eb_exit(3);
}

void Default_Handler(void)
{
    eb_semihost(EB_SYS_WRITE0, (void *)"edgebench firmware: unexpected exception or fault\n");
    eb_exit(4);
}
