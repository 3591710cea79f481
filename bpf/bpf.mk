# The tc egress tagging program (libclt's "bpf" backend), built with
# clang's BPF target and embedded into cltagent, which loads it.
BPF_CLANG ?= clang
BPF_ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)
BPF_OBJ := $(BUILD)/bpf/clt_egress.bpf.o
BPF_EMBED_OBJ := $(BUILD)/bpf/clt_egress_obj.o

$(BPF_OBJ): bpf/clt_egress.bpf.c include/clt/bpfslot.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -O2 -g -target bpf -Wall -Werror -Iinclude -I$(BPF_ARCH_INC) -c $< -o $@

$(BPF_EMBED_OBJ): bpf/clt_egress_obj.S $(BPF_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -c -DCLT_BPF_OBJ='"$(BPF_OBJ)"' $< -o $@
