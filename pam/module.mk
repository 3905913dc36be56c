# pam_qqnotify.so: the PAM module, and its tests.
#
# The module links only the core objects it needs (all libc-only) and libpam: no OpenSSL,
# no libqqnotify.a (which would drag in TLS and SMTP), and of the spool only its producers'
# half (enqueue).  The version script exports the pam_sm_* entry points and nothing else.
PAM_LIBS ?= -lpam
PAM_CORE_OBJS := $(patsubst %,$(B)/obj/common/%.o,event enqueue spawn text buf status)
PAM_OBJS := $(B)/obj/pam/pam_qqnotify.o $(B)/obj/pam/sshkey.o
PAM_SO_LDFLAGS := -shared -Wl,--version-script=pam/pam_qqnotify.map -Wl,-z,relro,-z,now
# Every symbol must resolve within the module, libc and libpam (catches a core object that
# starts to need OpenSSL).  Not with sanitizers: their runtime comes from the host program.
ifneq ($(SANITIZE),1)
PAM_SO_LDFLAGS += -Wl,-z,defs
endif

# flush=spawn starts the installed CLI unless flush_cmd= says otherwise.
$(B)/obj/pam/pam_qqnotify.o: EXTRA_CFLAGS += -DQN_PAM_FLUSH_CMD='"$(BINDIR)/qqnotify"'

$(B)/pam_qqnotify.so: $(PAM_OBJS) $(PAM_CORE_OBJS) pam/pam_qqnotify.map
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) $(PAM_SO_LDFLAGS) -o $@ $(PAM_OBJS) $(PAM_CORE_OBJS) $(PAM_LIBS)

all: $(B)/pam_qqnotify.so

# PAM modules live where libpam looks for them, whatever PREFIX is:
# /lib/x86_64-linux-gnu/security on Debian, /usr/lib64/security on Fedora.
PAMDIR ?= $(or $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null),/lib)/security

.PHONY: install-pam
install-pam: $(B)/pam_qqnotify.so
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(B)/pam_qqnotify.so $(DESTDIR)$(PAMDIR)/pam_qqnotify.so
	install -m 0644 pam/pam_qqnotify.8 $(DESTDIR)$(MANDIR)/man8/pam_qqnotify.8

install: install-pam

# Tests (tests/pam/): test_pam is a cmocka program that tests/run.sh runs with the unit
# tests; it puts itself under pam_wrapper, and reads the events back with the sender's
# reader (spool.o).  The probe stands in for `qqnotify flush`.
PAM_TEST_OBJS := $(B)/obj/tests/pam/test_pam.o $(B)/obj/tests/pam/pamhost.o \
	$(B)/obj/common/entryread.o \
	$(B)/obj/common/spool.o $(B)/obj/common/sessions.o $(B)/obj/common/seen.o
PAM_TEST_HELPERS := $(B)/tests/pam/qqnotify-probe
# test_pam counts the module's fsync and sync_file_range calls with its own definitions, and
# fails its write calls in a full spool where no mount namespace gives a real one
PAM_TEST_EXPORTS := -Wl,--export-dynamic-symbol=fsync,--export-dynamic-symbol=sync_file_range \
	-Wl,--export-dynamic-symbol=write

PAM_WRAPPER_LIB := $(strip $(shell $(PKG_CONFIG) --libs pam_wrapper 2>/dev/null))
PAM_WRAPPER_MODULES := $(strip $(shell $(PKG_CONFIG) --variable=modules pam_wrapper 2>/dev/null))
$(B)/obj/tests/pam/%.o $(B)/obj/tests/bench/%.o: EXTRA_CFLAGS += -Ipam $(CMOCKA_CFLAGS) \
	-DQN_PAM_TEST_SERVICES='"$(CURDIR)/tests/pam/services"' \
	$(if $(PAM_WRAPPER_LIB),-DQN_PAM_WRAPPER_LIB='"$(PAM_WRAPPER_LIB)"') \
	$(if $(PAM_WRAPPER_MODULES),-DQN_PAM_WRAPPER_MODULES='"$(PAM_WRAPPER_MODULES)"')

$(B)/tests/test_pam: $(PAM_TEST_OBJS) $(B)/obj/pam/sshkey.o $(PAM_CORE_OBJS) \
		$(B)/pam_qqnotify.so $(PAM_TEST_HELPERS)
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $(PAM_TEST_OBJS) $(B)/obj/pam/sshkey.o $(PAM_CORE_OBJS) \
		$(PAM_LIBS) -ldl $(CMOCKA_LIBS) $(PAM_TEST_EXPORTS)

$(B)/tests/pam/qqnotify-probe: $(B)/obj/tests/pam/probe.o
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $<

# The benchmark (tests/bench/pam_bench.py) drives this host; it prints a table, never a verdict.
$(B)/tests/pam/pam_bench_host: $(B)/obj/tests/bench/pam_bench_host.o
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(PAM_LIBS)

tests: $(B)/tests/test_pam

.PHONY: bench-pam
bench-pam: $(B)/pam_qqnotify.so $(B)/tests/pam/pam_bench_host
	$(PYTHON) tests/bench/pam_bench.py --build $(B)
