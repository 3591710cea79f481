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

$(BUILD)/libcltshim.so: $(SHIM_ENTRY_SRCS:%.c=$(BUILD)/%.o) $(SHIM_CORE_A) $(BUILD)/libclt.a preload/libcltshim.map
	$(CC) -shared -Wl,--version-script=preload/libcltshim.map -Wl,-z,defs $(ALL_LDFLAGS) -o $@ \
		$(SHIM_ENTRY_SRCS:%.c=$(BUILD)/%.o) $(SHIM_CORE_A) $(BUILD)/libclt.a $(NL_LIBS) $(UNWIND_LIBS) -ldl

ifneq ($(wildcard $(SHIM_ENTRY_SRCS)),)
all: $(BUILD)/libcltshim.so
endif
