/*
 * proto.c - frame codec, message codecs and the connection buffers.
 *
 * Every decoder reads through struct rd and checks rd_ok() once at the end;
 * counts the peer declares bound loops but never size allocations up front
 * (vectors grow as items are actually decoded).  A frame header is checked
 * against FRAME_MAX before a single payload byte is buffered.
 */
#define _GNU_SOURCE
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

static const struct {
	uint32_t wire;
	int sig;
} sigmap[] = {
	{ WSIG_HUP, SIGHUP }, { WSIG_INT, SIGINT }, { WSIG_QUIT, SIGQUIT },
	{ WSIG_KILL, SIGKILL }, { WSIG_USR1, SIGUSR1 }, { WSIG_USR2, SIGUSR2 },
	{ WSIG_TERM, SIGTERM },
};

int wire_to_signal(uint32_t w)
{
	for (size_t i = 0; i < ARRAY_LEN(sigmap); i++)
		if (sigmap[i].wire == w)
			return sigmap[i].sig;
	return -1;
}

uint32_t signal_to_wire(int sig)
{
	for (size_t i = 0; i < ARRAY_LEN(sigmap); i++)
		if (sigmap[i].sig == sig)
			return sigmap[i].wire;
	return 0;
}

void hello_init_self(struct hello *h)
{
	struct utsname u;
	memset(h, 0, sizeof(*h));
	h->version_min = PROTO_VERSION_MIN;
	h->version_max = PROTO_VERSION_MAX;
	h->caps = CAPS_SELF;
	h->build_id = xstrdup(ferry_build_id());
	if (uname(&u) == 0) {
		h->os = xstrdup(u.sysname);
		h->arch = xstrdup(u.machine);
	} else {
		h->os = xstrdup("unknown");
		h->arch = xstrdup("unknown");
	}
	h->wall_ns = now_wall_ns();
	h->pid = (uint32_t)getpid();
}

void hello_release(struct hello *h)
{
	if (h == NULL)
		return;
	free(h->build_id);
	free(h->os);
	free(h->arch);
	memset(h, 0, sizeof(*h));
}

int hello_encode(const struct hello *h, struct buf *out)
{
	int r = 0;
	r |= buf_put_u32(out, PROTO_MAGIC);
	r |= buf_put_u16(out, h->version_min);
	r |= buf_put_u16(out, h->version_max);
	r |= buf_put_u64(out, h->caps);
	r |= buf_put_cstr(out, h->build_id);
	r |= buf_put_cstr(out, h->os);
	r |= buf_put_cstr(out, h->arch);
	r |= buf_put_u64(out, h->wall_ns);
	r |= buf_put_u32(out, h->pid);
	return r ? -1 : 0;
}

int hello_decode(struct rd *r, struct hello *h)
{
	memset(h, 0, sizeof(*h));
	if (rd_u32(r) != PROTO_MAGIC)
		rd_fail(r);
	h->version_min = rd_u16(r);
	h->version_max = rd_u16(r);
	h->caps = rd_u64(r);
	h->build_id = rd_cstr(r, 256);
	h->os = rd_cstr(r, 256);
	h->arch = rd_cstr(r, 256);
	h->wall_ns = rd_u64(r);
	h->pid = rd_u32(r);
	rd_expect_end(r);
	if (!rd_ok(r) || h->version_min > h->version_max) {
		hello_release(h);
		return -1;
	}
	return 0;
}

static void strv_free(char **v, uint32_t n)
{
	if (v == NULL)
		return;
	for (uint32_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Decodes u32 count + that many strings into a NULL-terminated vector that
 * grows as strings arrive. */
static char **strv_decode(struct rd *r, uint32_t max_count, uint32_t *count)
{
	uint32_t n = rd_u32(r), cap = 0, got = 0;
	char **v = NULL;
	if (n > max_count)
		rd_fail(r);
	while (rd_ok(r) && got < n) {
		char *s = rd_cstr(r, PROTO_STR_MAX);
		if (s == NULL)
			break;
		if (got + 2 > cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[got++] = s;
	}
	if (!rd_ok(r)) {
		strv_free(v, got);
		*count = 0;
		return NULL;
	}
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	v[got] = NULL;
	*count = got;
	return v;
}

static int strv_encode(char *const *v, uint32_t n, struct buf *out)
{
	int r = buf_put_u32(out, n);
	for (uint32_t i = 0; i < n && r == 0; i++)
		r = buf_put_cstr(out, v[i]);
	return r;
}

void exec_req_release(struct exec_req *e)
{
	if (e == NULL)
		return;
	free(e->root);
	strv_free(e->argv, e->argc);
	strv_free(e->env, e->envc);
	memset(e, 0, sizeof(*e));
}

int exec_req_encode(const struct exec_req *e, struct buf *out)
{
	int r = 0;
	r |= buf_put_u32(out, e->flags);
	r |= buf_put_cstr(out, e->root);
	r |= strv_encode(e->argv, e->argc, out);
	r |= strv_encode(e->env, e->envc, out);
	if (e->flags & EXEC_PTY) {
		r |= buf_put_u16(out, e->rows);
		r |= buf_put_u16(out, e->cols);
	}
	return r ? -1 : 0;
}

int exec_req_decode(struct rd *r, struct exec_req *e)
{
	memset(e, 0, sizeof(*e));
	e->flags = rd_u32(r);
	if (e->flags & ~EXEC_FLAGS_ALL)
		rd_fail(r);
	e->root = rd_cstr(r, PATH_REL_MAX);
	e->argv = strv_decode(r, PROTO_ARGV_MAX, &e->argc);
	e->env = strv_decode(r, PROTO_ENV_MAX, &e->envc);
	if (e->flags & EXEC_PTY) {
		e->rows = rd_u16(r);
		e->cols = rd_u16(r);
	}
	rd_expect_end(r);
	if (rd_ok(r) && e->argc == 0)
		rd_fail(r);
	if (rd_ok(r) && (e->flags & EXEC_SHELL) && e->argc != 1)
		rd_fail(r);
	for (uint32_t i = 0; rd_ok(r) && i < e->envc; i++) {
		const char *eq = strchr(e->env[i], '=');
		if (eq == NULL || eq == e->env[i])
			rd_fail(r);
	}
	if (!rd_ok(r)) {
		exec_req_release(e);
		return -1;
	}
	return 0;
}

void kv_add(struct kv_list *kv, const char *k, const char *v)
{
	kv->key = xrealloc(kv->key, (kv->n + 1) * sizeof(char *));
	kv->val = xrealloc(kv->val, (kv->n + 1) * sizeof(char *));
	kv->key[kv->n] = xstrdup(k);
	kv->val[kv->n] = xstrdup(v);
	kv->n++;
}

const char *kv_get(const struct kv_list *kv, const char *k)
{
	for (uint32_t i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], k) == 0)
			return kv->val[i];
	return NULL;
}

void kv_release(struct kv_list *kv)
{
	if (kv == NULL)
		return;
	strv_free(kv->key, kv->n);
	strv_free(kv->val, kv->n);
	memset(kv, 0, sizeof(*kv));
}

int kv_encode(const struct kv_list *kv, struct buf *out)
{
	int r = buf_put_u32(out, kv->n);
	for (uint32_t i = 0; i < kv->n && r == 0; i++) {
		r |= buf_put_cstr(out, kv->key[i]);
		r |= buf_put_cstr(out, kv->val[i]);
	}
	return r ? -1 : 0;
}

int kv_decode(struct rd *r, struct kv_list *kv)
{
	memset(kv, 0, sizeof(*kv));
	uint32_t n = rd_u32(r);
	if (n > PROTO_KV_MAX)
		rd_fail(r);
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		char *k = rd_cstr(r, 256);
		char *v = rd_cstr(r, PROTO_STR_MAX);
		if (k != NULL && v != NULL)
			kv_add(kv, k, v);
		free(k);
		free(v);
	}
	rd_expect_end(r);
	if (!rd_ok(r)) {
		kv_release(kv);
		return -1;
	}
	return 0;
}

int error_encode(uint32_t code, const char *msg, struct buf *out)
{
	int r = buf_put_u32(out, code);
	r |= buf_put_str(out, msg, strnlen(msg, PROTO_STR_MAX));
	return r ? -1 : 0;
}

int error_decode(struct rd *r, uint32_t *code, char **msg)
{
	*code = rd_u32(r);
	*msg = rd_cstr(r, PROTO_STR_MAX);
	rd_expect_end(r);
	if (!rd_ok(r)) {
		free(*msg);
		*msg = NULL;
		return -1;
	}
	return 0;
}

void conn_init(struct conn *c, int rfd, int wfd)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	/* One frame, plus startup text still being scanned before it. */
	buf_init(&c->in, FRAME_HDR_LEN + FRAME_MAX + PRELUDE_MAX);
	/* Producers stop at CONN_OUT_HIGH (channels at CHAN_OUT_HIGH, before
	 * their frames reach this queue); the rest is slack for the frame or
	 * manifest batch queued last. */
	buf_init(&c->out, CONN_OUT_MAX);
}

void conn_release(struct conn *c)
{
	if (c == NULL)
		return;
	buf_release(&c->in);
	buf_release(&c->out);
}

static void conn_drop(struct conn *c)
{
	if (c->frame_len) {
		buf_consume(&c->in, c->frame_len);
		c->frame_len = 0;
	}
}

int conn_fill(struct conn *c)
{
	conn_drop(c);
	size_t room = c->in.max - c->in.len;
	if (room > CONN_FILL_MAX)
		room = CONN_FILL_MAX;
	if (room == 0)
		return -ENOBUFS;
	uint8_t *p = buf_space(&c->in, room);
	ssize_t n;
	do
		n = read(c->rfd, p, room);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	buf_commit(&c->in, (size_t)n);
	c->bytes_in += (uint64_t)n;
	return (int)n;
}

int frame_header_ch(const uint8_t *p, uint32_t *len, uint16_t *type, uint16_t *chan)
{
	struct rd h;
	rd_init(&h, p, FRAME_HDR_LEN);
	*len = rd_u32(&h);
	*type = rd_u16(&h);
	*chan = rd_u16(&h);
	return *len > FRAME_MAX ? -EBADMSG : 0;
}

int frame_header(const uint8_t *p, uint32_t *len, uint16_t *type)
{
	uint16_t chan;
	int r = frame_header_ch(p, len, type, &chan);
	return r < 0 || chan != 0 ? -EBADMSG : 0;
}

int frame_put_ch(struct buf *b, uint16_t chan, uint16_t type, const void *p, size_t n)
{
	if (n > FRAME_MAX)
		return -EMSGSIZE;
	if (b->max - b->len < FRAME_HDR_LEN || b->max - b->len - FRAME_HDR_LEN < n)
		return -ENOBUFS;
	buf_put_u32(b, (uint32_t)n);
	buf_put_u16(b, type);
	buf_put_u16(b, chan);
	buf_put(b, p, n);
	return 0;
}

int frame_put(struct buf *b, uint16_t type, const void *p, size_t n)
{
	return frame_put_ch(b, 0, type, p, n);
}

/* One frame off the input, hooks or not: 1, 0 (more bytes needed) or
 * -EBADMSG. */
static int next_any(struct conn *c, uint16_t *type, struct rd *body)
{
	conn_drop(c);
	if (c->in.len < FRAME_HDR_LEN)
		return 0;
	uint32_t len;
	uint16_t t, ch;
	if (frame_header_ch(c->in.data, &len, &t, &ch) < 0 || (ch != 0 && !c->chans))
		return -EBADMSG;
	if (c->in.len - FRAME_HDR_LEN < len)
		return 0;
	*type = t;
	c->chan = ch;
	rd_init(body, c->in.data + FRAME_HDR_LEN, len);
	c->frame_len = FRAME_HDR_LEN + len;
	return 1;
}

int conn_next(struct conn *c, uint16_t *type, struct rd *body)
{
	for (;;) {
		int r = next_any(c, type, body);
		if (r <= 0 || c->hooks == NULL || c->chan == c->hooks->chan)
			return r;
		/* Another channel's: its handler takes it, we look further. */
		r = c->hooks->divert(c, c->chan, *type, body, c->hooks->arg);
		conn_drop(c);
		if (r < 0)
			return r;
	}
}

void conn_unread(struct conn *c)
{
	c->frame_len = 0;
}

/* Polls fd for events (timeout as poll's): >0 ready, 0 not, -errno. */
static int fd_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms);
	return r < 0 && errno != EINTR ? -errno : r > 0;
}

/* Waits until c's fd is ready for events, or, on a conn an event loop
 * also serves, for one turn of that loop. */
static int conn_wait(struct conn *c, short events)
{
	if (c->hooks && c->hooks->wait)
		return c->hooks->wait(c, events, c->hooks->arg);
	int r = fd_wait(events == POLLIN ? c->rfd : c->wfd, events, -1);
	return r < 0 ? r : 0;
}

int conn_ready(struct conn *c)
{
	for (;;) {
		uint16_t type;
		struct rd body;
		int r = conn_next(c, &type, &body);
		if (r != 0) {
			conn_unread(c);
			return r > 0;
		}
		if (c->eof || fd_wait(c->rfd, POLLIN, 0) <= 0 || conn_fill(c) <= 0)
			return 0;
	}
}

int conn_read(struct conn *c, uint16_t *type, struct rd *body)
{
	for (;;) {
		int r = conn_next(c, type, body);
		if (r != 0)
			return r;
		r = conn_fill(c);
		if (r == -EAGAIN) {
			r = conn_wait(c, POLLIN);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		if (r == 0)
			return c->in.len ? -EPROTO : 0;
	}
}

int conn_queue_ch(struct conn *c, uint16_t chan, uint16_t type, const void *p, size_t n)
{
	return frame_put_ch(&c->out, chan, type, p, n);
}

int conn_queue(struct conn *c, uint16_t type, const void *p, size_t n)
{
	return conn_queue_ch(c, c->tx_chan, type, p, n);
}

void conn_queue_framed(struct conn *c, const void *p, size_t n)
{
	if (buf_put(&c->out, p, n) < 0)
		die(EXIT_INTERNAL, "BUG: output queue over %zu bytes", (size_t)CONN_OUT_MAX);
}

int conn_flush_some(struct conn *c)
{
	while (c->out.len) {
		ssize_t w = write(c->wfd, c->out.data, c->out.len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		buf_consume(&c->out, (size_t)w);
		c->bytes_out += (uint64_t)w;
	}
	return 0;
}

int conn_flush(struct conn *c)
{
	while (c->out.len) {
		int r = conn_flush_some(c);
		if (r < 0)
			return r;
		if (c->out.len && (r = conn_wait(c, POLLOUT)) < 0)
			return r;
	}
	return 0;
}

int conn_send(struct conn *c, uint16_t type, const void *p, size_t n)
{
	int r = conn_queue(c, type, p, n);
	return r < 0 ? r : conn_flush(c);
}

static char *printable_copy(const uint8_t *p, size_t n)
{
	char *s = xstrndup((const char *)p, n);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0')
			s[i] = '?';
	return s;
}

int conn_preamble(struct conn *c, size_t max_noise, size_t *noise, char **first, char **boot)
{
	conn_drop(c);
	*boot = NULL;
	while (c->in.len > 0) {
		const uint8_t *d = c->in.data;
		const uint8_t *pre = memmem(d, c->in.len, PROTO_PREAMBLE, PROTO_PREAMBLE_LEN);
		const uint8_t *nl = memchr(d, '\n', c->in.len);
		size_t n;
		if (pre != NULL && nl >= pre) {
			/* Text glued to the preamble on its line is noise too. */
			n = (size_t)(pre - d);
			if (n && *first == NULL)
				*first = printable_copy(d, n < 200 ? n : 200);
			*noise += n;
			buf_consume(&c->in, n + PROTO_PREAMBLE_LEN);
			return *noise > max_noise ? -1 : 1;
		}
		if (nl == NULL)
			break;
		n = (size_t)(nl - d);
		if (n >= strlen(BOOT_PREFIX) && memcmp(d, BOOT_PREFIX, strlen(BOOT_PREFIX)) == 0) {
			*boot = printable_copy(d, n);
			buf_consume(&c->in, n + 1);
			return 2;
		}
		if (*first == NULL)
			*first = printable_copy(d, n < 200 ? n : 200);
		*noise += n + 1;
		buf_consume(&c->in, n + 1);
		if (*noise > max_noise)
			return -1;
	}
	/* A partial line: wait for more, unless it alone is already too much. */
	return *noise + c->in.len > max_noise + PROTO_PREAMBLE_LEN ? -1 : 0;
}
