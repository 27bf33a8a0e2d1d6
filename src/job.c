/*
 * job.c - job records, the jobs folder, lost detection and the log
 * (job.h).
 */
#define _GNU_SOURCE
#include "job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "job-backend.h"
#include "job-tag.h"
#include "limits.h"
#include "mon-proc.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

#define JOB_MAGIC_1	0x464a4231u	/* "FJB1": positional, no reason and limits */
#define JOB_MAGIC_2	0x464a4232u	/* "FJB2": positional */
#define JOB_MAGIC	0x464a4233u	/* "FJB3": tagged fields, from here on */

static const char *const state_names[JOB_STATE_COUNT] = {
	"running", "exited", "failed", "killed", "lost", "queued",
};

const char *job_state_name(uint8_t state)
{
	return state < JOB_STATE_COUNT ? state_names[state] : "unknown";
}

bool job_ended(uint8_t state)
{
	return state == JOB_EXITED || state == JOB_FAILED || state == JOB_KILLED;
}

const char *job_git_name(uint8_t git)
{
	static const char *const names[JOB_GIT_COUNT] = { "clean", "dirty", "unknown", "untracked" };
	return git < JOB_GIT_COUNT ? names[git] : "unknown";
}

uint8_t job_git_state(const char *porcelain)
{
	uint8_t st = JOB_GIT_CLEAN;
	for (const char *l = porcelain; *l; ) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		/* Anything but "?? path" is a change to what git tracks
		 * ("!!" ignored lines only come with --ignored). */
		if (n >= 2 && strncmp(l, "??", 2) == 0)
			st = JOB_GIT_UNTRACKED;
		else if (n > 0)
			return JOB_GIT_DIRTY;
		l += n + (nl != NULL);
	}
	return st;
}

void job_release(struct job *j)
{
	free(j->name);
	free_words(j->argv);
	free(j->root);
	free(j->cwd);
	free(j->snapshot);
	free(j->tree);
	free(j->git_commit);
	free(j->boot_id);
	free(j->reason);
	free(j->backend);
	free(j->outputs);
	memset(j, 0, sizeof(*j));
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* The record since tagged fields: add a field with a new tag, never
 * reuse or renumber one (records on servers outlive the binary).  The
 * fields of the first tagged version are all required, so a record cut
 * short anywhere is refused; fields added later cannot be (records
 * written before them lack them) and are read as empty or 0. */
#define F(tag, kind, member, max) { tag, kind, 1, offsetof(struct job, member), max, 0 }
#define L(tag, kind, member) { tag, kind, 0, offsetof(struct job, member), 0, 0 }
static const struct tag_field record_fields[] = {
	{ 1, TAG_U32, 1, offsetof(struct job, id), 0, 0 },
	{ 2, TAG_U8, 1, offsetof(struct job, state), 0, 0 },
	F(3, TAG_U8, shell, 0),
	F(4, TAG_STR, name, JOB_NAME_MAX),
	{ 5, TAG_LIST, 1, offsetof(struct job, argv), PROTO_ARGV_MAX, offsetof(struct job, argc) },
	F(6, TAG_STR, root, PATH_MAX_ABS),
	F(7, TAG_STR, cwd, PATH_MAX_ABS),
	F(8, TAG_STR, snapshot, 64),
	F(9, TAG_STR, tree, 64),
	F(10, TAG_STR, git_commit, 64),
	F(11, TAG_U8, git_dirty, 0),
	F(12, TAG_U32, exit_code, 0),
	F(13, TAG_U32, signal, 0),
	F(14, TAG_U64, start_ns, 0),
	F(15, TAG_U64, end_ns, 0),
	F(16, TAG_U64, peak_rss, 0),
	F(17, TAG_U32, pid, 0),
	F(18, TAG_U32, sup_pid, 0),
	F(19, TAG_U64, sup_start, 0),
	F(20, TAG_STR, boot_id, 64),
	F(21, TAG_U64, log_bytes, 0),
	F(22, TAG_U8, killed, 0),
	F(23, TAG_STR, reason, JOB_REASON_MAX),
	F(24, TAG_U64, max_mem, 0),
	F(25, TAG_U64, min_avail, 0),
	F(26, TAG_STR, backend, JOB_BACKEND_NAME_MAX),
	/* Later fields: optional. */
	L(27, TAG_U64, pid_start),
	L(28, TAG_U8, procs_known),
	L(29, TAG_U32, procs_left),
};
#undef F
#undef L

int job_encode(const struct job *j, struct buf *out)
{
	if (j->argc == 0)
		return -1;
	int r = buf_put_u32(out, JOB_MAGIC);
	struct job c = *j;
	/* A record written before there were backends is a local one. */
	if (c.backend == NULL || c.backend[0] == '\0')
		c.backend = "local";
	r |= tag_encode(record_fields, ARRAY_LEN(record_fields), &c, out);
	return r ? -1 : 0;
}

/* The positional records of versions 1 and 2: every field in a fixed
 * order, a magic number per layout. */
static void decode_positional(struct rd *r, uint32_t magic, struct job *j)
{
	j->id = rd_u32(r);
	j->state = rd_u8(r);
	j->shell = rd_u8(r);
	j->name = rd_cstr(r, JOB_NAME_MAX);
	uint32_t argc = rd_u32(r);
	/* Each argument takes at least its 4-byte length: a count the bytes
	 * cannot hold is refused before the vector is allocated. */
	if (argc == 0 || argc > PROTO_ARGV_MAX || argc > rd_left(r) / 4)
		rd_fail(r);
	if (rd_ok(r)) {
		j->argv = xcalloc((size_t)argc + 1, sizeof(char *));
		for (uint32_t i = 0; i < argc && rd_ok(r); i++) {
			j->argv[i] = rd_cstr(r, PROTO_STR_MAX);
			if (j->argv[i])
				j->argc++;
		}
		if (j->argc != argc)
			rd_fail(r);
	}
	j->root = rd_cstr(r, PATH_MAX_ABS);
	j->cwd = rd_cstr(r, PATH_MAX_ABS);
	j->snapshot = rd_cstr(r, 64);
	j->tree = rd_cstr(r, 64);
	j->git_commit = rd_cstr(r, 64);
	j->git_dirty = rd_u8(r);
	j->exit_code = (int32_t)rd_u32(r);
	j->signal = (int32_t)rd_u32(r);
	j->start_ns = rd_u64(r);
	j->end_ns = rd_u64(r);
	j->peak_rss = rd_u64(r);
	j->pid = (int32_t)rd_u32(r);
	j->sup_pid = (int32_t)rd_u32(r);
	j->sup_start = rd_u64(r);
	j->boot_id = rd_cstr(r, 64);
	j->log_bytes = rd_u64(r);
	j->killed = rd_u8(r);
	if (magic == JOB_MAGIC_2) {
		j->reason = rd_cstr(r, JOB_REASON_MAX);
		j->max_mem = rd_u64(r);
		j->min_avail = rd_u64(r);
	} else {
		j->reason = xstrdup("");
	}
	j->backend = xstrdup("local");
	rd_expect_end(r);
	/* Those versions had no queued state. */
	if (j->state >= JOB_QUEUED || j->name == NULL || j->root == NULL || j->cwd == NULL || j->snapshot == NULL ||
	    j->tree == NULL || j->git_commit == NULL || j->boot_id == NULL || j->reason == NULL)
		rd_fail(r);
}

int job_decode(const void *p, size_t n, struct job *j)
{
	struct rd r;
	memset(j, 0, sizeof(*j));
	rd_init(&r, p, n);
	uint32_t magic = rd_u32(&r);
	if (magic == JOB_MAGIC)
		(void)tag_decode(record_fields, ARRAY_LEN(record_fields), &r, j);
	else if (magic == JOB_MAGIC_1 || magic == JOB_MAGIC_2)
		decode_positional(&r, magic, j);
	else
		rd_fail(&r);
	if (!rd_ok(&r) || j->state >= JOB_STATE_COUNT || j->shell > 1 || j->git_dirty >= JOB_GIT_COUNT ||
	    j->killed > 1 || j->procs_known > 1 || j->argc == 0 || j->pid < 0 || j->sup_pid < 0 || j->signal < 0 || j->signal > 128 ||
	    j->backend[0] == '\0') {
		job_release(j);
		return -1;
	}
	return 0;
}

char *jobs_path(void)
{
	char *state = state_home(), *d = xasprintf("%s/jobs", state);
	free(state);
	return d;
}

char *jobs_dir(const char **why)
{
	/* The state folder itself is private too: in the /tmp fallback
	 * (/tmp/ferry-UID) another user could have made it first. */
	char *state = state_home(), *d = jobs_path();
	int r = dir_private(state, why);
	free(state);
	if (r < 0 || dir_private(d, why) < 0) {
		if (*why == NULL)
			*why = "cannot create it";
		free(d);
		return NULL;
	}
	return d;
}

char *job_dir(const char *jobs, uint32_t id)
{
	return xasprintf("%s/%u", jobs, id);
}

/* Writes path atomically (temp + rename), without fsync: a record lost to
 * a power cut shows the job as lost, which is what it is. */
int job_put_file(const char *path, const void *p, size_t n)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = fd < 0 ? -errno : write_all(fd, p, n);
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

/* The jobs folder's lock: job ids are handed out under it, and a queued
 * job changes state under it (cancelled here, started by its queue). */
int job_lock(const char *jobs)
{
	char *lock = xasprintf("%s/lock", jobs);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(lock);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int job_alloc(const char *jobs, uint32_t *id)
{
	char *next = xasprintf("%s/next-id", jobs);
	int fd = job_lock(jobs), r = 0;
	char *text = NULL;
	size_t len;
	uint32_t n = 1;

	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (read_file(next, 32, &text, &len) == 0) {
		char *end;
		unsigned long v = strtoul(text, &end, 10);
		if (end != text && v > 0 && v < JOB_ID_MAX)
			n = (uint32_t)v;
	}
	/* Skip ids whose folder exists (a lost next-id file). */
	for (;; n++) {
		if (n >= JOB_ID_MAX) {
			r = -ENOSPC;
			goto out;
		}
		char *d = job_dir(jobs, n);
		int m = mkdir(d, 0700);
		free(d);
		if (m == 0)
			break;
		if (errno != EEXIST) {
			r = -errno;
			goto out;
		}
	}
	char num[16];
	int l = snprintf(num, sizeof(num), "%u\n", n + 1);
	r = job_put_file(next, num, (size_t)l);
	*id = n;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(next);
	return r;
}

int job_save(const char *jobs, const struct job *j)
{
	struct buf b;
	char num[24];
	char *d = job_dir(jobs, j->id);
	char *rec = xasprintf("%s/record", d), *st = xasprintf("%s/state", d), *sid = xasprintf("%s/sid", d);
	buf_init(&b, JOB_RECORD_MAX);
	int r = job_encode(j, &b) < 0 ? -EOVERFLOW : job_put_file(rec, b.data, b.len);
	if (r == 0) {
		int l = snprintf(num, sizeof(num), "%d\n", j->pid);
		r = job_put_file(sid, num, (size_t)l);
	}
	if (r == 0) {
		/* "running", or how it ended: "exited 0", "failed 3",
		 * "killed SIGKILL", "killed" when no status was seen
		 * (ferry status shows it as it is). */
		const char *s = job_state_name(j->state), *sn = platform_sig_abbrev(j->signal);
		char *line = !job_ended(j->state) || (j->signal == 0 && j->exit_code < 0) ? xasprintf("%s\n", s)
			     : j->signal ? xasprintf("%s SIG%s\n", s, sn ? sn : "?")
			     : xasprintf("%s %d\n", s, j->exit_code);
		r = job_put_file(st, line, strlen(line));
		free(line);
	}
	buf_release(&b);
	free(rec);
	free(st);
	free(sid);
	free(d);
	return r;
}

/* This boot's id as the tree proc says it. */
static char *boot_id_in(const char *proc)
{
	char *path = xasprintf("%s/sys/kernel/random/boot_id", proc), *t = NULL;
	size_t n;
	int r = read_file(path, 128, &t, &n);
	free(path);
	if (r < 0)
		return xstrdup("");
	t[strcspn(t, "\n")] = '\0';
	return t;
}

char *boot_id(void)
{
	return boot_id_in("/proc");
}

/* PID/stat under the open /proc folder pfd, parsed (the fuzzed parser;
 * the kernel writes the file in one read, a longer one is cut and then
 * fails to parse), and the uid that owns it.  0 or -1. */
static int stat_at(int pfd, pid_t pid, struct mp_pstat *ps, uid_t *uid)
{
	char rel[32], b[4096];
	struct stat st;
	snprintf(rel, sizeof(rel), "%d/stat", (int)pid);
	int fd = openat(pfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof(b));
	int fr = fstat(fd, &st);
	close(fd);
	if (n <= 0 || fr < 0 || mp_pid_stat(b, (size_t)n, ps) < 0)
		return -1;
	*uid = st.st_uid;
	return 0;
}

/* Z: it exited and its parent has not reaped it; X: being reaped.  Such
 * a process runs nothing, and a zombie holds its pid until it goes. */
static bool runs(const struct mp_pstat *ps)
{
	return ps->state != 'Z' && ps->state != 'X' && ps->state != 'x';
}

uint64_t proc_start_time(pid_t pid)
{
	int pfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct mp_pstat ps;
	uid_t uid;
	int r = pfd < 0 ? -1 : stat_at(pfd, pid, &ps, &uid);
	if (pfd >= 0)
		close(pfd);
	return r < 0 ? 0 : ps.starttime;
}

bool job_proc_alive(const char *proc, pid_t pid, uint64_t start)
{
	int pfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct mp_pstat ps;
	uid_t uid;
	bool alive = pfd >= 0 && pid > 0 && stat_at(pfd, pid, &ps, &uid) == 0 && runs(&ps) && ps.starttime == start;
	if (pfd >= 0)
		close(pfd);
	return alive;
}

static bool same_boot(const char *proc, const struct job *j)
{
	char *b = boot_id_in(proc);
	bool same = b[0] && strcmp(b, nz(j->boot_id)) == 0;
	free(b);
	return same;
}

bool job_supervisor_alive_in(const char *proc, const struct job *j)
{
	/* No kill(pid, 0): it succeeds on a zombie, and a supervisor that
	 * was killed under a parent that does not reap stays one. */
	return j->sup_pid > 0 && same_boot(proc, j) && job_proc_alive(proc, j->sup_pid, j->sup_start);
}

bool job_supervisor_alive(const struct job *j)
{
	return job_supervisor_alive_in("/proc", j);
}

size_t job_procs_in(const char *proc, const struct job *j, pid_t *pids, uint64_t *starts, size_t max, bool *group)
{
	/* Every process of the job was forked, at some remove, from its
	 * command, so none started before it; records older than pid_start
	 * have the supervisor's start, a moment earlier. */
	uint64_t since = j->pid_start ? j->pid_start : j->sup_start;
	struct mp_pstat ps;
	uid_t uid, me = getuid();
	size_t n = 0;
	*group = false;
	if (j->pid <= 1 || since == 0 || max == 0 || !same_boot(proc, j))
		return 0;
	DIR *d = opendir(proc);
	if (d == NULL)
		return 0;
	int pfd = dirfd(d);
	if (stat_at(pfd, j->pid, &ps, &uid) == 0) {
		/* The command's pid is taken: by the command (running or a
		 * zombie), or by a process started since.  The kernel hands
		 * out no pid that is still some process's session or group,
		 * so in the second case the job had no process left when it
		 * was taken, and the session and group of that number are the
		 * newcomer's. */
		if (j->pid_start ? ps.starttime != j->pid_start : ps.starttime < since)
			goto out;
	} else if (strcmp(proc, "/proc") == 0 && kill(-j->pid, 0) < 0 && errno == ESRCH) {
		/* No command and an empty group: nothing to look for (a lost
		 * job long over; one call instead of reading all of /proc). */
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < max) {
		pid_t pid = (pid_t)job_parse_id(de->d_name);
		if (pid <= 0 || de->d_name[0] == '#' || stat_at(pfd, pid, &ps, &uid) < 0)
			continue;
		if (uid != me || !runs(&ps) || (ps.flags & MP_PF_KTHREAD) || ps.starttime < since ||
		    (ps.session != (uint32_t)j->pid && ps.pgrp != (uint32_t)j->pid))
			continue;
		*group |= ps.pgrp == (uint32_t)j->pid;
		pids[n] = pid;
		starts[n] = ps.starttime;
		n++;
	}
out:
	closedir(d);
	return n;
}

void job_count_procs(struct job *j)
{
	pid_t *p = xcalloc(JOB_TREE_MAX, sizeof(*p));
	uint64_t *st = xcalloc(JOB_TREE_MAX, sizeof(*st));
	bool group;
	j->procs_left = (uint32_t)job_procs_in("/proc", j, p, st, JOB_TREE_MAX, &group);
	j->procs_known = 1;
	free(p);
	free(st);
}

int job_load_raw(const char *jobs, uint32_t id, struct job *j)
{
	char *d = job_dir(jobs, id), *rec = xasprintf("%s/record", d), *t = NULL;
	size_t n;
	int r = read_file(rec, JOB_RECORD_MAX, &t, &n);
	free(rec);
	free(d);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EBADMSG;
	r = job_decode(t, n, j) < 0 ? -EBADMSG : 0;
	free(t);
	if (r == 0 && j->id != id) {
		job_release(j);
		r = -EBADMSG;
	}
	return r;
}

int job_load(const char *jobs, uint32_t id, struct job *j)
{
	int r = job_load_raw(jobs, id, j);
	if (r < 0)
		return r;
	/* A backend this binary does not know cannot be asked: its job is
	 * shown as it was recorded, not declared lost. */
	const struct job_backend *b = job_backend_find(j->backend);
	if (j->state == JOB_RUNNING && b && !b->alive(j))
		j->state = JOB_LOST;
	return 0;
}

int job_cancel(const char *jobs, uint32_t id, struct job *out)
{
	int fd = job_lock(jobs);
	if (fd < 0)
		return fd;
	int r = job_load_raw(jobs, id, out);
	if (r == 0 && out->state != JOB_QUEUED) {
		job_release(out);
		r = -ESRCH;
	} else if (r == 0) {
		out->state = JOB_KILLED;
		out->killed = 1;
		out->exit_code = -1;
		out->end_ns = now_wall_ns();
		free(out->reason);
		out->reason = xstrdup("cancelled before it started");
		r = job_save(jobs, out);
		if (r < 0)
			job_release(out);
	}
	close(fd);
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t *job_ids(const char *jobs, size_t *n)
{
	DIR *d = opendir(jobs);
	uint32_t *v = NULL;
	size_t cap = 0;
	struct dirent *de;
	*n = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL && *n < JOB_IDS_MAX) {
		uint32_t id = job_parse_id(de->d_name);
		if (id == 0 || de->d_name[0] == '#')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = id;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), cmp_u32);
	return v;
}

uint32_t job_parse_id(const char *s)
{
	char *end;
	if (s[0] == '#')
		s++;
	if (s[0] < '1' || s[0] > '9')
		return 0;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || errno || v >= JOB_ID_MAX)
		return 0;
	return (uint32_t)v;
}

/* ---- the log ---- */

static char *seg_name(uint32_t seg)
{
	return seg == 0 ? xstrdup("log") : xasprintf("log.%u", seg);
}

static int open_seg(int dirfd, uint32_t seg, int flags)
{
	char *name = seg_name(seg);
	int fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(name);
	return fd < 0 ? -errno : fd;
}

static uint64_t seg_size(int dirfd, uint32_t seg)
{
	char *name = seg_name(seg);
	struct stat st;
	int r = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
	free(name);
	return r == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

/* The highest segment number present (0 if only the head). */
static uint32_t last_seg(int dirfd, uint32_t *first)
{
	/* A new open, not a dup: a dup would share the directory offset
	 * left at the end by the last scan. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint32_t hi = 0, lo = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		*first = 0;
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "log.", 4) != 0)
			continue;
		uint32_t s = job_parse_id(de->d_name + 4);
		if (s == 0)
			continue;
		if (s > hi)
			hi = s;
		if (lo == 0 || s < lo)
			lo = s;
	}
	closedir(d);
	*first = lo;
	return hi;
}

int job_log_open(struct job_log *l, const char *dir, uint64_t tail_bytes)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->seg_max = JOB_LOG_SEG;
	l->head_max = JOB_LOG_HEAD;
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (l->dirfd < 0)
		return -errno;
	uint32_t first, last = last_seg(l->dirfd, &first);
	if (tail_bytes) {
		/* Walk back from the newest segment until tail_bytes are
		 * covered. */
		uint64_t want = tail_bytes;
		uint32_t s = last;
		for (;;) {
			uint64_t sz = seg_size(l->dirfd, s);
			if (sz >= want) {
				l->seg = s;
				l->off = sz - want;
				return 0;
			}
			want -= sz;
			if (s == 0)
				break;
			s = s == first ? 0 : s - 1;
		}
		l->seg = 0;
		l->off = 0;
		return 0;
	}
	l->seg = 0;
	return 0;
}

uint64_t job_log_size(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return 0;
	/* The head, every segment before the newest full (the oldest ones
	 * are deleted, not shortened), and the newest as it is. */
	uint32_t first, last = last_seg(dfd, &first);
	uint64_t n = seg_size(dfd, 0);
	if (last > 0)
		n += (uint64_t)(last - 1) * JOB_LOG_SEG + seg_size(dfd, last);
	close(dfd);
	return n;
}

ssize_t job_log_read(struct job_log *l, void *p, size_t n)
{
	for (;;) {
		if (l->gap_pending) {
			if (l->gaplen == 0) {
				int k = snprintf(l->gapline, sizeof(l->gapline),
						 "\r\n[ferry: %llu bytes of output dropped]\r\n", (unsigned long long)l->gap);
				l->gaplen = (size_t)k < sizeof(l->gapline) ? (size_t)k : sizeof(l->gapline) - 1;
				l->gapoff = 0;
			}
			size_t k = l->gaplen - l->gapoff < n ? l->gaplen - l->gapoff : n;
			memcpy(p, l->gapline + l->gapoff, k);
			l->gapoff += k;
			if (l->gapoff == l->gaplen) {
				l->gap_pending = false;
				l->gaplen = 0;
			}
			return (ssize_t)k;
		}
		if (l->fd < 0) {
			int fd = open_seg(l->dirfd, l->seg, O_RDONLY);
			if (fd < 0 && fd != -ENOENT)
				return fd;
			if (fd < 0) {
				/* Not written yet, or deleted under a slow reader:
				 * go on with the oldest segment still there. */
				uint32_t first, last = last_seg(l->dirfd, &first);
				if (l->seg == 0 || first == 0 || l->seg > last)
					return 0;
				if (l->seg < first) {
					uint64_t lost = (uint64_t)(first - l->seg) * l->seg_max;
					l->gap = lost > l->off ? lost - l->off : 0;
					l->gap_pending = true;
					l->seg = first;
					l->off = 0;
				}
				continue;
			}
			l->fd = fd;
		}
		ssize_t r = pread(l->fd, p, n, (off_t)l->off);
		if (r < 0)
			return errno == EINTR ? 0 : -errno;
		if (r > 0) {
			l->off += (uint64_t)r;
			return r;
		}
		/* End of this file: is there a next one? */
		uint32_t first, last = last_seg(l->dirfd, &first);
		uint32_t next = l->seg == 0 ? (first ? first : 0) : l->seg + 1;
		if (next == 0 || next > last)
			return 0;
		if (l->seg == 0 && first > 1) {
			/* Segments between the head and the oldest kept one are
			 * gone. */
			l->gap = (uint64_t)(first - 1) * l->seg_max;
			l->gap_pending = true;
		}
		close(l->fd);
		l->fd = -1;
		l->seg = next;
		l->off = 0;
	}
}

uint64_t job_log_pos(const struct job_log *l)
{
	if (l->seg == 0)
		return l->off;
	return l->head_max + (uint64_t)(l->seg - 1) * l->seg_max + l->off;
}

void job_log_seek(struct job_log *l, uint64_t pos)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->gap_pending = false;
	l->gaplen = l->gapoff = 0;
	if (pos < l->head_max) {
		l->seg = 0;
		l->off = pos;
		return;
	}
	uint64_t seg = 1 + (pos - l->head_max) / l->seg_max;
	l->seg = seg > UINT32_MAX ? UINT32_MAX : (uint32_t)seg;
	l->off = (pos - l->head_max) % l->seg_max;
}

void job_log_close(struct job_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->fd = l->dirfd = -1;
}

int job_log_writer_open(struct job_log_writer *w, int dirfd)
{
	memset(w, 0, sizeof(*w));
	w->dirfd = dirfd;
	w->head_max = JOB_LOG_HEAD;
	w->seg_max = JOB_LOG_SEG;
	w->segs = JOB_LOG_SEGS;
	w->fd = open_seg(dirfd, 0, O_WRONLY | O_CREAT | O_APPEND);
	return w->fd < 0 ? w->fd : 0;
}

int job_log_write(struct job_log_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	w->total += n;
	while (n > 0) {
		uint64_t cap = w->seg == 0 ? w->head_max : w->seg_max;
		if (w->seg_len >= cap) {
			/* Rotate: a new segment, and the oldest kept one goes. */
			close(w->fd);
			w->seg++;
			w->seg_len = 0;
			if (w->seg > w->segs) {
				char *old = seg_name(w->seg - w->segs);
				(void)unlinkat(w->dirfd, old, 0);
				free(old);
			}
			w->fd = open_seg(w->dirfd, w->seg, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
			if (w->fd < 0)
				return w->fd;
			continue;
		}
		size_t k = n < cap - w->seg_len ? n : (size_t)(cap - w->seg_len);
		int r = write_all(w->fd, b, k);
		if (r < 0)
			return r;
		w->seg_len += k;
		b += k;
		n -= k;
	}
	return 0;
}

void job_log_writer_close(struct job_log_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
