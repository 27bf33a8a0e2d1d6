# ---- The unit tests against musl ----
#
#   make musl-unit        build/musl/unit: tests/unit/*.c and LIB_SRC built
#                         with musl-gcc (Debian's musl-tools), then run
#
# The same sources as build/san/unit, another libc: what glibc lets pass
# (a header it includes for us, a GNU-only call) fails here.  musl-gcc has
# no sanitizers, so -O1 -g -Werror alone.
#
# musl-gcc searches musl's headers only.  The few others the sources need
# (zstd, inih, xxhash, ncurses, the kernel's uapi) are linked one by one
# into build/musl/include, never all of /usr/include, whose glibc headers
# would be picked over musl's.  Debian builds its static libraries (zstd,
# inih, ncurses) for glibc alone; they link against musl as they are but
# for glibc's _FORTIFY_SOURCE entry points, which tests/musl/shims.c gives
# them.  ncurses comes in only because cmd.c's command table names cmd_top
# (tests/musl/shims.c says how the unit tests reach cmd.c).

MUSL_CC    ?= musl-gcc
MUSL_ARCH  := $(shell $(CC) -print-multiarch 2>/dev/null || echo $(HOST_ARCH)-linux-gnu)
MUSL_LIBS  := $(foreach l,zstd inih ncursesw tinfo,/usr/lib/$(MUSL_ARCH)/lib$(l).a)
MUSL_CFLAGS := -std=c11 -pthread -DFERRY_VERSION='"$(VERSION)"' $(WARN) -Werror -O1 -g
MUSL_INC   := -Isrc -Ibuild/musl/include
MUSL_OBJ   := $(LIB_SRC:src/%.c=build/musl/%.o)
# Single headers, then folders (the kernel's, for linux/openat2.h and the
# agent's netlink and inotify code).
MUSL_HDRS  := zstd.h zstd_errors.h ini.h xxhash.h curses.h ncurses_dll.h unctrl.h term.h
MUSL_KHDRS := /usr/include/linux /usr/include/asm-generic /usr/include/$(MUSL_ARCH)/asm

.PHONY: musl-unit

build/musl/include/.stamp: | build/musl
	mkdir -p build/musl/include
	for h in $(MUSL_HDRS); do ln -sfn /usr/include/$$h build/musl/include/$$h || exit 1; done
	for d in $(MUSL_KHDRS); do ln -sfn $$d build/musl/include/$${d##*/} || exit 1; done
	touch $@

build/musl/%.o: src/%.c $(HDRS) build/musl/include/.stamp | build/musl
	$(MUSL_CC) $(MUSL_CFLAGS) $(MUSL_INC) -c -o $@ $<

# Not -Isrc: its limits.h would shadow the libc's.
build/musl/shims.o: tests/musl/shims.c | build/musl
	$(MUSL_CC) $(MUSL_CFLAGS) -c -o $@ $<

build/musl/libferry.a: $(MUSL_OBJ)
	rm -f $@ && ar rcs $@ $^

# --build-id by hand: Debian's gcc adds it by default, musl-gcc's specs
# do not, and ferry_build_id and the bundle tests read it.
build/musl/unit: $(UNIT_SRC) $(HDRS) build/musl/libferry.a build/musl/shims.o build/san/groups.h
	$(MUSL_CC) $(MUSL_CFLAGS) $(MUSL_INC) -Wl,--build-id -Itests/unit -Ibuild/san -o $@ $(UNIT_SRC) \
		build/musl/libferry.a build/musl/shims.o $(MUSL_LIBS)

# Run from the top: the tests read src/ and tests/data/ by relative path.
# build/san/ferry: the job_backend group runs `ferry agent supervise` with it.
musl-unit: build/musl/unit build/san/ferry
	./build/musl/unit $(T)

build/musl:
	mkdir -p $@
