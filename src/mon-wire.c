/*
 * mon-wire.c - the monitoring messages on the wire (0x05xx, see
 * docs/PROTOCOL.md): encode on the agent, decode through the reader on the
 * client.
 *
 * A decoder trusts no count: each is checked against its named cap and
 * against the bytes actually left (every item takes at least a known
 * number of bytes) before anything is allocated, and every index a sample
 * carries (a job of a process) is checked against the table it points
 * into.
 */
#define _GNU_SOURCE
#include "mon.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

void mon_sample_release(struct mon_sample *s)
{
	if (s == NULL)
		return;
	free(s->hostname);
	free(s->cpu);
	free(s->disk_path);
	free(s->gpu_note);
	for (uint32_t i = 0; i < s->ngpus; i++) {
		free(s->gpus[i].name);
		free(s->gpus[i].uuid);
		free(s->gpus[i].procs);
	}
	free(s->gpus);
	for (uint32_t i = 0; i < s->nusers; i++)
		free(s->users[i].name);
	free(s->users);
	for (uint32_t i = 0; i < s->njobs; i++) {
		free(s->jobs[i].id);
		free(s->jobs[i].state);
		free(s->jobs[i].name);
	}
	free(s->jobs);
	for (uint32_t i = 0; i < s->nprocs; i++) {
		free(s->procs[i].name);
		free(s->procs[i].cmdline);
	}
	free(s->procs);
	memset(s, 0, sizeof(*s));
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	buf_put_str(b, s ? s : "", n > MON_NAME_MAX ? MON_NAME_MAX : n);
}

int mon_sample_encode(const struct mon_sample *s, struct buf *out)
{
	int r = 0;
	r |= buf_put_u64(out, s->wall_ns);
	r |= buf_put_u32(out, s->interval_ms);
	put_str(out, s->hostname);
	r |= buf_put_u64(out, s->uptime_s);
	r |= buf_put_u32(out, s->cpu_total);
	r |= buf_put_u32(out, s->ncpu);
	for (uint32_t i = 0; i < s->ncpu; i++)
		r |= buf_put_u32(out, s->cpu[i]);
	for (int i = 0; i < 3; i++)
		r |= buf_put_u32(out, s->load[i]);
	r |= buf_put_u32(out, s->psi_cpu);
	r |= buf_put_u32(out, s->psi_mem);
	r |= buf_put_u32(out, s->psi_io);
	r |= buf_put_u64(out, s->mem_total);
	r |= buf_put_u64(out, s->mem_avail);
	r |= buf_put_u64(out, s->swap_total);
	r |= buf_put_u64(out, s->swap_free);
	r |= buf_put_u32(out, s->tasks);
	put_str(out, s->disk_path);
	r |= buf_put_u64(out, s->disk_total);
	r |= buf_put_u64(out, s->disk_avail);
	r |= buf_put_u64(out, s->disk_read);
	r |= buf_put_u64(out, s->disk_write);
	r |= buf_put_u64(out, s->net_rx);
	r |= buf_put_u64(out, s->net_tx);
	r |= buf_put_u8(out, s->gpu_source);
	put_str(out, s->gpu_note);
	r |= buf_put_u32(out, s->ngpus);
	for (uint32_t i = 0; i < s->ngpus; i++) {
		const struct mon_gpu *g = &s->gpus[i];
		r |= buf_put_u32(out, g->index);
		put_str(out, g->name);
		put_str(out, g->uuid);
		r |= buf_put_u32(out, g->util);
		r |= buf_put_u32(out, g->temp);
		r |= buf_put_u32(out, g->power_mw);
		r |= buf_put_u64(out, g->mem_used);
		r |= buf_put_u64(out, g->mem_total);
		r |= buf_put_u32(out, g->nprocs);
		for (uint32_t j = 0; j < g->nprocs; j++) {
			r |= buf_put_u32(out, g->procs[j].pid);
			r |= buf_put_u32(out, g->procs[j].uid);
			r |= buf_put_u64(out, g->procs[j].mem);
			r |= buf_put_u16(out, g->procs[j].job);
		}
	}
	r |= buf_put_u32(out, s->nusers);
	for (uint32_t i = 0; i < s->nusers; i++) {
		const struct mon_user *u = &s->users[i];
		r |= buf_put_u32(out, u->uid);
		put_str(out, u->name);
		r |= buf_put_u32(out, u->cpu);
		r |= buf_put_u32(out, u->nprocs);
		r |= buf_put_u64(out, u->rss);
		r |= buf_put_u64(out, u->gpu_mem);
		r |= buf_put_u64(out, u->gpus);
	}
	r |= buf_put_u32(out, s->njobs);
	for (uint32_t i = 0; i < s->njobs; i++) {
		const struct mon_job *j = &s->jobs[i];
		put_str(out, j->id);
		put_str(out, j->state);
		r |= buf_put_u32(out, j->sid);
		r |= buf_put_u32(out, j->cpu);
		r |= buf_put_u32(out, j->nprocs);
		r |= buf_put_u64(out, j->rss);
		r |= buf_put_u64(out, j->gpu_mem);
		r |= buf_put_u64(out, j->gpus);
		r |= buf_put_u64(out, j->mtime_ns);
	}
	r |= buf_put_u32(out, s->nprocs);
	for (uint32_t i = 0; i < s->nprocs; i++) {
		const struct mon_proc *p = &s->procs[i];
		r |= buf_put_u32(out, p->pid);
		r |= buf_put_u32(out, p->ppid);
		r |= buf_put_u32(out, p->uid);
		r |= buf_put_u32(out, p->cpu);
		r |= buf_put_u32(out, p->threads);
		r |= buf_put_u64(out, p->rss);
		r |= buf_put_u64(out, p->gpu_mem);
		r |= buf_put_u64(out, p->io_read);
		r |= buf_put_u64(out, p->io_write);
		r |= buf_put_u16(out, p->job);
		r |= buf_put_u8(out, p->state);
		r |= buf_put_u8(out, p->kthread);
		put_str(out, p->name);
	}
	/* Added later, at the end, so a client reads an older agent's
	 * samples: each job's name, then each process's command line. */
	for (uint32_t i = 0; i < s->njobs; i++)
		put_str(out, s->jobs[i].name);
	for (uint32_t i = 0; i < s->nprocs; i++)
		put_str(out, s->procs[i].cmdline);
	return r ? -1 : 0;
}

/* A count that is within its cap and that the bytes left can hold, each
 * item taking at least min_item bytes; otherwise the reader fails. */
static uint32_t rd_count(struct rd *r, uint32_t max, size_t min_item)
{
	uint32_t n = rd_u32(r);
	if (!rd_ok(r) || n > max || (size_t)n > rd_left(r) / min_item) {
		rd_fail(r);
		return 0;
	}
	return n;
}

static uint16_t rd_job(struct rd *r, uint32_t njobs)
{
	uint16_t j = rd_u16(r);
	if (j != MON_NOJOB && j >= njobs)
		rd_fail(r);
	return j;
}

int mon_sample_decode(struct rd *r, struct mon_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->wall_ns = rd_u64(r);
	s->interval_ms = rd_u32(r);
	s->hostname = rd_cstr(r, MON_NAME_MAX);
	s->uptime_s = rd_u64(r);
	s->cpu_total = rd_u32(r);
	uint32_t n = rd_count(r, MON_CPUS_MAX, 4);
	s->cpu = xcalloc(n ? n : 1, sizeof(*s->cpu));
	s->ncpu = n;
	for (uint32_t i = 0; i < n; i++)
		s->cpu[i] = rd_u32(r);
	for (int i = 0; i < 3; i++)
		s->load[i] = rd_u32(r);
	s->psi_cpu = rd_u32(r);
	s->psi_mem = rd_u32(r);
	s->psi_io = rd_u32(r);
	s->mem_total = rd_u64(r);
	s->mem_avail = rd_u64(r);
	s->swap_total = rd_u64(r);
	s->swap_free = rd_u64(r);
	s->tasks = rd_u32(r);
	s->disk_path = rd_cstr(r, MON_NAME_MAX);
	s->disk_total = rd_u64(r);
	s->disk_avail = rd_u64(r);
	s->disk_read = rd_u64(r);
	s->disk_write = rd_u64(r);
	s->net_rx = rd_u64(r);
	s->net_tx = rd_u64(r);
	s->gpu_source = rd_u8(r);
	if (s->gpu_source > MON_GPU_SMI)
		rd_fail(r);
	s->gpu_note = rd_cstr(r, MON_NAME_MAX);
	/* GPUs come before the job table their processes point into: check
	 * those job indexes once the table is known. */
	n = rd_count(r, MON_GPUS_MAX, 4 + 4 + 4 + 12 + 16 + 4);
	s->gpus = xcalloc(n ? n : 1, sizeof(*s->gpus));
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		struct mon_gpu *g = &s->gpus[i];
		s->ngpus = i + 1;
		g->index = rd_u32(r);
		g->name = rd_cstr(r, MON_NAME_MAX);
		g->uuid = rd_cstr(r, MON_NAME_MAX);
		g->util = rd_u32(r);
		g->temp = rd_u32(r);
		g->power_mw = rd_u32(r);
		g->mem_used = rd_u64(r);
		g->mem_total = rd_u64(r);
		uint32_t np = rd_count(r, MON_GPU_PROCS_MAX, 18);
		g->procs = xcalloc(np ? np : 1, sizeof(*g->procs));
		g->nprocs = np;
		for (uint32_t j = 0; j < np; j++) {
			g->procs[j].pid = rd_u32(r);
			g->procs[j].uid = rd_u32(r);
			g->procs[j].mem = rd_u64(r);
			g->procs[j].job = rd_u16(r);
		}
	}
	n = rd_count(r, MON_USERS_MAX, 4 + 4 + 8 + 24);
	s->users = xcalloc(n ? n : 1, sizeof(*s->users));
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		struct mon_user *u = &s->users[i];
		s->nusers = i + 1;
		u->uid = rd_u32(r);
		u->name = rd_cstr(r, MON_NAME_MAX);
		u->cpu = rd_u32(r);
		u->nprocs = rd_u32(r);
		u->rss = rd_u64(r);
		u->gpu_mem = rd_u64(r);
		u->gpus = rd_u64(r);
	}
	n = rd_count(r, MON_JOBS_MAX, 4 + 4 + 12 + 32);
	s->jobs = xcalloc(n ? n : 1, sizeof(*s->jobs));
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		struct mon_job *j = &s->jobs[i];
		s->njobs = i + 1;
		j->id = rd_cstr(r, MON_NAME_MAX);
		j->state = rd_cstr(r, MON_NAME_MAX);
		j->sid = rd_u32(r);
		j->cpu = rd_u32(r);
		j->nprocs = rd_u32(r);
		j->rss = rd_u64(r);
		j->gpu_mem = rd_u64(r);
		j->gpus = rd_u64(r);
		j->mtime_ns = rd_u64(r);
	}
	for (uint32_t i = 0; i < s->ngpus; i++)
		for (uint32_t k = 0; k < s->gpus[i].nprocs; k++)
			if (s->gpus[i].procs[k].job != MON_NOJOB && s->gpus[i].procs[k].job >= s->njobs)
				rd_fail(r);
	n = rd_count(r, MON_PROCS_MAX, 4 * 5 + 8 * 4 + 4 + 4);
	s->procs = xcalloc(n ? n : 1, sizeof(*s->procs));
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		struct mon_proc *p = &s->procs[i];
		s->nprocs = i + 1;
		p->pid = rd_u32(r);
		p->ppid = rd_u32(r);
		p->uid = rd_u32(r);
		p->cpu = rd_u32(r);
		p->threads = rd_u32(r);
		p->rss = rd_u64(r);
		p->gpu_mem = rd_u64(r);
		p->io_read = rd_u64(r);
		p->io_write = rd_u64(r);
		p->job = rd_job(r, s->njobs);
		p->state = rd_u8(r);
		p->kthread = rd_u8(r);
		p->name = rd_cstr(r, MON_NAME_MAX);
	}
	/* Names and command lines: absent from an older agent's sample. */
	bool more = rd_ok(r) && rd_left(r) > 0;
	for (uint32_t i = 0; i < s->njobs; i++)
		s->jobs[i].name = more ? rd_cstr(r, MON_NAME_MAX) : xstrdup("");
	for (uint32_t i = 0; i < s->nprocs; i++)
		s->procs[i].cmdline = more ? rd_cstr(r, MON_NAME_MAX) : xstrdup("");
	rd_expect_end(r);
	if (!rd_ok(r)) {
		mon_sample_release(s);
		return -1;
	}
	return 0;
}

void mon_req_release(struct mon_req *q)
{
	free(q->root);
	q->root = NULL;
}

int mon_req_encode(const struct mon_req *q, struct buf *out)
{
	int r = buf_put_u32(out, q->interval_ms);
	r |= buf_put_u32(out, q->count);
	r |= buf_put_u32(out, q->nprocs);
	r |= buf_put_u32(out, q->flags);
	r |= buf_put_cstr(out, q->root);
	return r ? -1 : 0;
}

int mon_req_decode(struct rd *r, struct mon_req *q)
{
	memset(q, 0, sizeof(*q));
	q->interval_ms = rd_u32(r);
	q->count = rd_u32(r);
	q->nprocs = rd_u32(r);
	q->flags = rd_u32(r);
	q->root = rd_cstr(r, PATH_REL_MAX);
	rd_expect_end(r);
	if (rd_ok(r) && (q->interval_ms < MON_INTERVAL_MIN_MS || q->interval_ms > MON_INTERVAL_MAX_MS ||
			 q->nprocs > MON_PROCS_MAX / 2 || q->flags != 0))
		rd_fail(r);
	if (!rd_ok(r)) {
		mon_req_release(q);
		return -1;
	}
	return 0;
}

int mon_kill_encode(const char *job, uint32_t wsig, struct buf *out)
{
	int r = buf_put_u32(out, wsig);
	r |= buf_put_cstr(out, job);
	return r ? -1 : 0;
}

int mon_kill_decode(struct rd *r, char **job, uint32_t *wsig)
{
	*wsig = rd_u32(r);
	*job = rd_cstr(r, MON_NAME_MAX);
	rd_expect_end(r);
	if (!rd_ok(r)) {
		free(*job);
		*job = NULL;
		return -1;
	}
	return 0;
}

int mon_kill_reply_encode(uint32_t err, const char *msg, struct buf *out)
{
	int r = buf_put_u32(out, err);
	r |= buf_put_cstr(out, msg);
	return r ? -1 : 0;
}

int mon_kill_reply_decode(struct rd *r, uint32_t *err, char **msg)
{
	*err = rd_u32(r);
	*msg = rd_cstr(r, PROTO_STR_MAX);
	rd_expect_end(r);
	if (!rd_ok(r)) {
		free(*msg);
		*msg = NULL;
		return -1;
	}
	return 0;
}

int mon_job_find(const struct mon_sample *s, const char *id)
{
	for (uint32_t i = 0; i < s->njobs; i++)
		if (strcmp(s->jobs[i].id, id) == 0)
			return (int)i;
	return -1;
}

const char *mon_user_name(const struct mon_sample *s, uint32_t uid)
{
	for (uint32_t i = 0; i < s->nusers; i++)
		if (s->users[i].uid == uid)
			return s->users[i].name;
	return NULL;
}
