# qqnotify — one non-recursive GNU Makefile; each folder adds its part in module.mk.
#
#   make            build everything under build/ (says which packages are missing, if any)
#   make check      install missing dependencies, build with -Werror, run unit + integration tests
#   make check-asan the same tests built with clang, ASan and UBSan, under build/asan
#   make format     format every C file with the tree's .clang-format; make format-check
#                   (part of make check) fails on any file that differs
#   make demo       send a Chinese test mail to a throw-away local TLS server and show it
#   make install    PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc
#   make deb, make rpm, make check-packaging   packages and their install test (packaging/)
#   make check-fresh  make demo and make check on a fresh Debian 12 root (tests/fresh/, root)
#   make deps       install every dependency of every goal below; make deps-SET one set
#
# Each goal installs its own dependency set first (tools/deps.sh: demo, build, check, asan,
# fuzz, deb, rpm, packaging): as root with apt-get or dnf, showing their progress;
# another user gets the command to run as root.  V=1 prints the full build commands.

B ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# Programs run by other programs, not by people: qqnotify-drop (set-group-ID).
LIBEXECDIR ?= $(PREFIX)/libexec
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
	-DQN_VERSION='"$(VERSION)"' -DQN_SYSCONFDIR='"$(SYSCONFDIR)"' -DQN_LOCALEDIR='"$(LOCALEDIR)"' \
	-DQN_BINDIR='"$(BINDIR)"'
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

OPENSSL_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl 2>/dev/null)
OPENSSL_LIBS := $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)
MAXMINDDB_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmaxminddb 2>/dev/null)
MAXMINDDB_LIBS := $(shell $(PKG_CONFIG) --libs libmaxminddb 2>/dev/null || echo -lmaxminddb)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
# The chat robots' transports (common/http.c, common/robot.c): libcurl for HTTP, json-c for
# the bodies.  Only qqnotify and the tests link them; the PAM module never does.
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
JSONC_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)
JSONC_LIBS := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)

ALL_CFLAGS = $(BASE_CFLAGS) $(OPENSSL_CFLAGS) $(MAXMINDDB_CFLAGS) -iquote common $(CFLAGS) $(EXTRA_CFLAGS)

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

.PHONY: all check check-asan check-run check-fresh demo demo-build deps deps-% build-ready \
	install clean format format-check
all:

# The goals that install their own dependency set before anything is built (deb and rpm
# through these lines, fuzz through its objects below).  BUILD_DEPS: the set a plain build
# checks; empty in the sub-makes of goals that installed theirs.
deb: deps-deb
rpm: deps-rpm
check-packaging: deps-packaging
check-fresh: deps-fresh
BUILD_DEPS ?= build

# Each folder's part; a folder without one yet is skipped.
include $(wildcard common/module.mk cli/module.mk secrets/module.mk pam/module.mk \
	journal-watch/module.mk drop/module.mk packaging/module.mk po/module.mk tests/module.mk \
	tests/fuzz/module.mk)

# Objects that only a pattern chain names (tests/unit/test_X.o) are kept, not deleted
# after the link with an "rm ..." line: the next build does not compile them again.
.SECONDARY:

$(B)/obj/%.o: %.c | build-ready
	@mkdir -p $(dir $@)
	$(Q)$(call msg,CC,$<)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Nothing is compiled without the compiler and the headers: a missing package is named,
# with the command that installs it, instead of the first compiler error.
build-ready:
	$(if $(BUILD_DEPS),@CC='$(CC)' sh tools/deps.sh --check $(BUILD_DEPS),@:)
$(PO_MOS): | build-ready
$(sort $(foreach t,$(FUZZ_TARGETS),$(B)/fuzz/obj/tests/fuzz/fuzz_$(t).o \
	$(FUZZ_MODULES_$(t):%=$(B)/fuzz/obj/common/%.o))): | deps-fuzz

deps:
	@sh tools/deps.sh demo build check asan fuzz deb rpm packaging fresh

deps-%:
	@sh tools/deps.sh $*

check: deps-check
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory BUILD_DEPS= all tests
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

check-asan: deps-asan
	@$(MAKE) --no-print-directory B=build/asan CC=clang SANITIZE=1 BUILD_DEPS= all tests
	@$(MAKE) --no-print-directory B=build/asan CC=clang SANITIZE=1 check-run

check-run:
	@B=$(B) PYTHON=$(PYTHON) sh tests/run.sh

check-fresh:
	@B=$(B) bash tests/fresh/first-hour.sh

# The demo builds what it runs: qqnotify and its translations.
demo: deps-demo
	@$(MAKE) --no-print-directory BUILD_DEPS= demo-build
	@$(PYTHON) tests/integration/demo.py --qqnotify $(B)/qqnotify

demo-build: $(B)/qqnotify $(PO_MOS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/qqnotify
	install -m 0755 $(B)/qqnotify $(DESTDIR)$(BINDIR)/qqnotify
	install -m 0755 $(B)/qqnotify-secret $(DESTDIR)$(BINDIR)/qqnotify-secret
	$(MAKE) --no-print-directory install-po
	$(MAKE) --no-print-directory install-man

clean:
	rm -rf $(B)
