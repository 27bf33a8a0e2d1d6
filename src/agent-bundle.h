/*
 * agent-bundle.h - the static agents this client carries, one per server
 * platform, and the platform each host was found to be (docs/agents.md).
 *
 * The bundle is a folder of ferry-agent-linux-ARCH files, found at
 * $FERRY_AGENT_BUNDLE, <dir of ferry>/../libexec/ferry (an install),
 * <dir of ferry>/build/agents (a source tree), then LIBEXECDIR.  An
 * agent's id is "VERSION-<12 hex of its GNU build id>", what
 * `agent --build-id` prints: the name of its folder on the server.
 */
#ifndef FERRY_AGENT_BUNDLE_H
#define FERRY_AGENT_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

/* A build id note's hex (at most 20 bytes of it) from the ELF image at
 * p (n bytes, the start of the file: header, program headers and the
 * notes they point at, as far as they lie within n).  64-bit
 * little-endian ELF only.  0, or -1 when there is none or the image is
 * malformed. */
int elf_build_id(const void *p, size_t n, char hex[41]);
/* The e_machine of that ELF image, as `uname -m` names it ("x86_64",
 * "aarch64", "ppc64le"), or NULL. */
const char *elf_machine(const void *p, size_t n);

struct bundle_agent {
	char *path;		/* the agent executable */
	char id[96];		/* what its `agent --build-id` prints */
};

/* The bundle folder, or NULL when there is none.  Caller frees. */
char *bundle_dir(void);
/* The agent for OS/ARCH (as `uname -s`, `uname -m` print them: Linux,
 * x86_64): 0, or -1 when the bundle has none (no bundle, or not that
 * platform).  Free with bundle_agent_free. */
int bundle_find(const char *os, const char *arch, struct bundle_agent *a);
void bundle_agent_free(struct bundle_agent *a);
/* The platforms the bundle carries, "linux-x86_64 linux-aarch64 ...",
 * "" when none.  Caller frees. */
char *bundle_platforms(void);

/* The platform recorded for host (`uname -s` and `uname -m` of its last
 * bootstrap): 0, or -1 when none is.  os and arch hold 64 bytes. */
int host_platform_get(const char *host, char *os, char *arch);
/* Records it (best effort: a state folder that cannot be written only
 * costs a probe next time). */
void host_platform_put(const char *host, const char *os, const char *arch);
/* Drops it: it proved wrong. */
void host_platform_forget(const char *host);

#endif
