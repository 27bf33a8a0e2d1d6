/*
 * mon-sample.c - the sampler (mon-sample.h).
 *
 * Invariants: a file that cannot be read is a missing metric (MON_NA),
 * never an error of the sample; a counter that went backwards gives a
 * rate of 0 for that interval; a pid whose start time changed is a new
 * process.  Nothing here writes anywhere.
 */
#define _GNU_SOURCE
#include "mon-sample.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "limits.h"
#include "mon-gpu.h"
#include "names.h"
#include "util.h"

#include "banned.h"

enum { F_STAT, F_MEMINFO, F_LOADAVG, F_UPTIME, F_PSI_CPU, F_PSI_MEM, F_PSI_IO, F_DISKSTATS, F_NETDEV, F_N };
static const char *const host_files[F_N] = {
	"stat", "meminfo", "loadavg", "uptime", "pressure/cpu", "pressure/memory", "pressure/io", "diskstats",
	"net/dev",
};

/* What the sampler keeps of a process between samples, beside its
 * mon_pent in prev (same index). */
struct ptrack {
	int schedfd;		/* kept-open /proc/PID/schedstat, or -1 */
	uint8_t cached;		/* this sample's entry is the previous one */
	size_t from;		/* during a scan: its index in prev, or SIZE_MAX */
	uint64_t runtime;	/* ns on a CPU at the last look; 0: unknown */
};

struct uname_ent {
	uint32_t uid;
	char *name;
};

struct sampler {
	int procfd;
	DIR *procdir;
	int hostfd[F_N];
	char *buf;		/* MON_PROC_FILE_MAX + 1 */
	long hz, pagesize;
	char hostname[256];
	char *root;		/* the existing folder disk figures come from */
	bool have_dev;
	uint32_t dev_major, dev_minor;
	char *jobs_dir;
	struct gpusrc *gpu;
	/* The previous reading. */
	uint64_t t_prev;
	struct mp_cpu prev_total, *prev_cores;
	uint32_t prev_ncores;
	uint64_t prev_disk_r, prev_disk_w, prev_net_rx, prev_net_tx;
	struct mon_pent *prev;
	size_t nprev;
	struct ptrack *ptrack;	/* nprev, set by scan_procs before prev is */
	size_t nfds, fd_budget;	/* kept-open schedstat files, and their cap */
	rlim_t nofile_was;	/* the soft fd limit sampler_new raised, or 0 */
	uint64_t nsample;
	bool own_ns;		/* /proc is of our pid namespace: its loadavg counts its pids */
	uint32_t last_pid;	/* loadavg's when /proc was last listed */
	uint64_t t_list;	/* and when */
	uint32_t *pids, *gone;	/* scratch of scan_procs, kept between samples */
	size_t pids_cap, gone_cap;
	struct uname_ent *names;
	size_t nnames;
};

/* Reads the whole of a kept-open /proc file; its length, or -1.  A
 * short read is the end: /proc fills the buffer as far as the file goes,
 * and asking again for the 0 that says so would double the system calls
 * (one per process per sample for schedstat). */
static ssize_t pread_all(int fd, char *b, size_t max)
{
	size_t n = 0;
	ssize_t r;
	if (fd < 0)
		return -1;
	while (n < max) {
		size_t want = max - n;
		if ((r = pread(fd, b + n, want, (off_t)n)) <= 0)
			break;
		n += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	return n ? (ssize_t)n : -1;
}

static ssize_t read_at(int dirfd, const char *rel, char *b, size_t max)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = pread_all(fd, b, max);
	close(fd);
	return n;
}

static void track_close(struct sampler *sm, struct ptrack *t)
{
	if (t->schedfd >= 0) {
		close(t->schedfd);
		sm->nfds--;
	}
	t->schedfd = -1;
	t->runtime = 0;
}

static void find_dev(struct sampler *sm, const char *root)
{
	char *probe = xstrdup(root[0] == '/' ? root : "/");
	struct stat st;
	while (stat(probe, &st) < 0) {
		char *slash = strrchr(probe, '/');
		if (slash == NULL || slash == probe) {
			free(probe);
			probe = xstrdup("/");
			if (stat(probe, &st) < 0)
				memset(&st, 0, sizeof(st));
			break;
		}
		*slash = '\0';
	}
	sm->root = probe;
	sm->dev_major = major(st.st_dev);
	sm->dev_minor = minor(st.st_dev);
	sm->have_dev = sm->dev_major != 0;	/* 0: tmpfs, overlay... no block device */
}

struct sampler *sampler_new(const char *root, const char *jobs_dir)
{
	return sampler_new_at("/proc", root, jobs_dir);
}

size_t sampler_fds(const struct sampler *sm)
{
	return sm->nfds;
}

struct sampler *sampler_new_at(const char *proc, const char *root, const char *jobs_dir)
{
	struct sampler *sm = xcalloc(1, sizeof(*sm));
	sm->procfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dfd = sm->procfd >= 0 ? dup(sm->procfd) : -1;
	sm->procdir = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (sm->procdir == NULL && dfd >= 0)
		close(dfd);
	for (int i = 0; i < F_N; i++)
		sm->hostfd[i] = sm->procfd >= 0 ? openat(sm->procfd, host_files[i], O_RDONLY | O_CLOEXEC) : -1;
	sm->buf = xmalloc(MON_PROC_FILE_MAX + 1);
	sm->hz = sysconf(_SC_CLK_TCK);
	if (sm->hz <= 0)
		sm->hz = 100;
	sm->pagesize = sysconf(_SC_PAGESIZE);
	if (sm->pagesize <= 0)
		sm->pagesize = 4096;
	if (gethostname(sm->hostname, sizeof(sm->hostname) - 1) < 0)
		snprintf(sm->hostname, sizeof(sm->hostname), "?");
	find_dev(sm, root);
	sm->jobs_dir = jobs_dir ? xstrdup(jobs_dir) : mon_jobs_dir();
	sm->gpu = gpusrc_new();
	char self[32];
	ssize_t sl = sm->procfd >= 0 ? readlinkat(sm->procfd, "self", self, sizeof(self) - 1) : -1;
	if (sl > 0) {
		self[sl] = '\0';
		sm->own_ns = strtol(self, NULL, 10) == (long)getpid();
	}
	/* Half of the fd limit at most: the agent needs fds for its own work,
	 * and past the budget a process costs an open per read, no more.  A
	 * soft limit of 1024 (the usual default) would leave 512 processes
	 * tracked: it is raised towards the hard limit while the sampler
	 * lives (the fds are close-on-exec), and put back after. */
	struct rlimit rl;
	sm->fd_budget = MON_PID_FDS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t want = (rlim_t)MON_PID_FDS_MAX * 2;
		if (rl.rlim_cur < want && rl.rlim_max > rl.rlim_cur) {
			struct rlimit up = { rl.rlim_max < want ? rl.rlim_max : want, rl.rlim_max };
			if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
				sm->nofile_was = rl.rlim_cur;
				rl.rlim_cur = up.rlim_cur;
			}
		}
		if (rl.rlim_cur / 2 < sm->fd_budget)
			sm->fd_budget = (size_t)(rl.rlim_cur / 2);
	}
	return sm;
}

void sampler_free(struct sampler *sm)
{
	if (sm == NULL)
		return;
	if (sm->procdir)
		closedir(sm->procdir);
	if (sm->procfd >= 0)
		close(sm->procfd);
	for (int i = 0; i < F_N; i++)
		if (sm->hostfd[i] >= 0)
			close(sm->hostfd[i]);
	for (size_t i = 0; i < sm->nnames; i++)
		free(sm->names[i].name);
	free(sm->names);
	free(sm->buf);
	free(sm->root);
	free(sm->jobs_dir);
	free(sm->prev_cores);
	for (size_t i = 0; sm->ptrack && i < sm->nprev; i++)
		track_close(sm, &sm->ptrack[i]);
	struct rlimit rl;
	if (sm->nofile_was && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = sm->nofile_was;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	free(sm->ptrack);
	free(sm->prev);
	free(sm->pids);
	free(sm->gone);
	gpusrc_free(sm->gpu);
	free(sm);
}

/* uid -> user name, looked up once per uid (NSS may be slow). */
static const char *uname_cached(void *arg, uint32_t uid)
{
	struct sampler *sm = arg;
	for (size_t i = 0; i < sm->nnames; i++)
		if (sm->names[i].uid == uid)
			return sm->names[i].name;
	struct user_ent u;
	sm->names = xrealloc(sm->names, (sm->nnames + 1) * sizeof(*sm->names));
	sm->names[sm->nnames].uid = uid;
	sm->names[sm->nnames].name = names_user(uid, &u) == 0 ? xstrdup(u.name) : xasprintf("%u", uid);
	return sm->names[sm->nnames++].name;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct mon_pent *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static struct mon_pent *find_pid(struct mon_pent *p, size_t n, uint32_t pid)
{
	struct mon_pent key = { .pid = pid };
	return n ? bsearch(&key, p, n, sizeof(*p), cmp_pid) : NULL;
}

static uint32_t pct100(double v)
{
	if (!(v >= 0))
		return 0;
	return v >= (double)(MON_NA - 1) ? MON_NA - 1 : (uint32_t)(v + 0.5);
}

void mon_attribute(struct mon_sample *s, struct mon_pent *p, size_t n, const struct mon_jobrec *jobs, int njobs,
		   const char *(*uname)(void *arg, uint32_t uid), void *arg)
{
	s->njobs = (uint32_t)(njobs > MON_JOBS_MAX ? MON_JOBS_MAX : njobs);
	s->jobs = xcalloc(s->njobs ? s->njobs : 1, sizeof(*s->jobs));
	for (uint32_t j = 0; j < s->njobs; j++) {
		struct mon_job *mj = &s->jobs[j];
		mj->id = xstrdup(jobs[j].id);
		mj->state = xstrdup(jobs[j].state);
		mj->sid = jobs[j].sid;
		mj->mtime_ns = jobs[j].mtime_ns;
		mj->name = xstrdup(jobs[j].name ? jobs[j].name : "");
	}
	s->users = xcalloc(1, sizeof(*s->users));
	s->nusers = 0;
	for (size_t i = 0; i < n; i++) {
		struct mon_pent *e = &p[i];
		e->job = MON_NOJOB;
		e->gpu_mem = 0;
		e->gpus = 0;
		for (uint32_t j = 0; j < s->njobs && e->session > 1; j++)
			if (e->session == s->jobs[j].sid && strcmp(s->jobs[j].state, "running") == 0) {
				e->job = (uint16_t)j;
				break;
			}
	}
	/* GPU processes: their memory goes to the process, its user, its job. */
	for (uint32_t g = 0; g < s->ngpus; g++) {
		uint64_t bit = s->gpus[g].index < MON_GPU_MASK_BITS ? 1ull << s->gpus[g].index : 0;
		for (uint32_t k = 0; k < s->gpus[g].nprocs; k++) {
			struct mon_gpu_proc *gp = &s->gpus[g].procs[k];
			struct mon_pent *e = find_pid(p, n, gp->pid);
			gp->uid = MON_NA;
			gp->job = MON_NOJOB;
			if (e == NULL)
				continue;
			gp->uid = e->uid;
			gp->job = e->job;
			if (gp->mem != MON_NA64)
				e->gpu_mem += gp->mem;
			e->gpus |= bit;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct mon_pent *e = &p[i];
		struct mon_user *u = NULL;
		for (uint32_t k = 0; k < s->nusers; k++)
			if (s->users[k].uid == e->uid) {
				u = &s->users[k];
				break;
			}
		if (u == NULL) {
			s->users = xrealloc(s->users, (s->nusers + 1) * sizeof(*s->users));
			u = &s->users[s->nusers++];
			memset(u, 0, sizeof(*u));
			u->uid = e->uid;
		}
		u->cpu = u->cpu + e->cpu < u->cpu ? MON_NA - 1 : u->cpu + e->cpu;
		u->nprocs++;
		u->rss += e->rss;
		u->gpu_mem += e->gpu_mem;
		u->gpus |= e->gpus;
		if (e->job != MON_NOJOB) {
			struct mon_job *j = &s->jobs[e->job];
			j->cpu = j->cpu + e->cpu < j->cpu ? MON_NA - 1 : j->cpu + e->cpu;
			j->nprocs++;
			j->rss += e->rss;
			j->gpu_mem += e->gpu_mem;
			j->gpus |= e->gpus;
		}
	}
	/* Busiest users first; the cap keeps the ones that matter. */
	for (uint32_t a = 1; a < s->nusers; a++)
		for (uint32_t b = a; b > 0; b--) {
			struct mon_user *x = &s->users[b - 1], *y = &s->users[b];
			bool swap = y->cpu > x->cpu || (y->cpu == x->cpu && (y->gpu_mem > x->gpu_mem ||
					(y->gpu_mem == x->gpu_mem && y->rss > x->rss)));
			if (!swap)
				break;
			struct mon_user t = *x;
			*x = *y;
			*y = t;
		}
	if (s->nusers > MON_USERS_MAX)
		s->nusers = MON_USERS_MAX;
	for (uint32_t k = 0; k < s->nusers; k++)
		s->users[k].name = xstrdup(uname(arg, s->users[k].uid));
}

struct rank {
	uint64_t v;
	size_t i;
};

/* Largest first; among equals, the lower pid. */
static int cmp_rank(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;
	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Picks the k user processes (not yet picked) using most CPU or memory;
 * none using 0.  One sort, not k passes over a thousand processes. */
static void mark_top(const struct mon_pent *p, size_t n, uint8_t *pick, uint32_t k, bool by_cpu)
{
	struct rank *r = xmalloc((n ? n : 1) * sizeof(*r));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = by_cpu ? p[i].cpu : p[i].rss;
		if (!pick[i] && !p[i].kthread && v > 0)
			r[m++] = (struct rank){ v, i };
	}
	qsort(r, m, sizeof(*r), cmp_rank);
	for (size_t i = 0; i < m && i < k; i++)
		pick[r[i].i] = 1;
	free(r);
}

void mon_pick_procs(struct mon_sample *s, const struct mon_pent *p, size_t n, uint32_t k)
{
	uint8_t *pick = xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++)
		if (p[i].gpus)
			pick[i] = 1;
	mark_top(p, n, pick, k, true);
	mark_top(p, n, pick, k, false);
	s->procs = xcalloc(MON_PROCS_MAX, sizeof(*s->procs));
	s->nprocs = 0;
	for (size_t i = 0; i < n && s->nprocs < MON_PROCS_MAX; i++) {
		if (!pick[i])
			continue;
		struct mon_proc *q = &s->procs[s->nprocs++];
		q->pid = p[i].pid;
		q->ppid = p[i].ppid;
		q->uid = p[i].uid;
		q->cpu = p[i].cpu;
		q->threads = p[i].threads;
		q->rss = p[i].rss;
		q->gpu_mem = p[i].gpu_mem;
		q->io_read = q->io_write = MON_NA64;	/* read_details() */
		q->job = p[i].job;
		q->state = p[i].state;
		q->kthread = p[i].kthread;
		q->name = xstrdup(p[i].comm);
		q->cmdline = xstrdup("");	/* read_details() */
	}
	free(pick);
}

/* /proc/PID/stat of one process into *e (everything but the rates), with
 * the owner of that file as its uid; -1 when the process is gone. */
static int read_stat(struct sampler *sm, uint32_t pid, struct mon_pent *e)
{
	char rel[32], b[4096];
	snprintf(rel, sizeof(rel), "%u/stat", pid);
	int fd = openat(sm->procfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	ssize_t len = read(fd, b, sizeof(b) - 1);
	int fr = fstat(fd, &st);
	close(fd);
	struct mp_pstat ps;
	if (len <= 0 || fr < 0 || mp_pid_stat(b, (size_t)len, &ps) < 0 || ps.pid != pid)
		return -1;
	memset(e, 0, sizeof(*e));
	e->pid = ps.pid;
	e->ppid = ps.ppid;
	e->session = ps.session;
	e->uid = (uint32_t)st.st_uid;
	e->threads = ps.threads;
	e->rss = ps.rss_pages * (uint64_t)sm->pagesize;
	e->starttime = ps.starttime;
	e->ticks = ps.utime + ps.stime;
	e->state = (uint8_t)ps.state;
	e->kthread = (ps.flags & MP_PF_KTHREAD) != 0;
	memcpy(e->comm, ps.comm, sizeof(e->comm));
	e->ruid = MON_NA;
	return 0;
}

/* /proc/PID/statm's resident set, in bytes: what of an idle process can
 * still change (reclaim, swap), at half the cost of its stat. */
static int read_rss(struct sampler *sm, uint32_t pid, uint64_t *rss)
{
	char rel[32], b[256];
	uint64_t pages;
	snprintf(rel, sizeof(rel), "%u/statm", pid);
	ssize_t len = read_at(sm->procfd, rel, b, sizeof(b));
	if (len <= 0 || mp_pid_statm(b, (size_t)len, &pages) < 0)
		return -1;
	*rss = pages * (uint64_t)sm->pagesize;
	return 0;
}

/* The time on a CPU of the process behind a kept-open schedstat file:
 * > 0, 0 when unknown (no schedstats), or -1 when that process is gone
 * (ESRCH: the fd stays tied to it even if its pid is reused). */
static int64_t read_runtime(int fd)
{
	char b[128];
	uint64_t rt;
	ssize_t len = pread_all(fd, b, sizeof(b));
	if (len <= 0 || mp_pid_schedstat(b, (size_t)len, &rt) < 0)
		return -1;
	return rt > INT64_MAX ? 0 : (int64_t)rt;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The pids in /proc, ascending, into sm->pids. */
static size_t list_pids(struct sampler *sm)
{
	struct dirent *de;
	size_t n = 0;
	bool sorted = true;
	rewinddir(sm->procdir);
	while ((de = readdir(sm->procdir)) != NULL && n < MON_PIDS_MAX) {
		const char *d = de->d_name;
		if (d[0] < '1' || d[0] > '9')
			continue;
		uint64_t pid = 0;
		for (; *d >= '0' && *d <= '9' && pid < MON_NA; d++)
			pid = pid * 10 + (uint64_t)(*d - '0');
		if (*d != '\0' || pid >= MON_NA)
			continue;
		if (n == sm->pids_cap) {
			sm->pids_cap = sm->pids_cap ? sm->pids_cap * 2 : 1024;
			sm->pids = xrealloc(sm->pids, sm->pids_cap * sizeof(*sm->pids));
		}
		sm->pids[n++] = (uint32_t)pid;
		if (n > 1 && sm->pids[n - 2] > pid)
			sorted = false;
	}
	if (!sorted)
		qsort(sm->pids, n, sizeof(*sm->pids), cmp_u32);
	return n;
}

/* Every process.  /proc/PID/stat is what costs (the kernel formats 52
 * fields and walks the thread group: ~5.4 us a read here, against ~0.8 us
 * for schedstat, and open+fstat+close add ~2.5 us), so a process keeps an
 * open /proc/PID/schedstat and its stat is read again only when it may
 * have changed:
 *   - its leader ran since the last look (schedstat's runtime, in ns, moved:
 *     a process that did not run cannot change its name, session, uid,
 *     threads or CPU time), or it has several threads (another thread may
 *     have run: the leader's runtime does not tell);
 *   - its parent went away (it was reparented without running).
 * Otherwise its previous entry is kept, and its resident set is read from statm once every MON_PROC_REFRESH
 * samples (staggered by pid): an idle one can still shrink (reclaim, swap).
 * A pid reused by a new process fails the old fd's read (ESRCH), and a
 * changed start time tells it apart where there is no fd.  Past the fd
 * budget, or with no schedstat, every stat is read, as before. */
static struct mon_pent *scan_procs(struct sampler *sm, size_t *np, uint64_t now, uint64_t dt_ns, uint32_t ncpu,
				   uint32_t last_pid)
{
	double ticks_per_s = (double)sm->hz;
	struct mon_pent *prev = sm->prev;
	struct ptrack *ptr = sm->ptrack;
	size_t nprev = sm->nprev, j = 0, n = 0, ngone = 0;

	*np = 0;
	if (sm->procdir == NULL)
		return NULL;
	/* No pid handed out since /proc was last listed (loadavg's last
	 * field, read before this): there is no new process, and the gone
	 * ones fail their reads.  Listing /proc costs ~0.45 ms per thousand
	 * processes; it is done anyway every MON_PROC_RELIST_MS (the pid
	 * counter could have come round to the same value). */
	size_t npids;
	if (!sm->own_ns || last_pid == MON_NA || last_pid != sm->last_pid || sm->t_list == 0 ||
	    now - sm->t_list >= (uint64_t)MON_PROC_RELIST_MS * 1000000u) {
		npids = list_pids(sm);
		sm->last_pid = last_pid;
		sm->t_list = now;
	} else {
		if (sm->pids_cap < nprev + 1) {
			sm->pids_cap = nprev + 1;
			sm->pids = xrealloc(sm->pids, sm->pids_cap * sizeof(*sm->pids));
		}
		for (npids = 0; npids < nprev; npids++)
			sm->pids[npids] = prev[npids].pid;
	}
	struct mon_pent *v = xmalloc((npids ? npids : 1) * sizeof(*v));
	struct ptrack *tr = xmalloc((npids ? npids : 1) * sizeof(*tr));
	if (sm->gone_cap < nprev + 1) {
		sm->gone_cap = nprev + 1;
		sm->gone = xrealloc(sm->gone, sm->gone_cap * sizeof(*sm->gone));
	}
	sm->nsample++;
	for (size_t i = 0; i <= npids; i++) {
		uint32_t pid = i < npids ? sm->pids[i] : MON_NA;
		/* Tracked pids that are no longer in /proc: gone. */
		while (j < nprev && prev[j].pid < pid) {
			track_close(sm, &ptr[j]);
			sm->gone[ngone++] = prev[j++].pid;
		}
		if (i == npids)
			break;
		const struct mon_pent *o = NULL;
		struct ptrack *t = &tr[n];
		struct mon_pent *e = &v[n];
		*t = (struct ptrack){ .schedfd = -1 };
		if (j < nprev && prev[j].pid == pid) {
			o = &prev[j];
			*t = ptr[j++];
		}
		t->from = o ? (size_t)(o - prev) : SIZE_MAX;
		if (t->schedfd < 0 && sm->nfds < sm->fd_budget) {
			char rel[32];
			snprintf(rel, sizeof(rel), "%u/schedstat", pid);
			t->schedfd = openat(sm->procfd, rel, O_RDONLY | O_CLOEXEC);
			if (t->schedfd >= 0)
				sm->nfds++;
			t->runtime = 0;
		}
		int64_t rt = t->schedfd >= 0 ? read_runtime(t->schedfd) : 0;
		uint64_t rss = 0;
		if (rt < 0) {
			/* The process that fd was opened on is gone; this pid
			 * is someone else's (or nobody's) now. */
			track_close(sm, t);
			if (o)
				sm->gone[ngone++] = pid;
			o = NULL;
			t->from = SIZE_MAX;
			rt = 0;
		}
		t->cached = 0;
		if (o && rt > 0 && (uint64_t)rt == t->runtime && o->threads == 1 &&
		    ((pid + sm->nsample) % MON_PROC_REFRESH != 0 || read_rss(sm, pid, &rss) == 0)) {
			*e = *o;
			if ((pid + sm->nsample) % MON_PROC_REFRESH == 0)
				e->rss = rss;
			e->idle = 1;
			t->cached = 1;
			n++;
			continue;
		}
		if (read_stat(sm, pid, e) < 0) {
			track_close(sm, t);
			if (o)
				sm->gone[ngone++] = pid;
			continue;
		}
		if (o && o->starttime != e->starttime) {
			sm->gone[ngone++] = pid;	/* its children were reparented */
			t->from = SIZE_MAX;
		}
		t->runtime = (uint64_t)rt;
		n++;
	}
	/* A process whose parent went away was reparented without running:
	 * read it again for its new ppid. */
	if (ngone) {
		qsort(sm->gone, ngone, sizeof(*sm->gone), cmp_u32);
		for (size_t i = 0; i < n; i++) {
			struct mon_pent e;
			if (tr[i].cached && bsearch(&v[i].ppid, sm->gone, ngone, sizeof(*sm->gone), cmp_u32) &&
			    read_stat(sm, v[i].pid, &e) == 0 && e.starttime == v[i].starttime) {
				v[i] = e;
				tr[i].cached = 0;
			}
		}
	}
	/* CPU over the interval.  A pid seen before with the same start
	 * time: the tick difference (0 if it went backwards).  A new one:
	 * all its ticks, capped by what the interval allows. */
	double max_ticks = (double)dt_ns / 1e9 * ticks_per_s * (ncpu ? ncpu : 1);
	for (size_t i = 0; i < n; i++) {
		struct mon_pent *e = &v[i], *o = tr[i].from != SIZE_MAX ? &prev[tr[i].from] : NULL;
		double d;
		e->cpu = 0;
		if (!sm->t_prev || !dt_ns)
			continue;
		if (o && o->starttime == e->starttime) {
			d = (double)mp_delta(e->ticks, o->ticks);
			e->io_r = o->io_r;
			e->io_w = o->io_w;
			e->io_at = o->io_at;
		} else {
			d = (double)e->ticks;
			e->io_r = e->io_w = e->io_at = 0;
		}
		if (d > max_ticks)
			d = max_ticks;
		e->cpu = pct100(d / ticks_per_s / ((double)dt_ns / 1e9) * 10000.0);
	}
	free(sm->ptrack);
	sm->ptrack = tr;
	*np = n;
	return v;
}

/* /proc/PID/status and /proc/PID/io for the processes a sample reports:
 * the real uid, threads, and I/O rates.  A process that did not run since
 * its last reading has the same real uid and did no I/O (both are
 * accounted in its own context): the files are not read again. */
static void read_details(struct sampler *sm, struct mon_sample *s, struct mon_pent *p, size_t n, uint64_t now)
{
	char rel[48], b[4096];
	for (uint32_t i = 0; i < s->nprocs; i++) {
		struct mon_proc *q = &s->procs[i];
		struct mon_pent *e = find_pid(p, n, q->pid);
		/* The command line of the few picked, not of every process
		 * (ps-like: "python3 train.py --lr 3e-4", not "python3"); its
		 * first MON_NAME_MAX bytes are all that travel. */
		snprintf(rel, sizeof(rel), "%u/cmdline", q->pid);
		ssize_t cl = read_at(sm->procfd, rel, b, MON_NAME_MAX);
		if (cl > 0) {
			free(q->cmdline);
			q->cmdline = mp_cmdline(b, (size_t)cl);
		}
		if (e && e->idle && e->ruid != MON_NA) {
			q->uid = e->ruid;
			if (e->io_at) {
				q->io_read = q->io_write = 0;
				e->io_at = now;
			}
			continue;
		}
		snprintf(rel, sizeof(rel), "%u/status", q->pid);
		ssize_t len = read_at(sm->procfd, rel, b, sizeof(b));
		struct mp_pstatus pst;
		if (len > 0 && mp_pid_status(b, (size_t)len, &pst) == 0) {
			if (pst.uid != MON_NA)
				q->uid = pst.uid;
			if (e)
				e->ruid = pst.uid;
			if (pst.threads != MON_NA)
				q->threads = pst.threads;
		}
		snprintf(rel, sizeof(rel), "%u/io", q->pid);
		len = read_at(sm->procfd, rel, b, sizeof(b));
		uint64_t r, w;
		if (e == NULL || len <= 0 || mp_pid_io(b, (size_t)len, &r, &w) < 0 || r == MON_NA64 || w == MON_NA64)
			continue;
		if (e->io_at && now > e->io_at) {
			double secs = (double)(now - e->io_at) / 1e9;
			q->io_read = (uint64_t)((double)mp_delta(r, e->io_r) / secs);
			q->io_write = (uint64_t)((double)mp_delta(w, e->io_w) / secs);
		}
		e->io_r = r;
		e->io_w = w;
		e->io_at = now;
	}
}

static uint64_t rate(uint64_t now, uint64_t before, uint64_t unit, uint64_t dt_ns, bool have)
{
	if (!have || now == MON_NA64 || before == MON_NA64 || dt_ns == 0)
		return MON_NA64;
	return (uint64_t)((double)mp_delta(now, before) * (double)unit / ((double)dt_ns / 1e9));
}

void sampler_take(struct sampler *sm, uint32_t nprocs, struct mon_sample *s)
{
	char *b = sm->buf;
	ssize_t len;
	uint64_t now = now_mono_ns(), dt = sm->t_prev ? now - sm->t_prev : 0;
	bool have = sm->t_prev != 0;

	memset(s, 0, sizeof(*s));
	s->wall_ns = now_wall_ns();
	s->interval_ms = (uint32_t)(dt / 1000000u);
	s->hostname = xstrdup(sm->hostname);

	len = pread_all(sm->hostfd[F_UPTIME], b, MON_PROC_FILE_MAX);
	if (len <= 0 || mp_uptime(b, (size_t)len, &s->uptime_s) < 0)
		s->uptime_s = MON_NA64;

	/* CPU: per core, matched by core id with the previous reading. */
	struct mp_cpu total, *cores = xcalloc(MON_CPUS_MAX, sizeof(*cores));
	uint32_t ncores = 0;
	s->cpu_total = MON_NA;
	len = pread_all(sm->hostfd[F_STAT], b, MON_PROC_FILE_MAX);
	if (len > 0 && mp_stat(b, (size_t)len, &total, cores, MON_CPUS_MAX, &ncores) == 0) {
		s->ncpu = ncores;
		s->cpu = xcalloc(ncores ? ncores : 1, sizeof(*s->cpu));
		for (uint32_t i = 0; i < ncores; i++) {
			const struct mp_cpu *o = i < sm->prev_ncores && sm->prev_cores[i].id == cores[i].id ? &sm->prev_cores[i] : NULL;
			for (uint32_t k = 0; o == NULL && k < sm->prev_ncores; k++)
				if (sm->prev_cores[k].id == cores[i].id)
					o = &sm->prev_cores[k];
			uint64_t dt_t = o ? mp_delta(cores[i].total, o->total) : 0;
			s->cpu[i] = dt_t ? pct100((double)mp_delta(cores[i].busy, o->busy) * 10000.0 / (double)dt_t) : MON_NA;
			if (s->cpu[i] != MON_NA && s->cpu[i] > 10000)
				s->cpu[i] = 10000;
		}
		uint64_t dt_t = have ? mp_delta(total.total, sm->prev_total.total) : 0;
		if (dt_t) {
			s->cpu_total = pct100((double)mp_delta(total.busy, sm->prev_total.busy) * 10000.0 / (double)dt_t);
			if (s->cpu_total > 10000)
				s->cpu_total = 10000;
		}
		sm->prev_total = total;
		free(sm->prev_cores);
		sm->prev_cores = xrealloc(cores, (ncores ? ncores : 1) * sizeof(*cores));
		sm->prev_ncores = ncores;
	} else {
		free(cores);
		s->cpu = xcalloc(1, sizeof(*s->cpu));
	}

	struct mp_mem m = { MON_NA64, MON_NA64, MON_NA64, MON_NA64 };
	len = pread_all(sm->hostfd[F_MEMINFO], b, MON_PROC_FILE_MAX);
	if (len > 0)
		(void)mp_meminfo(b, (size_t)len, &m);
	s->mem_total = m.total;
	s->mem_avail = m.avail;
	s->swap_total = m.swap_total;
	s->swap_free = m.swap_free;

	s->load[0] = s->load[1] = s->load[2] = s->tasks = MON_NA;
	uint32_t last_pid = MON_NA;
	len = pread_all(sm->hostfd[F_LOADAVG], b, MON_PROC_FILE_MAX);
	if (len > 0)
		(void)mp_loadavg(b, (size_t)len, s->load, &s->tasks, &last_pid);
	uint32_t *psi[3] = { &s->psi_cpu, &s->psi_mem, &s->psi_io };
	for (int i = 0; i < 3; i++) {
		*psi[i] = MON_NA;
		len = pread_all(sm->hostfd[F_PSI_CPU + i], b, MON_PROC_FILE_MAX);
		if (len > 0)
			(void)mp_pressure(b, (size_t)len, psi[i]);
	}

	s->disk_path = xstrdup(sm->root);
	struct statvfs vfs;
	s->disk_total = s->disk_avail = MON_NA64;
	if (statvfs(sm->root, &vfs) == 0) {
		s->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		s->disk_avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
	uint64_t dr = MON_NA64, dw = MON_NA64;
	len = sm->have_dev ? pread_all(sm->hostfd[F_DISKSTATS], b, MON_PROC_FILE_MAX) : -1;
	if (len > 0)
		(void)mp_diskstats(b, (size_t)len, sm->dev_major, sm->dev_minor, &dr, &dw);
	s->disk_read = rate(dr, sm->prev_disk_r, 512, dt, have);
	s->disk_write = rate(dw, sm->prev_disk_w, 512, dt, have);
	sm->prev_disk_r = dr;
	sm->prev_disk_w = dw;

	uint64_t rx = MON_NA64, tx = MON_NA64;
	len = pread_all(sm->hostfd[F_NETDEV], b, MON_PROC_FILE_MAX);
	if (len > 0)
		(void)mp_netdev(b, (size_t)len, &rx, &tx);
	s->net_rx = rate(rx, sm->prev_net_rx, 1, dt, have);
	s->net_tx = rate(tx, sm->prev_net_tx, 1, dt, have);
	sm->prev_net_rx = rx;
	sm->prev_net_tx = tx;

	/* GPUs, then processes, then who uses what. */
	if (gpusrc_read(sm->gpu, &s->gpus, &s->ngpus) < 0 || s->gpus == NULL)
		s->gpus = s->gpus ? s->gpus : xcalloc(1, sizeof(*s->gpus));
	s->gpu_source = (uint8_t)gpusrc_kind(sm->gpu);
	s->gpu_note = xstrdup(gpusrc_note(sm->gpu));

	size_t n;
	struct mon_pent *p = scan_procs(sm, &n, now, dt, s->ncpu, last_pid);
	if (s->tasks == MON_NA || n > s->tasks)
		s->tasks = (uint32_t)n;
	struct mon_jobrec *jobs;
	int nj = mon_jobs_list(sm->jobs_dir, &jobs);
	mon_attribute(s, p, n, jobs, nj, uname_cached, sm);
	mon_jobs_free(jobs, nj);
	mon_pick_procs(s, p, n, nprocs);
	read_details(sm, s, p, n, now);

	free(sm->prev);
	sm->prev = p;
	sm->nprev = n;
	sm->t_prev = now;
}
