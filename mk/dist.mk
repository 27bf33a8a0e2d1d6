# ---- Release: make install, make dist, make deb ----
#
# One installed layout, whichever way ferry arrives (docs/install.md):
#
#   PREFIX/bin/ferry
#   PREFIX/libexec/ferry/ferry-agent-linux-ARCH      the agents it uploads
#   PREFIX/share/man/man1/ferry.1, ferry-COMMAND.1, man7/ferry-TOPIC.7
#   PREFIX/share/bash-completion/completions/ferry
#   PREFIX/share/zsh/vendor-completions/_ferry
#   PREFIX/share/fish/vendor_completions.d/ferry.fish
#   PREFIX/share/doc/ferry/README.md, docs/*.md
#
# The client finds its agents at ../libexec/ferry from its own executable,
# so the tree may be moved as a whole.
#
#   make install PREFIX=/usr/local [DESTDIR=...]   the client built here
#   make dist     build/dist/ferry-VERSION-linux.tar.gz: static clients for
#                 x86_64 and aarch64 in the same tree, bin/ferry-linux-ARCH
#   make deb      build/dist/ferry_VERSION_DEBARCH.deb, installing to /usr
#
# FERRY_BIN (the client to install; a test installs build/san/ferry),
# MAN_OUT, DIST_OUT and DEB_STAGE may be set to build elsewhere.

FERRY_BIN  ?= ferry
MAN_OUT    ?= build/man
DIST_OUT   ?= build/dist
DEB_STAGE  ?= build/deb
bindir     = $(PREFIX)/bin
libexecdir = $(PREFIX)/libexec
datadir    = $(PREFIX)/share
mandir     = $(datadir)/man
docdir     = $(datadir)/doc/ferry

DOC_MD := $(sort $(wildcard docs/*.md))
COMPLETIONS := completions/ferry completions/_ferry completions/ferry.fish
# The last commit's date, so that the pages do not change with the day
# they were built on (md2man falls back to SOURCE_DATE_EPOCH or today).
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

.PHONY: man install uninstall dist deb static-clients

# ---- man pages ----

# One run writes every page (ferry.1 from the client's own --help), so the
# rule's target is a stamp.
man: $(MAN_OUT)/.stamp

$(MAN_OUT)/.stamp: $(FERRY_BIN) scripts/md2man README.md $(DOC_MD)
	rm -rf $(MAN_OUT) && mkdir -p $(MAN_OUT)
	scripts/md2man --ferry $(abspath $(FERRY_BIN)) --readme README.md \
		--out $(MAN_OUT) --version $(VERSION) $(if $(MAN_DATE),--date $(MAN_DATE)) $(DOC_MD)
	touch $@

# ---- install ----

# $(call install_tree,ROOT): everything but the client into ROOT, a prefix.
define install_tree
	install -d $(1)/libexec/ferry $(1)/share/man/man1 $(1)/share/man/man7 \
		$(1)/share/bash-completion/completions $(1)/share/zsh/vendor-completions \
		$(1)/share/fish/vendor_completions.d $(1)/share/doc/ferry/docs
	install -m 755 $(AGENT_BUNDLE) $(1)/libexec/ferry/
	install -m 644 $(MAN_OUT)/*.1 $(1)/share/man/man1/
	install -m 644 $(MAN_OUT)/*.7 $(1)/share/man/man7/
	install -m 644 completions/ferry $(1)/share/bash-completion/completions/ferry
	install -m 644 completions/_ferry $(1)/share/zsh/vendor-completions/_ferry
	install -m 644 completions/ferry.fish $(1)/share/fish/vendor_completions.d/ferry.fish
	install -m 644 README.md $(1)/share/doc/ferry/
	install -m 644 $(DOC_MD) $(1)/share/doc/ferry/docs/
endef

install: $(FERRY_BIN) $(AGENT_BUNDLE) $(MAN_OUT)/.stamp $(COMPLETIONS)
	install -d $(DESTDIR)$(bindir)
	install -m 755 $(FERRY_BIN) $(DESTDIR)$(bindir)/ferry
	$(call install_tree,$(DESTDIR)$(PREFIX))

uninstall:
	rm -f $(DESTDIR)$(bindir)/ferry
	rm -rf $(DESTDIR)$(libexecdir)/ferry $(DESTDIR)$(docdir)
	rm -f $(DESTDIR)$(mandir)/man1/ferry.1 $(DESTDIR)$(mandir)/man1/ferry-*.1 \
		$(DESTDIR)$(mandir)/man7/ferry-*.7
	rm -f $(DESTDIR)$(datadir)/bash-completion/completions/ferry \
		$(DESTDIR)$(datadir)/zsh/vendor-completions/_ferry \
		$(DESTDIR)$(datadir)/fish/vendor_completions.d/ferry.fish

# ---- static clients ----
#
# The whole client, fully static, per architecture, for the tarball: it
# runs on any Linux of that CPU whatever its libc.  Same sources as
# ./ferry; static glibc plus the static inih, zstd and ncurses of Debian's
# -dev:ARCH packages.  ncurses looks for terminfo in /etc/terminfo,
# /lib/terminfo and /usr/share/terminfo, as most distributions keep it.
CLIENT_ARCHES ?= x86_64 aarch64
CLIENT_OBJ_NAMES := $(LIB_SRC:src/%.c=%.o) main.o
STATIC_CLIENTS := $(foreach a,$(CLIENT_ARCHES),build/client/$(a)/ferry-linux-$(a))

static-clients: $(STATIC_CLIENTS)

define CLIENT_RULES
# FERRY_STATIC: as the agents, NVML through the embedded helper (the
# static client is the local target's agent too).
build/client/$(1)/%.o: src/%.c $$(HDRS) | build/client/$(1)
	$$(call agent_tool,$(1),gcc) $$(BASE_CFLAGS) -DFERRY_STATIC -O2 -g -c -o $$@ $$<
build/client/$(1)/ferry: $$(CLIENT_OBJ_NAMES:%=build/client/$(1)/%) build/agent/$(1)/nvml-blob.o
	$$(call agent_tool,$(1),gcc) -static -pthread -Wl,--build-id -o $$@ $$^ \
		$$(foreach l,inih zstd ncursesw tinfo,/usr/lib/$$(call triplet,$(1))/lib$$(l).a)
build/client/$(1)/ferry-linux-$(1): build/client/$(1)/ferry
	$$(call agent_tool,$(1),strip) -o $$@.tmp $$< && mv $$@.tmp $$@
build/client/$(1):
	mkdir -p $$@
endef
$(foreach a,$(CLIENT_ARCHES),$(eval $(call CLIENT_RULES,$(a))))

# ---- make dist ----
#
# ferry-VERSION/ is a prefix tree (bin, libexec, share) holding both
# clients as bin/ferry-linux-ARCH; docs/install.md says how to install
# the one for a machine.  Owners, order and times are fixed: the same
# sources give the same tarball.
DIST_NAME := ferry-$(VERSION)
DIST_TAR := $(DIST_OUT)/$(DIST_NAME)-linux.tar.gz

dist: $(DIST_TAR)

$(DIST_TAR): $(STATIC_CLIENTS) $(AGENT_BUNDLE) $(MAN_OUT)/.stamp $(COMPLETIONS) docs/install.md
	rm -rf $(DIST_OUT)/$(DIST_NAME) && mkdir -p $(DIST_OUT)/$(DIST_NAME)/bin
	install -m 755 $(STATIC_CLIENTS) $(DIST_OUT)/$(DIST_NAME)/bin/
	$(call install_tree,$(DIST_OUT)/$(DIST_NAME))
	install -m 644 README.md $(DIST_OUT)/$(DIST_NAME)/README.md
	install -m 644 docs/install.md $(DIST_OUT)/$(DIST_NAME)/INSTALL.md
	tar -C $(DIST_OUT) --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$(SOURCE_DATE_EPOCH) -cf - $(DIST_NAME) | gzip -9n >$@.tmp
	mv $@.tmp $@
	rm -rf $(DIST_OUT)/$(DIST_NAME)

# ---- make deb ----
#
# The client built here (dynamically linked against glibc, the rest
# static), stripped, into /usr; Depends names the newest GLIBC_ symbol
# version it references.  Man pages gzipped as Debian does.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(DIST_OUT)/ferry_$(VERSION)_$(DEB_ARCH).deb
DEB_MAINTAINER ?= ferry maintainers <ferry@localhost>

deb: $(DEB)

$(DEB): $(FERRY_BIN) $(AGENT_BUNDLE) $(MAN_OUT)/.stamp $(COMPLETIONS) mk/dist.mk
	@test -n "$(DEB_ARCH)" || { echo "make deb: no dpkg here" >&2; exit 1; }
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/DEBIAN $(DEB_STAGE)/usr/bin $(DIST_OUT)
	strip --strip-unneeded -o $(DEB_STAGE)/usr/bin/ferry $(FERRY_BIN)
	chmod 755 $(DEB_STAGE)/usr/bin/ferry
	$(call install_tree,$(DEB_STAGE)/usr)
	gzip -9n $(DEB_STAGE)/usr/share/man/man1/*.1 $(DEB_STAGE)/usr/share/man/man7/*.7
	glibc=$$(objdump -T $(DEB_STAGE)/usr/bin/ferry 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | \
		sed 's/GLIBC_//' | sort -uV | tail -n 1); \
	{ echo "Package: ferry"; \
	  echo "Version: $(VERSION)"; \
	  echo "Architecture: $(DEB_ARCH)"; \
	  echo "Maintainer: $(DEB_MAINTAINER)"; \
	  echo "Installed-Size: $$(du -sk $(DEB_STAGE)/usr | cut -f1)"; \
	  echo "Depends: openssh-client$${glibc:+, libc6 (>= $$glibc)}"; \
	  echo "Section: net"; \
	  echo "Priority: optional"; \
	  echo "Description: edit on your laptop, run on the server"; \
	  echo " ferry syncs a project to a server over your own OpenSSH client, runs"; \
	  echo " commands and jobs there that survive disconnection, brings results"; \
	  echo " back, forwards ports and shows the server's CPUs, memory and GPUs."; \
	  echo " It installs a small static agent of its own on the server (x86_64,"; \
	  echo " aarch64 and ppc64le Linux agents are included)."; \
	} >$(DEB_STAGE)/DEBIAN/control
	cd $(DEB_STAGE) && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums
	find $(DEB_STAGE) -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) dpkg-deb --root-owner-group -Zxz --build $(DEB_STAGE) $@.tmp >/dev/null
	mv $@.tmp $@
