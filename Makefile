# clt - Cross-Layer Telemetry for any binary.
# One non-recursive GNU Makefile: each component adds its rules from its
# own fragment (lib/lib.mk, preload/preload.mk, bpf/bpf.mk, agent/agent.mk,
# tests/tests.mk, ...), all sharing the variables below.
#
#   make                 build libclt, libcltshim.so, cltagent, clt-check
#   make check           install missing deps, build, run every test
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make demo            the CLT login demo (see README)
#   make bench           benchmarks (see README)
#   make fuzz            run the libFuzzer targets for a bounded time
#   make install PREFIX=/usr/local DESTDIR=   (and make uninstall, same variables)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
PCDIR ?= $(LIBDIR)/pkgconfig
# The release (as cltagent --version says) and libclt's ABI: the soname is
# libclt.so.$(CLT_SOVERSION) (lib/lib.mk), the file libclt.so.$(CLT_ABI_VERSION).
CLT_VERSION := 0.1.0
CLT_SOVERSION := 1
CLT_ABI_VERSION := $(CLT_SOVERSION).0.0

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wshadow -Wpointer-arith -Wvla -Wno-unused-parameter
BASEFLAGS := -std=gnu11 -fPIC -pthread -fno-strict-aliasing -D_GNU_SOURCE -Iinclude

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

ALL_CFLAGS = $(BASEFLAGS) $(WARNFLAGS) $(SANFLAGS) $(CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS = -pthread $(SANFLAGS) $(LDFLAGS)

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

NL_CFLAGS := $(call pc_cflags,libnl-genl-3.0)
NL_LIBS := $(call pc_libs,libnl-genl-3.0)

.PHONY: all check unit-check integration-check deps install uninstall clean fuzz bench demo demo-up demo-down format
all:

# Every object is built from its source with the shared flags plus any
# per-directory extras (set <dir>_CFLAGS in the fragment).
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $($(firstword $(subst /, ,$*))_CFLAGS) -MMD -MP -c $< -o $@

include lib/lib.mk
include preload/preload.mk
include bpf/bpf.mk
include agent/agent.mk
include check/check.mk
include tests/tests.mk
-include bench/bench.mk
-include demo/demo.mk
-include fuzz/fuzz.mk

# Install missing Debian packages (or say which to install).
deps:
	@scripts/deps.sh build

# libclt.pc lets applications build with `pkg-config --cflags --libs libclt`.
$(BUILD)/libclt.pc: lib/libclt.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
		-e 's|@VERSION@|$(CLT_VERSION)|g' $< > $@

# The installed cltagent.service names the installed binary.
$(BUILD)/cltagent.service: agent/cltagent.service Makefile
	@mkdir -p $(dir $@)
	sed 's|@BINDIR@|$(BINDIR)|g' $< > $@

# The libclt.pc and unit are generated at install time, not by "make": PREFIX
# and the directories are only known then.
.PHONY: $(BUILD)/libclt.pc $(BUILD)/cltagent.service

install: all $(BUILD)/libclt.pc $(BUILD)/cltagent.service
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/clt $(DESTDIR)$(PCDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 0644 include/clt/clt.h include/clt/ioam.h include/clt/traceparent.h $(DESTDIR)$(INCDIR)/clt/
	install -m 0644 $(BUILD)/libclt.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(BUILD)/libclt.so $(DESTDIR)$(LIBDIR)/libclt.so.$(CLT_ABI_VERSION)
	ln -sf libclt.so.$(CLT_ABI_VERSION) $(DESTDIR)$(LIBDIR)/libclt.so.$(CLT_SOVERSION)
	ln -sf libclt.so.$(CLT_SOVERSION) $(DESTDIR)$(LIBDIR)/libclt.so
	install -m 0644 $(BUILD)/libclt.pc $(DESTDIR)$(PCDIR)/libclt.pc
	install -m 0755 $(BUILD)/libcltshim.so $(DESTDIR)$(LIBDIR)/libcltshim.so
	install -m 0755 $(BUILD)/cltagent $(DESTDIR)$(BINDIR)/cltagent
	install -m 0644 agent/cltagent.8 $(DESTDIR)$(MANDIR)/man8/cltagent.8
	install -m 0755 $(BUILD)/clt-check $(DESTDIR)$(BINDIR)/clt-check
	install -m 0644 check/clt-check.1 $(DESTDIR)$(MANDIR)/man1/clt-check.1
	install -m 0644 $(BUILD)/cltagent.service $(DESTDIR)$(UNITDIR)/cltagent.service

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libclt.a $(DESTDIR)$(LIBDIR)/libclt.so $(DESTDIR)$(LIBDIR)/libclt.so.$(CLT_SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libclt.so.$(CLT_ABI_VERSION) $(DESTDIR)$(LIBDIR)/libcltshim.so $(DESTDIR)$(PCDIR)/libclt.pc
	rm -f $(DESTDIR)$(BINDIR)/cltagent $(DESTDIR)$(MANDIR)/man8/cltagent.8 $(DESTDIR)$(UNITDIR)/cltagent.service
	rm -f $(DESTDIR)$(BINDIR)/clt-check $(DESTDIR)$(MANDIR)/man1/clt-check.1
	rm -f $(DESTDIR)$(INCDIR)/clt/clt.h $(DESTDIR)$(INCDIR)/clt/ioam.h $(DESTDIR)$(INCDIR)/clt/traceparent.h
	rmdir $(DESTDIR)$(INCDIR)/clt 2>/dev/null || true

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
