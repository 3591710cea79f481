# Tests. Unit tests: tests/unit/test_*.c, cmocka, each linked against every
# internal archive (the linker takes only what a test uses). Integration
# tests: tests/integration/*.sh, and tests/integration/c/test_*.c - C
# programs that run themselves under the shim - built like the unit tests;
# all run by tests/run.sh (exit 0 pass, 77 skip, anything else fail).
CMOCKA_CFLAGS := $(call pc_cflags,cmocka)
CMOCKA_LIBS := $(call pc_libs,cmocka)
tests_CFLAGS := $(CMOCKA_CFLAGS) $(NL_CFLAGS) $(AGENT_PC_CFLAGS) -Ipreload -Iagent -Ilib -Itests

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
INTEG_C_SRCS := $(wildcard tests/integration/c/test_*.c)
INTEG_C_BINS := $(INTEG_C_SRCS:%.c=$(BUILD)/%)
# Small C helpers the shell tests run (e.g. an IOAM event reader).
TEST_TOOL_SRCS := $(wildcard tests/tools/*.c)
TEST_TOOLS := $(TEST_TOOL_SRCS:%.c=$(BUILD)/%)
TEST_ARCHIVES := $(AGENT_CORE_A) $(SHIM_CORE_A) $(BUILD)/libclt.a

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TEST_ARCHIVES)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_ARCHIVES) $(CMOCKA_LIBS) $(AGENT_PC_LIBS) $(NL_LIBS)

$(BUILD)/tests/integration/c/%: $(BUILD)/tests/integration/c/%.o $(TEST_ARCHIVES)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_ARCHIVES) $(CMOCKA_LIBS) $(AGENT_PC_LIBS) $(NL_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(TEST_ARCHIVES)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_ARCHIVES) $(AGENT_PC_LIBS) $(NL_LIBS) $(TOOL_LIBS)

# The TLS test clients (shim_tls.sh): OpenSSL, and OpenSSL with GnuTLS.
$(BUILD)/tests/tools/tls_client: TOOL_LIBS := -lssl -lcrypto
$(BUILD)/tests/tools/tls_both: TOOL_LIBS := -lssl -lcrypto -lgnutls

# The library deepbind_probe (and test_shim_deepbind) load: lazy binding
# with partial RELRO, and full RELRO. The probe exports its symbols (the
# library's DEEPBIND binding must still prefer its own) and finds the
# library by bare name along its RUNPATH.
DEEPBIND_LIBS := $(BUILD)/tests/lib/deepbind_lib_lazy.so $(BUILD)/tests/lib/deepbind_lib_now.so
$(BUILD)/tests/lib/deepbind_lib_lazy.so: DEEPBIND_LINK := -Wl,-z,relro,-z,lazy
$(BUILD)/tests/lib/deepbind_lib_now.so: DEEPBIND_LINK := -Wl,-z,relro,-z,now
$(DEEPBIND_LIBS): tests/lib/deepbind_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -shared $(ALL_LDFLAGS) $(DEEPBIND_LINK) -o $@ $<
$(BUILD)/tests/tools/deepbind_probe: ALL_LDFLAGS += -rdynamic -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/../lib'

tests: $(UNIT_BINS) $(INTEG_C_BINS) $(TEST_TOOLS) $(DEEPBIND_LIBS)

# The objects are intermediates of the pattern rules above: keep them, or
# make deletes them after each build and recompiles every test next time.
.SECONDARY: $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(INTEG_C_SRCS:%.c=$(BUILD)/%.o) \
	$(TEST_TOOL_SRCS:%.c=$(BUILD)/%.o)

# The README's test command. Installs what is missing, builds, runs all.
check:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) tests/run.sh

unit-check:
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) tests/run.sh unit

integration-check:
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) tests/run.sh integration
