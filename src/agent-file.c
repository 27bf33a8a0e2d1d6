/*
 * agent-file.c - one file of the project folder, read for the client
 * (`ferry diff`): FILE_GET {root, path, max} answers FILE_DATA frames
 * and FILE_END {size, mode}, or an ERROR.  The path is checked and opened
 * beneath the root without following a symlink anywhere in it.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "util.h"

#include "banned.h"

int agent_file_get(struct conn *c, struct rd *body)
{
	char *rootarg = rd_cstr(body, PATH_REL_MAX), *path = rd_cstr(body, PATH_REL_MAX);
	uint64_t max = rd_u64(body);
	rd_expect_end(body);
	if (!rd_ok(body) || rootarg == NULL || path == NULL || path_check_rel(path, strlen(path)) < 0) {
		free(rootarg);
		free(path);
		agent_error(c, PERR_PROTOCOL, "malformed file request");
		return -1;
	}
	char *root = agent_root_path(rootarg);
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = rootfd < 0 ? -errno : open_beneath(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	struct stat st;
	int ret = 0;
	if (fd < 0) {
		agent_error(c, fd == -ENOENT ? PERR_NOFILE : PERR_BADFILE, "%s: %s", path,
			    fd == -ENOENT ? "no such file in the project folder on the server"
			    : fd == -ELOOP || fd == -EXDEV ? "a symlink on the way (not followed)" : strerror(-fd));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		agent_error(c, PERR_BADFILE, "%s: not a regular file on the server", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		agent_error(c, PERR_BADFILE, "%s: %llu bytes on the server, more than %llu", path,
			    (unsigned long long)st.st_size, (unsigned long long)max);
		goto out;
	}
	uint8_t b[FRAME_CHUNK];
	uint64_t sent = 0;
	ssize_t n;
	while (sent < max && (n = read(fd, b, sizeof(b))) > 0) {
		if (sent + (uint64_t)n > max)
			n = (ssize_t)(max - sent);
		conn_queue(c, MSG_FILE_DATA, b, (size_t)n);
		sent += (uint64_t)n;
		if (c->out.len > CONN_OUT_HIGH && conn_flush(c) < 0) {
			ret = -1;
			goto out;
		}
	}
	struct buf e;
	buf_init(&e, 16);
	buf_put_u64(&e, sent);
	buf_put_u32(&e, (uint32_t)(st.st_mode & 07777));
	conn_queue(c, MSG_FILE_END, e.data, e.len);
	buf_release(&e);
out:
	if (fd >= 0)
		close(fd);
	if (rootfd >= 0)
		close(rootfd);
	free(root);
	free(rootarg);
	free(path);
	return ret;
}
