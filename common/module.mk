# libqqnotify.a: the core, compiled -fPIC -fvisibility=hidden so the PAM module can link it.
CORE_MODULES := $(patsubst common/%.c,%,$(wildcard common/*.c))
CORE_OBJS := $(CORE_MODULES:%=$(B)/obj/common/%.o)

$(B)/libqqnotify.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)$(call msg,AR,$@)ar rcs $@ $^

all: $(B)/libqqnotify.a

# The chat robots' transports use libcurl and json-c (their headers are in the default
# include path on Debian and Fedora; the flags are for other layouts).
$(B)/obj/common/robot.o $(B)/obj/common/http.o: EXTRA_CFLAGS += $(CURL_CFLAGS) $(JSONC_CFLAGS)
