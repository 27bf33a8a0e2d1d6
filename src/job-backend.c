/*
 * job-backend.c - the backends (job-backend.h) and the local one's
 * signal path: a JOB_CTL_KILL frame on the supervisor's control socket,
 * answered by JOB_CTL_OK once the signal went out.
 */
#define _GNU_SOURCE
#include "job-backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "job-sup.h"
#include "proto.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

int job_ctl_connect(const char *jobs, uint32_t id)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char *dir = job_dir(jobs, id);
	int n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/ctl", dir);
	free(dir);
	if (n < 0 || (size_t)n >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int local_signal(const char *jobs, const struct job *j, int sig, uint32_t grace_ms)
{
	int fd = job_ctl_connect(jobs, j->id);
	if (fd < 0)
		return fd;
	struct buf b;
	struct conn sc;
	uint16_t type;
	struct rd rb;
	buf_init(&b, 16);
	buf_put_u32(&b, signal_to_wire(sig));
	buf_put_u32(&b, grace_ms);
	conn_init(&sc, fd, fd);
	int r = conn_send(&sc, MSG_JOB_CTL_KILL, b.data, b.len) < 0 || conn_read(&sc, &type, &rb) <= 0 ||
		type != MSG_JOB_CTL_OK ? -EIO : 0;
	conn_release(&sc);
	buf_release(&b);
	close(fd);
	return r;
}

const struct job_backend job_backend_local = {
	.name = "local",
	.launch = job_launch,
	.alive = job_supervisor_alive,
	.send_signal = local_signal,
};

static const struct job_backend *const backends[] = { &job_backend_local };

const struct job_backend *job_backend_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}
