# packaging: what `make install` adds besides the programs, and the distribution packages.
#
#   make install            also installs the data below (install-data, then install-man)
#   make deb                .deb packages under $(B)/deb (dpkg-buildpackage -us -uc -b)
#   make rpm                .rpm packages under $(B)/rpm (rpmbuild -ba)
#   make check-packaging    build both, lintian and rpmlint, systemd-analyze security, and an
#                           install test of the .debs in a throw-away Debian 12 root
#
# Data installed by install-data (the packages take the same tree from `make install`):
#   $(SYSCONFDIR)/qqnotify/qqnotify.conf       example configuration (a conffile)
#   $(SYSCONFDIR)/qqnotify/rules.d/*.conf      the journal watcher's default rules
#   $(SYSTEMDUNITDIR)/qqnotify-*               the units (paths follow BINDIR)
#   $(SYSUSERSDIR)/qqnotify.conf               the qqnotify system user, the qqnotify-drop group
#   $(TMPFILESDIR)/qqnotify.conf               the spool tree and its modes
#   $(PAMCONFIGDIR)/qqnotify                   pam-auth-update profile (PREFIX=/usr; empty = skip)
#   $(MANDIR)/man1/qqnotify.1.gz, qqnotify-secret.1.gz, man5/qqnotify.conf.5.gz
# install-man then compresses (gzip -9n) the pages other folders install uncompressed.
#
# Not installed on purpose: /usr/sbin/sendmail, which belongs to a mail server;
# qqnotify(1) tells how to link it by hand.

# systemd's own directories when installing into /usr, else below PREFIX (systemd also
# reads /usr/local/lib/systemd/system, /usr/local/lib/sysusers.d and ...tmpfiles.d).
ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd \
	2>/dev/null),/lib/systemd/system)
SYSUSERSDIR ?= $(or $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null),\
	/usr/lib/sysusers.d)
TMPFILESDIR ?= $(or $(shell $(PKG_CONFIG) --variable=tmpfilesdir systemd 2>/dev/null),\
	/usr/lib/tmpfiles.d)
else
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
endif
# pam-auth-update reads /usr/share/pam-configs only: no profile for other prefixes.
ifeq ($(PREFIX),/usr)
PAMCONFIGDIR ?= $(DATADIR)/pam-configs
endif

PKG_UNITS := qqnotify-journal.service qqnotify-flush.service qqnotify-flush.path \
	qqnotify-flush.timer
PKG_RULES := $(sort $(wildcard packaging/rules.d/*.conf))
# Man pages of every program and file format, and the folders that hold them.
PKG_MAN_OWN := cli/qqnotify.1 secrets/qqnotify-secret.1 packaging/qqnotify.conf.5
PKG_MAN_ALL := man1/qqnotify.1 man1/qqnotify-secret.1 man5/qqnotify.conf.5 \
	man5/qqnotify-rules.5 man8/qqnotify-journal.8 man8/pam_qqnotify.8 man8/qqnotify-drop.8

.PHONY: install-data install-man deb rpm check-packaging

install: install-data

# Paths in the shipped files say /usr/bin; another BINDIR is written in on the way.
PKG_SUBST := sed -e 's|/usr/bin/qqnotify|$(BINDIR)/qqnotify|g'

install-data:
	install -d $(DESTDIR)$(SYSCONFDIR)/qqnotify/rules.d $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	$(PKG_SUBST) packaging/qqnotify.conf > $(DESTDIR)$(SYSCONFDIR)/qqnotify/qqnotify.conf.tmp
	chmod 0640 $(DESTDIR)$(SYSCONFDIR)/qqnotify/qqnotify.conf.tmp
	mv -f $(DESTDIR)$(SYSCONFDIR)/qqnotify/qqnotify.conf.tmp \
		$(DESTDIR)$(SYSCONFDIR)/qqnotify/qqnotify.conf
	$(if $(PKG_RULES),install -m 0644 $(PKG_RULES) $(DESTDIR)$(SYSCONFDIR)/qqnotify/rules.d/)
	for u in $(PKG_UNITS); do \
		$(PKG_SUBST) packaging/systemd/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	install -m 0644 packaging/sysusers.d/qqnotify.conf $(DESTDIR)$(SYSUSERSDIR)/qqnotify.conf
	install -m 0644 packaging/tmpfiles.d/qqnotify.conf $(DESTDIR)$(TMPFILESDIR)/qqnotify.conf
	$(if $(PAMCONFIGDIR),install -d $(DESTDIR)$(PAMCONFIGDIR))
	$(if $(PAMCONFIGDIR),install -m 0644 packaging/pam-configs/qqnotify \
		$(DESTDIR)$(PAMCONFIGDIR)/qqnotify)
	for m in $(PKG_MAN_OWN); do \
		s=$${m##*.}; n=$${m##*/}; \
		gzip -9n < $$m > $(DESTDIR)$(MANDIR)/man$$s/$$n.gz && \
		chmod 0644 $(DESTDIR)$(MANDIR)/man$$s/$$n.gz || exit 1; \
	done

# Run by the top-level install rule after every folder installed its part: the pages
# installed uncompressed are compressed in place (gzip -9n: reproducible, no name or time).
install-man:
	@for p in $(PKG_MAN_ALL); do \
		f=$(DESTDIR)$(MANDIR)/$$p; \
		if [ -f "$$f" ]; then \
			echo "gzip -9n $$f"; gzip -9nf "$$f" || exit 1; \
		fi; \
	done

# ---- packages ---------------------------------------------------------------------------

PKG_TREE_EXCLUDES := --exclude=./.git --exclude=./build --exclude=./$(B) --exclude='./*.log'

# The source tree as the packages see it: a copy without build products.
define pkg_copy_tree
	rm -rf $(1)
	mkdir -p $(1)
	tar -C . $(PKG_TREE_EXCLUDES) -cf - . | tar -C $(1) -xf -
endef

deb:
	$(call pkg_copy_tree,$(B)/deb/qqnotify-$(VERSION))
	cp -a packaging/debian $(B)/deb/qqnotify-$(VERSION)/debian
	cd $(B)/deb/qqnotify-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls -l $(B)/deb/*.deb

# rpmbuild finds BuildRequires in the rpm database; on a Debian build host that database
# is empty, so they are not checked there (--nodeps), and systemd's RPM macros are missing
# (host-fallback.macros stands in).  On Fedora and RHEL neither applies.
PKG_RPM_TOP := $(CURDIR)/$(B)/rpm
PKG_RPM_HOST_ARGS = $(if $(wildcard /var/lib/dpkg/status),--nodeps) \
	$(if $(shell rpm --eval '%{?_unitdir}' 2>/dev/null),,--load=packaging/rpm/host-fallback.macros)

rpm:
	rm -rf $(PKG_RPM_TOP)
	mkdir -p $(PKG_RPM_TOP)/SOURCES $(PKG_RPM_TOP)/SPECS
	$(call pkg_copy_tree,$(PKG_RPM_TOP)/src/qqnotify-$(VERSION))
	tar -C $(PKG_RPM_TOP)/src --owner=0 --group=0 -czf \
		$(PKG_RPM_TOP)/SOURCES/qqnotify-$(VERSION).tar.gz qqnotify-$(VERSION)
	rm -rf $(PKG_RPM_TOP)/src
	cp packaging/rpm/qqnotify.spec $(PKG_RPM_TOP)/SPECS/
	cp packaging/sysusers.d/qqnotify.conf $(PKG_RPM_TOP)/SOURCES/qqnotify.sysusers
	rpmbuild -ba $(PKG_RPM_HOST_ARGS) --define '_topdir $(PKG_RPM_TOP)' \
		$(PKG_RPM_TOP)/SPECS/qqnotify.spec
	@find $(PKG_RPM_TOP)/RPMS $(PKG_RPM_TOP)/SRPMS -name '*.rpm' -exec ls -l {} +

check-packaging:
	@B=$(B) VERSION=$(VERSION) MAKE="$(MAKE)" PYTHON=$(PYTHON) bash packaging/check-packaging.sh
