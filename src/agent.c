/*
 * agent.c - the agent's session loop and request table.
 *
 * The agent trusts nothing it reads: every frame is decoded through the
 * reader, anything unknown or malformed gets an ERROR frame and ends the
 * session.  It never writes to stderr during a session except for bugs:
 * stderr belongs to ssh.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "spawn.h"
#include "util.h"

static const struct {
	uint16_t type;
	int (*fn)(struct conn *, struct rd *);
} requests[] = {
	{ MSG_EXEC, agent_exec },
	{ MSG_INFO, agent_info },
	{ MSG_FILE_GET, agent_file_get },
	{ MSG_SYNC_BEGIN, agent_sync },
	{ MSG_JOB_START, agent_job_start },
	{ MSG_JOB_LIST, agent_job_list },
	{ MSG_JOB_LOGS, agent_job_logs },
	{ MSG_JOB_KILL, agent_job_kill },
	{ MSG_JOB_WAIT, agent_job_wait },
	{ MSG_JOB_ATTACH, agent_job_attach },
	{ MSG_JOB_RM, agent_job_rm },
	{ MSG_MON_REQ, agent_mon },
	{ MSG_MON_KILL, agent_mon_kill },
};

void agent_error(struct conn *c, uint32_t code, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	buf_init(&b, FRAME_MAX);
	error_encode(code, m, &b);
	conn_queue(c, MSG_ERROR, b.data, b.len);
	buf_release(&b);
	free(m);
}

char *agent_root_path(const char *root)
{
	if (root[0] == '/')
		return xstrdup(root);
	char *home = user_home();
	if (strcmp(root, "~") == 0)
		return home;
	if (strncmp(root, "~/", 2) == 0)
		root += 2;
	char *p = xasprintf("%s/%s", strcmp(home, "/") == 0 ? "" : home, root);
	free(home);
	return p;
}

static int handshake(struct conn *c)
{
	uint16_t type;
	struct rd body;
	struct hello peer, me;
	struct buf b;
	int r = conn_read(c, &type, &body);

	if (r <= 0)
		return -1;
	if (type != MSG_HELLO || hello_decode(&body, &peer) < 0) {
		agent_error(c, PERR_PROTOCOL, "expected a hello frame");
		return -1;
	}
	hello_init_self(&me);
	/* The highest version both speak. */
	uint16_t v = peer.version_max < me.version_max ? peer.version_max : me.version_max;
	if (v < peer.version_min || v < me.version_min) {
		agent_error(c, PERR_VERSION, "no common protocol version (agent %u-%u, client %u-%u)",
			    me.version_min, me.version_max, peer.version_min, peer.version_max);
		hello_release(&peer);
		hello_release(&me);
		return -1;
	}
	me.version_min = me.version_max = v;
	me.wall_ns = now_wall_ns();
	buf_init(&b, FRAME_MAX);
	hello_encode(&me, &b);
	conn_queue(c, MSG_HELLO, b.data, b.len);
	buf_release(&b);
	hello_release(&peer);
	hello_release(&me);
	return 0;
}

/* Old versions of large files a push replaced, held open so that the
 * filesystem frees them after the reply, not while the client waits. */
void agent_defer_close(struct agent_later *l, int fd)
{
	if (l->nfds < DROP_DEFER_MAX)
		l->fds[l->nfds++] = fd;
	else
		close(fd);
}

void agent_sync_later(struct agent_later *l, const char *file)
{
	free(l->to_sync);
	l->to_sync = xstrdup(file);
}

static void fsync_path(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The index named by agent_sync_later, its log and its folder. */
static void sync_index_files(const char *file)
{
	if (file == NULL)
		return;
	char *log = xasprintf("%s.log", file), *dir = xstrdup(file), *slash = strrchr(dir, '/');
	fsync_path(file, 0);
	fsync_path(log, 0);
	if (slash)
		*slash = '\0';
	fsync_path(dir, O_DIRECTORY);
	free(log);
	free(dir);
}

/* In the dropping process: every fd of the agent's but the held files.
 * Above all the root's sync lock (flock belongs to every copy of the
 * fd: the next sync would wait for our fsync) and the session's pipes. */
static void close_all_but(const struct agent_later *l)
{
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > DROP_FD_SCAN_MAX)
		max = DROP_FD_SCAN_MAX;
	for (int fd = 3; fd < max; fd++) {
		bool held = false;
		for (size_t i = 0; i < l->nfds && !held; i++)
			held = l->fds[i] == fd;
		if (!held)
			(void)close(fd);
	}
}

/* Hands the held files to a grandchild (reaped by init, so no zombie
 * waits for this loop) that frees them and fsyncs the index, detached
 * from the session's pipes: the client, whose reply is out, waits for
 * neither.  The next sync of the session starts at once. */
void agent_later_run(struct agent_later *l)
{
	if (l->nfds == 0 && l->to_sync == NULL)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		(void)setsid();
		close_all_but(l);
		for (size_t i = 0; i < l->nfds; i++)
			close(l->fds[i]);
		sync_index_files(l->to_sync);
		_exit(0);
	}
	if (pid > 0) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	} else {
		sync_index_files(l->to_sync);	/* no child: now, as before */
	}
	/* Our copies go now; the grandchild's keep the files. */
	for (size_t i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	l->nfds = 0;
	free(l->to_sync);
	l->to_sync = NULL;
}

int agent_main(void)
{
	struct conn c;
	int code = 0;

	signal(SIGPIPE, SIG_IGN);
	conn_init(&c, 0, 1);
	fd_nonblock(0);
	fd_nonblock(1);
	if (write_all(1, PROTO_PREAMBLE, PROTO_PREAMBLE_LEN) < 0)
		return 1;
	if (handshake(&c) < 0) {
		code = 1;
		goto out;
	}
	for (;;) {
		uint16_t type;
		struct rd body;
		if (conn_flush(&c) < 0)
			break;
		int r = conn_read(&c, &type, &body);
		if (r == 0)
			break;		/* the client closed the session */
		if (r < 0) {
			agent_error(&c, PERR_PROTOCOL, r == -1 ? "oversize or malformed frame header"
				    : "truncated frame at end of stream");
			code = 1;
			break;
		}
		/* Input and signals for a command that already ended race with
		 * its EXIT frame: they are dropped, not errors. */
		if (type == MSG_STDIN || type == MSG_SIGNAL || type == MSG_CLOSE_STDOUT)
			continue;
		/* A stop that crossed the end of a monitoring stream. */
		if (type == MSG_MON_STOP)
			continue;
		size_t i;
		for (i = 0; i < ARRAY_LEN(requests); i++)
			if (requests[i].type == type)
				break;
		if (i == ARRAY_LEN(requests)) {
			agent_error(&c, PERR_PROTOCOL, "unexpected message type 0x%04x", type);
			code = 1;
			break;
		}
		if (requests[i].fn(&c, &body) < 0) {
			code = 1;
			break;
		}
	}
out:
	(void)conn_flush(&c);
	conn_release(&c);
	return code;
}
