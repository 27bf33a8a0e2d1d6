/*
 * test-apply.c - atomic placement beneath a root.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "sync-apply.h"
#include "t.h"
#include "util.h"

static char *read_all(int rootfd, const char *path)
{
	int fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW);
	char b[256];
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, b, sizeof(b) - 1);
	close(fd);
	return n < 0 ? NULL : xstrndup(b, (size_t)n);
}

/* Temp files left in a folder. */
static int count_temps(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int n = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, APPLY_TMP_PREFIX, strlen(APPLY_TMP_PREFIX)) == 0;
	closedir(d);
	return n;
}

void test_sync_apply(void)
{
	char tmpl[] = "/tmp/ferry-apply.XXXXXX";
	char *base = mkdtemp(tmpl);
	char *rootp = xasprintf("%s/root", base), *outp = xasprintf("%s/outside", base);
	struct apply_file f;
	uint8_t h[INDEX_HASH_LEN];
	struct stat st;

	mkdir(rootp, 0755);
	mkdir(outp, 0755);
	int root = open(rootp, O_RDONLY | O_DIRECTORY);

	t_case = "mkdirs";
	CHECK(apply_mkdirs(root, "a/b/c", 0755) == 0);
	CHECK(apply_mkdirs(root, "a/b", 0755) == 0);
	CHECK(fstatat(root, "a/b/c", &st, 0) == 0 && S_ISDIR(st.st_mode));

	t_case = "write, invisible until commit";
	CHECK(apply_begin(&f, root, "a/b/file") == 0);
	CHECK(apply_write(&f, "hello ", 6) == 0 && apply_write(&f, "world", 5) == 0);
	CHECK(faccessat(root, "a/b/file", F_OK, 0) != 0);
	CHECK(count_temps(f.dirfd) == 1);
	hash_bytes("hello world", 11, h);
	CHECK(apply_commit(&f, h, 0640, 1000000000ull * 1600000000 + 5, false, NULL) == 0);
	char *got = read_all(root, "a/b/file");
	CHECK_STR(got, "hello world");
	free(got);
	CHECK(fstatat(root, "a/b/file", &st, 0) == 0 && (st.st_mode & 07777) == 0640);
	CHECK(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 5);
	int bdir = open_beneath(root, "a/b", O_RDONLY | O_DIRECTORY, 0);
	CHECK(count_temps(bdir) == 0);

	t_case = "replace keeps the old content until commit";
	CHECK(apply_begin(&f, root, "a/b/file") == 0);
	CHECK(apply_write(&f, "new", 3) == 0);
	got = read_all(root, "a/b/file");
	CHECK_STR(got, "hello world");
	free(got);
	hash_bytes("new", 3, h);
	CHECK(apply_commit(&f, h, 0644, 0, true, NULL) == 0);
	got = read_all(root, "a/b/file");
	CHECK_STR(got, "new");
	free(got);

	t_case = "a wrong hash leaves nothing";
	CHECK(apply_begin(&f, root, "a/b/file") == 0);
	CHECK(apply_write(&f, "corrupt", 7) == 0);
	CHECK(apply_commit(&f, h, 0644, 0, false, NULL) == -EBADMSG);
	got = read_all(root, "a/b/file");
	CHECK_STR(got, "new");
	free(got);
	CHECK(count_temps(bdir) == 0);

	t_case = "abort leaves nothing";
	CHECK(apply_begin(&f, root, "a/b/other") == 0);
	CHECK(apply_write(&f, "x", 1) == 0);
	apply_abort(&f);
	apply_abort(&f);
	CHECK(faccessat(root, "a/b/other", F_OK, 0) != 0);
	CHECK(count_temps(bdir) == 0);

	t_case = "symlinked folder is never followed";
	char *target = xasprintf("%s", outp);
	CHECK(symlinkat(target, root, "evil") == 0);
	CHECK(apply_begin(&f, root, "evil/x") < 0);
	CHECK(apply_mkdirs(root, "evil/sub", 0755) < 0);
	char *leak = xasprintf("%s/x", outp);
	CHECK(access(leak, F_OK) != 0);
	free(leak);
	leak = xasprintf("%s/sub", outp);
	CHECK(access(leak, F_OK) != 0);
	free(leak);
	CHECK(apply_begin(&f, root, "../outside/y") == -EINVAL);

	t_case = "a symlink as the final name is replaced, not written through";
	char *victim = xasprintf("%s/victim", outp);
	int vfd = open(victim, O_WRONLY | O_CREAT, 0644);
	close(vfd);
	CHECK(symlinkat(victim, root, "link-to-victim") == 0);
	CHECK(apply_begin(&f, root, "link-to-victim") == 0);
	CHECK(apply_write(&f, "mine", 4) == 0);
	hash_bytes("mine", 4, h);
	CHECK(apply_commit(&f, h, 0644, 0, false, NULL) == 0);
	CHECK(fstatat(root, "link-to-victim", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode));
	CHECK(stat(victim, &st) == 0 && st.st_size == 0);
	free(victim);

	t_case = "symlinks and removal";
	CHECK(apply_symlink(root, "a/ln", "../../anywhere") == 0);
	char lt[64] = "";
	CHECK(readlinkat(root, "a/ln", lt, sizeof(lt) - 1) > 0);
	CHECK_STR(lt, "../../anywhere");
	CHECK(apply_symlink(root, "a/ln", "elsewhere") == 0);
	CHECK(apply_remove(root, "a/ln", false, NULL) == 0);
	CHECK(apply_remove(root, "a/b/c", true, NULL) == 0);
	CHECK(apply_remove(root, "a/b", true, NULL) == -ENOTEMPTY);

	t_case = "expectations: nothing may appear, nothing may change";
	struct apply_stat planned, placed;
	CHECK(apply_begin(&f, root, "a/b/fresh") == 0);
	CHECK(apply_write(&f, "new", 3) == 0);
	apply_expect(&f, false, NULL);
	int sneaky = openat(bdir, "fresh", O_WRONLY | O_CREAT, 0644);
	CHECK(write(sneaky, "theirs", 6) == 6);
	close(sneaky);
	hash_bytes("new", 3, h);
	CHECK(apply_commit(&f, h, 0644, 0, false, NULL) == -EEXIST);
	got = read_all(root, "a/b/fresh");
	CHECK_STR(got, "theirs");
	free(got);
	CHECK(fstatat(bdir, "fresh", &st, AT_SYMLINK_NOFOLLOW) == 0);
	apply_stat_from(&planned, &st);
	CHECK(apply_begin(&f, root, "a/b/fresh") == 0);
	CHECK(apply_write(&f, "new", 3) == 0);
	apply_expect(&f, true, &planned);
	sneaky = openat(bdir, "fresh", O_WRONLY | O_APPEND);
	CHECK(write(sneaky, "+edit", 5) == 5);
	close(sneaky);
	CHECK(apply_commit(&f, h, 0644, 0, false, NULL) == -ESTALE);
	got = read_all(root, "a/b/fresh");
	CHECK_STR(got, "theirs+edit");
	free(got);
	CHECK(fstatat(bdir, "fresh", &st, AT_SYMLINK_NOFOLLOW) == 0);
	apply_stat_from(&planned, &st);
	CHECK(apply_begin(&f, root, "a/b/fresh") == 0);
	CHECK(apply_write(&f, "new", 3) == 0);
	apply_expect(&f, true, &planned);
	CHECK(apply_commit(&f, h, 0600, 7, false, &placed) == 0);
	CHECK(fstatat(bdir, "fresh", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(placed.ino == (uint64_t)st.st_ino && placed.size == 3 && placed.mtime_ns == 7);
	sneaky = openat(bdir, "fresh", O_WRONLY | O_APPEND);
	CHECK(write(sneaky, "!", 1) == 1);
	close(sneaky);
	CHECK(apply_remove(root, "a/b/fresh", false, &placed) == -ESTALE);
	CHECK(faccessat(bdir, "fresh", F_OK, 0) == 0);

	t_case = "sweep removes temps of dead writers only";
	int t1 = openat(bdir, ".ferry-tmp.999999999.0", O_WRONLY | O_CREAT, 0600);
	char *mine = xasprintf(".ferry-tmp.%ld.77", (long)getpid());
	int t2 = openat(bdir, mine, O_WRONLY | O_CREAT, 0600);
	int t3 = openat(bdir, ".ferry-tmp.junk", O_WRONLY | O_CREAT, 0600);
	int t4 = openat(bdir, ".ferry-tmp.999999999.notes", O_WRONLY | O_CREAT, 0600);
	int t5 = openat(bdir, ".ferry-tmp.999999998.1", O_WRONLY | O_CREAT, 0644);
	close(t1);
	close(t2);
	close(t3);
	close(t4);
	close(t5);
	CHECK(apply_sweep(root, "a/b") == 1);
	CHECK(faccessat(bdir, ".ferry-tmp.999999999.notes", F_OK, 0) == 0);
	CHECK(faccessat(bdir, ".ferry-tmp.999999998.1", F_OK, 0) == 0);
	CHECK(faccessat(bdir, mine, F_OK, 0) == 0);
	CHECK(faccessat(bdir, ".ferry-tmp.junk", F_OK, 0) == 0);
	CHECK(apply_sweep(root, "evil") < 0);
	free(mine);

	t_case = "modes: permission bits only, under this side's umask";
	mode_t um = umask(022);
	umask(um);
	CHECK(fsx_umask() == um);
	for (uint32_t m = 0; m <= 07777; m += 0111) {
		CHECK((sync_mode_here(m) & 07000) == 0);
		CHECK(sync_mode_here(m) == ((m & 0777) & ~um));
	}
	CHECK(sync_mode_here(0xffff) == (0777 & ~um));
	/* apply_commit itself never sets setuid, setgid or sticky, whatever
	 * its caller passes. */
	CHECK(apply_begin(&f, root, "a/b/suid") == 0);
	CHECK(apply_write(&f, "x", 1) == 0);
	hash_bytes("x", 1, h);
	CHECK(apply_commit(&f, h, 06777, 0, false, NULL) == 0);
	CHECK(fstatat(root, "a/b/suid", &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & 07777) == 0777);

	close(bdir);
	close(root);
	char *cmd = xasprintf("rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	free(cmd);
	free(target);
	free(rootp);
	free(outp);
}
