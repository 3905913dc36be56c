# Unit tests: tests/unit/test_NAME.c -> $(B)/tests/test_NAME, linked with cmocka and the core.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libqqnotify.a
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(B)/libqqnotify.a $(OPENSSL_LIBS) $(CMOCKA_LIBS)

$(B)/obj/tests/unit/%.o: EXTRA_CFLAGS += $(CMOCKA_CFLAGS)

.PHONY: tests
tests: $(UNIT_BINS)
