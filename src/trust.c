/*
 * trust.c - the user's record of trusted project files (see trust.h).
 *
 * The record file, one entry a folder:
 *
 *   <32 hex: XXH3-128 of ferry.ini> <absolute project folder>
 *   <TAB>target.ssh_command = <value>
 *
 * Lines it does not understand are skipped (and dropped on the next
 * write): a damaged record trusts nothing.
 */
#define _GNU_SOURCE
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "buf.h"
#include "fsx.h"
#include "limits.h"
#include "util.h"

#include "banned.h"

int read_owned(const char *path, int flags, size_t max, char **out, size_t *len, const char **why)
{
	*out = NULL;
	*len = 0;
	*why = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
	if (fd < 0)
		return errno == ELOOP ? (*why = "is a symbolic link", -EPERM) : -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		*why = "is not a regular file";
		r = -EPERM;
	} else if (st.st_uid != geteuid()) {
		*why = "is owned by another user";
		r = -EPERM;
	} else if (st.st_mode & 022) {
		*why = "is writable by group or others";
		r = -EPERM;
	} else if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
	}
	if (r == 0)
		r = read_fd_all(fd, (size_t)st.st_size, max, out, len);
	close(fd);
	return r;
}

void trust_hash(const void *data, size_t len, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

char *trust_path(void)
{
	char *d = state_home();
	char *p = xasprintf("%s/trusted", d);
	free(d);
	return p;
}

struct rec {
	char *hash, *root;
	struct strlist vals;	/* "target.ssh_command = VALUE" */
};

struct recs {
	struct rec *v;
	size_t n;
};

static void recs_release(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].hash);
		free(rs->v[i].root);
		strlist_release(&rs->v[i].vals);
	}
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

static bool is_hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void recs_parse(struct recs *rs, const char *text)
{
	bool in = false;	/* value lines belong to a good head line */
	for (const char *s = text; *s;) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		char *line = xstrndup(s, n);
		s += n + (nl != NULL);
		if (line[0] == '\t') {
			if (in && rs->n > 0)
				strlist_add(&rs->v[rs->n - 1].vals, line + 1);
		} else if (n > 34 && is_hex32(line) && line[32] == ' ' && line[33] == '/') {
			rs->v = xrealloc(rs->v, (rs->n + 1) * sizeof(*rs->v));
			rs->v[rs->n++] = (struct rec){ .hash = xstrndup(line, 32), .root = xstrdup(line + 33) };
			in = true;
		} else {
			in = false;
		}
		free(line);
	}
}

/* The records, or none; -1 with *why when the file is not safe to use. */
static int recs_load(struct recs *rs, const char **why)
{
	char *p = trust_path(), *text = NULL;
	size_t len;
	memset(rs, 0, sizeof(*rs));
	int r = read_owned(p, O_NOFOLLOW, TRUST_FILE_MAX, &text, &len, why);
	free(p);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		if (*why == NULL)
			*why = r == -EFBIG ? "is too large" : "cannot be read";
		return -1;
	}
	recs_parse(rs, text);
	free(text);
	return 0;
}

enum trust_state trust_check(const struct config *c, const char **why)
{
	struct recs rs;
	enum trust_state t = TRUST_NONE;
	*why = NULL;
	if (recs_load(&rs, why) < 0)
		return TRUST_NONE;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		if (strcmp(r->root, c->root) != 0)
			continue;
		t = strcmp(r->hash, c->file_hash) == 0 ? TRUST_OK : TRUST_CHANGED;
		/* The hash notices a change; the values themselves make sure
		 * that a file crafted to hash the same runs nothing new. */
		for (int k = 0; k < KEY__COUNT && t == TRUST_OK; k++) {
			if (c->file_program[k] == NULL)
				continue;
			char *want = xasprintf("%s = %s", config_key_name((enum config_key)k), c->file_program[k]);
			bool found = false;
			for (size_t j = 0; j < r->vals.n && !found; j++)
				found = strcmp(r->vals.v[j], want) == 0;
			free(want);
			if (!found)
				t = TRUST_CHANGED;
		}
		break;
	}
	recs_release(&rs);
	return t;
}

static void put(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_put(b, s, strlen(s));
	free(s);
}

/* Rewrites the records without root's, plus c's when c is given.  Under
 * a lock, so two `ferry trust` at once both land. */
static int recs_update(const char *root, const struct config *c, bool *had, char **err)
{
	const char *why = NULL;
	char *dir = state_home(), *path = trust_path(), *lock = xasprintf("%s.lock", path);
	struct recs rs = { 0 };
	struct buf b;
	int ret = -1, lfd = -1;

	buf_init(&b, SIZE_MAX);
	int r = dir_private(dir, &why);
	if (r < 0) {
		*err = why ? xasprintf("'%s' %s", dir, why) : xasprintf("cannot make '%s': %s", dir, strerror(-r));
		goto out;
	}
	lfd = lock_file_wait(lock, 5000);
	if (lfd < 0) {
		*err = xasprintf("cannot lock '%s': %s", lock, strerror(-lfd));
		goto out;
	}
	if (recs_load(&rs, &why) < 0) {
		*err = xasprintf("'%s' %s; remove it (it only lists trusted projects)", path, why);
		goto out;
	}
	static const char head[] = "# ferry: project files trusted to run programs here (`ferry trust --help`)\n";
	buf_put(&b, head, sizeof(head) - 1);
	if (had)
		*had = false;
	for (size_t i = 0; i < rs.n; i++) {
		if (strcmp(rs.v[i].root, root) == 0) {
			if (had)
				*had = true;
			continue;
		}
		put(&b, "%s %s\n", rs.v[i].hash, rs.v[i].root);
		for (size_t j = 0; j < rs.v[i].vals.n; j++)
			put(&b, "\t%s\n", rs.v[i].vals.v[j]);
	}
	if (c != NULL) {
		put(&b, "%s %s\n", c->file_hash, c->root);
		for (int k = 0; k < KEY__COUNT; k++)
			if (c->file_program[k] != NULL)
				put(&b, "\t%s = %s\n", config_key_name((enum config_key)k), c->file_program[k]);
	}
	if (b.len > TRUST_FILE_MAX) {
		*err = xasprintf("'%s' would grow past %d bytes; `ferry trust --revoke` old projects", path, TRUST_FILE_MAX);
		goto out;
	}
	r = write_file_atomic(path, b.data, b.len, 0600, 0);
	if (r < 0) {
		*err = xasprintf("cannot write '%s': %s", path, strerror(-r));
		goto out;
	}
	ret = 0;
out:
	if (lfd >= 0)
		close(lfd);
	buf_release(&b);
	recs_release(&rs);
	free(lock);
	free(path);
	free(dir);
	return ret;
}

int trust_add(const struct config *c, char **err)
{
	if (strchr(c->root, '\n') != NULL) {
		*err = xstrdup("cannot trust a folder whose name holds a newline");
		return -1;
	}
	return recs_update(c->root, c, NULL, err);
}

int trust_revoke(const char *root, bool *had, char **err)
{
	return recs_update(root, NULL, had, err);
}

int trust_list(struct strlist *out, char **err)
{
	struct recs rs;
	const char *why = NULL;
	if (recs_load(&rs, &why) < 0) {
		char *p = trust_path();
		*err = xasprintf("'%s' %s", p, why);
		free(p);
		return -1;
	}
	for (size_t i = 0; i < rs.n; i++) {
		char *l = xasprintf("%s/%s", strcmp(rs.v[i].root, "/") ? rs.v[i].root : "", CONFIG_NAME);
		strlist_add(out, l);
		free(l);
		for (size_t j = 0; j < rs.v[i].vals.n; j++) {
			l = xasprintf("    %s", rs.v[i].vals.v[j]);
			strlist_add(out, l);
			free(l);
		}
	}
	recs_release(&rs);
	return 0;
}
