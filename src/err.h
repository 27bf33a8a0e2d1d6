/*
 * err.h - failures for the command edge, and the one table that turns an
 * error the agent reports (MSG_ERROR: a PERR_* code and a message) into
 * ferry's exit code and hint.
 *
 * Every command decodes the agent's errors through err_from_peer, so the
 * same PERR_* exits the same way whichever command met it, and
 * docs/exit-codes.md is checked against these tables by a unit test.
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A failure for the command edge: exit code, one line, an optional hint. */
struct ferr {
	int code;
	char *msg;
	char *hint;
};
void ferr_set(struct ferr *e, int code, const char *hint, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ferr_release(struct ferr *e);
/* Prints "ferry: msg" and "hint: ..." and exits with e->code. */
void ferr_die(struct ferr *e) __attribute__((noreturn));

/* What one PERR_* code means to the user. */
struct err_class {
	uint32_t perr;		/* enum proto_err */
	int exit;		/* EXIT_* */
	const char *name;	/* as in docs/exit-codes.md */
	const char *hint;	/* NULL: the message says it all */
};
/* The PERR_* table, in code order; n set to its length. */
const struct err_class *err_classes(size_t *n);
/* The class of perr; a code this build does not know (a newer agent)
 * gets the class of a failure on the server. */
const struct err_class *err_class_of(uint32_t perr);

/* ferry's own exit codes and their names, as documented. */
struct err_exit {
	int code;
	const char *name;
};
const struct err_exit *err_exits(size_t *n);

/* A MSG_ERROR body from the agent on label: e gets the exit code and hint
 * of its class and "MESSAGE (on LABEL)".  Returns the PERR_* code, or 0
 * when the body is malformed (e: EXIT_PROTO). */
uint32_t err_from_peer(struct rd *body, const char *label, struct ferr *e);

#endif
