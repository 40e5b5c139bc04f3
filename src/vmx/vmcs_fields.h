/* SPDX-License-Identifier: MIT */
/*
 * Every VMCS field the model supports, one line each: X(NAME, name, encoding). This list is the
 * single source of the encodings (enum vmcs_field in vmx/vmcs.h), of struct vmcs's members, of
 * the encoding-to-offset table VMREAD/VMWRITE use and of the names the dumps print. Names are
 * Linux's (arch/x86/include/asm/vmx.h) so that KVM users recognise them.
 *
 * Encoding (SDM vol. 3D appendix B; vol. 3C 25.11.2): bit 0 access type (1 = high half of a 64-bit
 * field), bits 9:1 index, bits 11:10 type (0 control, 1 VM-exit information, 2 guest state, 3 host
 * state), bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width). Every 64-bit field's
 * high half (encoding | 1) is also accessible through VMREAD/VMWRITE.
 *
 * Fields of features the model does not support (VM functions, SPP, ENCLS, PCONFIG, perf-global-ctrl, CET, PKRS, ...) are absent:
 * VMREAD/VMWRITE of them fail with VMfailValid(12), and IA32_VMX_VMCS_ENUM reports the highest
 * index listed here.
 */

/* 16-bit control fields (B.1.1). */
X(VIRTUAL_PROCESSOR_ID, virtual_processor_id, 0x0000)
X(POSTED_INTR_NV, posted_intr_nv, 0x0002)
/* 16-bit guest-state fields (B.1.2). */
X(GUEST_ES_SELECTOR, guest_es_selector, 0x0800)
X(GUEST_CS_SELECTOR, guest_cs_selector, 0x0802)
X(GUEST_SS_SELECTOR, guest_ss_selector, 0x0804)
X(GUEST_DS_SELECTOR, guest_ds_selector, 0x0806)
X(GUEST_FS_SELECTOR, guest_fs_selector, 0x0808)
X(GUEST_GS_SELECTOR, guest_gs_selector, 0x080a)
X(GUEST_LDTR_SELECTOR, guest_ldtr_selector, 0x080c)
X(GUEST_TR_SELECTOR, guest_tr_selector, 0x080e)
X(GUEST_INTR_STATUS, guest_intr_status, 0x0810)
X(GUEST_PML_INDEX, guest_pml_index, 0x0812)
/* 16-bit host-state fields (B.1.3). */
X(HOST_ES_SELECTOR, host_es_selector, 0x0c00)
X(HOST_CS_SELECTOR, host_cs_selector, 0x0c02)
X(HOST_SS_SELECTOR, host_ss_selector, 0x0c04)
X(HOST_DS_SELECTOR, host_ds_selector, 0x0c06)
X(HOST_FS_SELECTOR, host_fs_selector, 0x0c08)
X(HOST_GS_SELECTOR, host_gs_selector, 0x0c0a)
X(HOST_TR_SELECTOR, host_tr_selector, 0x0c0c)

/* 64-bit control fields (B.2.1). */
X(IO_BITMAP_A, io_bitmap_a, 0x2000)
X(IO_BITMAP_B, io_bitmap_b, 0x2002)
X(MSR_BITMAP, msr_bitmap, 0x2004)
X(VM_EXIT_MSR_STORE_ADDR, vm_exit_msr_store_addr, 0x2006)
X(VM_EXIT_MSR_LOAD_ADDR, vm_exit_msr_load_addr, 0x2008)
X(VM_ENTRY_MSR_LOAD_ADDR, vm_entry_msr_load_addr, 0x200a)
X(PML_ADDRESS, pml_address, 0x200e)
X(TSC_OFFSET, tsc_offset, 0x2010)
X(VIRTUAL_APIC_PAGE_ADDR, virtual_apic_page_addr, 0x2012)
X(APIC_ACCESS_ADDR, apic_access_addr, 0x2014)
X(POSTED_INTR_DESC_ADDR, posted_intr_desc_addr, 0x2016)
X(EOI_EXIT_BITMAP0, eoi_exit_bitmap0, 0x201c)
X(EOI_EXIT_BITMAP1, eoi_exit_bitmap1, 0x201e)
X(EOI_EXIT_BITMAP2, eoi_exit_bitmap2, 0x2020)
X(EOI_EXIT_BITMAP3, eoi_exit_bitmap3, 0x2022)
X(EPT_POINTER, ept_pointer, 0x201a)
X(VMREAD_BITMAP, vmread_bitmap, 0x2026)
X(VMWRITE_BITMAP, vmwrite_bitmap, 0x2028)
/* With "enable XSAVES/XRSTORS": XSAVES/XRSTORS exit when IA32_XSS AND this bitmap is nonzero
   (SDM 26.1.3); the CPU supports no IA32_XSS bit (every one is reserved), so they never do. */
X(XSS_EXIT_BITMAP, xss_exit_bitmap, 0x202c)
X(TSC_MULTIPLIER, tsc_multiplier, 0x2032)
/* 64-bit read-only data field (B.2.2). */
X(GUEST_PHYSICAL_ADDRESS, guest_physical_address, 0x2400)
/* 64-bit guest-state fields (B.2.3). */
X(VMCS_LINK_POINTER, vmcs_link_pointer, 0x2800)
X(GUEST_IA32_DEBUGCTL, guest_ia32_debugctl, 0x2802)
X(GUEST_IA32_PAT, guest_ia32_pat, 0x2804)
X(GUEST_IA32_EFER, guest_ia32_efer, 0x2806)
X(GUEST_PDPTR0, guest_pdptr0, 0x280a)
X(GUEST_PDPTR1, guest_pdptr1, 0x280c)
X(GUEST_PDPTR2, guest_pdptr2, 0x280e)
X(GUEST_PDPTR3, guest_pdptr3, 0x2810)
/* 64-bit host-state fields (B.2.4). */
X(HOST_IA32_PAT, host_ia32_pat, 0x2c00)
X(HOST_IA32_EFER, host_ia32_efer, 0x2c02)

/* 32-bit control fields (B.3.1). */
X(PIN_BASED_VM_EXEC_CONTROL, pin_based_vm_exec_control, 0x4000)
X(CPU_BASED_VM_EXEC_CONTROL, cpu_based_vm_exec_control, 0x4002)
X(EXCEPTION_BITMAP, exception_bitmap, 0x4004)
X(PAGE_FAULT_ERROR_CODE_MASK, page_fault_error_code_mask, 0x4006)
X(PAGE_FAULT_ERROR_CODE_MATCH, page_fault_error_code_match, 0x4008)
X(CR3_TARGET_COUNT, cr3_target_count, 0x400a)
X(VM_EXIT_CONTROLS, vm_exit_controls, 0x400c)
X(VM_EXIT_MSR_STORE_COUNT, vm_exit_msr_store_count, 0x400e)
X(VM_EXIT_MSR_LOAD_COUNT, vm_exit_msr_load_count, 0x4010)
X(VM_ENTRY_CONTROLS, vm_entry_controls, 0x4012)
X(VM_ENTRY_MSR_LOAD_COUNT, vm_entry_msr_load_count, 0x4014)
X(VM_ENTRY_INTR_INFO_FIELD, vm_entry_intr_info_field, 0x4016)
X(VM_ENTRY_EXCEPTION_ERROR_CODE, vm_entry_exception_error_code, 0x4018)
X(VM_ENTRY_INSTRUCTION_LEN, vm_entry_instruction_len, 0x401a)
X(TPR_THRESHOLD, tpr_threshold, 0x401c)
X(SECONDARY_VM_EXEC_CONTROL, secondary_vm_exec_control, 0x401e)
X(PLE_GAP, ple_gap, 0x4020)
X(PLE_WINDOW, ple_window, 0x4022)
/* 32-bit read-only data fields (B.3.2). */
X(VM_INSTRUCTION_ERROR, vm_instruction_error, 0x4400)
X(VM_EXIT_REASON, vm_exit_reason, 0x4402)
X(VM_EXIT_INTR_INFO, vm_exit_intr_info, 0x4404)
X(VM_EXIT_INTR_ERROR_CODE, vm_exit_intr_error_code, 0x4406)
X(IDT_VECTORING_INFO_FIELD, idt_vectoring_info_field, 0x4408)
X(IDT_VECTORING_ERROR_CODE, idt_vectoring_error_code, 0x440a)
X(VM_EXIT_INSTRUCTION_LEN, vm_exit_instruction_len, 0x440c)
X(VMX_INSTRUCTION_INFO, vmx_instruction_info, 0x440e)
/* 32-bit guest-state fields (B.3.3). */
X(GUEST_ES_LIMIT, guest_es_limit, 0x4800)
X(GUEST_CS_LIMIT, guest_cs_limit, 0x4802)
X(GUEST_SS_LIMIT, guest_ss_limit, 0x4804)
X(GUEST_DS_LIMIT, guest_ds_limit, 0x4806)
X(GUEST_FS_LIMIT, guest_fs_limit, 0x4808)
X(GUEST_GS_LIMIT, guest_gs_limit, 0x480a)
X(GUEST_LDTR_LIMIT, guest_ldtr_limit, 0x480c)
X(GUEST_TR_LIMIT, guest_tr_limit, 0x480e)
X(GUEST_GDTR_LIMIT, guest_gdtr_limit, 0x4810)
X(GUEST_IDTR_LIMIT, guest_idtr_limit, 0x4812)
X(GUEST_ES_AR_BYTES, guest_es_ar_bytes, 0x4814)
X(GUEST_CS_AR_BYTES, guest_cs_ar_bytes, 0x4816)
X(GUEST_SS_AR_BYTES, guest_ss_ar_bytes, 0x4818)
X(GUEST_DS_AR_BYTES, guest_ds_ar_bytes, 0x481a)
X(GUEST_FS_AR_BYTES, guest_fs_ar_bytes, 0x481c)
X(GUEST_GS_AR_BYTES, guest_gs_ar_bytes, 0x481e)
X(GUEST_LDTR_AR_BYTES, guest_ldtr_ar_bytes, 0x4820)
X(GUEST_TR_AR_BYTES, guest_tr_ar_bytes, 0x4822)
X(GUEST_INTERRUPTIBILITY_INFO, guest_interruptibility_info, 0x4824)
X(GUEST_ACTIVITY_STATE, guest_activity_state, 0x4826)
X(GUEST_SMBASE, guest_smbase, 0x4828)
X(GUEST_SYSENTER_CS, guest_sysenter_cs, 0x482a)
X(VMX_PREEMPTION_TIMER_VALUE, vmx_preemption_timer_value, 0x482e)
/* 32-bit host-state field (B.3.4). */
X(HOST_IA32_SYSENTER_CS, host_ia32_sysenter_cs, 0x4c00)

/* Natural-width control fields (B.4.1). */
X(CR0_GUEST_HOST_MASK, cr0_guest_host_mask, 0x6000)
X(CR4_GUEST_HOST_MASK, cr4_guest_host_mask, 0x6002)
X(CR0_READ_SHADOW, cr0_read_shadow, 0x6004)
X(CR4_READ_SHADOW, cr4_read_shadow, 0x6006)
X(CR3_TARGET_VALUE0, cr3_target_value0, 0x6008)
X(CR3_TARGET_VALUE1, cr3_target_value1, 0x600a)
X(CR3_TARGET_VALUE2, cr3_target_value2, 0x600c)
X(CR3_TARGET_VALUE3, cr3_target_value3, 0x600e)
/* Natural-width read-only data fields (B.4.2). */
X(EXIT_QUALIFICATION, exit_qualification, 0x6400)
X(EXIT_IO_RCX, exit_io_rcx, 0x6402)
X(EXIT_IO_RSI, exit_io_rsi, 0x6404)
X(EXIT_IO_RDI, exit_io_rdi, 0x6406)
X(EXIT_IO_RIP, exit_io_rip, 0x6408)
X(GUEST_LINEAR_ADDRESS, guest_linear_address, 0x640a)
/* Natural-width guest-state fields (B.4.3). */
X(GUEST_CR0, guest_cr0, 0x6800)
X(GUEST_CR3, guest_cr3, 0x6802)
X(GUEST_CR4, guest_cr4, 0x6804)
X(GUEST_ES_BASE, guest_es_base, 0x6806)
X(GUEST_CS_BASE, guest_cs_base, 0x6808)
X(GUEST_SS_BASE, guest_ss_base, 0x680a)
X(GUEST_DS_BASE, guest_ds_base, 0x680c)
X(GUEST_FS_BASE, guest_fs_base, 0x680e)
X(GUEST_GS_BASE, guest_gs_base, 0x6810)
X(GUEST_LDTR_BASE, guest_ldtr_base, 0x6812)
X(GUEST_TR_BASE, guest_tr_base, 0x6814)
X(GUEST_GDTR_BASE, guest_gdtr_base, 0x6816)
X(GUEST_IDTR_BASE, guest_idtr_base, 0x6818)
X(GUEST_DR7, guest_dr7, 0x681a)
X(GUEST_RSP, guest_rsp, 0x681c)
X(GUEST_RIP, guest_rip, 0x681e)
X(GUEST_RFLAGS, guest_rflags, 0x6820)
X(GUEST_PENDING_DBG_EXCEPTIONS, guest_pending_dbg_exceptions, 0x6822)
X(GUEST_SYSENTER_ESP, guest_sysenter_esp, 0x6824)
X(GUEST_SYSENTER_EIP, guest_sysenter_eip, 0x6826)
/* Natural-width host-state fields (B.4.4). */
X(HOST_CR0, host_cr0, 0x6c00)
X(HOST_CR3, host_cr3, 0x6c02)
X(HOST_CR4, host_cr4, 0x6c04)
X(HOST_FS_BASE, host_fs_base, 0x6c06)
X(HOST_GS_BASE, host_gs_base, 0x6c08)
X(HOST_TR_BASE, host_tr_base, 0x6c0a)
X(HOST_GDTR_BASE, host_gdtr_base, 0x6c0c)
X(HOST_IDTR_BASE, host_idtr_base, 0x6c0e)
X(HOST_IA32_SYSENTER_ESP, host_ia32_sysenter_esp, 0x6c10)
X(HOST_IA32_SYSENTER_EIP, host_ia32_sysenter_eip, 0x6c12)
X(HOST_RSP, host_rsp, 0x6c14)
X(HOST_RIP, host_rip, 0x6c16)
