# libcltshim.so: the LD_PRELOAD interposer. preload/interpose.c holds the
# exported symbols (thin forwards); everything else is the shim core,
# also archived for the unit tests - except preload/backtrace.c, which
# needs libunwind and is linked into the library only.
SHIM_ENTRY_SRCS := preload/interpose.c preload/backtrace.c
UNWIND_CFLAGS := $(call pc_cflags,libunwind)
UNWIND_LIBS := $(call pc_libs,libunwind)
SHIM_CORE_SRCS := $(filter-out $(SHIM_ENTRY_SRCS),$(wildcard preload/*.c))
SHIM_CORE_OBJS := $(SHIM_CORE_SRCS:%.c=$(BUILD)/%.o)
SHIM_CORE_A := $(BUILD)/preload/libshimcore.a
preload_CFLAGS := $(NL_CFLAGS) $(UNWIND_CFLAGS) -fvisibility=hidden -Ilib

$(SHIM_CORE_A): $(SHIM_CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# The exported symbols: preload/interposers.h, one list, made into the
# version script by the preprocessor; the link fails if the library does
# not export exactly that list (an interposer listed but not defined, or
# defined but not listed).
SHIM_MAP := $(BUILD)/preload/libcltshim.map
SHIM_EXPORTS := $(BUILD)/preload/libcltshim.exports

$(SHIM_MAP): preload/libcltshim.map.in preload/interposers.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -E -P -x c -Ipreload $< -o $@

$(SHIM_EXPORTS): $(SHIM_MAP) preload/preload.mk
	tr ' \t;' '\n\n\n' < $< | grep -E '^[A-Za-z_][A-Za-z_0-9]*$$' | grep -vx -e global -e local | sort > $@

$(BUILD)/libcltshim.so: $(SHIM_ENTRY_SRCS:%.c=$(BUILD)/%.o) $(SHIM_CORE_A) $(BUILD)/libclt.a $(SHIM_MAP) $(SHIM_EXPORTS)
	$(CC) -shared -Wl,--version-script=$(SHIM_MAP) -Wl,-z,defs $(ALL_LDFLAGS) -o $@.tmp \
		$(SHIM_ENTRY_SRCS:%.c=$(BUILD)/%.o) $(SHIM_CORE_A) $(BUILD)/libclt.a $(NL_LIBS) $(UNWIND_LIBS) -ldl
	@nm -D --defined-only $@.tmp | awk '$$2 == "T" || $$2 == "W" || $$2 == "i" { print $$3 }' | \
		sed 's/@.*//' | sort | diff -u $(SHIM_EXPORTS) - || \
		{ echo "libcltshim.so must export exactly preload/interposers.h's list" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

ifneq ($(wildcard $(SHIM_ENTRY_SRCS)),)
all: $(BUILD)/libcltshim.so
endif
