/*
 * test-snap.c - what a job writes leaves its code snapshot (job-snap.c):
 * the code list, and snap_take / snap_sweep on a real folder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "job-snap.h"
#include "sync-scan.h"
#include "t.h"
#include "util.h"

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
}

static char *get(const char *path)
{
	static char *last;
	free(last);
	last = NULL;
	char *s = NULL;
	size_t n;
	if (read_file(path, 1 << 20, &s, &n) == 0)
		last = s;
	return last;
}

static bool is_link(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* base/rel in one of a few rotating buffers. */
static const char *at(const char *base, const char *rel)
{
	static char b[4][4096];
	static int k;
	k = (k + 1) % 4;
	snprintf(b[k], sizeof(b[k]), "%s/%s", base, rel);
	return b[k];
}

struct seen {
	int moved, kept;
	char last_kept[256];
};

static void on_moved(void *arg, const char *rel, const struct stat *st)
{
	(void)rel;
	(void)st;
	((struct seen *)arg)->moved++;
}

static void on_kept(void *arg, const char *rel, const char *why)
{
	struct seen *s = arg;
	(void)why;
	s->kept++;
	snprintf(s->last_kept, sizeof(s->last_kept), "%s", rel);
}

static void snap_trust(void);

void test_job_snap(void)
{
	t_case = "snap";
	char tmpl[] = "/tmp/ferry-snap-XXXXXX";
	char *root = mkdtemp(tmpl);
	CHECK(root != NULL);
	if (root == NULL)
		return;
	char *p = xasprintf("%s/.ferry/snap/t1/src", root);
	CHECK(mkdir_p(p, 0755) == 0);
	free(p);
	p = xasprintf("%s/src", root);
	mkdir(p, 0755);
	free(p);
	/* the code: src/, src/a.py, train.py (path, inode; unsorted) */
	static const char code[] = "train.py\0" "0\0" "src\0" "0\0" "src/a.py\0" "0\0";
	p = xasprintf("%s/.ferry/snap/t1.code", root);
	CHECK(write_file_atomic(p, code, sizeof(code) - 1, 0600, 0) == 0);
	free(p);
	struct code_set cs;
	char *sbase = xasprintf("%s/.ferry/snap", root);
	CHECK(code_set_load(sbase, "t1", &cs) == 0);
	CHECK(cs.n == 3);
	CHECK(code_set_has(&cs, "src/a.py"));
	CHECK(code_set_ino(&cs, "src/a.py") == 0);
	CHECK(code_set_has(&cs, "src"));
	CHECK(!code_set_has(&cs, "src/b.py"));
	CHECK(!code_set_has(&cs, ""));
	struct code_set none;
	CHECK(code_set_load(sbase, "t2", &none) == -ENOENT);

	char *snap = xasprintf("%s/.ferry/snap/t1", root);
#define SP(rel) at(snap, rel)
#define LP(rel) at(root, rel)
	put(SP("train.py"), "code\n");
	put(SP("src/a.py"), "code\n");
	int rootfd = open(root, O_RDONLY | O_DIRECTORY);
	int snapfd = open(snap, O_RDONLY | O_DIRECTORY);
	struct seen seen = { 0 };
	struct snap_out o = { .rootfd = rootfd, .snapfd = snapfd, .root = root, .code = &cs, .atomic_only = true,
			      .moved = on_moved, .kept = on_kept, .arg = &seen };

	/* code stays */
	CHECK(snap_take(&o, "train.py") == 0);
	CHECK(access(LP("train.py"), F_OK) < 0);
	/* a file at the top: a second link in the live project */
	put(SP("log.txt"), "step 1\n");
	CHECK(snap_take(&o, "log.txt") == 1);
	CHECK_STR(get(LP("log.txt")), "step 1\n");
	put(SP("log.txt"), "step 2\n");	/* same inode: both see it */
	CHECK_STR(get(LP("log.txt")), "step 2\n");
	CHECK(snap_take(&o, "log.txt") == 0);	/* linked already */
	/* a file beside code, in a code folder */
	put(SP("src/train.bin"), "bin");
	CHECK(snap_take(&o, "src/train.bin") == 1);
	CHECK_STR(get(LP("src/train.bin")), "bin");
	/* a folder: moved, a symlink stays */
	mkdir(SP("outputs"), 0755);
	mkdir(SP("outputs/day"), 0755);
	put(SP("outputs/day/x"), "x");
	CHECK(snap_take(&o, "outputs") == 1);
	CHECK(is_link(SP("outputs")));
	CHECK_STR(get(LP("outputs/day/x")), "x");
	CHECK_STR(get(SP("outputs/day/x")), "x");
	CHECK(snap_take(&o, "outputs") == 0);
	/* a new file replacing the job's old one (an atomic save): as the
	 * event comes (fresh), not in a sweep that does not know it */
	unlink(SP("log.txt"));
	put(SP("log.txt"), "new\n");
	CHECK(snap_take(&o, "log.txt") == -EEXIST);
	CHECK_STR(get(LP("log.txt")), "step 2\n");
	seen.kept = 0;
	o.fresh = true;
	CHECK(snap_take(&o, "log.txt") == 1);
	o.fresh = false;
	CHECK_STR(get(LP("log.txt")), "new\n");
	/* a link the job made to a live file is no rename: linked out as is */
	put(LP("ckpt_1.pt"), "CKPT1");
	char *abs = xasprintf("%s/ckpt_1.pt", root);
	CHECK(symlink(abs, SP("latest.pt")) == 0);
	free(abs);
	CHECK(snap_take(&o, "latest.pt") == 1);
	CHECK_STR(get(LP("ckpt_1.pt")), "CKPT1");
	CHECK(is_link(LP("latest.pt")));
	/* ferry's own state is never taken */
	mkdir(SP(".ferry"), 0755);
	put(SP(".ferry/x"), "mine");
	CHECK(snap_take(&o, ".ferry") == 0);
	CHECK(access(LP(".ferry/x"), F_OK) < 0);
	/* a file where the project has a folder: kept */
	mkdir(LP("report"), 0755);
	put(SP("report"), "mine");
	CHECK(snap_take(&o, "report") == -EEXIST);
	CHECK(seen.kept == 1);
	CHECK_STR(seen.last_kept, "report");
	seen.kept = 0;
	CHECK_STR(get(SP("report")), "mine");
	/* folders of the same name merge */
	mkdir(LP("wandb"), 0755);
	put(LP("wandb/old"), "o");
	mkdir(SP("wandb"), 0755);
	put(SP("wandb/new"), "n");
	CHECK(snap_take(&o, "wandb") == 0);
	CHECK_STR(get(LP("wandb/new")), "n");
	CHECK_STR(get(LP("wandb/old")), "o");
	/* a file the job renamed within the snapshot: its old name's live
	 * twin goes (the harvester pairs the rename's two events) */
	put(SP("m.tmp"), "model");
	CHECK(snap_take(&o, "m.tmp") == 1);
	CHECK(rename(SP("m.tmp"), SP("m.pt")) == 0);
	o.fresh = true;
	o.renamed_from = "m.tmp";
	CHECK(snap_take(&o, "m.pt") == 1);
	o.fresh = false;
	o.renamed_from = NULL;
	CHECK_STR(get(LP("m.pt")), "model");
	CHECK(access(LP("m.tmp"), F_OK) < 0);
	/* a sweep finds what no event named */
	put(SP("late.txt"), "late");
	mkdir(SP("src/cache"), 0755);
	int before = seen.moved;
	CHECK(snap_sweep(&o) == 0);
	CHECK(seen.moved == before + 2);
	CHECK_STR(get(LP("late.txt")), "late");
	CHECK(is_link(SP("src/cache")));
	/* once the job is over, a shared file becomes a link */
	CHECK(snap_relink(&o, "late.txt") == 0);
	CHECK(is_link(SP("late.txt")));
	CHECK_STR(get(SP("late.txt")), "late");
	/* prune: the report keeps the snapshot; gone, it goes */
	CHECK(snapshot_prune(root, sbase, NULL, 0, NULL, NULL) == 0);
	CHECK(access(snap, F_OK) == 0);
	unlink(SP("report"));
	char *rm = xasprintf("rm -rf '%s'", SP(".ferry"));
	CHECK(system(rm) == 0);
	free(rm);
	CHECK(snapshot_prune(root, sbase, NULL, 0, NULL, NULL) == 1);
	CHECK(access(snap, F_OK) < 0);
	CHECK_STR(get(LP("log.txt")), "new\n");
	CHECK_STR(get(LP("outputs/day/x")), "x");
	CHECK_STR(get(LP("m.pt")), "model");
	CHECK_STR(get(LP("src/train.bin")), "bin");
#undef SP
#undef LP
	close(rootfd);
	close(snapfd);
	code_set_release(&cs);
	free(snap);
	free(sbase);
	char *cmd = xasprintf("rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	free(cmd);
	t_case = NULL;
	snap_trust();
}

static void add(struct index *ix, const char *root, const char *path, uint8_t type)
{
	int err;
	struct stat st;
	struct index_entry *e = index_append(ix, path, &err);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	e->type = type;
	e->mode = type == ENT_DIR ? 0755 : 0644;
	if (lstat(at(root, path), &st) == 0)
		e->ino = (uint64_t)st.st_ino;
	memset(e->hash, type, INDEX_HASH_LEN);
}

static ino_t ino_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_ino : 0;
}

/* Issue 24 row 1: a project other users may write, and snapshots that
 * are reused only when no one else could have changed them. */
static void snap_trust(void)
{
	t_case = "snap trust: project_open";
	char tmpl[] = "/tmp/ferry-snapt-XXXXXX";
	char *root = mkdtemp(tmpl);
	CHECK(root != NULL);
	if (root == NULL)
		return;
	int fd;
	char *why;
	CHECK(project_open(root, &fd, &why) == 0 && fd >= 0 && why == NULL);
	close(fd);
	CHECK(chmod(root, 0775) == 0);
	CHECK(project_open(root, &fd, &why) == 1 && fd >= 0);
	CHECK(why && strstr(why, "is writable by its group") && strstr(why, root));
	free(why);
	close(fd);
	CHECK(chmod(root, 0757) == 0);
	CHECK(project_open(root, &fd, &why) == 1 && why && strstr(why, "every user"));
	free(why);
	close(fd);
	CHECK(chmod(root, 0700) == 0);
	/* A folder above that others may write (not sticky) makes it shared. */
	char *sub = xasprintf("%s/open/proj", root);
	CHECK(mkdir_p(sub, 0755) == 0);
	CHECK(chmod(at(root, "open"), 0777) == 0);
	CHECK(project_open(sub, &fd, &why) == 1 && why && strstr(why, "/open' is writable by every user"));
	free(why);
	close(fd);
	CHECK(chmod(at(root, "open"), 01777) == 0);
	CHECK(project_open(sub, &fd, &why) == 0 && why == NULL);
	close(fd);
	CHECK(project_open(at(root, "nothing"), &fd, &why) == -ENOENT && fd == -1);

	t_case = "snap trust: reuse";
	CHECK(mkdir(at(sub, "src"), 0755) == 0);
	put(at(sub, "src/a.py"), "a");
	put(at(sub, "train.py"), "train");
	struct index ix;
	index_init(&ix);
	add(&ix, sub, "src", ENT_DIR);
	add(&ix, sub, "src/a.py", ENT_FILE);
	add(&ix, sub, "train.py", ENT_FILE);
	CHECK(project_open(sub, &fd, &why) == 0);
	char *base = xasprintf("%s/%s", sub, SNAP_DIR), *dir, *id;
	int hold;
	struct snap_where w = { .root = sub, .rootfd = fd, .base = base, .strict = false };
	CHECK(snapshot_get(&w, &ix, &dir, &id, &why, &hold) == 0);
	close(hold);
	CHECK(ino_of(at(dir, "train.py")) == ino_of(at(sub, "train.py")));
	/* A folder in it that others could write: not reused, made again. */
	CHECK(chmod(at(dir, "src"), 0777) == 0);
	put(at(dir, "src/planted.py"), "evil");
	char *dir2, *id2;
	CHECK(snapshot_get(&w, &ix, &dir2, &id2, &why, &hold) == 0);
	close(hold);
	CHECK_STR(dir2, dir);
	struct stat st;
	CHECK(stat(at(dir2, "src"), &st) == 0 && (st.st_mode & 0777) == 0755);
	CHECK(access(at(dir2, "src/planted.py"), F_OK) < 0);
	free(dir2);
	free(id2);
	free(dir);
	free(id);

	t_case = "snap trust: strict (a shared project)";
	char *priv = xasprintf("%s/state-snap", root);
	CHECK(mkdir(priv, 0700) == 0);
	/* train.py replaced since the push, by its user: still theirs. */
	put(at(sub, "new.tmp"), "edited on the server");
	CHECK(rename(at(sub, "new.tmp"), at(sub, "train.py")) == 0);
	put(at(sub, "mine.txt"), "mine");
	bool root_user = geteuid() == 0;
	if (root_user) {
		put(at(sub, "evil.py"), "evil");
		CHECK(chown(at(sub, "evil.py"), 65534, 65534) == 0);
	}
	w.base = priv;
	w.strict = true;
	CHECK(snapshot_get(&w, &ix, &dir, &id, &why, &hold) == 0);
	close(hold);
	CHECK_STR(get(at(dir, "train.py")), "edited on the server");
	CHECK(!is_link(at(dir, "train.py")));
	CHECK_STR(get(at(dir, "src/a.py")), "a");
	CHECK(is_link(at(dir, "mine.txt")));
	CHECK(access(at(dir, "evil.py"), F_OK) < 0);
	/* A group-writable file of ours is copied, not linked. */
	CHECK(chmod(at(sub, "src/a.py"), 0664) == 0);
	char *cmd = xasprintf("rm -rf '%s'/*", priv);
	CHECK(system(cmd) == 0);
	free(cmd);
	free(dir);
	free(id);
	CHECK(snapshot_get(&w, &ix, &dir, &id, &why, &hold) == 0);
	close(hold);
	CHECK(ino_of(at(dir, "src/a.py")) != ino_of(at(sub, "src/a.py")));
	CHECK(stat(at(dir, "src/a.py"), &st) == 0 && (st.st_mode & 022) == 0);
	free(dir);
	free(id);
	if (root_user) {
		t_case = "snap trust: code another user put there";
		char *rmc = xasprintf("rm -rf '%s'/*", priv);
		CHECK(system(rmc) == 0);
		free(rmc);
		CHECK(chown(at(sub, "train.py"), 65534, 65534) == 0);
		CHECK(snapshot_get(&w, &ix, &dir, &id, &why, &hold) == -EPERM);
		CHECK(why && strstr(why, "'train.py' in the project folder is not yours (it belongs to uid 65534)"));
		free(why);
		CHECK(chown(at(sub, "train.py"), 0, 0) == 0);
		t_case = "snap trust: a snapshot folder of another user";
		CHECK(chown(priv, 65534, 65534) == 0);
		CHECK(snapshot_get(&w, &ix, &dir, &id, &why, &hold) == -EPERM);
		CHECK(why && strstr(why, "belongs to another user"));
		free(why);
	}
	close(fd);
	index_release(&ix);
	free(priv);
	free(base);
	free(sub);
	cmd = xasprintf("rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	free(cmd);
	t_case = NULL;
}
