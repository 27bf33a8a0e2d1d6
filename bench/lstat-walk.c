/*
 * lstat-walk.c - the floor for a sync's walk: one thread, every entry of
 * a tree lstat'ed once (fstatat relative to its folder's fd, as ferry's
 * scan does), folders read with getdents, nothing else.  No sorting, no
 * ignore rules, no hashing: what any tool that looks at every file must
 * at least pay.  Prints the number of entries.
 *
 * usage: lstat-walk DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long entries;

static void walk(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		entries++;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				walk(fd);
		}
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: lstat-walk DIR\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	walk(fd);
	printf("%lu\n", entries);
	return 0;
}
