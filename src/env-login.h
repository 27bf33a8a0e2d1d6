/*
 * env-login.h - the environment the user's interactive login shell gives on
 * this host (PATH from conda, pyenv, `module load` in rc files), resolved
 * by running that shell once and cached until one of its rc files changes.
 */
#ifndef FERRY_ENV_LOGIN_H
#define FERRY_ENV_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LOGINENV_DUMP_MAGIC	"\177FERRY-ENV\n"

struct loginenv_key {
	char *path;
	uint8_t exists;
	uint64_t mtime_ns, size, ino;
};

struct loginenv {
	char *shell;
	struct loginenv_key *keys;
	uint32_t nkeys;
	char **vars;		/* NULL-terminated K=V */
	uint32_t nvars;
};

void loginenv_release(struct loginenv *le);
/* The cache file codec; decode is a parser of untrusted bytes (fuzzed). */
int loginenv_encode(const struct loginenv *le, struct buf *out);
int loginenv_decode(const void *p, size_t n, struct loginenv *le);
/* Finds LOGINENV_DUMP_MAGIC in a shell's output (rc files may print
 * before it) and decodes the variables after it.  0 or -1. */
int loginenv_parse_dump(const void *p, size_t n, char ***vars, uint32_t *nvars);

/* `ferry agent --dump-env`: writes the magic and this environment. */
int loginenv_dump_self(void);

/* The environment to run commands with: the cached or freshly resolved
 * login environment with the session's own variables (SSH_CONNECTION...)
 * taken from this process.  0 with *envp set (free with free_words), or -1
 * with *why set (caller frees) and nothing to use. */
int loginenv_get(char ***envp, char **why, bool *cached);

#endif
