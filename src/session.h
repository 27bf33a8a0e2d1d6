/*
 * session.h - the client's end of a session with an agent: start it
 * (through ssh or as a local child), install it on first contact, shake
 * hands, and turn every way this can fail into one classified error.
 */
#ifndef FERRY_SESSION_H
#define FERRY_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "proto.h"
#include "spawn.h"

struct session_opts {
	bool batch;		/* force ssh BatchMode (never prompt) */
};

/* The terminal's foreground, lent to ssh's process group while it
 * connects if it wants to ask something (fd -1: nothing to lend). */
struct tty_lend {
	int fd;
	pid_t pgrp;
	bool lent;
};

struct session {
	const struct config *cfg;
	const char *label;	/* "host" or "local" */
	struct conn c;
	struct child proc;	/* ssh, or the local agent */
	struct buf ssh_err;	/* the tail of ssh's stderr */
	struct hello peer;
	bool installed;		/* the agent was installed by this open */
	char *agent_where;	/* install path when installed */
	size_t noise;		/* bytes the remote startup files printed */
	char *noise_line;	/* the first such line */
	uint64_t connect_ns;	/* spawn to hello */
	uint64_t deadline;	/* for the agent to show up */
	struct tty_lend lend;	/* until the agent answers */
	/* Between session_start and session_finish (a retry after an
	 * install starts the transport again). */
	struct session_opts opts;
	struct buf hello;	/* our MSG_HELLO body */
	char *ctl_dir, *boot_cmd;
	/* ssh: the agent to start or install there, and its id (the
	 * folder the boot script looks in); path NULL: this executable. */
	char *agent_path, *agent_id;
	char platform[2][64];	/* the server's uname -s, -m once known */
	uint64_t t0;
};

/* The next frame from the agent, for a client command that waits on one
 * session (logs -f, run -f, wait): the link's input and output, ssh's
 * stderr and the signals the command watches (sig_watch), on one event
 * loop turn after turn.  1 a frame in *type and *body (valid until the
 * next conn_* call), 0 the link is lost, -EBADMSG a malformed frame, or
 * -signo when one of stops (a 0-terminated list) came. */
int session_next(struct session *s, uint16_t *type, struct rd *body, const int *stops);

/* Opens a session.  If first_type is non-zero, that request is sent right
 * behind our hello, before the agent answers (one round trip saved). */
int session_open(struct session *s, const struct config *cfg, const struct session_opts *o,
		 uint16_t first_type, const struct buf *first, struct ferr *e);
/* session_open in two halves, for a command whose first request takes
 * a while to make: start spawns the transport and sends the hello, so
 * ssh and the agent start meanwhile; finish sends the first request and
 * shakes hands (installing the agent if need be).  Each 0, or -1 with e
 * set and the session freed; after a failed start, finish is not called. */
int session_start(struct session *s, const struct config *cfg, const struct session_opts *o, struct ferr *e);
int session_finish(struct session *s, uint16_t first_type, const struct buf *first, struct ferr *e);
/* After a lost link (s closed or never opened): session_open in batch
 * mode (a prompt could wait for a user who is away) right away, then
 * after RECONNECT_FIRST_MS, doubling up to RECONNECT_MAX_MS, until
 * RECONNECT_GIVE_UP_MS have passed.  Only a failure to connect is tried
 * again.  0, or -1 with e set: 128 + N when signal N (INT, TERM, HUP)
 * came meanwhile.  Prints nothing. */
int session_reopen(struct session *s, const struct config *cfg, uint16_t first_type, const struct buf *first,
		   struct ferr *e);
/* Reads what ssh wrote on stderr so far (non-blocking). */
void session_read_stderr(struct session *s);
/* The session ended without a proper goodbye: wait for the transport and
 * say why, as "lost" (during a command) or as a connect failure. */
void session_lost(struct session *s, bool during_command, struct ferr *e);
/* conn_read or conn_next gave r <= 0 (0: the stream ended).  A malformed
 * header (-EBADMSG) is the agent breaking the protocol; anything else
 * (end of stream, ECONNRESET, EPIPE, a frame cut short) is the link going
 * away, which session_lost classifies from what ssh said.  (Here, not in
 * err.c: the error table knows nothing of sessions.) */
void err_from_read(struct session *s, int r, bool during_command, struct ferr *e);
/* Ends the session: closes our side, reaps the transport, prints whatever
 * ssh said that nobody consumed.  Safe on a half-open session. */
void session_close(struct session *s);

/* Why ssh ended a session, from the tail of its stderr and its wait
 * status; during: a command was running. */
enum ssh_fail {
	SSH_FAIL_INTERRUPTED,	/* Ctrl-C at one of ssh's prompts */
	SSH_FAIL_HOSTKEY,	/* the server's host key is unknown or changed */
	SSH_FAIL_AUTH,		/* authentication failed */
	SSH_FAIL_REFUSED,	/* nothing listens on the port */
	SSH_FAIL_RESOLVE,	/* no such host name */
	SSH_FAIL_NETWORK,	/* timed out, unreachable, reset before a command */
	SSH_FAIL_LOST,		/* the link went while a command ran */
	SSH_FAIL_SSH,		/* ssh failed (exit 255) and did not say how */
	SSH_FAIL_NO_AGENT,	/* the server's shell ran but no agent started */
};
enum ssh_fail session_ssh_class(const char *err, size_t n, int st, bool during);
/* The exit code of a class: EXIT_*, or 128+N for signal N. */
int session_ssh_exit(enum ssh_fail f, int st);

/* The private control-socket directory.  0, or -1 with e set. */
int session_control_dir(char **dir, struct ferr *e);

/* The ssh argv for a remote command (NULL-terminated; free_words). */
char **session_ssh_argv(const struct config *cfg, const char *ctl_dir, bool batch, const char *remote_cmd);

#endif
