# Translations: po/LANG.po -> $(B)/locale/LANG/LC_MESSAGES/qqnotify.mo
# (the program looks for locale/ next to its executable first, so build/qqnotify
# speaks Chinese before it is installed).
PO_LANGS := zh_CN
PO_MOS := $(PO_LANGS:%=$(B)/locale/%/LC_MESSAGES/qqnotify.mo)

$(B)/locale/%/LC_MESSAGES/qqnotify.mo: po/%.po
	@mkdir -p $(dir $@)
	$(Q)$(call msg,MSGFMT,$<)msgfmt --check -o $@ $<

all: $(PO_MOS)

.PHONY: install-po update-po
install-po:
	for l in $(PO_LANGS); do \
		install -d $(DESTDIR)$(LOCALEDIR)/$$l/LC_MESSAGES; \
		install -m 0644 $(B)/locale/$$l/LC_MESSAGES/qqnotify.mo $(DESTDIR)$(LOCALEDIR)/$$l/LC_MESSAGES/; \
	done

# Refresh po/qqnotify.pot and merge it into each catalog (run by hand after changing messages).
update-po:
	xgettext --from-code=UTF-8 -k_ -kN_ -o po/qqnotify.pot common/*.c cli/*.c secrets/*.c journal-watch/*.c
	for l in $(PO_LANGS); do msgmerge -U --backup=none po/$$l.po po/qqnotify.pot; done
