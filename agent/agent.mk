# cltagent: source -> decode -> aggregate -> encode -> export. main.c only
# wires; every other module is archived for the unit tests.
AGENT_PKGS := libnl-genl-3.0 json-c libcurl libpcap zlib libmicrohttpd libbpf
AGENT_PC_CFLAGS := $(call pc_cflags,$(AGENT_PKGS))
AGENT_PC_LIBS := $(call pc_libs,$(AGENT_PKGS)) -lm
AGENT_CORE_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
AGENT_CORE_OBJS := $(AGENT_CORE_SRCS:%.c=$(BUILD)/%.o) $(BPF_EMBED_OBJ)
AGENT_CORE_A := $(BUILD)/agent/libagentcore.a
# -Ilib: libclt's internal helpers (linked statically), e.g. clt_fdpass.h.
agent_CFLAGS := $(AGENT_PC_CFLAGS) -Ilib

$(AGENT_CORE_A): $(AGENT_CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/cltagent: $(BUILD)/agent/main.o $(AGENT_CORE_A) $(BUILD)/libclt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_PC_LIBS)

ifneq ($(wildcard agent/main.c),)
all: $(BUILD)/cltagent
endif
