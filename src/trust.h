/*
 * trust.h - which project files the user trusts to run programs here.
 *
 * A ferry.ini that sets a key naming a local program (ssh_command) is
 * used only once the user ran `ferry trust` in that folder.  The record,
 * in the user's state folder (<state_home>/trusted, 0600, in 0700
 * folders, replaced atomically), holds the project folder, the XXH3-128
 * of the file's bytes and the values trusted: a changed file (even one
 * crafted to hash the same) is untrusted again.
 */
#ifndef FERRY_TRUST_H
#define FERRY_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Reads a whole regular file of at most max bytes, opened with flags
 * added to O_RDONLY (O_NOFOLLOW, say) and checked on the descriptor:
 * owned by us and not writable by group or others, as ssh checks
 * ~/.ssh/config.  0; -ENOENT; -EPERM with *why ("is writable by group or
 * others"); -EFBIG; other -errno.  *out is NUL-terminated; caller frees. */
int read_owned(const char *path, int flags, size_t max, char **out, size_t *len, const char **why);

/* The hex XXH3-128 of data (33 bytes with the NUL). */
void trust_hash(const void *data, size_t len, char out[33]);

/* The record's file: <state_home>/trusted.  Caller frees. */
char *trust_path(void);

enum trust_state { TRUST_NONE, TRUST_CHANGED, TRUST_OK };
/* Whether the user trusts c's ferry.ini as it was parsed (c->file_hash,
 * c->file_program).  A trust file another user could have written
 * counts as none (*why says so). */
enum trust_state trust_check(const struct config *c, const char **why);

/* Records trust in c's ferry.ini (replacing an older record for its
 * folder), or removes it (*had: whether there was one).  0 or -1 with
 * *err set (caller frees). */
int trust_add(const struct config *c, char **err);
int trust_revoke(const char *root, bool *had, char **err);

/* Every record as lines into out: the file, then "    key = value"
 * for each trusted key.  0 or -1 with *err set. */
int trust_list(struct strlist *out, char **err);

#endif
