/*
 * names.h - users and host names without NSS in the process.
 *
 * The agent is a static executable (docs/agents.md): glibc's getpwuid and
 * getaddrinfo would dlopen the NSS modules of the glibc it was built
 * with, which the server does not have.  So: /etc/passwd read directly
 * (the common case, no process), and for what it does not hold (LDAP,
 * sssd, DNS) the server's own `getent`, which uses the server's NSS
 * configuration exactly as its other programs do.  Both builds use the
 * same code, so the tests of the client build cover the agent's.
 */
#ifndef FERRY_NAMES_H
#define FERRY_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "limits.h"

struct user_ent {
	char name[NAMES_FIELD_MAX];
	char home[NAMES_PATH_MAX];
	char shell[NAMES_PATH_MAX];
};

/* One passwd line ("name:pw:uid:gid:gecos:home:shell"): 0 and *u filled
 * when it is well formed and its uid is uid; 1 another uid; -1
 * malformed.  Fields that do not fit are malformed. */
int passwd_line_parse(struct rd line, uint32_t uid, struct user_ent *u);
/* The user with that uid: 0, or -1 when neither /etc/passwd nor
 * `getent passwd UID` knows it. */
int names_user(uint32_t uid, struct user_ent *u);
/* /etc/passwd alone (no process): for a lookup on every command, where
 * what sshd already put in the environment is the next best answer. */
int names_user_files(uint32_t uid, struct user_ent *u);

/* `getent ahosts NAME` output: one "ADDRESS TYPE [NAME]" a line.  Adds
 * each distinct IPv4/IPv6 address (fam AF_INET/AF_INET6, 4 or 16 bytes
 * of ip) up to max; returns how many, or -1 when a line is malformed. */
struct names_addr {
	int fam;
	uint8_t ip[16];
};
int ahosts_parse(const char *p, size_t n, struct names_addr *out, int max);
/* The addresses of host: a numeric address as is, else the server's
 * `getent ahosts`.  Count (>= 1), or -1 with *why set (static text). */
int names_host(const char *host, struct names_addr *out, int max, const char **why);

#endif
