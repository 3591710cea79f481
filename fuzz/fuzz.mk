# Fuzzing: every fuzz/fuzz_*.c is a libFuzzer target. The library and the
# shim core are rebuilt with clang and the sanitizers into build-fuzz/ and
# archived, so each target links only what it uses.
#
#   make fuzz                   build all targets, run each FUZZ_SECONDS
#   make fuzz FUZZ_SECONDS=300  longer
#   make fuzz-build             only build
# A crash stops `make fuzz` with the reproducer's path (build-fuzz/crash-*).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD := build-fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# Our warnings, but not -Werror: clang's set differs from gcc's, and a new
# clang warning must not stop anyone from fuzzing.
FUZZ_CFLAGS := $(BASEFLAGS) -Wall -Wextra -Wno-unused-parameter -O1 -g $(NL_CFLAGS) -Ipreload -Ilib -Iagent
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_BUILD)/%)
# The agent's decoder of untrusted span records is pure: it joins the archive.
FUZZ_CORE_SRCS := $(LIB_SRCS) $(SHIM_CORE_SRCS) agent/spans_in.c
FUZZ_CORE_OBJS := $(FUZZ_CORE_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_CORE_A := $(FUZZ_BUILD)/libfuzzcore.a

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_CORE_A): $(FUZZ_CORE_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_CORE_A)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $< -o $@ $(FUZZ_CORE_A) $(NL_LIBS) -ldl -pthread

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

# Each target keeps its corpus in build-fuzz/corpus/NAME, seeded from
# fuzz/corpus/NAME when that exists.
fuzz: fuzz-build
	@set -e; for bin in $(FUZZ_BINS); do \
		name=$$(basename $$bin); corpus=$(FUZZ_BUILD)/corpus/$$name; log=$(FUZZ_BUILD)/$$name.log; \
		mkdir -p $$corpus; \
		if [ -d fuzz/corpus/$$name ]; then cp -n fuzz/corpus/$$name/* $$corpus/ 2>/dev/null || true; fi; \
		echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
		rc=0; $$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/ $$corpus >$$log 2>&1 || rc=$$?; \
		if [ $$rc -ne 0 ]; then tail -40 $$log; echo "fuzz: $$name FAILED (log: $$log)"; exit 1; fi; \
		echo "fuzz: $$name ok, $$(grep -m1 -o 'number_of_executed_units: *[0-9]*' $$log | tr -s ' ') runs, $$(grep -m1 -o 'new_units_added: *[0-9]*' $$log | tr -s ' ') "; \
	done

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
