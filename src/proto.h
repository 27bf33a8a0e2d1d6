/*
 * proto.h - ferry's wire protocol: frames, message types, the handshake.
 *
 * A frame is an 8-byte header (u32 payload length, u16 type, u16 channel)
 * and the payload; FRAME_MAX caps the payload and is checked before
 * anything is buffered.  The channel is zero unless both hellos carry
 * CAP_CHANNELS (chan.h).  docs/PROTOCOL.md is the reference for every
 * message below.
 *
 * struct conn is one end of a session: a read fd, a write fd, an input
 * buffer that holds at most one frame beyond what was consumed, and an
 * output queue (at most CONN_OUT_MAX bytes) written without blocking when
 * the fd is non-blocking.
 */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_MAGIC		0x46525931u	/* "FRY1" */
#define PROTO_VERSION_MIN	1
#define PROTO_VERSION_MAX	1
/* The agent prints this line before its first frame; anything before it
 * was printed by the remote shell's startup files. */
#define PROTO_PREAMBLE		"\177FERRY-AGENT\n"
#define PROTO_PREAMBLE_LEN	13
/* Lines the remote bootstrap script prints instead of starting an agent. */
#define BOOT_PREFIX		"FERRY-BOOT "

enum msg_type {
	/* 0x00xx session */
	MSG_HELLO = 0x0001,
	MSG_ERROR = 0x0002,
	/* channels (chan.h), only with CAP_CHANNELS and never on channel 0 */
	MSG_CHAN_WINDOW = 0x0003,	/* u32: more payload bytes the sender may send us */
	MSG_CHAN_CLOSE = 0x0004,	/* empty: the sender sends nothing more on the channel */
	MSG_CHAN_RESET = 0x0005,	/* u32 code, string: the channel is abandoned */
	/* 0x01xx exec */
	MSG_EXEC = 0x0100,
	MSG_EXEC_STARTED = 0x0101,
	MSG_STDIN = 0x0102,
	MSG_STDOUT = 0x0103,
	MSG_STDERR = 0x0104,
	MSG_WINDOW = 0x0105,
	MSG_SIGNAL = 0x0106,
	MSG_EXIT = 0x0107,
	MSG_CLOSE_STDOUT = 0x0108,
	MSG_EXEC_RESIZE = 0x0109,
	/* 0x03xx sync (sync-wire.h) */
	MSG_SYNC_BEGIN = 0x0300,
	MSG_SYNC_ENTRY = 0x0301,
	MSG_SYNC_ENTRIES_END = 0x0302,
	MSG_SYNC_NEED = 0x0303,
	MSG_SYNC_CONFLICT = 0x0304,
	MSG_SYNC_PLAN_END = 0x0305,
	MSG_SYNC_FILE = 0x0306,
	MSG_SYNC_DATA = 0x0307,
	MSG_SYNC_FILE_END = 0x0308,
	MSG_SYNC_COMMIT = 0x0309,
	MSG_SYNC_ERROR = 0x030a,
	MSG_SYNC_DONE = 0x030b,
	MSG_SYNC_DELETE = 0x030c,
	/* 0x04xx jobs (docs/PROTOCOL.md, "Jobs") */
	MSG_JOB_START = 0x0400,
	MSG_JOB_RECORD = 0x0401,
	MSG_JOB_LIST = 0x0402,
	MSG_JOB_LIST_END = 0x0403,
	MSG_JOB_LOGS = 0x0404,
	MSG_JOB_OUTPUT = 0x0405,
	MSG_JOB_DONE = 0x0406,
	MSG_JOB_KILL = 0x0407,
	MSG_JOB_WAIT = 0x0408,
	MSG_JOB_ATTACH = 0x0409,
	MSG_JOB_INPUT = 0x040a,
	MSG_JOB_RESIZE = 0x040b,
	MSG_JOB_RM = 0x040c,
	MSG_JOB_NOTICE = 0x040d,
	MSG_JOB_LOG_AT = 0x040e,
	MSG_JOB_OUTPUTS = 0x040f,	/* after a record: what the job moved out of its snapshot */
	/* between the agent and a job's supervisor (its control socket) */
	MSG_JOB_CTL_ATTACH = 0x0420,
	MSG_JOB_CTL_KILL = 0x0421,
	MSG_JOB_CTL_OK = 0x0422,
	/* supervisor -> launcher, on the report pipe (job-sup.c) */
	MSG_JOB_SUP_WARN = 0x0423,	/* str: something the user should know */
	MSG_JOB_SUP_RUNNING = 0x0424,	/* the record says it runs */
	MSG_JOB_SUP_NOEXEC = 0x0425,	/* u32 errno: the command could not be executed */
	MSG_JOB_SUP_ERROR = 0x0426,	/* str: nothing was started, and why */
	MSG_SYNC_SIG = 0x030d,
	MSG_SYNC_DELTA = 0x030e,
	MSG_SYNC_DATA_Z = 0x030f,
	MSG_SYNC_DELTA_Z = 0x0310,
	MSG_SYNC_BASE = 0x0311,
	MSG_SYNC_DROP = 0x0312,
	MSG_SYNC_HINT = 0x0313,
	MSG_SYNC_ENTRIES_Z = 0x0314,
	MSG_SYNC_PING = 0x0315,
	MSG_SYNC_PONG = 0x0316,
	MSG_SYNC_KEEP = 0x0317,
	MSG_SYNC_SKIPPED = 0x0318,
	/* 0x02xx information */
	MSG_INFO = 0x0200,
	MSG_INFO_REPLY = 0x0201,
	/* 0x05xx monitoring (mon.h) */
	MSG_FILE_GET = 0x0600,		/* agent-file.c */
	MSG_FILE_DATA = 0x0601,
	MSG_FILE_END = 0x0602,

	MSG_MON_REQ = 0x0500,
	MSG_MON_SAMPLE = 0x0501,
	MSG_MON_STOP = 0x0502,
	MSG_MON_END = 0x0503,
	MSG_MON_KILL = 0x0504,
	MSG_MON_KILL_REPLY = 0x0505,
	/* 0x07xx forwarding (fwd-wire.h) */
	MSG_FWD_OPEN = 0x0700,
	MSG_FWD_READY = 0x0701,
	MSG_FWD_DATA = 0x0702,
	MSG_FWD_WATCH = 0x0703,
	MSG_FWD_PORT = 0x0704,
	MSG_FWD_SYNCED = 0x0705,
};

/* Error codes carried in MSG_ERROR. */
enum proto_err {
	PERR_PROTOCOL = 1,	/* malformed, oversize or unexpected frame */
	PERR_VERSION = 2,	/* no common protocol version */
	PERR_ROOT = 3,		/* the project root cannot be used */
	PERR_NOSPC = 4,		/* disk full */
	PERR_INTERNAL = 5,
	PERR_BUSY = 6,		/* another sync of the same root runs */
	PERR_NOJOB = 7,		/* no such job */
	PERR_JOB = 8,		/* the job cannot do that (not running, ...) */
	PERR_NOFILE = 9,	/* no such file */
	PERR_BADFILE = 10,	/* a file that cannot be read (not regular, too big) */
	PERR_SHARED = 11,	/* other users may write the project folder, and it is not declared shared */
	PERR_REFUSED = 12,	/* a forward's connection: refused, unreachable, reset */
	PERR_DENIED = 13,	/* a forward to where the agent does not connect */
};

/* Exec flags. */
#define EXEC_SHELL		0x1u	/* argv[0] is a shell command line */
#define EXEC_NO_LOGIN_ENV	0x2u	/* skip the login shell's environment */
#define EXEC_NO_STDIN		0x4u	/* the command gets /dev/null */
#define EXEC_PTY		0x8u	/* a terminal of its own (rows, cols follow) */
#define EXEC_FLAGS_ALL		0xfu

/* Signals on the wire use these numbers whatever the host's are. */
enum wire_signal {
	WSIG_HUP = 1, WSIG_INT = 2, WSIG_QUIT = 3, WSIG_KILL = 9,
	WSIG_USR1 = 10, WSIG_USR2 = 12, WSIG_TERM = 15,
};
int wire_to_signal(uint32_t w);		/* host signal, or -1 */
uint32_t signal_to_wire(int sig);	/* 0 when it has no wire number */

/* Hello capability bits. */
#define CAP_CHANNELS		(UINT64_C(1) << 0)	/* frame headers carry a channel id */
#define CAPS_SELF		CAP_CHANNELS	/* what hello_init_self announces */

struct hello {
	uint16_t version_min, version_max;
	uint64_t caps;
	char *build_id;		/* ferry_build_id() of the sender */
	char *os, *arch;
	uint64_t wall_ns;
	uint32_t pid;
};
void hello_init_self(struct hello *h);
void hello_release(struct hello *h);
int hello_encode(const struct hello *h, struct buf *out);
int hello_decode(struct rd *r, struct hello *h);

struct exec_req {
	uint32_t flags;
	char *root;		/* project root as the user wrote it */
	char **argv;		/* NULL-terminated */
	uint32_t argc;
	char **env;		/* extra K=V, NULL-terminated */
	uint32_t envc;
	uint16_t rows, cols;	/* with EXEC_PTY: the terminal's size */
};
void exec_req_release(struct exec_req *e);
int exec_req_encode(const struct exec_req *e, struct buf *out);
int exec_req_decode(struct rd *r, struct exec_req *e);

struct kv_list {
	char **key, **val;
	uint32_t n;
};
void kv_add(struct kv_list *kv, const char *k, const char *v);
const char *kv_get(const struct kv_list *kv, const char *k);
void kv_release(struct kv_list *kv);
int kv_encode(const struct kv_list *kv, struct buf *out);
int kv_decode(struct rd *r, struct kv_list *kv);

/* Encodes an error message body: u32 code, string. */
int error_encode(uint32_t code, const char *msg, struct buf *out);
int error_decode(struct rd *r, uint32_t *code, char **msg);

struct conn;
/* A conn that an event loop serves besides a blocking conversation (the
 * agent's sync on channel 0, agent.c): frames of other channels go to
 * divert() instead of to conn_next's caller, and a blocking read or flush
 * calls wait() (one turn of the loop, which must fill or flush c) instead
 * of polling the conn's fd alone.  divert returns <0 to fail the read. */
struct conn_hooks {
	int (*divert)(struct conn *c, uint16_t chan, uint16_t type, struct rd *body, void *arg);
	int (*wait)(struct conn *c, short events, void *arg);
	void *arg;
	uint16_t chan;		/* the conversation's channel: frames on it are returned */
};

struct conn {
	int rfd, wfd;
	struct buf in;		/* unconsumed input */
	struct buf out;		/* queued output, at most CONN_OUT_MAX bytes */
	size_t frame_len;	/* bytes of the frame last returned, to drop */
	bool eof;
	bool chans;		/* CAP_CHANNELS both ways: headers carry channel ids */
	uint16_t chan;		/* the channel of the frame conn_next returned last */
	uint16_t tx_chan;	/* conn_queue's channel (0 unless a conversation is on one) */
	const struct conn_hooks *hooks;	/* NULL: a plain conn */
	uint64_t bytes_in, bytes_out;	/* read from and written to the fds */
};

void conn_init(struct conn *c, int rfd, int wfd);
void conn_release(struct conn *c);	/* frees buffers; does not close fds */
/* One read() into the input buffer: >0 bytes, 0 EOF, -errno (-EAGAIN). */
int conn_fill(struct conn *c);
/* The next complete frame, if one is buffered: 1 and *type and *body set (body
 * valid until the next conn_* call; c->chan its channel), 0 if more bytes
 * are needed, -EBADMSG if the header is malformed (a channel id without
 * c->chans) or announces more than FRAME_MAX.  With hooks, frames of other
 * channels than hooks->chan go to divert and are not returned. */
int conn_next(struct conn *c, uint16_t *type, struct rd *body);
/* Puts back the frame conn_next returned last: the next conn_next returns
 * it again. */
void conn_unread(struct conn *c);
/* Without blocking: 1 when a whole frame is buffered or, after reading
 * what the fd already holds, is now; 0 otherwise (errors and EOF are
 * left for the next conn_read to report). */
int conn_ready(struct conn *c);
/* Blocking: reads until a frame, EOF (0) or error (<0: -EBADMSG for a bad
 * header, -EPROTO for a frame cut by EOF, -errno). */
int conn_read(struct conn *c, uint16_t *type, struct rd *body);
/* The framing itself, for frames carried inside others (a manifest
 * batch): a header of FRAME_HDR_LEN bytes at p decoded (-EBADMSG when its
 * channel is not zero or it announces more than FRAME_MAX), one frame
 * appended to b (-EMSGSIZE if the payload is over FRAME_MAX, -ENOBUFS
 * past b's maximum).  The _ch forms carry a channel id. */
int frame_header(const uint8_t *p, uint32_t *len, uint16_t *type);
int frame_header_ch(const uint8_t *p, uint32_t *len, uint16_t *type, uint16_t *chan);
int frame_put(struct buf *b, uint16_t type, const void *p, size_t n);
int frame_put_ch(struct buf *b, uint16_t chan, uint16_t type, const void *p, size_t n);
/* Queues one frame on c->tx_chan; -EMSGSIZE if the payload is over
 * FRAME_MAX, -ENOBUFS when the queue would pass CONN_OUT_MAX (producers
 * stay under CONN_OUT_HIGH, so that is a bug of theirs). */
int conn_queue(struct conn *c, uint16_t type, const void *p, size_t n);
int conn_queue_ch(struct conn *c, uint16_t chan, uint16_t type, const void *p, size_t n);
/* Appends frames already framed as conn_queue frames them; aborts past
 * CONN_OUT_MAX (dropping them would corrupt the stream). */
void conn_queue_framed(struct conn *c, const void *p, size_t n);
/* Writes what it can of the queue: 0, or -errno (not -EAGAIN). */
int conn_flush_some(struct conn *c);
/* Blocking flush of the whole queue (polls on EAGAIN). */
int conn_flush(struct conn *c);
/* Queue + flush. */
int conn_send(struct conn *c, uint16_t type, const void *p, size_t n);

/* Before the first frame: scans the buffered input for PROTO_PREAMBLE,
 * which may follow text the remote shell printed (with or without a
 * newline).  Returns 1 when the preamble was found and consumed; 2 when a
 * complete line starting with BOOT_PREFIX comes first (*boot set, without
 * the newline; caller frees); 0 if more input is needed; -1 once more than
 * max_noise bytes of other text were seen.  Text before the preamble is
 * consumed and counted in *noise; the first such line is copied to *first
 * (at most 200 bytes, NULs as '?') if *first is NULL. */
int conn_preamble(struct conn *c, size_t max_noise, size_t *noise, char **first, char **boot);

#endif
