/*
 * err.c - one way from any failure to an exit code: struct ferr for the
 * command edge, and the table of errors the agent reports.
 *
 * Before this table each command decoded MSG_ERROR itself and the same
 * PERR_ROOT exited 73 from one command and 76 from another; now a class is
 * decided here once, and tests/unit/test-err.c holds the documentation to
 * it.  Nothing here trusts the peer's code: an unknown one is a failure on
 * the server, its message shown as it came (made visible where it is printed).
 */
#define _GNU_SOURCE
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "proto.h"
#include "util.h"

#include "banned.h"

void ferr_set(struct ferr *e, int code, const char *hint, const char *fmt, ...)
{
	va_list ap;
	ferr_release(e);
	va_start(ap, fmt);
	e->msg = xvasprintf(fmt, ap);
	va_end(ap);
	e->code = code;
	e->hint = hint ? xstrdup(hint) : NULL;
}

void ferr_release(struct ferr *e)
{
	free(e->msg);
	free(e->hint);
	e->msg = e->hint = NULL;
}

void ferr_die(struct ferr *e)
{
	error_msg("%s", e->msg ? e->msg : "unknown error");
	if (e->hint)
		hint_msg("%s", e->hint);
	exit(e->code ? e->code : EXIT_INTERNAL);
}

/* A job or a file the user named is a plain failure (1): the command
 * worked, the answer is no.  The server failing to do what was asked is
 * 73; only a broken conversation is 76. */
static const struct err_class classes[] = {
	{ PERR_PROTOCOL, EXIT_PROTO, "protocol", NULL },
	{ PERR_VERSION, EXIT_PROTO, "version", NULL },
	{ PERR_ROOT, EXIT_REMOTE, "root", "check 'path' in ferry.ini (`ferry config`), or push first" },
	{ PERR_NOSPC, EXIT_REMOTE, "nospc", "free some space on the server" },
	{ PERR_INTERNAL, EXIT_REMOTE, "internal", NULL },
	{ PERR_BUSY, EXIT_REMOTE, "busy", "wait for the other sync of that folder to finish" },
	{ PERR_NOJOB, EXIT_FAIL, "nojob", "`ferry jobs --all` lists the jobs there" },
	{ PERR_JOB, EXIT_FAIL, "job", NULL },
	{ PERR_NOFILE, EXIT_FAIL, "nofile", NULL },
	{ PERR_BADFILE, EXIT_FAIL, "badfile", NULL },
	{ PERR_SHARED, EXIT_CONFIG, "shared", "a folder other users share: `shared = yes` under [target] in ferry.ini (docs/shared.md)" },
	{ PERR_REFUSED, EXIT_FAIL, "refused", "is the server listening there? `ferry forward --list` shows the live forwards" },
	{ PERR_DENIED, EXIT_FAIL, "denied", "name the host in the forward (HOST:PORT) to reach one that is not the server itself" },
};

static const struct err_class unknown_class = { 0, EXIT_REMOTE, "unknown", NULL };

const struct err_class *err_classes(size_t *n)
{
	*n = ARRAY_LEN(classes);
	return classes;
}

const struct err_class *err_class_of(uint32_t perr)
{
	for (size_t i = 0; i < ARRAY_LEN(classes); i++)
		if (classes[i].perr == perr)
			return &classes[i];
	return &unknown_class;
}

static const struct err_exit exits[] = {
	{ EXIT_OK, "ok" },
	{ EXIT_FAIL, "fail" },
	{ EXIT_USAGE, "usage" },
	{ EXIT_CONNECT, "connect" },
	{ EXIT_INTERNAL, "internal" },
	{ EXIT_OSERR, "oserr" },
	{ EXIT_REMOTE, "remote" },
	{ EXIT_LOST, "lost" },
	{ EXIT_PROTO, "proto" },
	{ EXIT_AUTH, "auth" },
	{ EXIT_CONFIG, "config" },
	{ 130, "interrupted" },
};

const struct err_exit *err_exits(size_t *n)
{
	*n = ARRAY_LEN(exits);
	return exits;
}

uint32_t err_from_peer(struct rd *body, const char *label, struct ferr *e)
{
	uint32_t code;
	char *msg;
	if (error_decode(body, &code, &msg) < 0 || code == 0) {
		if (code == 0)
			free(msg);
		ferr_set(e, EXIT_PROTO, NULL, "malformed error from the agent on '%s'", label);
		return 0;
	}
	const struct err_class *c = err_class_of(code);
	/* Kept as sent: the line that prints it makes it visible (ferr_die
	 * through error_msg; --json quotes it). */
	ferr_set(e, c->exit, c->hint, "%s (on %s)", msg, label);
	free(msg);
	return code;
}
