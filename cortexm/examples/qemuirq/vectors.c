//go:build tinygo && (lm3s6965 || nrf51qemu)

// The vector table of a Cortex-M with 32 peripheral interrupts (IRQ0 to
// IRQ31), enough for the lm3s6965's Timer0A (IRQ 19) and the nRF51's SWI0
// (IRQ 20). Every handler is weak: the program defines the ones it uses.

extern char _stack_top[];
void Reset_Handler(void);

static void Default_Handler(void) {
	for (;;) {
		__asm__ volatile("wfi");
	}
}

#define HANDLER(name) void name(void) __attribute__((weak, alias("Default_Handler")))

HANDLER(NMI_Handler);
HANDLER(HardFault_Handler);
HANDLER(MemoryManagement_Handler);
HANDLER(BusFault_Handler);
HANDLER(UsageFault_Handler);
HANDLER(SVC_Handler);
HANDLER(DebugMon_Handler);
HANDLER(PendSV_Handler);
HANDLER(SysTick_Handler);
HANDLER(IRQ0_Handler);
HANDLER(IRQ1_Handler);
HANDLER(IRQ2_Handler);
HANDLER(IRQ3_Handler);
HANDLER(IRQ4_Handler);
HANDLER(IRQ5_Handler);
HANDLER(IRQ6_Handler);
HANDLER(IRQ7_Handler);
HANDLER(IRQ8_Handler);
HANDLER(IRQ9_Handler);
HANDLER(IRQ10_Handler);
HANDLER(IRQ11_Handler);
HANDLER(IRQ12_Handler);
HANDLER(IRQ13_Handler);
HANDLER(IRQ14_Handler);
HANDLER(IRQ15_Handler);
HANDLER(IRQ16_Handler);
HANDLER(IRQ17_Handler);
HANDLER(IRQ18_Handler);
HANDLER(IRQ19_Handler);
HANDLER(IRQ20_Handler);
HANDLER(IRQ21_Handler);
HANDLER(IRQ22_Handler);
HANDLER(IRQ23_Handler);
HANDLER(IRQ24_Handler);
HANDLER(IRQ25_Handler);
HANDLER(IRQ26_Handler);
HANDLER(IRQ27_Handler);
HANDLER(IRQ28_Handler);
HANDLER(IRQ29_Handler);
HANDLER(IRQ30_Handler);
HANDLER(IRQ31_Handler);

// The linker script keeps .isr_vector at the start of flash, where the
// core reads the initial stack pointer and the reset vector.
__attribute__((section(".isr_vector"), used))
const void *const __isr_vector[16 + 32] = {
	_stack_top,
	Reset_Handler,
	NMI_Handler,
	HardFault_Handler,
	MemoryManagement_Handler,
	BusFault_Handler,
	UsageFault_Handler,
	0, 0, 0, 0,
	SVC_Handler,
	DebugMon_Handler,
	0,
	PendSV_Handler,
	SysTick_Handler,
	IRQ0_Handler, IRQ1_Handler, IRQ2_Handler, IRQ3_Handler,
	IRQ4_Handler, IRQ5_Handler, IRQ6_Handler, IRQ7_Handler,
	IRQ8_Handler, IRQ9_Handler, IRQ10_Handler, IRQ11_Handler,
	IRQ12_Handler, IRQ13_Handler, IRQ14_Handler, IRQ15_Handler,
	IRQ16_Handler, IRQ17_Handler, IRQ18_Handler, IRQ19_Handler,
	IRQ20_Handler, IRQ21_Handler, IRQ22_Handler, IRQ23_Handler,
	IRQ24_Handler, IRQ25_Handler, IRQ26_Handler, IRQ27_Handler,
	IRQ28_Handler, IRQ29_Handler, IRQ30_Handler, IRQ31_Handler,
};
