build/src/cpu/exec.o: src/cpu/exec.c src/cpu/internal.h src/cpu/cpu.h \
 src/common.h src/cpu/x86.h src/vmx/controls.h src/vmx/exit.h \
 src/vmx/exit_reasons.h
src/cpu/internal.h:
src/cpu/cpu.h:
src/common.h:
src/cpu/x86.h:
src/vmx/controls.h:
src/vmx/exit.h:
src/vmx/exit_reasons.h:
