# qqnotify: the command users run, and the unit tests of sendmail's header rewriting.
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)

# sendmail's header rewriting (header.h, and message.h: reading the message) lives here
# beside its one command, not in libqqnotify.a: test_header, fuzz_header and test_allocfail
# link these objects too.
SENDMAIL_HEADER_OBJS := $(B)/obj/cli/header.o $(B)/obj/cli/message.o

$(B)/qqnotify: $(CLI_OBJS) $(B)/libqqnotify.a
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(B)/libqqnotify.a $(CURL_LIBS) \
		$(JSONC_LIBS) $(OPENSSL_LIBS) $(MAXMINDDB_LIBS)

all: $(B)/qqnotify

# notify and sendmail submit through qqnotify-drop at its installed place (QQNOTIFY_DROP in
# the environment points the CLI at another copy: tests; choosing it gains the caller nothing).
$(B)/obj/cli/submit.o: EXTRA_CFLAGS += -DQN_DROP_PATH='"$(LIBEXECDIR)/qqnotify/qqnotify-drop"'

# Explicit rules win over the pattern rule of tests/module.mk (which links the core only).
$(B)/tests/test_header $(B)/tests/test_message: $(B)/tests/%: $(B)/obj/tests/unit/%.o \
		$(SENDMAIL_HEADER_OBJS) $(B)/libqqnotify.a
	@mkdir -p $(dir $@)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $< $(SENDMAIL_HEADER_OBJS) $(B)/libqqnotify.a $(OPENSSL_LIBS) \
		$(CMOCKA_LIBS)

$(B)/obj/tests/unit/test_header.o $(B)/obj/tests/unit/test_message.o: EXTRA_CFLAGS += -iquote cli
