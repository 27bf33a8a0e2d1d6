/*
 * mon-jobs.c - read the job folders the supervisor writes (mon-jobs.h).
 *
 * Read-only and bounded: a job folder's files are opened beneath the jobs
 * folder without following symlinks, and at most MON_JOB_FILE_MAX bytes
 * of each are read.  A job whose files are odd is listed with what could
 * be read ("?" state, sid 0 — which attributes no process to it).
 */
#define _GNU_SOURCE
#include "mon-jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsx.h"
#include "job.h"
#include "limits.h"
#include "mon-text.h"
#include "util.h"

#include "banned.h"

char *mon_jobs_dir(void)
{
	return jobs_path();
}

int mon_job_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64 || id[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

uint32_t mon_jobs_parse_sid(const char *p, size_t n)
{
	struct rd r;
	rd_init(&r, p, n);
	uint64_t v = tx_u64(&r);
	tx_lit(&r, "\n");
	if (!rd_ok(&r) || !tx_eof(&r) || v <= 1 || v > 0x7fffffff)
		return 0;
	return (uint32_t)v;
}

/* Reads job/name (at most MON_JOB_FILE_MAX bytes) into b, NUL-terminated;
 * the length, or -1. */
static ssize_t read_small(int dirfd, const char *job, const char *name, char *b)
{
	char *rel = xasprintf("%s/%s", job, name);
	int fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(rel);
	if (fd < 0)
		return -1;
	ssize_t n = 0, r;
	while (n < MON_JOB_FILE_MAX && (r = read(fd, b + n, (size_t)(MON_JOB_FILE_MAX - n))) > 0)
		n += r;
	close(fd);
	b[n] = '\0';
	return n;
}

static int cmp_job(const void *a, const void *b)
{
	const struct mon_jobrec *x = a, *y = b;
	int rx = strcmp(x->state, "running") == 0, ry = strcmp(y->state, "running") == 0;
	if (rx != ry)
		return ry - rx;
	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? 1 : -1;
	return strcmp(x->id, y->id);
}

int mon_jobs_list(const char *dir, struct mon_jobrec **out)
{
	char *own = dir ? NULL : mon_jobs_dir();
	int dfd = open(dir ? dir : own, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct mon_jobrec *v = NULL;
	int n = 0, cap = 0;
	char b[MON_JOB_FILE_MAX + 1];
	struct dirent *de;

	*out = NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		free(own);
		return 0;
	}
	/* Folders are read in full, then sorted and cut: finished jobs pile
	 * up, and the most recent ones are the ones to show. */
	while ((de = readdir(d)) != NULL && n < MON_JOBS_MAX * 4) {
		struct stat st;
		if (!mon_job_id_ok(de->d_name) || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, (size_t)cap * sizeof(*v));
		}
		struct mon_jobrec *j = &v[n++];
		j->id = xstrdup(de->d_name);
		j->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
		ssize_t l = read_small(dfd, de->d_name, "sid", b);
		j->sid = l > 0 ? mon_jobs_parse_sid(b, (size_t)l) : 0;
		l = read_small(dfd, de->d_name, "state", b);
		if (l > 0) {
			size_t k = 0;
			while (k < (size_t)l && b[k] != '\n' && b[k] != '\0')
				k++;
			for (size_t i = 0; i < k; i++)
				if ((unsigned char)b[i] < 0x20)
					b[i] = '?';
			j->state = xstrndup(b, k);
		} else {
			j->state = xstrdup("?");
		}
		/* "running" in the file but its supervisor gone: lost, and
		 * no process is attributed to it. */
		uint32_t jid = job_parse_id(j->id);
		j->name = NULL;
		if (jid && strcmp(j->state, "running") == 0) {
			char *jobs = dir ? xstrdup(dir) : mon_jobs_dir();
			struct job rec;
			if (job_load(jobs, jid, &rec) == 0) {
				if (rec.state == JOB_LOST) {
					free(j->state);
					j->state = xstrdup("lost");
				}
				j->name = rec.name;
				rec.name = NULL;
				job_release(&rec);
			}
			free(jobs);
		}
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_job);
	int keep = 0, done = 0;
	for (int i = 0; i < n; i++) {
		bool running = strcmp(v[i].state, "running") == 0;
		if (keep < MON_JOBS_MAX && (running || done++ < MON_JOBS_RECENT)) {
			v[keep++] = v[i];
		} else {
			free(v[i].id);
			free(v[i].state);
			free(v[i].name);
		}
	}
	/* The names of the kept ones not read above (at most
	 * MON_JOBS_RECENT finished jobs: small records). */
	for (int i = 0; i < keep; i++) {
		uint32_t jid = job_parse_id(v[i].id);
		struct job rec;
		if (v[i].name == NULL && jid && job_load(dir ? dir : own, jid, &rec) == 0) {
			v[i].name = rec.name;
			rec.name = NULL;
			job_release(&rec);
		}
		if (v[i].name == NULL)
			v[i].name = xstrdup("");
	}
	free(own);
	*out = v;
	return keep;
}

int mon_jobs_running(const char *dir, struct mon_jobrec **out)
{
	int n = mon_jobs_list(dir, out), k = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp((*out)[i].state, "running") == 0) {
			(*out)[k++] = (*out)[i];
		} else {
			free((*out)[i].id);
			free((*out)[i].state);
			free((*out)[i].name);
		}
	}
	return k;
}

void mon_jobs_free(struct mon_jobrec *j, int n)
{
	for (int i = 0; i < n; i++) {
		free(j[i].id);
		free(j[i].state);
		free(j[i].name);
	}
	free(j);
}
