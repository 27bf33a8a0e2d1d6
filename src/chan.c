/*
 * chan.c - channel windows and bounded per-channel output queues.
 *
 * Invariant: ch->out holds whole frames only, at most CHAN_OUT_MAX bytes,
 * and a frame leaves it only whole and only when its payload fits the
 * credit (control frames need none).  The peer's frames are accounted
 * before the handler sees them: one that overruns our window is the
 * peer's error, never a reason to buffer more.
 */
#define _GNU_SOURCE
#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

void chan_init(struct chan *ch, uint16_t id)
{
	memset(ch, 0, sizeof(*ch));
	ch->id = id;
	buf_init(&ch->out, CHAN_OUT_MAX);
	ch->credit = CHAN_WINDOW;
	ch->recv_left = CHAN_WINDOW;
}

void chan_release(struct chan *ch)
{
	if (ch == NULL)
		return;
	buf_release(&ch->out);
}

static bool is_control(uint16_t type)
{
	return type == MSG_CHAN_WINDOW || type == MSG_CHAN_CLOSE || type == MSG_CHAN_RESET;
}

bool chan_room(const struct chan *ch)
{
	return !ch->sent_end && ch->out.len < CHAN_OUT_HIGH;
}

int chan_queue(struct chan *ch, uint16_t type, const void *p, size_t n)
{
	if (ch->sent_end)
		return -EPIPE;
	return frame_put_ch(&ch->out, ch->id, type, p, n);
}

ssize_t chan_read_frame(struct chan *ch, uint16_t type, int fd, size_t max)
{
	if (ch->sent_end)
		return -EPIPE;
	if (max > FRAME_MAX)
		max = FRAME_MAX;
	uint8_t *p = buf_space(&ch->out, FRAME_HDR_LEN + max);
	if (p == NULL)
		return -ENOBUFS;
	ssize_t n;
	do
		n = read(fd, p + FRAME_HDR_LEN, max);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	/* The header frame_put_ch would write, in place. */
	uint32_t len = (uint32_t)n;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[4] = (uint8_t)(type >> 8);
	p[5] = (uint8_t)type;
	p[6] = (uint8_t)(ch->id >> 8);
	p[7] = (uint8_t)ch->id;
	buf_commit(&ch->out, FRAME_HDR_LEN + (size_t)n);
	return n;
}

size_t chan_pump(struct chan *ch, struct conn *c)
{
	size_t moved = 0;
	while (ch->out.len >= FRAME_HDR_LEN && c->out.len < CONN_OUT_HIGH) {
		uint32_t len;
		uint16_t type, id;
		/* Our own frames: the header is well formed. */
		(void)frame_header_ch(ch->out.data, &len, &type, &id);
		bool ctl = is_control(type);
		if (ch->id != 0 && !ctl && ch->credit < len)
			break;
		size_t n = FRAME_HDR_LEN + len;
		conn_queue_framed(c, ch->out.data, n);
		buf_consume(&ch->out, n);
		if (ch->id != 0 && !ctl)
			ch->credit -= len;
		moved += n;
	}
	return moved;
}

bool chan_idle(const struct chan *ch)
{
	return ch->out.len == 0;
}

static int recv_window(struct chan *ch, struct rd *body)
{
	uint32_t n = rd_u32(body);
	rd_expect_end(body);
	/* More than a window outstanding means the peer's count is off. */
	if (!rd_ok(body) || ch->credit + n > CHAN_WINDOW)
		return -EBADMSG;
	ch->credit += n;
	return CHAN_RX_WINDOW;
}

int chan_recv(struct chan *ch, uint16_t type, struct rd *body, uint32_t *code, char **msg)
{
	switch (type) {
	case MSG_CHAN_WINDOW:
		return recv_window(ch, body);
	case MSG_CHAN_CLOSE:
		rd_expect_end(body);
		if (!rd_ok(body) || ch->got_end)
			return -EBADMSG;
		ch->got_end = true;
		return CHAN_RX_CLOSE;
	case MSG_CHAN_RESET: {
		uint32_t cd;
		char *m;
		/* A reset may follow the peer's close (it gave up waiting). */
		if (error_decode(body, &cd, &m) < 0)
			return -EBADMSG;
		ch->got_end = true;
		if (code)
			*code = cd;
		if (msg)
			*msg = m;
		else
			free(m);
		return CHAN_RX_RESET;
	}
	default:
		if (ch->got_end || rd_left(body) > ch->recv_left)
			return -EBADMSG;
		ch->recv_left -= rd_left(body);
		return CHAN_RX_DATA;
	}
}

void chan_consumed(struct chan *ch, struct conn *c, size_t n)
{
	ch->unacked += (uint32_t)n;
	if (ch->unacked < CHAN_WINDOW_ACK || ch->got_end)
		return;
	struct buf w;
	buf_init(&w, 4);
	buf_put_u32(&w, ch->unacked);
	int r = conn_queue_ch(c, ch->id, MSG_CHAN_WINDOW, w.data, w.len);
	buf_release(&w);
	if (r < 0)
		return;		/* granted with the next bytes consumed */
	ch->recv_left += ch->unacked;
	ch->unacked = 0;
}

void chan_close(struct chan *ch)
{
	if (ch->sent_end)
		return;
	/* Into the queue, not the conn: after the frames it ends. */
	(void)frame_put_ch(&ch->out, ch->id, MSG_CHAN_CLOSE, NULL, 0);
	ch->sent_end = true;
}

void chan_reset(struct chan *ch, struct conn *c, uint32_t code, const char *msg)
{
	struct buf b;
	/* After our close a reset may still follow (the protocol allows
	 * it): a peer still sending learns that nobody reads any more.  Not
	 * twice, and not once both ends are in. */
	if (ch->reset_sent || (ch->sent_end && ch->got_end && chan_idle(ch)))
		return;
	buf_reset(&ch->out);
	buf_init(&b, PROTO_STR_MAX + 8);
	error_encode(code, msg, &b);
	conn_queue_ch(c, ch->id, MSG_CHAN_RESET, b.data, b.len);
	buf_release(&b);
	ch->sent_end = true;
	ch->reset_sent = true;
}

void chan_abandon(struct chan *ch)
{
	/* A close of ours still queued is the queue's last frame. */
	bool queued_end = ch->sent_end && !ch->reset_sent && !chan_idle(ch);
	buf_reset(&ch->out);
	if (queued_end)
		(void)frame_put_ch(&ch->out, ch->id, MSG_CHAN_CLOSE, NULL, 0);
	else
		chan_close(ch);
}

bool chan_done(const struct chan *ch)
{
	return ch->sent_end && ch->got_end && chan_idle(ch);
}
