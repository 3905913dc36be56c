# qqnotify-drop: the set-group-ID submission program (drop/main.c, qqnotify-drop(8)).
#
# It links the libc-only core objects it needs (the entry format's writer and strict reader)
# and nothing else: no OpenSSL, no configuration parser at run time.  `make install` puts it
# in $(LIBEXECDIR)/qqnotify with mode 2755 and group $(DROP_GROUP) when that group exists
# (as root); the packages set the group and mode themselves (dpkg-statoverride, %attr).
DROP_CORE_OBJS := $(patsubst %,$(B)/obj/common/%.o,spool entryread enqueue event text buf status)

$(B)/qqnotify-drop: $(B)/obj/drop/main.o $(DROP_CORE_OBJS)
	$(Q)$(call msg,LD,$@)$(CC) $(LDFLAGS) -Wl,-z,relro,-z,now -o $@ $^

all: $(B)/qqnotify-drop

DROP_GROUP ?= qqnotify-drop

.PHONY: install-drop
install-drop: $(B)/qqnotify-drop
	install -d $(DESTDIR)$(LIBEXECDIR)/qqnotify $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(B)/qqnotify-drop $(DESTDIR)$(LIBEXECDIR)/qqnotify/qqnotify-drop
	install -m 0644 drop/qqnotify-drop.8 $(DESTDIR)$(MANDIR)/man8/qqnotify-drop.8
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && getent group $(DROP_GROUP) >/dev/null; then \
		echo "chgrp $(DROP_GROUP) + chmod 2755 $(LIBEXECDIR)/qqnotify/qqnotify-drop"; \
		chgrp $(DROP_GROUP) $(LIBEXECDIR)/qqnotify/qqnotify-drop && \
		chmod 2755 $(LIBEXECDIR)/qqnotify/qqnotify-drop; \
	else \
		echo "qqnotify-drop: make it root:$(DROP_GROUP) mode 2755 (as root, once the group" \
			"exists; qqnotify queue init tells)"; \
	fi

install: install-drop

# tests/bench/trust_bench.py: a root login's latency behind a flood of forged
# notifications, and flush's peak RSS over maximum-size entries.  As root; prints tables,
# no verdict.
.PHONY: bench-trust
bench-trust: $(B)/qqnotify $(B)/qqnotify-drop $(B)/pam_qqnotify.so
	$(PYTHON) tests/bench/trust_bench.py --build $(B)
