/*
 * fwd-detect.h - the agent's view of what the user's running ferry jobs
 * listen on: their TCP listening ports as they come and go, and the URLs
 * the jobs print for them (docs/forward.md, PROTOCOL.md "Forward family").
 *
 * A port is a job's when its socket is owned by the user (sock_diag's uid,
 * checked first) and a process of the user whose session id is a running
 * job's sid (mon-jobs.h) holds it.  Nothing else is ever reported: not a
 * port of another user, not one of this user's processes outside a job.
 *
 * Linux only (sock_diag, /proc).
 */
#ifndef FERRY_FWD_DETECT_H
#define FERRY_FWD_DETECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fwd-wire.h"
#include "limits.h"

/* One listening TCP socket. */
struct fwd_sock {
	uint64_t ino;
	uint8_t family;			/* 4 or 6 */
	char addr[FWD_ADDR_MAX];	/* inet_ntop's text: "0.0.0.0", "::1" */
	uint16_t port;
};

/* One dump of the TCP LISTEN sockets (IPv4 and IPv6) owned by uid:
 * NETLINK_SOCK_DIAG, falling back to /proc/net/tcp and tcp6 when netlink
 * fails.  The count and *out (the caller frees), or -errno. */
int fwd_listen_dump(uid_t uid, struct fwd_sock **out);
/* The two ways on their own: sock_diag, and proc/net/tcp{,6} (proc NULL:
 * "/proc"). */
int fwd_listen_dump_nl(uid_t uid, struct fwd_sock **out);
int fwd_listen_dump_proc(const char *proc, uid_t uid, struct fwd_sock **out);
/* The /proc/net/tcp{,6} text parser of the fallback (family 4 or 6):
 * appends the LISTEN entries (st 0A) of uid to *out (*nout of them, grown
 * with xrealloc).  0, or -EBADMSG when a line is not one the kernel
 * writes (what was appended stays, for the caller to free). */
int fwd_proc_net_parse(const char *p, size_t n, uint8_t family, uid_t uid, struct fwd_sock **out, size_t *nout);

struct fwd_det;
/* A detector for the running jobs in jobs_dir (NULL: mon_jobs_dir()),
 * reading proc (NULL: "/proc"), of uid; job NULL or "": every running job,
 * else that one only.  Free with fwd_det_free. */
struct fwd_det *fwd_det_new(const char *jobs_dir, const char *proc, uid_t uid, const char *job);

/* p and everything it points to live only during the call. */
typedef void fwd_det_fn(void *arg, const struct fwd_port *p);
/* One look (the agent's, every FWD_SCAN_MS).  Calls fn for each change
 * since the last look: a port that came up (up, with the URLs known for it
 * so far), URLs newly seen for a port already reported (up again, urls
 * only the new ones), a port that went away (not up, no URLs: when two
 * looks in a row did not see it, or at once when its job ended).  One report
 * per (job, port number): a port on both 0.0.0.0 and :: is one, with the
 * IPv4 address.  At most FWD_PORTS_MAX ports are up at once, at most
 * FWD_URLS_MAX URLs in one report (more come in the next looks).
 * Returns 0; 1 when the single job watched is not running (any more, or
 * never was); -errno when the sockets could not be listed. */
int fwd_det_scan(struct fwd_det *d, fwd_det_fn *fn, void *arg);
void fwd_det_free(struct fwd_det *d);

#endif
