/*
 * fwd-wire.h - the forward family's messages (docs/PROTOCOL.md, "Forward
 * family"): a stream to a port or Unix socket on the server carried on a
 * channel (FWD_OPEN, FWD_READY, FWD_DATA), and the listening ports of the
 * user's jobs as they come and go (FWD_WATCH, FWD_PORT, FWD_SYNCED).
 */
#ifndef FERRY_FWD_WIRE_H
#define FERRY_FWD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum fwd_kind {
	FWD_TCP = 1,
	FWD_UNIX = 2,
};
#define FWD_NAMED_HOST		0x1u	/* FWD_OPEN: the user named this host */
#define FWD_OPEN_FLAGS		FWD_NAMED_HOST
#define FWD_WATCH_ONCE		0x1u	/* FWD_WATCH: what is known now, then close */
#define FWD_WATCH_FLAGS		FWD_WATCH_ONCE

struct fwd_open {
	uint8_t kind;		/* enum fwd_kind */
	uint32_t flags;
	char *host;		/* TCP: "" = loopback; Unix: "" */
	uint16_t port;		/* TCP: 1-65535; Unix: 0 */
	char *path;		/* Unix: absolute; TCP: "" */
};
void fwd_open_release(struct fwd_open *o);
int fwd_open_encode(const struct fwd_open *o, struct buf *out);
/* 0, or -1 when malformed (nothing to release then). */
int fwd_open_decode(struct rd *r, struct fwd_open *o);

struct fwd_watch_req {
	char *job;		/* "" = every running job */
	uint32_t flags;
};
void fwd_watch_release(struct fwd_watch_req *w);
int fwd_watch_encode(const struct fwd_watch_req *w, struct buf *out);
int fwd_watch_decode(struct rd *r, struct fwd_watch_req *w);

struct fwd_port {
	char *job;
	bool up;
	uint8_t family;		/* 4 or 6 */
	char *addr;		/* "0.0.0.0", "127.0.0.1", "::", ... */
	uint16_t port;
	char **urls;		/* NULL-terminated (never NULL after decode) */
	uint32_t nurls;
};
void fwd_port_release(struct fwd_port *p);
int fwd_port_encode(const struct fwd_port *p, struct buf *out);
int fwd_port_decode(struct rd *r, struct fwd_port *p);

/* A listening address as the agent may report it: a job id as
 * mon_job_id_ok says, an address of digits, dots, colons and hex only. */
bool fwd_addr_ok(const char *s);

#endif
