# qqnotify: the command users run.
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)

$(B)/qqnotify: $(CLI_OBJS) $(B)/libqqnotify.a
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(B)/libqqnotify.a $(OPENSSL_LIBS)

all: $(B)/qqnotify
