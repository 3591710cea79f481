# libclt: codec, traceparent, kernel backends. Built static (linked into
# the shim and the agent) and shared (for applications).
LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
lib_CFLAGS := $(NL_CFLAGS) -fvisibility=hidden -DCLT_BUILDING_LIB

$(BUILD)/libclt.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libclt.so: $(LIB_OBJS) lib/libclt.map
	$(CC) -shared -Wl,-soname,libclt.so.1 -Wl,--version-script=lib/libclt.map -Wl,-z,defs \
		$(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(NL_LIBS)

all: $(BUILD)/libclt.a $(BUILD)/libclt.so
