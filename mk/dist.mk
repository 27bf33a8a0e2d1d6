# Release: make dist, make deb, make install.

install: ferry
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 ferry $(DESTDIR)$(PREFIX)/bin/ferry
