# qqnotify — one non-recursive GNU Makefile; each folder adds its part in module.mk.
#
#   make            build everything under build/
#   make check      install missing dependencies, build with -Werror, run unit + integration tests
#   make check-asan the same tests built with clang, ASan and UBSan, under build/asan
#   make demo       send a Chinese test mail to a throw-away local TLS server and show it
#   make deps       install missing build and test dependencies (apt-get or dnf, as root)
#   make install    PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc
#   make deb, make rpm, make check-packaging   packages and their install test (packaging/)

B ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
LOCALEDIR ?= $(DATADIR)/locale
MANDIR ?= $(DATADIR)/man
# The configuration lives in /etc/qqnotify whatever the prefix: the programs,
# units and documentation all name that path.
SYSCONFDIR ?= /etc
DESTDIR ?=

VERSION := 0.1.0

WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARNINGS) -fPIC -fvisibility=hidden \
	-DQN_VERSION='"$(VERSION)"' -DQN_SYSCONFDIR='"$(SYSCONFDIR)"' -DQN_LOCALEDIR='"$(LOCALEDIR)"'
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

OPENSSL_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl 2>/dev/null)
OPENSSL_LIBS := $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

ALL_CFLAGS = $(BASE_CFLAGS) $(OPENSSL_CFLAGS) -iquote common $(CFLAGS) $(EXTRA_CFLAGS)

# One short line per build step ("  CC      common/smtp.c"), as kbuild and systemd print
# them; `make V=1` prints the full commands instead.  A recipe line starts with
# $(Q)$(call msg,WHAT,FILE) and then the command.
V ?= 0
ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = printf '  %-7s %s\n' '$(1)' '$(2)';
endif

.PHONY: all check check-asan check-run demo deps install clean
all:

# Each folder's part; a folder without one yet is skipped.
include $(wildcard common/module.mk cli/module.mk secrets/module.mk pam/module.mk \
	journal-watch/module.mk packaging/module.mk po/module.mk tests/module.mk tests/fuzz/module.mk)

# Objects that only a pattern chain names (tests/unit/test_X.o) are kept, not deleted
# after the link with an "rm ..." line: the next build does not compile them again.
.SECONDARY:

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(call msg,CC,$<)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

deps:
	@sh tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all tests
	@$(MAKE) --no-print-directory check-run

check-asan: deps
	@$(MAKE) --no-print-directory B=build/asan CC=clang SANITIZE=1 all tests
	@$(MAKE) --no-print-directory B=build/asan CC=clang SANITIZE=1 check-run

check-run:
	@B=$(B) PYTHON=$(PYTHON) sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@$(PYTHON) tests/integration/demo.py --qqnotify $(B)/qqnotify

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/qqnotify
	install -m 0755 $(B)/qqnotify $(DESTDIR)$(BINDIR)/qqnotify
	install -m 0755 $(B)/qqnotify-secret $(DESTDIR)$(BINDIR)/qqnotify-secret
	$(MAKE) --no-print-directory install-po
	$(MAKE) --no-print-directory install-man

clean:
	rm -rf $(B)
