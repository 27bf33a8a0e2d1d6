/*
 * chan.h - channels: several conversations on one session, each with its
 * own credit window and a bounded output queue (docs/PROTOCOL.md,
 * "Channels").
 *
 * A channel other than 0 exists between its opening frame (a request on
 * an id not in use) and the moment both sides have ended it (CHAN_CLOSE
 * or CHAN_RESET, one each way).  Every frame on it but the three CHAN_*
 * control frames counts against the receiver's window: the sender keeps
 * `credit`, the receiver `recv_left`, both starting at CHAN_WINDOW, and
 * CHAN_WINDOW frames give credit back as the receiver consumes.  Channel
 * 0 is the session as it was before channels: no window, no close.
 *
 * A producer asks chan_room() before it makes a frame; the queue holds at
 * most CHAN_OUT_MAX bytes (one frame past CHAN_OUT_HIGH).  chan_pump moves
 * whole frames into the conn while the window and the conn's own high
 * mark allow: a slow reader of one channel stalls only that channel.
 */
#ifndef FERRY_CHAN_H
#define FERRY_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

struct chan {
	uint16_t id;
	struct buf out;		/* whole frames for the peer, not yet in the conn */
	uint64_t credit;	/* payload bytes the peer lets us send */
	uint64_t recv_left;	/* payload bytes we let the peer send */
	uint32_t unacked;	/* consumed since we last granted window */
	bool sent_end;		/* we sent CHAN_CLOSE or CHAN_RESET */
	bool reset_sent;	/* ... CHAN_RESET, which may follow our close */
	bool got_end;		/* the peer did */
};

void chan_init(struct chan *ch, uint16_t id);
void chan_release(struct chan *ch);	/* NULL or zeroed is fine */
/* A producer may queue one more frame (of any size up to FRAME_MAX). */
bool chan_room(const struct chan *ch);
/* Queues a frame; -EMSGSIZE over FRAME_MAX, -ENOBUFS when the queue is
 * full (the producer did not ask chan_room), -EPIPE after our end. */
int chan_queue(struct chan *ch, uint16_t type, const void *p, size_t n);
/* Reads at most max bytes (<= FRAME_MAX) of fd straight into ch's queue
 * as one frame of type: the bytes read, 0 at EOF, or -errno (-EAGAIN,
 * -EPIPE after our end, -ENOBUFS when the producer did not ask
 * chan_room).  One copy less than read() and chan_queue. */
ssize_t chan_read_frame(struct chan *ch, uint16_t type, int fd, size_t max);
/* Moves whole frames from ch's queue into c's (channel 0: no window)
 * while the credit and c's CONN_OUT_HIGH allow.  Bytes moved. */
size_t chan_pump(struct chan *ch, struct conn *c);
/* Nothing is waiting in ch's queue. */
bool chan_idle(const struct chan *ch);

/* What chan_recv made of a frame the peer sent on ch. */
enum chan_rx {
	CHAN_RX_DATA = 1,	/* for the channel's handler */
	CHAN_RX_WINDOW,		/* more credit: pump again */
	CHAN_RX_CLOSE,		/* the peer sends nothing more */
	CHAN_RX_RESET,		/* the peer abandoned the channel */
};
/* Accounts a frame from the peer: an enum chan_rx, or -EBADMSG when it
 * broke the rules (more than its window, a malformed or overflowing
 * CHAN_WINDOW, anything after its end).  For RESET, *code and *msg
 * (caller frees) when asked for. */
int chan_recv(struct chan *ch, uint16_t type, struct rd *body, uint32_t *code, char **msg);
/* The handler consumed n payload bytes of DATA frames: grants them back
 * (queued on c) once CHAN_WINDOW_ACK have gathered. */
void chan_consumed(struct chan *ch, struct conn *c, size_t n);
/* Our end: CHAN_CLOSE after what is queued, or CHAN_RESET (code, msg) now,
 * dropping what is queued.  Once only; later calls do nothing. */
void chan_close(struct chan *ch);
void chan_reset(struct chan *ch, struct conn *c, uint32_t code, const char *msg);
/* The peer reset the channel: what we queued is dropped, our end kept
 * (CHAN_CLOSE, or the one already queued) so the id can be used again. */
void chan_abandon(struct chan *ch);
/* Both ends sent and our queue is out: the id may be used again. */
bool chan_done(const struct chan *ch);

#endif
