# libqqnotify.a: the core, compiled -fPIC -fvisibility=hidden so the PAM module can link it.
CORE_MODULES := $(patsubst common/%.c,%,$(wildcard common/*.c))
CORE_OBJS := $(CORE_MODULES:%=$(B)/obj/common/%.o)

$(B)/libqqnotify.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)$(call msg,AR,$@)ar rcs $@ $^

all: $(B)/libqqnotify.a
