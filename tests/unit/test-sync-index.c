/*
 * test-index.c - the sync index: order, lookup, codec, racy rule, hashing,
 * and that the push-set walk comes out in index order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "fsx.h"
#include "limits.h"
#include "proto.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-wire.h"
#include "t.h"
#include "util.h"

static void test_order(void)
{
	static const struct {
		const char *a, *b;
		int sign;
	} cases[] = {
		{ "a", "b", -1 }, { "a", "a", 0 }, { "a/b", "a.txt", -1 }, { "a", "a/b", -1 },
		{ "a/b", "a/c", -1 }, { "a-b", "a/b", 1 }, { "z", "a/z", 1 }, { "\xff", "a", 1 },
		{ "a b", "a/", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].a;
		int c = path_cmp(cases[i].a, cases[i].b);
		CHECK((c > 0) - (c < 0) == cases[i].sign);
		c = path_cmp(cases[i].b, cases[i].a);
		CHECK((c > 0) - (c < 0) == -cases[i].sign);
	}
}

static void test_append_find(void)
{
	struct index ix;
	int err;
	t_case = "append in order";
	index_init(&ix);
	CHECK(index_append(&ix, "a", &err) != NULL);
	CHECK(index_append(&ix, "a/b", &err) != NULL);
	CHECK(index_append(&ix, "a.txt", &err) != NULL);
	CHECK(index_append(&ix, "a/c", &err) == NULL && err == -EINVAL);
	CHECK(index_append(&ix, "a.txt", &err) == NULL && err == -EINVAL);
	CHECK(index_append(&ix, "../x", &err) == NULL && err == -EINVAL);
	CHECK(index_append(&ix, "b", &err) != NULL);
	CHECK(ix.n == 4);
	t_case = "find";
	CHECK(index_find(&ix, "a/b") == &ix.e[1]);
	CHECK(index_find(&ix, "b") == &ix.e[3]);
	CHECK(index_find(&ix, "a/") == NULL);
	CHECK(index_find(&ix, "c") == NULL);
	CHECK_STR(index_path(&ix, &ix.e[2]), "a.txt");
	index_release(&ix);
}

static void test_codec(void)
{
	struct index ix, d;
	struct buf b;
	int err;
	index_init(&ix);
	const char *paths[] = { "dir", "dir/f", "link", "x y\n" };
	for (size_t i = 0; i < 4; i++) {
		struct index_entry *e = index_append(&ix, paths[i], &err);
		e->type = (uint8_t)i % 3;
		e->mode = 0644;
		e->size = i * 1000;
		e->mtime_ns = 1234567890123456789ull + i;
		e->ino = 42 + i;
		hash_bytes(paths[i], strlen(paths[i]), e->hash);
	}
	ix.written_ns = 99;
	buf_init(&b, SIZE_MAX);
	t_case = "index round trip";
	CHECK(index_encode(&ix, &b) == 0);
	CHECK(index_decode(b.data, b.len, &d) == 0);
	CHECK(d.n == 4 && d.written_ns == 99);
	CHECK_STR(index_path(&d, &d.e[3]), "x y\n");
	CHECK(memcmp(d.e[2].hash, ix.e[2].hash, INDEX_HASH_LEN) == 0);
	CHECK(d.e[1].mtime_ns == ix.e[1].mtime_ns && d.e[1].ino == 43);
	index_release(&d);

	t_case = "index truncations fail";
	for (size_t n = 0; n < b.len; n += 3)
		CHECK(index_decode(b.data, n, &d) < 0 && d.n == 0);
	index_release(&d);

	t_case = "index out of order fails";
	/* first path "dir" becomes "eir", which sorts after "dir/f" */
	b.data[20] = 'e';
	CHECK(index_decode(b.data, b.len, &d) < 0);
	index_release(&d);
	buf_release(&b);

	t_case = "save and load";
	char tmpl[] = "/tmp/ferry-index.XXXXXX";
	int fd = mkstemp(tmpl);
	close(fd);
	CHECK(index_save(tmpl, &ix) == 0);
	struct stat st;
	CHECK(stat(tmpl, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(index_load(tmpl, &d) == 0 && d.n == 4 && d.written_ns == ix.written_ns);
	index_release(&d);
	unlink(tmpl);
	CHECK(index_load(tmpl, &d) == -ENOENT && d.n == 0);
	index_release(&d);

	t_case = "save writes in pieces, load decodes in windows: the same bytes and entries";
	struct index big;
	index_init(&big);
	bool appended = true;
	/* ~3 MB: several INDEX_WRITE_PIECEs, and more than the first two
	 * INDEX_DROP_EVERY windows of the load. */
	for (unsigned i = 0; i < 50000 && appended; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d/f%06u", i);
		struct index_entry *x = index_append(&big, name, &err);
		if ((appended = x != NULL) == false)
			break;
		x->type = ENT_FILE;
		x->mode = 0644;
		x->size = i;
		x->mtime_ns = 1000000000ull * i;
		x->ino = i + 7;
		hash_bytes(name, strlen(name), x->hash);
	}
	CHECK(appended && big.n == 50000);
	fd = mkstemp(tmpl);
	close(fd);
	CHECK(index_save(tmpl, &big) == 0);
	buf_init(&b, SIZE_MAX);
	CHECK(index_encode(&big, &b) == 0 && b.len > 4 * INDEX_WRITE_PIECE && b.len > 2 * INDEX_DROP_EVERY + 4096);
	char *saved;
	size_t saved_len;
	CHECK(read_file(tmpl, SIZE_MAX, &saved, &saved_len) == 0 && saved_len == b.len &&
	      memcmp(saved, b.data, b.len) == 0);
	free(saved);
	char *tmpf = xasprintf("%s.ferry-tmp.%ld", tmpl, (long)getpid());
	CHECK(access(tmpf, F_OK) < 0);
	free(tmpf);
	CHECK(index_load(tmpl, &d) == 0 && d.n == 50000);
	bool same = d.n == big.n;
	for (size_t i = 0; i < d.n && same; i++)
		same = strcmp(index_path(&d, &d.e[i]), index_path(&big, &big.e[i])) == 0 &&
		       d.e[i].size == big.e[i].size && d.e[i].ino == big.e[i].ino &&
		       memcmp(d.e[i].hash, big.e[i].hash, INDEX_HASH_LEN) == 0;
	CHECK(same);
	index_release(&d);
	unlink(tmpl);
	buf_release(&b);
	index_release(&big);

	t_case = "racy clean";
	struct index_entry *e = &ix.e[1];
	ix.written_ns = e->mtime_ns + 5 * INDEX_RACY_NS;
	CHECK(index_stat_clean(&ix, e, e->size, e->mtime_ns, e->ino, e->mode));
	CHECK(!index_stat_clean(&ix, e, e->size + 1, e->mtime_ns, e->ino, e->mode));
	CHECK(!index_stat_clean(&ix, e, e->size, e->mtime_ns + 1, e->ino, e->mode));
	CHECK(!index_stat_clean(&ix, e, e->size, e->mtime_ns, e->ino + 1, e->mode));
	CHECK(!index_stat_clean(&ix, e, e->size, e->mtime_ns, e->ino, 0755));
	ix.written_ns = e->mtime_ns + INDEX_RACY_NS / 2;
	CHECK(!index_stat_clean(&ix, e, e->size, e->mtime_ns, e->ino, e->mode));
	index_release(&ix);
}

static void test_hash(void)
{
	uint8_t a[INDEX_HASH_LEN], b[INDEX_HASH_LEN];
	char tmpl[] = "/tmp/ferry-hash.XXXXXX";
	int fd = mkstemp(tmpl);
	char *big = xmalloc(300000);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (char)(i * 31 + 7);
	t_case = "hash_fd equals hash_bytes across chunks";
	CHECK(write(fd, big, 300000) == 300000);
	lseek(fd, 0, SEEK_SET);
	CHECK(hash_fd(fd, a) == 0);
	hash_bytes(big, 300000, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	big[150000] ^= 1;
	hash_bytes(big, 300000, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	close(fd);
	unlink(tmpl);
	free(big);
}

static int collect(const struct scan_entry *e, void *arg)
{
	struct index *ix = arg;
	int err;
	struct index_entry *x = index_append(ix, e->path, &err);
	if (x == NULL)
		t_failed++, fprintf(stderr, "FAIL walk order at '%s'\n", e->path);
	else
		t_passed++;
	return 0;
}

static void test_walk_order(void)
{
	char tmpl[] = "/tmp/ferry-walk.XXXXXX";
	char *root = mkdtemp(tmpl);
	const char *files[] = { "a/b", "a.txt", "a-b", "z", "a/c/d", "A", "\xc3\xa9", ".hidden", "results/x", ".git/HEAD" };
	t_case = "walk comes in index order";
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = xasprintf("%s/%s", root, files[i]);
		char *slash = strrchr(p, '/');
		*slash = '\0';
		mkdir_p(p, 0755);
		*slash = '/';
		int fd = open(p, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	struct config cfg = { .root = root, .kind = TARGET_LOCAL };
	struct index ix;
	struct scan_stats st;
	char *err;
	index_init(&ix);
	CHECK(scan_push_set(&cfg, collect, &ix, &st, &err) == 0);
	CHECK(index_find(&ix, "a/c/d") != NULL);
	CHECK(index_find(&ix, "results/x") == NULL);
	CHECK(index_find(&ix, ".git/HEAD") == NULL && index_find(&ix, ".git") == NULL);
	CHECK(st.files == 8 && st.dirs == 2);
	index_release(&ix);
	char *cmd = xasprintf("rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	free(cmd);
}

static void test_journal(void)
{
	struct index ix;
	struct buf j;
	int err;
	struct index_entry x = { .type = 0, .mode = 0644, .size = 5 };

	t_case = "journal merge";
	index_init(&ix);
	index_append(&ix, "a", &err)->size = 1;
	index_append(&ix, "c", &err)->size = 3;
	buf_init(&j, SIZE_MAX);
	x.size = 20;
	index_journal_record(&j, "b", &x);
	x.size = 30;
	index_journal_record(&j, "c", &x);
	x.size = 31;
	index_journal_record(&j, "c", &x);	/* the later record wins */
	x.size = 40;
	index_journal_record(&j, "a/z", &x);
	size_t whole = j.len;
	index_journal_record(&j, "zz", &x);
	/* torn last record: cut it in the middle */
	CHECK(index_journal_merge(&ix, j.data, whole + 7) == 0);
	CHECK(ix.n == 4);
	CHECK(index_find(&ix, "a")->size == 1);
	CHECK(index_find(&ix, "a/z")->size == 40);
	CHECK(index_find(&ix, "b")->size == 20);
	CHECK(index_find(&ix, "c")->size == 31);
	CHECK(index_find(&ix, "zz") == NULL);
	for (size_t i = 1; i < ix.n; i++)
		CHECK(path_cmp(index_path(&ix, &ix.e[i - 1]), index_path(&ix, &ix.e[i])) < 0);

	t_case = "journal with a bad path is refused, index unchanged";
	buf_reset(&j);
	index_journal_record(&j, "../evil", &x);
	CHECK(index_journal_merge(&ix, j.data, j.len) < 0 && ix.n == 4);
	buf_release(&j);
	index_release(&ix);
}

static struct index_entry *put(struct index *ix, const char *path, uint8_t type, uint16_t mode, uint64_t size,
				uint64_t mtime, uint64_t ino, uint8_t h)
{
	int err;
	struct index_entry *e = index_append(ix, path, &err);
	e->type = type;
	e->mode = mode;
	e->size = size;
	e->mtime_ns = mtime;
	e->ino = ino;
	memset(e->hash, h, INDEX_HASH_LEN);
	return e;
}

static void make_entry(struct index *ix, const char *path, uint64_t size, uint64_t mtime)
{
	int err;
	struct index_entry *e = index_append(ix, path, &err);
	e->type = ENT_FILE;
	e->mode = 0644;
	e->size = size;
	e->mtime_ns = mtime;
	e->ino = size + 7;
	memset(e->hash, (int)size, INDEX_HASH_LEN);
}

static bool same_index(const struct index *a, const struct index *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(index_path(a, &a->e[i]), index_path(b, &b->e[i])) != 0 || a->e[i].size != b->e[i].size ||
		    a->e[i].mtime_ns != b->e[i].mtime_ns || memcmp(a->e[i].hash, b->e[i].hash, INDEX_HASH_LEN) != 0)
			return false;
	return true;
}

static void test_log(void)
{
	char dir[] = "/tmp/ferry-ixlog.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char *file = xasprintf("%s/push.index", dir), *logf = xasprintf("%s/push.index.log", dir);
	uint64_t old = now_wall_ns() - 100 * INDEX_RACY_NS;
	struct index base, disk, nx, got;
	struct stat st;

	index_init(&base);
	for (int i = 0; i < 2000; i++) {
		char p[32];
		snprintf(p, sizeof(p), "d%02d/f%04d", i / 100, i);
		make_entry(&base, p, (uint64_t)i, old);
	}
	CHECK(index_save(file, &base) == 0);
	off_t whole;
	CHECK(stat(file, &st) == 0);
	whole = st.st_size;

	t_case = "one changed entry: a log group, the index file untouched";
	CHECK(index_load(file, &disk) == 0 && disk.n == 2000 && disk.log_bytes == 0);
	index_init(&nx);
	for (size_t i = 0; i < disk.n; i++)
		make_entry(&nx, index_path(&disk, &disk.e[i]), i == 5 ? 555 : disk.e[i].size, old);
	CHECK(index_commit(file, &disk, &nx, true) == 0);
	CHECK(stat(file, &st) == 0 && st.st_size == whole);
	CHECK(stat(logf, &st) == 0 && st.st_size > 0 && st.st_size < 200 && (st.st_mode & 0777) == 0600);
	CHECK(index_load(file, &got) == 0 && same_index(&got, &nx));
	CHECK(index_find(&got, "d00/f0005")->size == 555);
	index_release(&got);

	t_case = "removals and new paths in a second group";
	index_release(&disk);
	CHECK(index_load(file, &disk) == 0 && disk.log_bytes > 0);
	index_release(&nx);
	index_init(&nx);
	for (size_t i = 0; i < disk.n; i++) {
		const char *p = index_path(&disk, &disk.e[i]);
		if (strcmp(p, "d03/f0300") == 0)
			continue;	/* removed */
		make_entry(&nx, p, disk.e[i].size, old);
		if (strcmp(p, "d03/f0301") == 0)
			make_entry(&nx, "d03/f0301.new", 1, old);
	}
	CHECK(index_commit(file, &disk, &nx, true) == 0);
	CHECK(index_load(file, &got) == 0 && same_index(&got, &nx) && got.n == 2000);
	CHECK(index_find(&got, "d03/f0300") == NULL && index_find(&got, "d03/f0301.new") != NULL);
	index_release(&got);

	t_case = "a torn group is ignored, and cut off by the next commit";
	CHECK(stat(logf, &st) == 0);
	off_t good = st.st_size;
	int fd = open(logf, O_WRONLY | O_APPEND);
	struct buf recs;
	buf_init(&recs, SIZE_MAX);
	struct index_entry x = nx.e[0];
	x.size = 999;
	CHECK(index_log_put(&recs, index_path(&nx, &nx.e[0]), &x) == 0);
	CHECK(write(fd, recs.data, recs.len) == (ssize_t)recs.len);	/* records, no commit */
	close(fd);
	CHECK(index_load(file, &got) == 0 && same_index(&got, &nx) && got.log_bytes == (size_t)good);
	buf_reset(&recs);
	x.size = 777;
	CHECK(index_log_put(&recs, index_path(&nx, &nx.e[1]), &x) == 0);
	CHECK(index_log_commit(file, &got, &recs, 1, false) == 0);
	index_release(&got);
	CHECK(index_load(file, &got) == 0 && got.e[0].size == nx.e[0].size && got.e[1].size == 777);
	index_release(&got);

	t_case = "a commit whose count does not match is refused";
	fd = open(logf, O_RDWR);
	char *all = xmalloc(1 << 16);
	ssize_t len = read(fd, all, 1 << 16);
	close(fd);
	CHECK(len > 0);
	CHECK(index_log_merge(&base, base.gen, all, (size_t)len) == 0);
	all[len - 1] ^= 1;	/* the commit's count, last byte */
	struct index copy;
	index_init(&copy);
	make_entry(&copy, "d00/f0000", 0, old);
	copy.gen = base.gen;
	CHECK(index_log_merge(&copy, copy.gen, all, (size_t)len) < 0 && copy.n == 1);
	index_release(&copy);

	t_case = "groups of another generation are skipped";
	index_init(&copy);
	make_entry(&copy, "d00/f0005", 5, old);
	all[len - 1] ^= 1;
	CHECK(index_log_merge(&copy, base.gen + 1, all, (size_t)len) == 0 && copy.n == 1 && copy.e[0].size == 5);
	index_release(&copy);
	free(all);

	t_case = "an entry racy for its group is not trusted; logged again later, it is";
	index_release(&disk);
	CHECK(index_load(file, &disk) == 0);
	index_release(&nx);
	index_init(&nx);
	uint64_t fresh = now_wall_ns();
	for (size_t i = 0; i < disk.n; i++)
		make_entry(&nx, index_path(&disk, &disk.e[i]), disk.e[i].size, i == 9 ? fresh : disk.e[i].mtime_ns);
	CHECK(index_commit(file, &disk, &nx, false) == 0);
	index_release(&disk);
	CHECK(index_load(file, &disk) == 0);
	const struct index_entry *r9 = &disk.e[9], *r8 = &disk.e[8];
	CHECK(!index_stat_clean(&disk, r9, r9->size, r9->mtime_ns, r9->ino, r9->mode));
	CHECK(index_stat_clean(&disk, r8, r8->size, r8->mtime_ns, r8->ino, r8->mode));
	CHECK(index_entry_racy(&disk, r9) && !index_entry_racy(&disk, r8));

	t_case = "a log past a quarter of the index: rewritten whole, log removed";
	index_release(&nx);
	index_init(&nx);
	for (size_t i = 0; i < disk.n; i++)
		make_entry(&nx, index_path(&disk, &disk.e[i]), disk.e[i].size + 1, old);
	CHECK(index_commit(file, &disk, &nx, false) == 0);
	CHECK(stat(logf, &st) < 0 && errno == ENOENT);
	CHECK(index_load(file, &got) == 0 && same_index(&got, &nx) && got.log_bytes == 0);
	index_release(&got);

	t_case = "a stale log (crash between a rewrite and its removal) is skipped";
	fd = open(logf, O_WRONLY | O_CREAT, 0600);
	buf_reset(&recs);
	CHECK(index_log_put(&recs, "d00/f0000", NULL) == 0);
	struct index fake;
	index_init(&fake);
	fake.gen = 12345;
	fake.file_bytes = 1 << 20;
	close(fd);
	CHECK(index_log_commit(file, &fake, &recs, 1, false) == 0);
	CHECK(index_load(file, &got) == 0 && same_index(&got, &nx));
	index_release(&got);

	buf_release(&recs);
	index_release(&disk);
	index_release(&nx);
	index_release(&base);
	unlink(logf);
	unlink(file);
	rmdir(dir);
	free(file);
	free(logf);
}

/* The source's cache and the destination's index of one manifest differ
 * in inodes and in folders' and symlinks' own stat: same id.  Anything a
 * plan relies on: another id. */
static void test_state_id(void)
{
	struct index a, b;
	uint8_t ia[INDEX_HASH_LEN], ib[INDEX_HASH_LEN];
	t_case = "state id";
	index_init(&a);
	index_init(&b);
	put(&a, "d", ENT_DIR, 0755, 4096, 111, 1, 0);
	put(&a, "d/f", ENT_FILE, 0644, 10, 5000, 2, 7);
	put(&a, "d/l", ENT_LINK, 0777, 3, 9, 3, 8);
	put(&b, "d", ENT_DIR, 0755, 60, 222, 91, 0);
	struct index_entry *f = put(&b, "d/f", ENT_FILE, 0644, 10, 5000, 92, 7);
	struct index_entry *l = put(&b, "d/l", ENT_LINK, 0777, 3, 10, 93, 8);
	index_state_id(&a, ia);
	index_state_id(&b, ib);
	CHECK(memcmp(ia, ib, INDEX_HASH_LEN) == 0);
	struct { uint64_t *field; uint64_t v; } edits[] = { { &f->size, 11 }, { &f->mtime_ns, 5001 } };
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		uint64_t old = *edits[i].field;
		*edits[i].field = edits[i].v;
		index_state_id(&b, ib);
		CHECK(memcmp(ia, ib, INDEX_HASH_LEN) != 0);
		*edits[i].field = old;
	}
	f->mode = 0600;
	index_state_id(&b, ib);
	CHECK(memcmp(ia, ib, INDEX_HASH_LEN) != 0);
	f->mode = 0644;
	l->hash[3] ^= 1;
	index_state_id(&b, ib);
	CHECK(memcmp(ia, ib, INDEX_HASH_LEN) != 0);
	l->hash[3] ^= 1;
	/* One entry more, or a path spelled apart differently: another id. */
	put(&b, "e", ENT_DIR, 0755, 0, 0, 0, 0);
	index_state_id(&b, ib);
	CHECK(memcmp(ia, ib, INDEX_HASH_LEN) != 0);
	index_release(&a);
	index_release(&b);
	t_case = NULL;
}

/* SYNC_BEGIN carries the base id only with its flag; DROP and BASE. */
static void test_sync_wire(void)
{
	struct buf b;
	struct rd r;
	char *pull[] = { "results" };
	struct sync_begin sb = { .flags = SYNC_BASE_ID | SYNC_FORCE, .root = "p", .pull = pull, .npull = 1 }, got;
	t_case = "sync wire";
	memset(sb.base, 0xab, INDEX_HASH_LEN);
	buf_init(&b, 4096);
	CHECK(sync_begin_encode(&sb, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(sync_begin_decode(&r, &got) == 0 && got.flags == sb.flags && memcmp(got.base, sb.base, INDEX_HASH_LEN) == 0);
	sync_begin_release(&got);
	rd_init(&r, b.data, b.len - 1);		/* the id cut short */
	CHECK(sync_begin_decode(&r, &got) < 0);
	sb.flags = SYNC_FORCE;
	buf_reset(&b);
	sync_begin_encode(&sb, &b);
	CHECK(b.len > 0);
	buf_put(&b, sb.base, INDEX_HASH_LEN);	/* an id without its flag */
	rd_init(&r, b.data, b.len);
	CHECK(sync_begin_decode(&r, &got) < 0);

	static const struct { const char *path; int ok; } drops[] = {
		{ "a/b", 1 }, { "../x", 0 }, { "/abs", 0 }, { "a//b", 0 }, { "", 0 },
	};
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		char *p;
		buf_reset(&b);
		buf_put_cstr(&b, drops[i].path);
		rd_init(&r, b.data, b.len);
		int rc = sync_drop_decode(&r, &p);
		CHECK((rc == 0) == drops[i].ok);
		if (rc == 0) {
			CHECK_STR(p, drops[i].path);
			free(p);
		}
	}
	bool m;
	static const uint8_t yes[] = { 1 }, no[] = { 0 }, bad[] = { 2 }, longer[] = { 1, 0 };
	rd_init(&r, yes, 1);
	CHECK(sync_base_decode(&r, &m) == 0 && m);
	rd_init(&r, no, 1);
	CHECK(sync_base_decode(&r, &m) == 0 && !m);
	rd_init(&r, bad, 1);
	CHECK(sync_base_decode(&r, &m) < 0);
	rd_init(&r, longer, 2);
	CHECK(sync_base_decode(&r, &m) < 0);
	rd_init(&r, yes, 0);
	CHECK(sync_base_decode(&r, &m) < 0);

	t_case = "sync ping: eight bytes, echoed as they came";
	struct buf pb;
	uint64_t t;
	buf_init(&pb, 64);
	sync_ping_encode(0x0102030405060708ull, &pb);
	rd_init(&r, pb.data, pb.len);
	CHECK(pb.len == 8 && sync_ping_decode(&r, &t) == 0 && t == 0x0102030405060708ull);
	rd_init(&r, pb.data, 7);
	CHECK(sync_ping_decode(&r, &t) < 0);
	buf_put_u8(&pb, 0);
	rd_init(&r, pb.data, pb.len);
	CHECK(sync_ping_decode(&r, &t) < 0);
	buf_release(&pb);

	t_case = "sync entry: a symlink's target travels after its path";
	char lpath[] = "dir/ln\0../target";	/* as the source holds it */
	struct sync_entry le = { .type = ENT_LINK, .mode = 0777, .size = 9, .mtime_ns = 5, .path = lpath }, ge;
	CHECK_STR(sync_entry_link(&le), "../target");
	buf_reset(&b);
	CHECK(sync_entry_encode(&le, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(sync_entry_decode(&r, &ge) == 0 && ge.type == ENT_LINK && ge.size == 9);
	CHECK_STR(ge.path, "dir/ln");
	CHECK_STR(sync_entry_link(&ge), "../target");
	sync_entry_release(&ge);
	struct sync_entry fe = { .type = ENT_FILE, .mode = 0644, .path = "f" };
	CHECK_STR(sync_entry_link(&fe), "");
	buf_reset(&b);
	CHECK(sync_entry_encode(&fe, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(sync_entry_decode(&r, &ge) == 0 && ge.type == ENT_FILE);
	CHECK_STR(ge.path, "f");
	CHECK_STR(sync_entry_link(&ge), "");
	sync_entry_release(&ge);
	/* Malformed: a target for a file, none for a link, a NUL inside. */
	static const struct { uint8_t type; const char *path; size_t plen; const char *link; size_t llen; } bad_e[] = {
		{ ENT_FILE, "f", 1, "x", 1 }, { ENT_LINK, "l", 1, "", 0 }, { ENT_LINK, "l", 1, "a\0b", 3 },
		{ ENT_FILE, "a\0b", 3, "", 0 }, { ENT_FILE, "../f", 4, "", 0 }, { 3, "f", 1, "", 0 },
	};
	for (size_t i = 0; i < sizeof(bad_e) / sizeof(bad_e[0]); i++) {
		buf_reset(&b);
		buf_put_u8(&b, bad_e[i].type);
		buf_put_u16(&b, 0644);
		buf_put_u64(&b, 1);
		buf_put_u64(&b, 1);
		buf_put(&b, sb.base, INDEX_HASH_LEN);
		buf_put_str(&b, bad_e[i].path, bad_e[i].plen);
		buf_put_str(&b, bad_e[i].link, bad_e[i].llen);
		rd_init(&r, b.data, b.len);
		CHECK(sync_entry_decode(&r, &ge) < 0 && ge.path == NULL);
	}
	buf_release(&b);
	t_case = NULL;
}

/* A batch frame: u32 length, u16 type, u16 pad, body (frame_put's,
 * with a pad of our choosing). */
static void put_frame(struct buf *b, uint16_t type, uint16_t pad, const void *p, size_t n)
{
	if (pad == 0) {
		frame_put(b, type, p, n);
		return;
	}
	buf_put_u32(b, (uint32_t)n);
	buf_put_u16(b, type);
	buf_put_u16(b, pad);
	buf_put(b, p, n);
}

/* zstd of b: with its size in the frame (one-shot) or without (stream). */
static size_t pack(const struct buf *b, uint8_t *out, size_t cap, bool with_size)
{
	if (with_size)
		return ZSTD_compress(out, cap, b->data, b->len, 3);
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	ZSTD_outBuffer ob = { out, cap, 0 };
	ZSTD_inBuffer ib = { b->data, b->len, 0 };
	size_t r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
	ZSTD_freeCCtx(c);
	return r == 0 ? ob.pos : 0;
}

static void test_manifest_batch(void)
{
	struct buf b, e;
	struct rd r, body;
	uint8_t z[4096], *out = NULL;
	size_t zn, len;
	uint16_t type;
	struct sync_entry ent = { .type = 0, .mode = 0644, .size = 5, .mtime_ns = 7, .path = "src/a.c" }, got;

	t_case = "manifest batch: ENTRY and DROP frames round-trip";
	buf_init(&b, 1 << 20);
	buf_init(&e, 4096);
	sync_entry_encode(&ent, &e);
	put_frame(&b, MSG_SYNC_ENTRY, 0, e.data, e.len);
	buf_reset(&e);
	sync_drop_encode("src/b.c", &e);
	put_frame(&b, MSG_SYNC_DROP, 0, e.data, e.len);
	zn = pack(&b, z, sizeof(z), true);
	CHECK(zn > 0 && sync_batch_unpack(z, zn, &out, &len) == 0 && len == b.len);
	rd_init(&r, out, len);
	CHECK(sync_batch_next(&r, &type, &body) == 1 && type == MSG_SYNC_ENTRY);
	CHECK(sync_entry_decode(&body, &got) == 0 && strcmp(got.path, "src/a.c") == 0 && got.size == 5);
	sync_entry_release(&got);
	char *p = NULL;
	CHECK(sync_batch_next(&r, &type, &body) == 1 && type == MSG_SYNC_DROP);
	CHECK(sync_drop_decode(&body, &p) == 0 && strcmp(p, "src/b.c") == 0);
	free(p);
	CHECK(sync_batch_next(&r, &type, &body) == 0);
	free(out);
	out = NULL;

	t_case = "manifest batch: refused whole";
	CHECK(sync_batch_unpack(z, zn - 1, &out, &len) < 0);		/* cut */
	memcpy(z + zn, z, zn);
	CHECK(sync_batch_unpack(z, 2 * zn, &out, &len) < 0);		/* two frames */
	zn = pack(&b, z, sizeof(z), false);
	CHECK(zn > 0 && sync_batch_unpack(z, zn, &out, &len) < 0);	/* no size in the frame */
	CHECK(sync_batch_unpack(b.data, b.len, &out, &len) < 0);	/* not zstd */
	buf_reset(&b);
	zn = pack(&b, z, sizeof(z), true);
	CHECK(zn > 0 && sync_batch_unpack(z, zn, &out, &len) < 0);	/* empty */
	/* Over the cap: a megabyte of zeros packs small. */
	uint8_t *big = xcalloc(1, MANIFEST_BATCH_MAX + 1);
	zn = ZSTD_compress(z, sizeof(z), big, MANIFEST_BATCH_MAX + 1, 3);
	CHECK(!ZSTD_isError(zn) && sync_batch_unpack(z, zn, &out, &len) < 0);
	free(big);
	CHECK(out == NULL);

	t_case = "manifest batch: malformed frames inside";
	static const uint16_t types[] = { MSG_SYNC_ENTRY, MSG_SYNC_HINT, MSG_SYNC_DATA, MSG_SYNC_ENTRIES_END };
	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		buf_reset(&b);
		put_frame(&b, types[i], 0, "x", 1);
		rd_init(&r, b.data, b.len);
		CHECK(sync_batch_next(&r, &type, &body) == (i == 0 ? 1 : -1));
	}
	buf_reset(&b);
	put_frame(&b, MSG_SYNC_ENTRY, 1, "x", 1);		/* padding not 0 */
	rd_init(&r, b.data, b.len);
	CHECK(sync_batch_next(&r, &type, &body) == -1);
	buf_reset(&b);
	put_frame(&b, MSG_SYNC_ENTRY, 0, "", 0);		/* empty body */
	rd_init(&r, b.data, b.len);
	CHECK(sync_batch_next(&r, &type, &body) == -1);
	buf_reset(&b);
	put_frame(&b, MSG_SYNC_ENTRY, 0, "abc", 3);
	for (size_t cut = 1; cut < b.len; cut++) {		/* cut anywhere */
		rd_init(&r, b.data, cut);
		CHECK(sync_batch_next(&r, &type, &body) == -1);
	}
	buf_release(&b);
	buf_release(&e);
	t_case = NULL;
}

void test_sync_index(void)
{
	test_manifest_batch();
	test_state_id();
	test_sync_wire();
	test_journal();
	test_log();
	test_order();
	test_append_find();
	test_codec();
	test_hash();
	test_walk_order();
}
