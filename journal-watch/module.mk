# qqnotify-journal: the journal watcher, its rules engine, the engine's unit test and the
# benchmark helper.
#
# The rules engine (rules.h; rules_parse.c, rules_match.c, rules_state.c, rules_trust.c) lives
# here beside its one program, not in libqqnotify.a.  It needs PCRE2, so qqnotify-journal, test_rules,
# fuzz_rules and test_allocfail link RULES_OBJS with -lpcre2-8, and nothing else does.
JW_SRCS := $(wildcard journal-watch/*.c)
JW_OBJS := $(JW_SRCS:%.c=$(B)/obj/%.o)
RULES_OBJS := $(patsubst %,$(B)/obj/journal-watch/%.o,rules_parse rules_match rules_state \
	rules_trust)

PCRE2_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS := $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
SYSTEMD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsystemd 2>/dev/null)
SYSTEMD_LIBS := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null || echo -lsystemd)

$(B)/obj/journal-watch/%.o: EXTRA_CFLAGS += $(SYSTEMD_CFLAGS) $(PCRE2_CFLAGS) -pthread

# --as-needed: the core may reference OpenSSL elsewhere; only what is used is linked.
$(B)/qqnotify-journal: $(JW_OBJS) $(B)/libqqnotify.a
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -pthread -o $@ $(JW_OBJS) $(B)/libqqnotify.a -Wl,--as-needed $(PCRE2_LIBS) \
		$(SYSTEMD_LIBS) $(OPENSSL_LIBS)

all: $(B)/qqnotify-journal

# The unit test of the rules engine links its objects and PCRE2.  An explicit rule wins over
# the pattern rule of tests/module.mk (which links only the core, OpenSSL and cmocka).
$(B)/tests/test_rules: $(B)/obj/tests/unit/test_rules.o $(RULES_OBJS) $(B)/libqqnotify.a
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(RULES_OBJS) $(B)/libqqnotify.a -Wl,--as-needed $(PCRE2_LIBS) \
		$(OPENSSL_LIBS) $(CMOCKA_LIBS)

# It reads the default rules from the source tree, wherever the build runs from.
$(B)/obj/tests/unit/test_rules.o: EXTRA_CFLAGS += -iquote journal-watch \
	-DQN_SOURCE_DIR='"$(CURDIR)"'

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
