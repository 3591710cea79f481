# clt-check: a traced program's own view of why nothing is traced. It links
# the agent's host checks (agent/check.c), the shim's CLT_DOMAIN parsing
# (preload/config.c, in the shim core) and libclt, so that it decides
# exactly as the shim and libclt would.
check_CFLAGS := $(AGENT_PC_CFLAGS) -Iagent -Ipreload -DCLT_LIBDIR='"$(LIBDIR)"' \
	-DCLT_VERSION='"$(CLT_VERSION)"'

$(BUILD)/clt-check: $(BUILD)/check/clt_check.o $(AGENT_CORE_A) $(SHIM_CORE_A) $(BUILD)/libclt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_PC_LIBS) $(NL_LIBS) -ldl

ifneq ($(wildcard check/clt_check.c),)
all: $(BUILD)/clt-check
endif
