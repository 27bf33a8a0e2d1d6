# ferry - one GNU Makefile.
#
#   make                  ./ferry (optimised, strict warnings)
#   make check            ASan+UBSan build, unit tests, CLI tests (bats, real
#                         sshd), a short fuzz run of every decoder
#   make fuzz             libFuzzer harnesses (clang) in build/fuzz/
#   make install PREFIX=/usr/local
#   make bench            benchmarks against ssh (bench/, not tests)

VERSION    := 0.1.0
PREFIX     ?= /usr/local
CC         ?= cc
CLANG      ?= clang
PKG_CONFIG ?= pkg-config

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wvla -Wundef -Wcast-align -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -pthread -DFERRY_VERSION='"$(VERSION)"' $(WARN) \
        $(shell $(PKG_CONFIG) --cflags inih libzstd) -Isrc
CFLAGS  ?= -O2 -g
# Third-party libraries are linked statically: the same file is uploaded to
# servers as the agent, and they may not have them installed.
# zstd and ncurses too (ncurses only for `ferry top`): the same file is
# uploaded as the agent, to servers that may have neither.
LIBS := -Wl,-Bstatic $(shell $(PKG_CONFIG) --libs inih libzstd) -lncursesw -ltinfo -Wl,-Bdynamic -pthread
LDFLAGS_ALL := -Wl,--build-id $(LDFLAGS)

SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# agent-main.c is the static agent's own entry (see "Static agents").
LIB_SRC := $(filter-out src/main.c src/agent-main.c src/nvml-helper.c,$(sort $(wildcard src/*.c)))
MAIN_SRC := src/main.c
UNIT_SRC := $(wildcard tests/unit/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
HDRS := $(wildcard src/*.h) tests/unit/t.h

REL_OBJ := $(LIB_SRC:src/%.c=build/rel/%.o)
SAN_OBJ := $(LIB_SRC:src/%.c=build/san/%.o)
FUZZ_LIB_OBJ := $(LIB_SRC:src/%.c=build/fuzz/%.o)
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

.PHONY: all agents check unit cli fuzz fuzz-smoke install clean bench
# Keep the fuzz objects between runs.
.SECONDARY:
all: ferry agents

ferry: $(REL_OBJ) build/rel/main.o
	$(CC) $(CFLAGS) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

build/rel/%.o: src/%.c $(HDRS) | build/rel
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

build/san/%.o: src/%.c $(HDRS) | build/san
	$(CC) $(BASE_CFLAGS) -Werror -O1 -g $(SAN) -c -o $@ $<

build/san/ferry: $(SAN_OBJ) build/san/main.o
	$(CC) -g $(SAN) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# A second build with another version string: tests that an agent of a
# different build is replaced.
build/san/ferry-next: $(SAN_OBJ) src/main.c src/util.c $(HDRS)
	$(CC) $(BASE_CFLAGS) -UFERRY_VERSION -DFERRY_VERSION='"$(VERSION)-next"' -O1 -g $(SAN) -c -o build/san/util-next.o src/util.c
	$(CC) -g $(SAN) $(LDFLAGS_ALL) -o $@ $(filter-out build/san/util.o,$(SAN_OBJ)) build/san/util-next.o build/san/main.o $(LIBS)

# The unit groups, one per tests/unit/test-NAME.c, for tests/unit/main.c.
build/san/groups.h: $(UNIT_SRC) | build/san
	for f in $(sort $(filter tests/unit/test-%.c,$(UNIT_SRC))); do \
		n=$${f#tests/unit/test-}; n=$${n%.c}; echo "T_GROUP($$n)" | tr - _; \
	done > $@.tmp && mv $@.tmp $@

build/san/unit: $(SAN_OBJ) $(UNIT_SRC) $(HDRS) build/san/groups.h
	$(CC) $(BASE_CFLAGS) -Werror -O1 -g $(SAN) -Itests/unit -Ibuild/san -o $@ $(UNIT_SRC) $(SAN_OBJ) $(LIBS)

build/fuzz/%.o: src/%.c $(HDRS) | build/fuzz
	$(CLANG) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

build/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_LIB_OBJ)
	$(CLANG) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJ) $(LIBS)

build/rel build/san build/fuzz:
	mkdir -p $@

# ---- Static agents ----
#
# One fully static executable per server architecture (static glibc from
# Debian's libc6-dev / libc6-dev-ARCH-cross, zstd from libzstd-dev:ARCH),
# stripped, in build/agents/ferry-agent-linux-ARCH: the bundle the client
# uploads from (see docs/agents.md).  It is the agent half of ferry only
# (src/agent-main.c): no terminal UI, no config parser, no NSS, no dlopen.
AGENT_ARCHES ?= x86_64 aarch64 ppc64le
HOST_ARCH := $(shell uname -m)
triplet_x86_64  := x86_64-linux-gnu
triplet_aarch64 := aarch64-linux-gnu
triplet_ppc64le := powerpc64le-linux-gnu
# The native compiler for this machine's architecture, Debian's cross
# compilers (gcc-ARCH-linux-gnu) for the others.
triplet = $(or $(triplet_$(1)),$(1)-linux-gnu)
agent_tool = $(if $(filter $(1),$(HOST_ARCH)),$(2),$(call triplet,$(1))-$(2))
AGENT_CFLAGS := -std=c11 -pthread -DFERRY_VERSION='"$(VERSION)"' -DFERRY_STATIC $(WARN) \
        $(shell $(PKG_CONFIG) --cflags libzstd) -Isrc -g -ffunction-sections -fdata-sections \
        -fno-asynchronous-unwind-tables -fno-unwind-tables
AGENT_BUNDLE := $(AGENT_ARCHES:%=build/agents/ferry-agent-linux-%)
# Objects a later rule adds to one architecture's agent (the NVML helper).
AGENT_EXTRA_x86_64 :=
AGENT_EXTRA_aarch64 :=
AGENT_EXTRA_ppc64le :=

include mk/nvml.mk

agents: $(AGENT_BUNDLE)

# Small (-Os, the ppc64le agent would pass 2 MB at -O2), but the sync
# engine's hashing and delta loops, which -Os slows; on ppc64le those
# too: its 64 KiB segment alignment leaves it near the 2 MiB line.
AGENT_OPT := -Os

define AGENT_RULES
build/agent/$(1)/sync-%.o: AGENT_OPT := $(if $(filter ppc64le,$(1)),-Os,-O2)
build/agent/$(1)/%.o: src/%.c $$(HDRS) | build/agent/$(1)
	$$(call agent_tool,$(1),gcc) $$(AGENT_CFLAGS) $$(AGENT_OPT) -c -o $$@ $$<
build/agent/$(1)/libferry.a: $$(LIB_SRC:src/%.c=build/agent/$(1)/%.o)
	rm -f $$@ && $$(call agent_tool,$(1),ar) rcs $$@ $$^
build/agent/$(1)/ferry-agent: build/agent/$(1)/agent-main.o build/agent/$(1)/libferry.a $$(AGENT_EXTRA_$(1))
	$$(call agent_tool,$(1),gcc) -static -pthread -Wl,--gc-sections -Wl,--build-id -Wl,-z,noseparate-code -o $$@ \
		build/agent/$(1)/agent-main.o $$(AGENT_EXTRA_$(1)) build/agent/$(1)/libferry.a /usr/lib/$$(call triplet,$(1))/libzstd.a
build/agents/ferry-agent-linux-$(1): build/agent/$(1)/ferry-agent | build/agents
	$$(call agent_tool,$(1),strip) -o $$@.tmp $$< && mv $$@.tmp $$@
build/agent/$(1):
	mkdir -p $$@
endef
$(foreach a,$(AGENT_ARCHES),$(eval $(call AGENT_RULES,$(a))))

build/agents:
	mkdir -p $@

# `make unit T="sync-delta job"` runs only those groups (build/san/unit -l).
unit: build/san/unit
	ASAN_OPTIONS=detect_leaks=1 ./build/san/unit $(T)

# `make cli T="300 410"` runs only the suites whose names start so.
cli: build/san/ferry build/san/ferry-next
	FERRY=$(CURDIR)/build/san/ferry FERRY_NEXT=$(CURDIR)/build/san/ferry-next tests/run-cli $(T)

fuzz: $(FUZZERS)

# A short run of every harness over its seed corpus.
fuzz-smoke: $(FUZZERS)
	tests/run-fuzz $(FUZZERS)

# musl-unit first: the unit tests against musl too (mk/musl.mk, ~30 s).
check: build/san/unit build/san/ferry build/san/ferry-next $(FUZZERS) $(AGENT_BUNDLE) musl-unit
	tests/run-all

bench: ferry
	bench/exec

include mk/dist.mk

clean:
	rm -rf build ferry
include mk/musl.mk
