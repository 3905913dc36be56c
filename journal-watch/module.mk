# qqnotify-journal: the journal watcher, its rules engine's link flags, its unit test and
# its benchmark helper.
#
# The rules engine is common/rules.c (in libqqnotify.a like every core module).  It needs
# PCRE2 to compile; programs that link the archive without referencing qn_rules_* never pull
# rules.o in, so only qqnotify-journal and test_rules link -lpcre2-8.
JW_SRCS := $(wildcard journal-watch/*.c)
JW_OBJS := $(JW_SRCS:%.c=$(B)/obj/%.o)

PCRE2_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS := $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
SYSTEMD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsystemd 2>/dev/null)
SYSTEMD_LIBS := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null || echo -lsystemd)

$(B)/obj/common/rules.o: EXTRA_CFLAGS += $(PCRE2_CFLAGS)
$(B)/obj/journal-watch/%.o: EXTRA_CFLAGS += $(SYSTEMD_CFLAGS) $(PCRE2_CFLAGS) -pthread

# --as-needed: the core may reference OpenSSL elsewhere; only what is used is linked.
$(B)/qqnotify-journal: $(JW_OBJS) $(B)/libqqnotify.a
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -pthread -o $@ $(JW_OBJS) $(B)/libqqnotify.a -Wl,--as-needed $(PCRE2_LIBS) \
		$(SYSTEMD_LIBS) $(OPENSSL_LIBS)

all: $(B)/qqnotify-journal

# The unit test of the rules engine needs PCRE2 too.  An explicit rule wins over the pattern
# rule of tests/module.mk (which links only OpenSSL and cmocka).
$(B)/tests/test_rules: $(B)/obj/tests/unit/test_rules.o $(B)/libqqnotify.a
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(B)/libqqnotify.a -Wl,--as-needed $(PCRE2_LIBS) \
		$(OPENSSL_LIBS) $(CMOCKA_LIBS)

# It reads the default rules from the source tree, wherever the build runs from.
$(B)/obj/tests/unit/test_rules.o: EXTRA_CFLAGS += -DQN_SOURCE_DIR='"$(CURDIR)"'

# The integration tests run the daemon: build it with the tests.
tests: $(B)/qqnotify-journal

# Benchmark (tests/bench/journal_bench.py): the floor reader.  Prints a table, never a verdict.
# It gives journal pages back with the daemon's own code when asked (--release-every).
$(B)/tests/bench/journal_bench_floor: $(B)/obj/tests/bench/journal_bench_floor.o \
		$(B)/obj/journal-watch/pages.o
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(SYSTEMD_LIBS)

$(B)/obj/tests/bench/journal_bench_floor.o: EXTRA_CFLAGS += $(SYSTEMD_CFLAGS) -iquote journal-watch

.PHONY: bench-journal install-journal
bench-journal: $(B)/qqnotify-journal $(B)/tests/bench/journal_bench_floor
	$(PYTHON) tests/bench/journal_bench.py --build $(B)

install-journal: $(B)/qqnotify-journal
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(B)/qqnotify-journal $(DESTDIR)$(BINDIR)/qqnotify-journal
	install -m 0644 journal-watch/qqnotify-journal.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 journal-watch/qqnotify-rules.5 $(DESTDIR)$(MANDIR)/man5/

install: install-journal
