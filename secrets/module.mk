# qqnotify-secret: the credential helper (libsecret and systemd-creds backends).
SECRETS_SRCS := $(wildcard secrets/*.c)
SECRETS_OBJS := $(SECRETS_SRCS:%.c=$(B)/obj/%.o)

# glib's headers are not clean under every warning we turn into an error on
# every glib version: include them as system headers (-isystem), so our own
# code keeps -Werror and theirs cannot break the build.
SECRETS_PKGS := libsecret-1 glib-2.0 gio-2.0
SECRETS_CFLAGS := $(patsubst -I%,-isystem %,\
	$(shell $(PKG_CONFIG) --cflags $(SECRETS_PKGS) 2>/dev/null))
SECRETS_LIBS := $(shell $(PKG_CONFIG) --libs $(SECRETS_PKGS) 2>/dev/null || \
	echo -lsecret-1 -lgio-2.0 -lgobject-2.0 -lglib-2.0)

$(B)/obj/secrets/%.o: EXTRA_CFLAGS += $(SECRETS_CFLAGS)

# The core gives the config parser, the secret type, the credential protocol, the process
# runner and the error vocabulary (diag, status).
$(B)/qqnotify-secret: $(SECRETS_OBJS) $(B)/libqqnotify.a
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -o $@ $(SECRETS_OBJS) $(B)/libqqnotify.a $(SECRETS_LIBS)

all: $(B)/qqnotify-secret
