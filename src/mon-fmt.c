/*
 * mon-fmt.c - formatting of samples (mon-fmt.h).
 */
#define _GNU_SOURCE
#include "mon-fmt.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

const char *fmt_bytes(uint64_t v, char *b, size_t n)
{
	static const char u[] = "BKMGTPE";
	if (v == MON_NA64) {
		snprintf(b, n, "-");
		return b;
	}
	double x = (double)v;
	int i = 0;
	while (x >= 1024 && i < 6) {
		x /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(b, n, "%lluB", (unsigned long long)v);
	else
		snprintf(b, n, x < 10 ? "%.1f%c" : "%.0f%c", x, u[i]);
	return b;
}

const char *fmt_pct(uint32_t v, char *b, size_t n)
{
	if (v == MON_NA)
		snprintf(b, n, "-");
	else if (v >= 10000)
		snprintf(b, n, "%u%%", (v + 50) / 100);
	else
		snprintf(b, n, "%.1f%%", (double)v / 100);
	return b;
}

const char *fmt_uptime(uint64_t s, char *b, size_t n)
{
	if (s == MON_NA64)
		snprintf(b, n, "-");
	else if (s >= 86400)
		snprintf(b, n, "%llud%lluh", (unsigned long long)(s / 86400), (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(b, n, "%lluh%llum", (unsigned long long)(s / 3600), (unsigned long long)(s % 3600 / 60));
	else
		snprintf(b, n, "%llum", (unsigned long long)(s / 60));
	return b;
}

const char *fmt_user(const struct mon_sample *s, uint32_t uid, char *b, size_t n)
{
	const char *name = uid == MON_NA ? "?" : mon_user_name(s, uid);
	if (name)
		snprintf(b, n, "%s", vis(name));
	else
		snprintf(b, n, "%u", uid);
	return b;
}

static void j_u64(FILE *f, const char *k, uint64_t v)
{
	if (v == MON_NA64)
		fprintf(f, "\"%s\":null", k);
	else
		fprintf(f, "\"%s\":%llu", k, (unsigned long long)v);
}

static void j_u32(FILE *f, const char *k, uint32_t v)
{
	if (v == MON_NA)
		fprintf(f, "\"%s\":null", k);
	else
		fprintf(f, "\"%s\":%u", k, v);
}

/* Percent x100 as a JSON number with two decimals. */
static void j_pct(FILE *f, const char *k, uint32_t v)
{
	if (v == MON_NA)
		fprintf(f, "\"%s\":null", k);
	else
		fprintf(f, "\"%s\":%u.%02u", k, v / 100, v % 100);
}

static void j_str(FILE *f, const char *k, const char *v)
{
	char *q = json_quote(v ? v : "");
	fprintf(f, "\"%s\":%s", k, q);
	free(q);
}

static void j_gpus(FILE *f, const char *k, uint64_t mask)
{
	fprintf(f, "\"%s\":[", k);
	for (int i = 0, first = 1; i < MON_GPU_MASK_BITS; i++)
		if (mask & (1ull << i)) {
			fprintf(f, "%s%d", first ? "" : ",", i);
			first = 0;
		}
	fputc(']', f);
}

static void j_user(FILE *f, const struct mon_sample *s, uint32_t uid)
{
	const char *n = uid == MON_NA ? NULL : mon_user_name(s, uid);
	if (uid == MON_NA)
		fprintf(f, "\"uid\":null,\"user\":null");
	else if (n) {
		fprintf(f, "\"uid\":%u,", uid);
		j_str(f, "user", n);
	} else
		fprintf(f, "\"uid\":%u,\"user\":null", uid);
}

static void j_job(FILE *f, const struct mon_sample *s, uint16_t job)
{
	if (job == MON_NOJOB || job >= s->njobs)
		fprintf(f, "\"job\":null");
	else
		j_str(f, "job", s->jobs[job].id);
}

const char *fmt_job(const struct mon_job *j, char *b, size_t n)
{
	char *id = str_visible(j->id), *name = str_visible(j->name ? j->name : "");
	snprintf(b, n, name[0] ? "%s (%s)" : "%s", id, name);
	free(id);
	free(name);
	return b;
}

char *fmt_proc_command(const struct mon_proc *p)
{
	return str_visible(p->cmdline && p->cmdline[0] ? p->cmdline : p->name);
}

void mon_json(FILE *f, const struct mon_sample *s, const char *extra)
{
	static const char *const src[] = { "none", "nvml", "nvidia-smi" };
	fputc('{', f);
	fputs("\"host\":{", f);
	j_str(f, "name", s->hostname);
	fputc(',', f);
	j_u64(f, "uptime_s", s->uptime_s);
	fprintf(f, ",\"ncpu\":%u,", s->ncpu);
	j_pct(f, "cpu_pct", s->cpu_total);
	fputs(",\"cpu_core_pct\":[", f);
	for (uint32_t i = 0; i < s->ncpu; i++) {
		if (i)
			fputc(',', f);
		if (s->cpu[i] == MON_NA)
			fputs("null", f);
		else
			fprintf(f, "%u.%02u", s->cpu[i] / 100, s->cpu[i] % 100);
	}
	fputs("],\"load\":[", f);
	for (int i = 0; i < 3; i++) {
		if (i)
			fputc(',', f);
		if (s->load[i] == MON_NA)
			fputs("null", f);
		else
			fprintf(f, "%u.%02u", s->load[i] / 100, s->load[i] % 100);
	}
	fputs("],", f);
	j_u32(f, "tasks", s->tasks);
	fputs(",\"mem\":{", f);
	j_u64(f, "total", s->mem_total);
	fputc(',', f);
	j_u64(f, "available", s->mem_avail);
	fputc(',', f);
	j_u64(f, "used", s->mem_total != MON_NA64 && s->mem_avail != MON_NA64 && s->mem_total >= s->mem_avail
	      ? s->mem_total - s->mem_avail : MON_NA64);
	fputs("},\"swap\":{", f);
	j_u64(f, "total", s->swap_total);
	fputc(',', f);
	j_u64(f, "used", s->swap_total != MON_NA64 && s->swap_free != MON_NA64 && s->swap_total >= s->swap_free
	      ? s->swap_total - s->swap_free : MON_NA64);
	fputs("},\"pressure_some_avg10\":{", f);
	j_pct(f, "cpu", s->psi_cpu);
	fputc(',', f);
	j_pct(f, "memory", s->psi_mem);
	fputc(',', f);
	j_pct(f, "io", s->psi_io);
	fputs("}},\"disk\":{", f);
	j_str(f, "path", s->disk_path);
	fputc(',', f);
	j_u64(f, "total", s->disk_total);
	fputc(',', f);
	j_u64(f, "available", s->disk_avail);
	fputc(',', f);
	j_u64(f, "read_bps", s->disk_read);
	fputc(',', f);
	j_u64(f, "write_bps", s->disk_write);
	fputs("},\"net\":{", f);
	j_u64(f, "rx_bps", s->net_rx);
	fputc(',', f);
	j_u64(f, "tx_bps", s->net_tx);
	fprintf(f, "},\"gpu_source\":\"%s\",", src[s->gpu_source <= 2 ? s->gpu_source : 0]);
	j_str(f, "gpu_note", s->gpu_note);
	fputs(",\"gpus\":[", f);
	for (uint32_t i = 0; i < s->ngpus; i++) {
		const struct mon_gpu *g = &s->gpus[i];
		fprintf(f, "%s{\"index\":%u,", i ? "," : "", g->index);
		j_str(f, "name", g->name);
		fputc(',', f);
		j_str(f, "uuid", g->uuid);
		fputc(',', f);
		j_u32(f, "util_pct", g->util);
		fputc(',', f);
		j_u64(f, "mem_used", g->mem_used);
		fputc(',', f);
		j_u64(f, "mem_total", g->mem_total);
		fputc(',', f);
		j_u32(f, "temp_c", g->temp);
		fputc(',', f);
		j_u32(f, "power_mw", g->power_mw);
		fputs(",\"processes\":[", f);
		for (uint32_t k = 0; k < g->nprocs; k++) {
			fprintf(f, "%s{\"pid\":%u,", k ? "," : "", g->procs[k].pid);
			j_user(f, s, g->procs[k].uid);
			fputc(',', f);
			j_job(f, s, g->procs[k].job);
			fputc(',', f);
			j_u64(f, "gpu_mem", g->procs[k].mem);
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("],\"users\":[", f);
	for (uint32_t i = 0; i < s->nusers; i++) {
		const struct mon_user *u = &s->users[i];
		fprintf(f, "%s{\"uid\":%u,", i ? "," : "", u->uid);
		j_str(f, "user", u->name);
		fputc(',', f);
		j_pct(f, "cpu_pct", u->cpu);
		fprintf(f, ",\"mem\":%llu,\"gpu_mem\":%llu,", (unsigned long long)u->rss, (unsigned long long)u->gpu_mem);
		j_gpus(f, "gpus", u->gpus);
		fprintf(f, ",\"procs\":%u}", u->nprocs);
	}
	fputs("],\"jobs\":[", f);
	for (uint32_t i = 0; i < s->njobs; i++) {
		const struct mon_job *j = &s->jobs[i];
		fputs(i ? ",{" : "{", f);
		j_str(f, "id", j->id);
		fputc(',', f);
		j_str(f, "state", j->state);
		fputc(',', f);
		j_str(f, "name", j->name ? j->name : "");
		fprintf(f, ",\"sid\":%u,", j->sid);
		j_pct(f, "cpu_pct", j->cpu);
		fprintf(f, ",\"mem\":%llu,\"gpu_mem\":%llu,", (unsigned long long)j->rss, (unsigned long long)j->gpu_mem);
		j_gpus(f, "gpus", j->gpus);
		fprintf(f, ",\"procs\":%u,\"mtime_ns\":%llu}", j->nprocs, (unsigned long long)j->mtime_ns);
	}
	fputs("],\"processes\":[", f);
	for (uint32_t i = 0; i < s->nprocs; i++) {
		const struct mon_proc *p = &s->procs[i];
		fprintf(f, "%s{\"pid\":%u,\"ppid\":%u,", i ? "," : "", p->pid, p->ppid);
		j_user(f, s, p->uid);
		fputc(',', f);
		j_job(f, s, p->job);
		fputc(',', f);
		j_str(f, "name", p->name);
		fputc(',', f);
		j_str(f, "cmdline", p->cmdline ? p->cmdline : "");
		fprintf(f, ",\"state\":\"%c\",", p->state >= 0x21 && p->state < 0x7f && p->state != '"' && p->state != '\\'
			? p->state : '?');
		j_pct(f, "cpu_pct", p->cpu);
		fprintf(f, ",\"mem\":%llu,\"gpu_mem\":%llu,", (unsigned long long)p->rss, (unsigned long long)p->gpu_mem);
		j_u32(f, "threads", p->threads);
		fputc(',', f);
		j_u64(f, "read_bps", p->io_read);
		fputc(',', f);
		j_u64(f, "write_bps", p->io_write);
		fputc('}', f);
	}
	fputc(']', f);
	if (extra && *extra)
		fprintf(f, ",%s", extra);
	fputs("}\n", f);
}
