# The NVML helper of the static agents (see src/nvml-helper.c).
#
# build/agent/ARCH/ferry-nvml: dynamically linked, referencing only symbol
# versions <= GLIBC_2.17 (checked here with objdump -T, so a newer one
# fails the build), embedded in that architecture's agent through
# build/agent/ARCH/nvml-blob.o (.incbin) as ferry_nvml_blob.
NVML_HELPER_CFLAGS := -std=c11 $(WARN) -Isrc -Os -fno-stack-protector -U_FORTIFY_SOURCE \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-builtin-printf
NVML_HELPER_LDFLAGS := -nostartfiles -Wl,-z,noseparate-code -Wl,--build-id=none -Wl,--no-as-needed -l:libdl.so.2 -Wl,--as-needed

# nvml_glibc_max FILE ARCH: the newest GLIBC_ version FILE references.
nvml_glibc_max = $(call agent_tool,$(2),objdump) -T $(1) | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1

define NVML_RULES
build/agent/$(1)/ferry-nvml: src/nvml-helper.c src/mon-nvml.h src/nvml-wire.h | build/agent/$(1)
	$$(call agent_tool,$(1),gcc) $$(NVML_HELPER_CFLAGS) -o $$@.tmp $$< $$(NVML_HELPER_LDFLAGS)
	$$(call agent_tool,$(1),strip) $$@.tmp
	v=$$$$($$(call nvml_glibc_max,$$@.tmp,$(1))); \
	if [ "$$$$(printf '%s\n%s\n' "$$$$v" GLIBC_2.17 | sort -V | tail -n 1)" != GLIBC_2.17 ]; then \
		echo "$$@: references $$$$v, newer than GLIBC_2.17" >&2; exit 1; fi
	mv $$@.tmp $$@
build/agent/$(1)/nvml-blob.o: build/agent/$(1)/ferry-nvml
	printf '%s\n' '.section .rodata' '.balign 16' '.global ferry_nvml_blob' '.global ferry_nvml_blob_end' \
		'ferry_nvml_blob:' '.incbin "$$<"' 'ferry_nvml_blob_end:' '.section .note.GNU-stack,"",@progbits' | \
		$$(call agent_tool,$(1),gcc) -c -x assembler -o $$@ -
AGENT_EXTRA_$(1) += build/agent/$(1)/nvml-blob.o
endef
$(foreach a,$(AGENT_ARCHES),$(eval $(call NVML_RULES,$(a))))
