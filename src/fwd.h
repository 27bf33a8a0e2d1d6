/*
 * fwd.h - the client's end of forwarding (docs/forward.md): listeners on
 * the laptop, each accepted connection a channel to the agent (FWD_OPEN),
 * and the ports of the user's jobs followed as they open and close
 * (FWD_WATCH).  One event loop serves the session, the listeners and every
 * connection; a lost link resets the connections in flight, keeps the
 * listeners and reconnects.
 */
#ifndef FERRY_FWD_H
#define FERRY_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fwd-wire.h"
#include <sys/types.h>

/* One forward the user asked for. */
struct fwd_spec {
	uint16_t lport;		/* the laptop's port (the next free one if taken) */
	struct fwd_open to;	/* the server's end */
	char *label;		/* "localhost:6006", "/run/x.sock" */
};
/* Parses PORT, LOCAL:PORT, LOCAL:HOST:PORT, HOST:PORT, LOCAL:/PATH
 * ([v6]:PORT as well).  0, or -1 with *err (caller frees). */
int fwd_spec_parse(const char *arg, struct fwd_spec *sp, char **err);
void fwd_spec_release(struct fwd_spec *sp);

struct fwd_opts {
	struct fwd_spec *specs;
	uint32_t nspecs;
	bool autofwd;		/* follow the jobs' ports */
	const char *job;	/* only this job's ("" or NULL: every job's) */
	const char *bind;	/* local address; NULL: 127.0.0.1 and ::1 */
	const uint16_t *skip;	/* ports never forwarded automatically */
	uint32_t nskip;
	bool follower;		/* for a following command: quiet, ends with
				 * the job or when its parent goes */
	const char *nl;		/* line end for what we print ("\n") */
};

/* Runs the forwards until Ctrl-C (0), the single watched job ends (0),
 * or nothing could be forwarded (1).  Dies on a broken protocol. */
int fwd_run(const struct config *cfg, const struct fwd_opts *o);

/* For `run -f`, `logs -f`, `attach`: forwards job id's ports from a
 * child process while the caller follows it (unless forward.auto is off
 * or FERRY_NO_FORWARD is set).  The child's pid, or 0. */
pid_t fwd_follow_start(const char *dir, uint32_t id);
void fwd_follow_stop(pid_t pid);

/* The ports job id listens on now (up ones, with their URLs as the
 * server has them), on s's channel 1: 0 with *out (n, release each with
 * fwd_port_release, then free), or -errno. */
struct session;
int fwd_ports_once(struct session *s, uint32_t id, struct fwd_port **out, size_t *n);

/* `ferry forward --list`: prints the live forwards of this user. */
int fwd_list(bool json);

#endif
