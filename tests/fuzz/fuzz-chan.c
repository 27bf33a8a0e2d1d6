/*
 * fuzz-chan.c - libFuzzer harness: arbitrary bytes as the input of a
 * session with channels on, demultiplexed as the agent does: channels
 * opened by their first frame, windows and resets accounted by chan.c,
 * every data frame answered on its channel while the channel has room,
 * the link "written" at random points.  The bounds are asserted: no
 * channel queue past CHAN_OUT_MAX, no credit past CHAN_WINDOW, the conn's
 * queue never past CONN_OUT_MAX, at most CHAN_OPEN_MAX channels.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "chan.h"
#include "limits.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct slot {
	bool used;
	struct chan ch;
};

static void check_bounds(const struct conn *c, const struct slot *s)
{
	if (c->out.len > CONN_OUT_MAX)
		__builtin_trap();
	for (int i = 0; i < CHAN_OPEN_MAX; i++)
		if (s[i].used && (s[i].ch.out.len > CHAN_OUT_MAX || s[i].ch.credit > CHAN_WINDOW ||
				  s[i].ch.recv_left > CHAN_WINDOW))
			__builtin_trap();
}

static struct chan *find(struct slot *s, uint16_t id, bool open)
{
	int fr = -1;
	for (int i = 0; i < CHAN_OPEN_MAX; i++) {
		if (s[i].used && s[i].ch.id == id)
			return &s[i].ch;
		if (!s[i].used && fr < 0)
			fr = i;
	}
	if (!open || fr < 0)
		return NULL;
	s[fr].used = true;
	chan_init(&s[fr].ch, id);
	return &s[fr].ch;
}

static void forget_done(struct slot *s)
{
	for (int i = 0; i < CHAN_OPEN_MAX; i++)
		if (s[i].used && chan_done(&s[i].ch)) {
			chan_release(&s[i].ch);
			s[i].used = false;
		}
}

/* One frame on a channel other than 0, as the agent handles it. */
static void on_frame(struct conn *c, struct slot *s, uint16_t id, uint16_t type, struct rd *body)
{
	bool ctl = type == MSG_CHAN_WINDOW || type == MSG_CHAN_CLOSE || type == MSG_CHAN_RESET;
	struct chan *ch = find(s, id, !ctl);
	if (ch == NULL)
		return;		/* a control frame for no channel, or the table is full */
	size_t n = rd_left(body);
	int r = chan_recv(ch, type, body, NULL, NULL);
	if (r < 0) {
		chan_reset(ch, c, PERR_PROTOCOL, "broke the channel rules");
	} else if (r == CHAN_RX_DATA) {
		chan_consumed(ch, c, n);
		/* The payload's first byte picks the answer: data, close, reset. */
		const uint8_t *pl = rd_bytes(body, n);
		uint8_t how = n ? pl[0] : 0;
		if (how == 'c')
			chan_close(ch);
		else if (how == 'r')
			chan_reset(ch, c, PERR_INTERNAL, "asked to");
		else if (chan_room(ch))
			(void)chan_queue(ch, MSG_STDOUT, pl, n);
	} else if (r == CHAN_RX_RESET || r == CHAN_RX_CLOSE) {
		chan_close(ch);
	}
	(void)chan_pump(ch, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c;
	struct slot s[CHAN_OPEN_MAX] = { 0 };
	uint16_t type;
	struct rd body;

	conn_init(&c, -1, -1);
	c.chans = true;
	if (buf_put(&c.in, data, size) < 0)
		goto out;
	unsigned turn = 0;
	while (conn_next(&c, &type, &body) == 1) {
		if (c.chan != 0)
			on_frame(&c, s, c.chan, type, &body);
		/* The link drains now and then: queues fill up in between. */
		if (++turn % 5 == 0 || type == MSG_CHAN_WINDOW)
			buf_reset(&c.out);
		for (int i = 0; i < CHAN_OPEN_MAX; i++)
			if (s[i].used)
				(void)chan_pump(&s[i].ch, &c);
		check_bounds(&c, s);
		forget_done(s);
	}
out:
	for (int i = 0; i < CHAN_OPEN_MAX; i++)
		if (s[i].used)
			chan_release(&s[i].ch);
	conn_release(&c);
	return 0;
}
