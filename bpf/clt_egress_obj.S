/* The tc egress program's object, built into cltagent (bpf/bpf.mk). */
	.section .rodata
	.balign 8
	.globl clt_egress_obj
	.globl clt_egress_obj_end
clt_egress_obj:
	.incbin CLT_BPF_OBJ
clt_egress_obj_end:
	.section .note.GNU-stack,"",@progbits
