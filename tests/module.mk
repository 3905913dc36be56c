# Unit tests: tests/unit/test_NAME.c -> $(B)/tests/test_NAME, linked with cmocka and the core.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libqqnotify.a
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(B)/libqqnotify.a $(CURL_LIBS) \
		$(JSONC_LIBS) $(OPENSSL_LIBS) $(MAXMINDDB_LIBS) $(CMOCKA_LIBS)

# Helpers of several tests: the scripted SMTP server, private temporary directories.
$(B)/tests/test_smtp $(B)/tests/test_mailer: $(B)/obj/tests/unit/smtp_script.o
$(B)/tests/test_mailer $(B)/tests/test_qmgr $(B)/tests/test_quota $(B)/tests/test_silence \
	$(B)/tests/test_pickup $(B)/tests/test_spoolowner $(B)/tests/test_tally \
	$(B)/tests/test_health $(B)/tests/test_metrics $(B)/tests/test_failover: \
	$(B)/obj/tests/unit/tmpdir.o

# The enrichment test: libmaxminddb, a GeoIP database written by tests/unit/write-mmdb.pl
# (libmaxmind-db-writer-perl) at build time, never a downloaded one.
$(B)/tests/test_enrich: $(B)/obj/tests/unit/test_enrich.o $(B)/libqqnotify.a $(B)/tests/data/test-geo.mmdb
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(B)/libqqnotify.a $(OPENSSL_LIBS) \
		$(MAXMINDDB_LIBS) $(CMOCKA_LIBS) -pthread
$(B)/obj/tests/unit/test_enrich.o: EXTRA_CFLAGS += -pthread \
	-DQN_TEST_GEO_DB='"$(abspath $(B))/tests/data/test-geo.mmdb"'
$(B)/tests/data/test-geo.mmdb: tests/unit/write-mmdb.pl
	@mkdir -p $(dir $@)
	$(Q)$(call msg,GEN,$@)perl $< $@.tmp && mv $@.tmp $@

$(B)/obj/tests/unit/%.o: EXTRA_CFLAGS += $(CMOCKA_CFLAGS)

.PHONY: tests
tests: $(UNIT_BINS)

# The DNS tests' LD_PRELOAD library (tests/integration/resolvstub.c): the resolver of the
# program under test asks a stub server on 127.0.0.1.  No sanitizer: it is preloaded into
# instrumented and plain programs alike.
$(B)/tests/resolvstub.so: tests/integration/resolvstub.c | build-ready
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 -fPIC -shared -o $@ $<

tests: $(B)/tests/resolvstub.so

# The free-space test's LD_PRELOAD library (tests/integration/statvfsstub.c): fstatvfs()
# reports QN_TEST_FREE bytes available.  No sanitizer, as above.
$(B)/tests/statvfsstub.so: tests/integration/statvfsstub.c | build-ready
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 -fPIC -shared -o $@ $< -ldl

tests: $(B)/tests/statvfsstub.so
