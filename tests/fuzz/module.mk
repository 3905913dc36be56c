# Fuzzing with clang's libFuzzer, ASan and UBSan (tests/fuzz/README.md).
#
#   make fuzz-build                 build every target into $(B)/fuzz/
#   make fuzz FUZZ_SECONDS=N        run each target N seconds (default 60), one after the other,
#                                   in-process (one job; -jobs would write fuzz-N.log into the
#                                   working directory), from its seed corpus; new inputs go to
#                                   $(B)/fuzz/corpus/TARGET, crashes to $(B)/fuzz/crashes/TARGET
#   make fuzz-regress               run each target once over its seeds and regressions (fast,
#                                   deterministic: what CI can afford)
#   make fuzz-one FUZZ_TARGET=text  run one target
#
# The targets compile the sources they need straight from common/ (FUZZ_MODULES_target)
# and from a program's folder (FUZZ_SOURCES_target: paths without .c) with
# -fsanitize=fuzzer-no-link (no -fPIC archive), into $(B)/fuzz/obj.  Also here: the
# allocation-failure test's link options (tests/unit/test_allocfail.c).

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGET ?=
FUZZ_ARGS ?=
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = $(filter-out -fPIC -Werror,$(BASE_CFLAGS)) $(OPENSSL_CFLAGS) -iquote common -iquote tests/fuzz \
	-g -O1 $(FUZZ_SANITIZE)

# Each target: tests/fuzz/fuzz_NAME.c plus the core modules it needs.
FUZZ_MODULES_text := text buf
FUZZ_MODULES_mime := mime text buf
FUZZ_MODULES_smtp_reply := smtp tls diag diag_robot text buf status redact
FUZZ_MODULES_smtp_data := smtp tls diag diag_robot text buf status redact
FUZZ_MODULES_config := config assure route noise severity quiet event text buf
FUZZ_MODULES_cred := gitcred secret status
FUZZ_MODULES_event := event text buf
FUZZ_MODULES_spool := spool entryread enqueue event text buf
FUZZ_MODULES_header := mime text buf
FUZZ_SOURCES_header := cli/header cli/message
FUZZ_MODULES_ratelimit := ratelimit buf
FUZZ_MODULES_redact := redact
FUZZ_MODULES_silence := silence spool entryread enqueue event text buf status
FUZZ_MODULES_seen := seen spool entryread enqueue event text buf status
FUZZ_MODULES_tally := tally spool entryread enqueue event text buf status silence severity
FUZZ_MODULES_lanes := lanes ratelimit config assure route noise severity quiet event spool entryread enqueue \
	render mime text buf status
FUZZ_MODULES_robot_answer := robot diag diag_robot route config assure noise severity quiet event text buf \
	status secret
FUZZ_LIBS_robot_answer := $(JSONC_LIBS)
FUZZ_TARGETS := text mime smtp_reply smtp_data config cred event spool ratelimit redact silence \
	seen lanes tally robot_answer
# Targets for modules written by others, built once their module exists.
ifeq ($(words $(wildcard cli/header.c tests/fuzz/fuzz_header.c)),2)
$(B)/fuzz/obj/tests/fuzz/fuzz_header.o: FUZZ_CFLAGS += -iquote cli
FUZZ_TARGETS += header
endif
ifeq ($(words $(wildcard journal-watch/rules_parse.c tests/fuzz/fuzz_rules.c)),2)
FUZZ_MODULES_rules := text buf severity event
FUZZ_SOURCES_rules := journal-watch/rules_parse journal-watch/rules_match \
	journal-watch/rules_state journal-watch/rules_trust
FUZZ_LIBS_rules := $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
$(FUZZ_SOURCES_rules:%=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/tests/fuzz/fuzz_rules.o: \
	FUZZ_CFLAGS += $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null) -iquote journal-watch
FUZZ_TARGETS += rules
endif

FUZZ_BINS := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(call msg,CC,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

-include $(shell find $(B)/fuzz/obj -name '*.d' 2>/dev/null)

define fuzz_link
$(B)/fuzz/fuzz_$(1): $(B)/fuzz/obj/tests/fuzz/fuzz_$(1).o $(FUZZ_MODULES_$(1):%=$(B)/fuzz/obj/common/%.o) \
		$(FUZZ_SOURCES_$(1):%=$(B)/fuzz/obj/%.o)
	$$(Q)$$(call msg,LD,$$@)$$(FUZZ_CC) $$(FUZZ_SANITIZE) -fsanitize=fuzzer -o $$@ $$^ $$(OPENSSL_LIBS) $$(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_link,$(t))))

.PHONY: fuzz fuzz-build fuzz-regress fuzz-one
fuzz-build: $(FUZZ_BINS)

# One target: its seeds (read only) and the grown corpus under $(B); stops at the first crash.
define fuzz_run
	@mkdir -p $(B)/fuzz/corpus/$(1) $(B)/fuzz/crashes/$(1)
	@echo "fuzz: $(1) for $(FUZZ_SECONDS) s"
	$(B)/fuzz/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix=$(B)/fuzz/crashes/$(1)/ \
		$(if $(wildcard tests/fuzz/$(1).dict),-dict=tests/fuzz/$(1).dict) $(FUZZ_ARGS) \
		$(B)/fuzz/corpus/$(1) tests/fuzz/corpus/$(1)

endef

fuzz: fuzz-build
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t)))

fuzz-one: $(B)/fuzz/fuzz_$(FUZZ_TARGET)
	$(call fuzz_run,$(FUZZ_TARGET))

# Every seed and every saved regression input once: no new inputs, no time limit.
fuzz-regress: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
		files=$$(find tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t -type f 2>/dev/null || true); \
		if [ -z "$$files" ]; then echo "fuzz-regress: no inputs for $$t"; failed="$$failed $$t"; \
			continue; fi; \
		if $(B)/fuzz/fuzz_$$t -runs=1 $$files >$(B)/fuzz/regress-$$t.log 2>&1; then \
			echo "fuzz-regress: $$t ok ($$(echo "$$files" | wc -l) inputs)"; \
		else \
			grep -m1 -B1 -A1 "property violated\|ERROR:" $(B)/fuzz/regress-$$t.log; \
			echo "fuzz-regress: $$t FAILED (log: $(B)/fuzz/regress-$$t.log)"; failed="$$failed $$t"; \
		fi; \
	done; [ -z "$$failed" ] || { echo "fuzz-regress: failed:$$failed"; exit 1; }

# tests/unit/test_allocfail.c fails the Nth allocation: the core's calls to the allocator
# go through its wrappers (GNU ld --wrap).  Without these options it reports that it was
# built without them and fails.
ALLOCFAIL_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
	-Wl,--wrap=posix_memalign,--wrap=strdup,--wrap=strndup,--wrap=iconv_open,--wrap=iconv_close \
	-Wl,--wrap=fdopendir,--wrap=closedir,--wrap=mmap,--wrap=munmap
ALLOCFAIL_PCRE2_LIBS := $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)

# An explicit rule wins over the pattern rule of tests/module.mk: the wrappers, the rules
# engine (journal-watch/module.mk's RULES_OBJS) with PCRE2 and sendmail's header rewriting
# (cli/module.mk's SENDMAIL_HEADER_OBJS), whose symbols are weak references in the test.
# It links every time (a second): a binary the pattern rule linked without the wrappers
# would otherwise look up to date.
.PHONY: allocfail-relink
$(B)/obj/tests/unit/test_allocfail.o: EXTRA_CFLAGS += -iquote journal-watch -iquote cli
$(B)/tests/test_allocfail: $(B)/obj/tests/unit/test_allocfail.o $(RULES_OBJS) \
		$(SENDMAIL_HEADER_OBJS) $(B)/libqqnotify.a allocfail-relink
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) $(ALLOCFAIL_WRAP) -o $@ $< $(RULES_OBJS) $(SENDMAIL_HEADER_OBJS) \
		$(B)/libqqnotify.a -Wl,--as-needed $(ALLOCFAIL_PCRE2_LIBS) $(OPENSSL_LIBS) $(MAXMINDDB_LIBS) $(CMOCKA_LIBS)
