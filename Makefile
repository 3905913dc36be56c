# qqnotify — one non-recursive GNU Makefile; each folder adds its part in module.mk.
#
#   make            build everything under build/
#   make check      install missing dependencies, build with -Werror, run unit + integration tests
#   make check-asan the same tests built with clang, ASan and UBSan, under build/asan
#   make format     format every C file with the tree's .clang-format; make format-check
#                   (part of make check) fails on any file that differs
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

.PHONY: all check check-asan check-run demo deps install clean format format-check
all:

# Each folder's part; a folder without one yet is skipped.
include $(wildcard common/module.mk cli/module.mk secrets/module.mk pam/module.mk \
	journal-watch/module.mk packaging/module.mk po/module.mk tests/module.mk tests/fuzz/module.mk)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

deps:
	@sh tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory all tests
	@$(MAKE) --no-print-directory check-run

# The tree is formatted with Debian 12's clang-format (14); other versions lay some
# constructs out differently, so format-check only judges with that one.
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@if [ -z "$(CLANG_FORMAT)" ]; then \
		echo "format-check: clang-format is not installed (apt-get install clang-format)" >&2; exit 1; \
	fi; \
	v=$$($(CLANG_FORMAT) --version | sed -n 's/.*version \([0-9]*\).*/\1/p'); \
	if [ "$$v" != 14 ]; then \
		echo "format-check: skipped: clang-format $$v is not 14, the version the tree is formatted with"; \
		exit 0; \
	fi; \
	bad=$$(for f in $(FORMAT_FILES); do \
		$(CLANG_FORMAT) --dry-run -Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then \
		echo "format-check: these files differ from .clang-format; run 'make format':" >&2; \
		echo "$$bad" | sed 's/^/  /' >&2; exit 1; \
	fi; \
	echo "format-check: $(words $(FORMAT_FILES)) files formatted"

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
