/*
 * fwd-detect.c - the listening ports of the user's running jobs, and the
 * URLs they print (fwd-detect.h).
 *
 * What a look costs, idle: one sock_diag dump per family of the LISTEN
 * sockets (the kernel filters the state; the uid is checked here, first),
 * a lookup of each inode in the table of inodes already placed, and a
 * stat of the jobs folder and of each running job's folder once a second.
 * /proc is walked only when an inode of the user appears that is not
 * placed yet; a placed inode is either a job's or remembered as nobody's
 * until it leaves the dump (or a new job starts: it may be that job's,
 * its `sid` written just after its server began listening).
 *
 * Never reported: a socket whose owner is another uid, one no process of
 * the user in a running job's session holds.  A job's log is read only
 * while the job has a port up, from where the last look stopped.
 */
#define _GNU_SOURCE
#include "fwd-detect.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsx.h"
#include "fwd-url.h"
#include "job.h"
#include "mon-jobs.h"
#include "mon-proc.h"
#include "mon-text.h"
#include "util.h"

#include "banned.h"

#define ST_LISTEN	10		/* the kernel's TCP_LISTEN */
#define SOCKS_MAX	65536		/* listening sockets of the user in one dump */
#define NL_BUF		(64 * 1024)	/* one recv of a dump (the kernel's skbs are <= 32 KiB) */
#define PROC_NET_MAX	(256u << 20)	/* /proc/net/tcp of a very busy server */
#define STAT_MAX	4096		/* /proc/PID/stat */
#define JOB_URLS_KEEP	64		/* URLs a job's detector remembers */
#define LOG_CHUNK	(16 * 1024)
#define JOBS_CHECK_NS	1000000000ull	/* the jobs folder is looked at once a second */
#define SETTLE_NS	3000000000ull	/* a folder changed this recently may change again */
#define WALK_SPACING	20		/* a walk of /proc: at most 1/20 of the time */
#define RETRY_NS	1000000000ull	/* a socket placed as nobody's is placed again after */

static void sock_push(struct fwd_sock **v, size_t *n, const struct fwd_sock *s)
{
	if (*n >= SOCKS_MAX)
		return;
	/* The capacity is the next power of two >= 8: no field to keep. */
	if (*n == 0)
		*v = xrealloc(*v, 8 * sizeof(**v));
	else if (*n >= 8 && (*n & (*n - 1)) == 0)
		*v = xrealloc(*v, *n * 2 * sizeof(**v));
	(*v)[(*n)++] = *s;
}

static void sock_addr(struct fwd_sock *s, uint8_t family, const void *raw)
{
	s->family = family;
	if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, raw, s->addr, sizeof(s->addr)) == NULL)
		s->addr[0] = '\0';
}

/* Skips blanks, then exactly digits hex digits. */
static uint32_t hex_n(struct rd *r, size_t digits)
{
	tx_skip_blank(r);
	uint32_t v = 0;
	for (size_t i = 0; i < digits; i++) {
		int c = tx_peek(r);
		uint32_t d;
		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else {
			rd_fail(r);
			return 0;
		}
		(void)rd_u8(r);
		v = v << 4 | d;
	}
	return v;
}

int fwd_proc_net_parse(const char *p, size_t n, uint8_t family, uid_t uid, struct fwd_sock **out, size_t *nout)
{
	struct rd f;
	size_t words = family == 6 ? 4 : 1;
	if (family != 4 && family != 6)
		return -EBADMSG;
	rd_init(&f, p, n);
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		tx_skip_blank(&l);
		if (tx_eof(&l) || tx_lit(&l, "sl "))
			continue;
		/* "  0: 0100007F:0277 00000000:0000 0A 00000000:00000000
		 * 00:00000000 00000000  1000  0 34567 ...": the address is the
		 * kernel's __be32 words printed as host-order numbers. */
		(void)tx_u64(&l);
		if (!tx_lit(&l, ":"))
			rd_fail(&l);
		uint32_t w[4] = { 0 };
		for (size_t i = 0; i < words; i++)
			w[i] = hex_n(&l, 8);
		if (!tx_lit(&l, ":"))
			rd_fail(&l);
		uint32_t port = hex_n(&l, 4);
		for (size_t i = 0; i < words; i++)
			(void)hex_n(&l, 8);
		if (!tx_lit(&l, ":"))
			rd_fail(&l);
		(void)hex_n(&l, 4);
		uint32_t st = hex_n(&l, 2);
		tx_skip_words(&l, 3);
		uint64_t owner = tx_u64(&l);
		(void)tx_u64(&l);
		uint64_t ino = tx_u64(&l);
		if (!rd_ok(&l) || (tx_peek(&l) != ' ' && !tx_eof(&l)))
			return -EBADMSG;
		if (st != ST_LISTEN || owner != (uint64_t)uid)
			continue;
		struct fwd_sock s = { .ino = ino, .port = (uint16_t)port };
		uint8_t raw[16];
		for (size_t i = 0; i < words; i++)
			memcpy(raw + 4 * i, &w[i], 4);
		sock_addr(&s, family, raw);
		sock_push(out, nout, &s);
	}
	return 0;
}

int fwd_listen_dump_proc(const char *proc, uid_t uid, struct fwd_sock **out)
{
	struct fwd_sock *v = NULL;
	size_t n = 0;
	int r = 0;
	for (uint8_t fam = 4; fam <= 6 && r == 0; fam += 2) {
		char *path = xasprintf("%s/net/tcp%s", proc ? proc : "/proc", fam == 6 ? "6" : "");
		char *text;
		size_t len;
		r = read_file(path, PROC_NET_MAX, &text, &len);
		free(path);
		if (r == -ENOENT && fam == 6) {
			r = 0;	/* no IPv6 in this kernel */
			continue;
		}
		if (r == 0)
			r = fwd_proc_net_parse(text, len, fam, uid, &v, &n);
		free(text);
	}
	if (r < 0) {
		free(v);
		*out = NULL;
		return r;
	}
	*out = v;
	return (int)n;
}

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	/* The kernel always answers; this is for a kernel that does not. */
	struct timeval tv = { 2, 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* One sock_diag dump of TCP LISTEN sockets, appending uid's to *v: of
 * family 4 or 6 (inet_diag_req_v2), or of both (family 0: the old
 * TCPDIAG_GETSOCK request, whose dump is of every family).  0 or -errno. */
static int nl_dump(int fd, uint32_t *seq, uint8_t family, uid_t uid, uint8_t *buf, struct fwd_sock **v, size_t *n)
{
	struct {
		struct nlmsghdr h;
		union {
			struct inet_diag_req_v2 r;
			struct inet_diag_req old;
		} u;
	} req;
	uint16_t type = family ? SOCK_DIAG_BY_FAMILY : TCPDIAG_GETSOCK;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_HDRLEN + (family ? sizeof(req.u.r) : sizeof(req.u.old));
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = ++*seq;
	if (family) {
		req.u.r.sdiag_family = family == 6 ? AF_INET6 : AF_INET;
		req.u.r.sdiag_protocol = IPPROTO_TCP;
		req.u.r.idiag_states = 1u << ST_LISTEN;
	} else {
		req.u.old.idiag_family = AF_INET;
		req.u.old.idiag_states = 1u << ST_LISTEN;
	}
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		struct iovec iov = { buf, NL_BUF };
		struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t got = recvmsg(fd, &mh, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (sa.nl_pid != 0)
			continue;	/* not the kernel's */
		size_t len = (size_t)got, off = 0;
		while (len - off >= sizeof(struct nlmsghdr)) {
			struct nlmsghdr h;
			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off)
				return -EBADMSG;
			const uint8_t *body = buf + off + NLMSG_HDRLEN;
			size_t blen = h.nlmsg_len - NLMSG_HDRLEN, step = NLMSG_ALIGN(h.nlmsg_len);
			off = step < len - off ? off + step : len;
			if (h.nlmsg_seq != *seq)
				continue;	/* the rest of a dump given up on */
			if (h.nlmsg_type == NLMSG_DONE)
				return 0;
			if (h.nlmsg_type == NLMSG_ERROR) {
				int e = -EPROTO;
				if (blen >= sizeof(e))
					memcpy(&e, body, sizeof(e));
				return e < 0 ? e : -EPROTO;
			}
			struct inet_diag_msg m;
			if (h.nlmsg_type != type || blen < sizeof(m))
				continue;
			memcpy(&m, body, sizeof(m));
			/* The uid first: nothing of another user goes further. */
			if (m.idiag_uid != (uint32_t)uid || m.idiag_state != ST_LISTEN)
				continue;
			uint8_t fam = m.idiag_family == AF_INET ? 4 : m.idiag_family == AF_INET6 ? 6 : 0;
			if (fam == 0 || (family && fam != family))
				continue;
			struct fwd_sock s = { .ino = m.idiag_inode, .port = ntohs(m.id.idiag_sport) };
			sock_addr(&s, fam, m.id.idiag_src);
			sock_push(v, n, &s);
		}
	}
}

/* Both families on fd: in one dump where the kernel still takes the old
 * request (*both), else in two.  Each dump walks every bucket of the
 * kernel's listening hash (16 Ki here, 64 Ki on a big server), empty or
 * not: ~15 us a dump on this 2-core VM, so one dump halves an idle look
 * (29.7 -> ~15 us). */
static int nl_dump_all(int fd, uint32_t *seq, bool *both, uid_t uid, uint8_t *buf, struct fwd_sock **v, size_t *n)
{
	int r;
	if (*both) {
		r = nl_dump(fd, seq, 0, uid, buf, v, n);
		if (r == 0)
			return 0;
		if (r != -EINVAL && r != -ENOENT && r != -EOPNOTSUPP && r != -EPROTONOSUPPORT)
			return r;
		*n = 0;
		*both = false;
	}
	r = nl_dump(fd, seq, 4, uid, buf, v, n);
	if (r == 0) {
		r = nl_dump(fd, seq, 6, uid, buf, v, n);
		if (r == -ENOENT || r == -EAFNOSUPPORT)
			r = 0;	/* no IPv6 in this kernel */
	}
	return r;
}

int fwd_listen_dump_nl(uid_t uid, struct fwd_sock **out)
{
	struct fwd_sock *v = NULL;
	size_t n = 0;
	uint32_t seq = 0;
	bool both = false;	/* the two requests, as documented: one-off */
	*out = NULL;
	int fd = nl_open();
	if (fd < 0)
		return fd;
	uint8_t *buf = xmalloc(NL_BUF);
	int r = nl_dump_all(fd, &seq, &both, uid, buf, &v, &n);
	free(buf);
	close(fd);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	return (int)n;
}

int fwd_listen_dump(uid_t uid, struct fwd_sock **out)
{
	int r = fwd_listen_dump_nl(uid, out);
	return r >= 0 ? r : fwd_listen_dump_proc(NULL, uid, out);
}

/* ---- the detector ---- */

struct dport {
	uint16_t port;
	uint8_t family;
	char addr[FWD_ADDR_MAX];
	bool live;		/* a socket of the job has it, this look */
	bool reported;		/* sent up */
	bool missing;		/* not live at the last look either */
};

struct durl {
	char *url;
	uint16_t port;
	bool sent;
};

struct djob {
	char *id;
	uint32_t sid;
	bool running;
	uint64_t mtime_ns;	/* of its folder, when listed */
	struct dport *ports;
	size_t nports;
	struct durl urls[JOB_URLS_KEEP];
	size_t nurls;
	struct job_log log;
	bool log_open;
	char *carry;		/* FWD_URL_MAX: the bytes after the last stop byte */
	size_t ncarry;
	bool discard;		/* in a run of URL bytes too long to be one */
};

/* An inode of the user in the dump, placed: a job's, or nobody's. */
struct known {
	struct fwd_sock s;
	struct djob *job;	/* NULL: no job's */
	bool fresh;		/* not placed yet */
	uint64_t retry_ns;	/* nobody's: placed again then (monotonic) */
	bool retried;
	bool absent;		/* not in this look's dump (kept one look) */
};

/* What a walk of /proc learnt of a process of uid. */
struct pcache {
	uint32_t pid, session;
	uint64_t ino;		/* of /proc/PID: another process has another */
};

struct fwd_det {
	char *jobs_dir;
	char *proc;
	int procfd;
	uid_t uid;
	char *job;		/* NULL: every job */
	int nl;
	uint32_t seq;
	bool nl_ok;		/* a dump has worked: later failures are passing */
	bool nl_off;		/* sock_diag is not there: /proc/net for good */
	bool nl_both;		/* one dump gives both families */
	uint8_t *nlbuf;
	struct djob **jobs;
	size_t njobs;
	struct known *known;	/* sorted by inode */
	size_t nknown;
	bool listed;
	uint64_t checked_ns;	/* monotonic: the last look at the jobs folder */
	uint64_t dir_mtime_ns;	/* of the jobs folder, at the last listing */
	bool settling;		/* it had just changed then */
	char *scratch;		/* carry + LOG_CHUNK */
	struct pcache *pc;	/* sorted by pid */
	size_t npc;
	uint64_t walk_next_ns;	/* no walk of /proc before (monotonic) */
};

struct fwd_det *fwd_det_new(const char *jobs_dir, const char *proc, uid_t uid, const char *job)
{
	struct fwd_det *d = xcalloc(1, sizeof(*d));
	d->jobs_dir = jobs_dir ? xstrdup(jobs_dir) : mon_jobs_dir();
	d->proc = xstrdup(proc ? proc : "/proc");
	d->procfd = open(d->proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->uid = uid;
	d->job = job && job[0] ? xstrdup(job) : NULL;
	d->nl = -1;
	d->nl_both = true;
	d->scratch = xmalloc(FWD_URL_MAX + LOG_CHUNK);
	return d;
}

static void djob_free(struct djob *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nurls; i++)
		free(j->urls[i].url);
	if (j->log_open)
		job_log_close(&j->log);
	free(j->id);
	free(j->ports);
	free(j->carry);
	free(j);
}

void fwd_det_free(struct fwd_det *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->njobs; i++)
		djob_free(d->jobs[i]);
	if (d->procfd >= 0)
		close(d->procfd);
	if (d->nl >= 0)
		close(d->nl);
	free(d->jobs);
	free(d->known);
	free(d->pc);
	free(d->nlbuf);
	free(d->scratch);
	free(d->jobs_dir);
	free(d->proc);
	free(d->job);
	free(d);
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
}

static uint64_t path_mtime(const char *dir, const char *name)
{
	struct stat st;
	char *p = name ? xasprintf("%s/%s", dir, name) : NULL;
	int r = stat(p ? p : dir, &st);
	free(p);
	return r == 0 ? mtime_ns(&st) : 0;
}

static struct djob *find_job(struct fwd_det *d, const char *id)
{
	for (size_t i = 0; i < d->njobs; i++)
		if (strcmp(d->jobs[i]->id, id) == 0)
			return d->jobs[i];
	return NULL;
}

/* Whether the jobs folder may say something new: it or a running job's
 * folder changed (every write there is a rename), or it had just changed
 * at the last listing (a job being set up writes its `state` after). */
static bool jobs_changed(struct fwd_det *d)
{
	if (d->settling || path_mtime(d->jobs_dir, NULL) != d->dir_mtime_ns)
		return true;
	for (size_t i = 0; i < d->njobs; i++)
		if (d->jobs[i]->running && path_mtime(d->jobs_dir, d->jobs[i]->id) != d->jobs[i]->mtime_ns)
			return true;
	return false;
}

/* Lists the running jobs again.  A job that ended no longer owns its
 * sockets (its ports go down); a job that started may own sockets placed
 * as nobody's: they are placed again. */
static void refresh_jobs(struct fwd_det *d, struct known *k, size_t nk)
{
	struct mon_jobrec *v;
	bool added = false;
	d->dir_mtime_ns = path_mtime(d->jobs_dir, NULL);
	d->settling = now_wall_ns() - d->dir_mtime_ns < SETTLE_NS;
	d->listed = true;
	int n = mon_jobs_running(d->jobs_dir, &v);
	for (size_t i = 0; i < d->njobs; i++)
		d->jobs[i]->running = false;
	for (int i = 0; i < n; i++) {
		if ((d->job && strcmp(v[i].id, d->job) != 0) || v[i].sid == 0)
			continue;
		struct djob *j = find_job(d, v[i].id);
		if (j == NULL) {
			j = xcalloc(1, sizeof(*j));
			j->id = xstrdup(v[i].id);
			d->jobs = xrealloc(d->jobs, (d->njobs + 1) * sizeof(*d->jobs));
			d->jobs[d->njobs++] = j;
			added = true;
		} else if (j->sid != v[i].sid) {
			added = true;
		}
		j->sid = v[i].sid;
		j->running = true;
		j->mtime_ns = v[i].mtime_ns;
	}
	mon_jobs_free(v, n);
	for (size_t i = 0; i < nk; i++) {
		if (k[i].job && !k[i].job->running)
			k[i].job = NULL;
		else if (k[i].job == NULL && added)
			k[i].fresh = true;
	}
}

static int cmp_known(const void *a, const void *b)
{
	const struct known *x = a, *y = b;
	return x->s.ino < y->s.ino ? -1 : x->s.ino > y->s.ino;
}

static int cmp_sock(const void *a, const void *b)
{
	const struct fwd_sock *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static const struct fwd_sock *find_sock(const struct fwd_sock *v, size_t n, uint64_t ino)
{
	struct fwd_sock key = { .ino = ino };
	return n ? bsearch(&key, v, n, sizeof(*v), cmp_sock) : NULL;
}

static struct known *find_known(struct known *k, size_t n, uint64_t ino)
{
	struct known key = { .s.ino = ino };
	return n ? bsearch(&key, k, n, sizeof(*k), cmp_known) : NULL;
}

static struct djob *job_of_sid(struct fwd_det *d, uint32_t sid)
{
	for (size_t i = 0; i < d->njobs; i++)
		if (d->jobs[i]->running && d->jobs[i]->sid == sid)
			return d->jobs[i];
	return NULL;
}

/* The socket inodes process pid holds: the fresh ones among k are j's. */
static void place_fds(struct fwd_det *d, uint32_t pid, struct djob *j, struct known *k, size_t nk)
{
	char rel[64], link[64];
	snprintf(rel, sizeof(rel), "%u/fd", (unsigned)pid);
	int fd = openat(d->procfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		ssize_t l = readlinkat(fd, de->d_name, link, sizeof(link) - 1);
		if (l < 10 || memcmp(link, "socket:[", 8) != 0 || link[l - 1] != ']')
			continue;
		struct rd r;
		rd_init(&r, link + 8, (size_t)l - 9);
		uint64_t ino = tx_u64(&r);
		if (!rd_ok(&r) || !tx_eof(&r))
			continue;
		struct known *s = find_known(k, nk, ino);
		if (s && s->fresh)
			s->job = j;
	}
	closedir(dir);
}

static int cmp_pcache(const void *a, const void *b)
{
	const struct pcache *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Places the fresh inodes of k: the processes of uid in a running job's
 * session are read for them. */
static void walk_proc(struct fwd_det *d, struct known *k, size_t nk)
{
	char rel[64], b[STAT_MAX];
	int fd = d->procfd >= 0 ? openat(d->procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct pcache *pc = NULL;
	size_t npc = 0, cpc = 0;
	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		struct rd r;
		rd_init(&r, de->d_name, strlen(de->d_name));
		uint64_t pid = tx_u64(&r);
		if (!rd_ok(&r) || !tx_eof(&r) || pid == 0 || pid > UINT32_MAX)
			continue;
		/* The owner of /proc/PID is the process's euid: one stat spares
		 * reading the other users' processes. */
		if (fstatat(d->procfd, de->d_name, &st, 0) < 0 || st.st_uid != d->uid)
			continue;
		/* A process never joins a session, it may only leave its own
		 * for a new one of its pid: one whose session was S at the
		 * last walk (the same process: the same inode of /proc/PID) is
		 * in no job's unless S or its pid is a job's sid now. */
		struct pcache key = { .pid = (uint32_t)pid }, *c;
		c = d->npc ? bsearch(&key, d->pc, d->npc, sizeof(key), cmp_pcache) : NULL;
		uint32_t session;
		if (c && c->ino == (uint64_t)st.st_ino && !job_of_sid(d, c->session) && !job_of_sid(d, (uint32_t)pid)) {
			session = c->session;
		} else {
			snprintf(rel, sizeof(rel), "%u/stat", (unsigned)pid);
			int sfd = openat(d->procfd, rel, O_RDONLY | O_CLOEXEC);
			if (sfd < 0)
				continue;
			ssize_t l = read(sfd, b, sizeof(b));
			close(sfd);
			struct mp_pstat ps;
			if (l <= 0 || mp_pid_stat(b, (size_t)l, &ps) < 0)
				continue;
			session = ps.session;
			struct djob *j = job_of_sid(d, session);
			if (j)
				place_fds(d, (uint32_t)pid, j, k, nk);
		}
		if (npc == cpc) {
			cpc = cpc ? cpc * 2 : 256;
			pc = xrealloc(pc, cpc * sizeof(*pc));
		}
		pc[npc++] = (struct pcache){ (uint32_t)pid, session, (uint64_t)st.st_ino };
	}
	closedir(dir);
	if (npc)
		qsort(pc, npc, sizeof(*pc), cmp_pcache);
	free(d->pc);
	d->pc = pc;
	d->npc = npc;
}

static int det_dump(struct fwd_det *d, struct fwd_sock **v, size_t *n)
{
	*v = NULL;
	*n = 0;
	if (!d->nl_off) {
		if (d->nl < 0)
			d->nl = nl_open();
		if (d->nl >= 0) {
			if (d->nlbuf == NULL)
				d->nlbuf = xmalloc(NL_BUF);
			if (nl_dump_all(d->nl, &d->seq, &d->nl_both, d->uid, d->nlbuf, v, n) == 0) {
				d->nl_ok = true;
				return 0;
			}
			free(*v);
			*v = NULL;
			*n = 0;
			/* A dump given up on may still be under way on it. */
			close(d->nl);
			d->nl = -1;
		}
		if (!d->nl_ok)
			d->nl_off = true;
	}
	int r = fwd_listen_dump_proc(d->proc, d->uid, v);
	if (r < 0)
		return r;
	*n = (size_t)r;
	return 0;
}

static struct dport *find_port(struct djob *j, uint16_t port)
{
	for (size_t i = 0; i < j->nports; i++)
		if (j->ports[i].port == port)
			return &j->ports[i];
	return NULL;
}

static size_t ports_held(const struct fwd_det *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->njobs; i++)
		n += d->jobs[i]->nports;
	return n;
}

static void port_seen(struct fwd_det *d, struct djob *j, const struct fwd_sock *s)
{
	struct dport *p = find_port(j, s->port);
	if (p == NULL) {
		if (ports_held(d) >= FWD_PORTS_MAX)
			return;
		j->ports = xrealloc(j->ports, (j->nports + 1) * sizeof(*j->ports));
		p = &j->ports[j->nports++];
		memset(p, 0, sizeof(*p));
		p->port = s->port;
	} else if (p->live && (p->reported || p->family == 4 || s->family != 4)) {
		return;
	}
	/* 0.0.0.0:P and [::]:P are one port, said with the IPv4 address;
	 * a port already sent keeps the address it was sent with. */
	p->live = true;
	if (!p->reported) {
		p->family = s->family;
		memcpy(p->addr, s->addr, sizeof(p->addr));
	}
}

static void add_url(struct djob *j, const char *u, size_t len, uint16_t port)
{
	for (size_t i = 0; i < j->nurls; i++)
		if (j->urls[i].port == port && strlen(j->urls[i].url) == len && memcmp(j->urls[i].url, u, len) == 0)
			return;
	if (j->nurls == JOB_URLS_KEEP) {
		/* Full: the oldest one for a port not up goes, else the
		 * oldest. */
		size_t x = 0;
		for (size_t i = 0; i < j->nurls; i++) {
			struct dport *p = find_port(j, j->urls[i].port);
			if (p == NULL || !p->live) {
				x = i;
				break;
			}
		}
		free(j->urls[x].url);
		memmove(&j->urls[x], &j->urls[x + 1], (j->nurls - x - 1) * sizeof(j->urls[0]));
		j->nurls--;
	}
	j->urls[j->nurls++] = (struct durl){ xstrndup(u, len), port, false };
}

static void find_urls(struct djob *j, const char *p, size_t n)
{
	struct fwd_url u[32];
	size_t k;
	while ((k = fwd_url_find(p, n, u, 32)) > 0) {
		for (size_t i = 0; i < k; i++)
			add_url(j, p + u[i].off, u[i].len, u[i].port);
		size_t end = u[k - 1].off + u[k - 1].len;
		p += end;
		n -= end;
	}
}

/* Log bytes at b[0..len), of which b[0..j->ncarry) are the carry. */
static void take_text(struct djob *j, char *b, size_t len)
{
	size_t s = 0, t = len;
	if (j->discard) {
		while (s < len && !fwd_url_stop((unsigned char)b[s]))
			s++;
		if (s == len)
			return;
		j->discard = false;
	}
	while (t > s && !fwd_url_stop((unsigned char)b[t - 1]))
		t--;
	/* b[s..t) ends with a stop byte (or is empty): no URL runs past it. */
	find_urls(j, b + s, t - s);
	j->ncarry = 0;
	if (len - t > FWD_URL_MAX) {
		j->discard = true;
		return;
	}
	if (j->carry == NULL)
		j->carry = xmalloc(FWD_URL_MAX);
	memcpy(j->carry, b + t, len - t);
	j->ncarry = len - t;
}

static void read_log(struct fwd_det *d, struct djob *j)
{
	if (!j->log_open) {
		char *dir = xasprintf("%s/%s", d->jobs_dir, j->id);
		int r = job_log_open(&j->log, dir, FWD_LOG_SCAN_MAX);
		free(dir);
		if (r < 0)
			return;
		j->log_open = true;
	}
	/* Idle: the file read has no more, and is not full (the writer
	 * moves on to a next one only from a full one).  One fstat, where
	 * job_log_read would list the job's folder. */
	struct stat st;
	uint64_t cap = j->log.seg == 0 ? j->log.head_max : j->log.seg_max;
	if (j->log.fd >= 0 && !j->log.gap_pending && fstat(j->log.fd, &st) == 0 && (uint64_t)st.st_size <= j->log.off &&
	    (uint64_t)st.st_size < cap)
		return;
	size_t budget = FWD_LOG_SCAN_MAX;
	while (budget > 0) {
		if (j->ncarry)
			memcpy(d->scratch, j->carry, j->ncarry);
		ssize_t r = job_log_read(&j->log, d->scratch + j->ncarry, LOG_CHUNK);
		if (r <= 0)
			break;
		budget -= (size_t)r < budget ? (size_t)r : budget;
		take_text(j, d->scratch, j->ncarry + (size_t)r);
	}
}

/* Sends p of j (up: with up to FWD_URLS_MAX of its URLs not sent yet). */
static void report(struct djob *j, struct dport *p, bool up, fwd_det_fn *fn, void *arg)
{
	char *urls[FWD_URLS_MAX + 1];
	uint32_t n = 0;
	for (size_t i = 0; up && i < j->nurls && n < FWD_URLS_MAX; i++) {
		if (j->urls[i].port == p->port && !j->urls[i].sent) {
			urls[n++] = j->urls[i].url;
			j->urls[i].sent = true;
		}
	}
	urls[n] = NULL;
	struct fwd_port fp = {
		.job = j->id, .up = up, .family = p->family, .addr = p->addr, .port = p->port, .urls = urls, .nurls = n,
	};
	fn(arg, &fp);
	p->reported = up;
}

static bool unsent(const struct djob *j, uint16_t port)
{
	for (size_t i = 0; i < j->nurls; i++)
		if (j->urls[i].port == port && !j->urls[i].sent)
			return true;
	return false;
}

static void drop_urls(struct djob *j, uint16_t port)
{
	size_t k = 0;
	for (size_t i = 0; i < j->nurls; i++) {
		if (j->urls[i].port == port)
			free(j->urls[i].url);
		else
			j->urls[k++] = j->urls[i];
	}
	j->nurls = k;
}

int fwd_det_scan(struct fwd_det *d, fwd_det_fn *fn, void *arg)
{
	struct fwd_sock *v;
	size_t n;
	int r = det_dump(d, &v, &n);
	if (r < 0)
		return r;
	/* A dump that takes several reads can miss a socket that another
	 * one's coming or going moved between them (the kernel resumes at
	 * a bucket and an index in it): an inode not in one dump is kept
	 * for one more look, and a port of a running job goes down only
	 * when two looks in a row lack it. */
	qsort(v, n, sizeof(*v), cmp_sock);
	size_t extra = 0;
	for (size_t i = 0; i < d->nknown; i++)
		extra += !d->known[i].absent && find_sock(v, n, d->known[i].s.ino) == NULL;
	struct known *k = xcalloc(n + extra + 1, sizeof(*k));
	uint64_t now = now_mono_ns();
	bool fresh = false;
	for (size_t i = 0; i < n; i++) {
		struct known *old = find_known(d->known, d->nknown, v[i].ino);
		k[i].s = v[i];
		if (old) {
			k[i].job = old->job;
			k[i].retry_ns = old->retry_ns;
			k[i].retried = old->retried;
		}
		/* Nobody's a second ago: placed once more (a job's `sid`
		 * and `state` may be written just after its server listens). */
		if (k[i].retry_ns && now >= k[i].retry_ns) {
			k[i].retry_ns = 0;
			k[i].retried = true;
			k[i].fresh = true;
		}
		k[i].fresh |= old == NULL || old->fresh;
		fresh |= k[i].fresh;
	}
	for (size_t i = 0; i < d->nknown; i++) {
		if (!d->known[i].absent && find_sock(v, n, d->known[i].s.ino) == NULL) {
			k[n] = d->known[i];
			k[n].absent = true;
			k[n].fresh = false;
			n++;
		}
	}
	free(v);
	qsort(k, n, sizeof(*k), cmp_known);
	free(d->known);
	d->known = k;
	d->nknown = n;

	/* A walk costs ~4 us per process on the box (the stat of /proc/PID)
	 * and ~20 us more per process of uid whose session is not known yet
	 * (its stat read): 1,100 processes as root here, 25-45 ms the first
	 * time, 5-17 ms after.  A user whose own servers come and go all
	 * the time would have one every look: walks are spaced to
	 * WALK_SPACING times what the last one took, fresh sockets wait. */
	bool walk = fresh && now >= d->walk_next_ns;
	if (walk || !d->listed || (now - d->checked_ns >= JOBS_CHECK_NS && jobs_changed(d)))
		refresh_jobs(d, k, n);
	if (now - d->checked_ns >= JOBS_CHECK_NS)
		d->checked_ns = now;
	for (size_t i = 0; i < n && !fresh; i++)
		fresh = k[i].fresh;
	if (fresh && now >= d->walk_next_ns) {
		walk_proc(d, k, n);
		uint64_t t = now_mono_ns();
		d->walk_next_ns = t + (t - now) * WALK_SPACING;
		for (size_t i = 0; i < n; i++) {
			if (k[i].fresh && k[i].job == NULL && !k[i].retried)
				k[i].retry_ns = now + RETRY_NS;
			k[i].fresh = false;
		}
	}

	for (size_t i = 0; i < d->njobs; i++)
		for (size_t p = 0; p < d->jobs[i]->nports; p++)
			d->jobs[i]->ports[p].live = false;
	for (size_t i = 0; i < n; i++)
		if (k[i].job && !k[i].absent)
			port_seen(d, k[i].job, &k[i].s);

	/* Downs first, then the log, then ups with what the log said. */
	for (size_t i = 0; i < d->njobs; i++) {
		struct djob *j = d->jobs[i];
		size_t keep = 0;
		for (size_t p = 0; p < j->nports; p++) {
			if (j->ports[p].live || (j->running && j->ports[p].reported && !j->ports[p].missing)) {
				j->ports[p].missing = !j->ports[p].live;
				j->ports[keep++] = j->ports[p];
				continue;
			}
			if (j->ports[p].reported)
				report(j, &j->ports[p], false, fn, arg);
			drop_urls(j, j->ports[p].port);
		}
		j->nports = keep;
		if (keep)
			read_log(d, j);
		for (size_t p = 0; p < j->nports; p++)
			if (!j->ports[p].reported || unsent(j, j->ports[p].port))
				report(j, &j->ports[p], true, fn, arg);
	}

	/* Jobs that ended, their ports down: forgotten. */
	size_t keep = 0;
	for (size_t i = 0; i < d->njobs; i++) {
		if (d->jobs[i]->running || d->jobs[i]->nports)
			d->jobs[keep++] = d->jobs[i];
		else
			djob_free(d->jobs[i]);
	}
	d->njobs = keep;
	if (d->job) {
		struct djob *j = find_job(d, d->job);
		return j && j->running ? 0 : 1;
	}
	return 0;
}
