/*
 * agent-info.c - facts about this host for `ferry doctor`: the project
 * folder, free disk, the clock, where the agent lives, the login shell.
 * Read-only: it never creates the project folder.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "limits.h"
#include "env-login.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

int agent_info(struct conn *c, struct rd *body)
{
	struct kv_list kv = { 0 };
	struct buf b;
	char *root = rd_cstr(body, PATH_REL_MAX);
	char num[32];

	rd_expect_end(body);
	if (!rd_ok(body)) {
		free(root);
		agent_error(c, PERR_PROTOCOL, "malformed info request");
		return -1;
	}
	char *path = agent_root_path(root);
	kv_add(&kv, "root", path);

	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		kv_add(&kv, "root_exists", "1");
		kv_add(&kv, "root_writable", access(path, W_OK | X_OK) == 0 ? "1" : "0");
	} else {
		int e = errno;
		kv_add(&kv, "root_exists", "0");
		kv_add(&kv, "root_error", strerror(e ? e : ENOTDIR));
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
			kv_add(&kv, "root_not_dir", "1");
		/* Push would create it: can it?  The nearest folder that
		 * exists must let us add to it. */
		char *up = xstrdup(path);
		for (;;) {
			char *slash = strrchr(up, '/');
			if (slash == NULL)
				break;
			*(slash == up ? slash + 1 : slash) = '\0';
			if (stat(up, &st) == 0) {
				kv_add(&kv, "root_parent", up);
				if (!S_ISDIR(st.st_mode))
					kv_add(&kv, "root_parent_problem", "is a file, not a folder");
				else if (access(up, W_OK | X_OK) < 0)
					kv_add(&kv, "root_parent_problem", "is not writable");
				break;
			}
			if (slash == up)
				break;
		}
		free(up);
	}
	/* Free space where the project is, or would be. */
	char *probe = xstrdup(path);
	struct statvfs vfs;
	while (statvfs(probe, &vfs) < 0) {
		char *slash = strrchr(probe, '/');
		if (slash == NULL || slash == probe) {
			free(probe);
			probe = xstrdup("/");
			if (statvfs(probe, &vfs) < 0)
				memset(&vfs, 0, sizeof(vfs));
			break;
		}
		*slash = '\0';
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)vfs.f_bavail * vfs.f_frsize);
	kv_add(&kv, "disk_free", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)vfs.f_blocks * vfs.f_frsize);
	kv_add(&kv, "disk_total", num);
	kv_add(&kv, "disk_path", probe);
	free(probe);

	char self[4096];
	(void)platform_self_exe(self, sizeof(self));	/* "" on failure */
	kv_add(&kv, "agent_path", self);
#ifdef FERRY_STATIC
	kv_add(&kv, "agent_kind", "static");
#else
	kv_add(&kv, "agent_kind", "dynamic");
#endif

	char **envp = NULL, *why = NULL;
	bool cached = false;
	if (loginenv_get(&envp, &why, &cached) == 0)
		kv_add(&kv, "login_env", cached ? "cached" : "resolved");
	else
		kv_add(&kv, "login_env_error", why);
	free_words(envp);
	free(why);

	snprintf(num, sizeof(num), "%llu", (unsigned long long)now_wall_ns());
	kv_add(&kv, "wall_ns", num);

	buf_init(&b, FRAME_MAX);
	kv_encode(&kv, &b);
	conn_queue(c, MSG_INFO_REPLY, b.data, b.len);
	buf_release(&b);
	kv_release(&kv);
	free(path);
	free(root);
	return 0;
}
