/*
 * agent-prune.c - old agent versions go once nothing runs them.
 *
 * Every build of ferry installs its agent in a folder of its own,
 * AGENTDIR/VERSION-HEX/ferry; without pruning, each upgrade leaves 2 MB
 * behind for good.  At most once a day (a stamp file in AGENTDIR), an
 * agent removes the other versions' folders that nothing runs: a live
 * session or a running job's supervisor keeps its version (a shared lock
 * on the executable says so).  Only folders of ours in a private AGENTDIR,
 * only names shaped like an agent id, never through a link.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent-bundle.h"
#include "limits.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

/* VERSION-HEX, as ferry_build_id() makes them: a '-', then 12 hex. */
static bool agent_id_shaped(const char *n)
{
	const char *dash = strrchr(n, '-');
	if (n[0] == '.' || dash == NULL || dash == n || strlen(dash + 1) != 12)
		return false;
	for (const char *c = dash + 1; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

/* Locks dfd/name/ferry exclusive, when nothing runs it: the fd holding
 * the lock (kept until the folder is gone), -1 in use or not known to be
 * unused, -2 no ferry there.  Each agent and job supervisor holds a
 * shared lock on its executable (exe_hold_shared), whatever namespace
 * it is in; a file running on this host cannot even be opened for
 * writing (ETXTBSY).  Any other failure (NFS without lockd, Lustre
 * without flock, EMFILE) counts as in use: a version running on another
 * node of a shared home must not lose its executable.  A version from
 * before the locks counts as unused; its processes keep their executable
 * here (unlinked, still mapped). */
static int lock_unused(int dfd, const char *name, const char *machine)
{
	char *p = xasprintf("%s/ferry", name);
	int fd = openat(dfd, p, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(p);
	if (fd < 0)
		return errno == ENOENT ? -2 : -1;
	/* Another architecture's agent (a home shared by hosts of both
	 * kinds) is that host's to prune, not ours. */
	uint8_t head[64];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	const char *m = n > 0 ? elf_machine(head, (size_t)n) : NULL;
	if (m != NULL && machine != NULL && strcmp(m, machine) != 0) {
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Removes dfd/name/: its files (an agent folder holds no folders), then
 * itself. */
static void remove_version(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	DIR *d = fstat(fd, &st) == 0 && st.st_uid == getuid() ? fdopendir(fd) : NULL;
	if (d == NULL) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(fd, de->d_name, 0);
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void agent_prune_versions(void)
{
	char exe[4096];
	if (platform_self_exe(exe, sizeof(exe)) < 0)
		return;
	/* AGENTDIR/ID/ferry */
	char *s1 = strrchr(exe, '/');
	if (s1 == NULL || strcmp(s1, "/ferry") != 0)
		return;
	*s1 = '\0';
	char *s2 = strrchr(exe, '/');
	if (s2 == NULL || s2 == exe || !agent_id_shaped(s2 + 1))
		return;
	*s2 = '\0';
	const char *self_id = s2 + 1, *dir = exe;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	struct stat st;
	if (fstat(dfd, &st) < 0 || st.st_uid != getuid() || (st.st_mode & 077) != 0)
		goto out;
	time_t now = time(NULL);
	if (fstatat(dfd, ".pruned", &st, AT_SYMLINK_NOFOLLOW) == 0 && now - st.st_mtime < AGENT_PRUNE_EVERY_S &&
	    st.st_mtime <= now)
		goto out;
	int sfd = openat(dfd, ".pruned", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sfd < 0)
		goto out;
	(void)futimens(sfd, NULL);
	close(sfd);
	char machine[16] = "";
	int self = platform_open_self_exe();
	if (self >= 0) {
		uint8_t head[64];
		ssize_t hn = pread(self, head, sizeof(head), 0);
		const char *m = hn > 0 ? elf_machine(head, (size_t)hn) : NULL;
		snprintf(machine, sizeof(machine), "%s", m ? m : "");
		close(self);
	}
	if (machine[0] == '\0')
		goto out;	/* cannot tell ours from another kind's */
	int fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (d == NULL) {
		if (fd2 >= 0)
			close(fd2);
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!agent_id_shaped(de->d_name) || strcmp(de->d_name, self_id) == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
			continue;
		/* Not a folder being installed right now. */
		if (now - st.st_mtime < AGENT_PRUNE_YOUNG_S && st.st_mtime <= now)
			continue;
		int lk = lock_unused(dfd, de->d_name, machine);
		if (lk == -1)
			continue;
		remove_version(dfd, de->d_name);
		if (lk >= 0)
			close(lk);
	}
	closedir(d);
out:
	close(dfd);
}
