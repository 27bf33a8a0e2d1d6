/*
 * sync-scan.c - walk the push set.
 *
 * The walk holds one directory fd per level and opens every child relative
 * to it with O_NOFOLLOW, so a directory swapped for a symlink mid-walk is
 * not followed.  Names are read whole and sorted (bytes) before any child
 * is visited: the output order is the same on every machine.  A
 * directory's .gitignore applies while the walk is inside it (ignore_mark
 * and ignore_pop), and an ignored directory is not entered at all — which
 * is also why nothing inside it can be re-included, as in git — unless
 * git tracks something inside it: then it is walked for the tracked
 * paths alone (git never ignores a tracked file).
 */
#define _GNU_SOURCE
#include "sync-scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

/* One depth's folder listing: platform_dents records, and the names in them. */
struct level {
	char *blk;
	size_t cap;
	char **v;
	size_t n, vcap;
	bool gitignore;		/* it has a .gitignore */
};

struct walker {
	const struct scan_spec *sp;
	struct level *lvl;	/* per depth: SCAN_DEPTH_MAX + 2 */
	struct ignore ig;
	struct ignore proj;	/* the project file's rules alone */
	bool tracked_only;	/* inside a folder a .gitignore ignores */
	scan_fn fn;
	void *arg;
	struct scan_stats *st;
	char path[PATH_REL_MAX + PATH_NAME_MAX + 2];
	int depth;
	int stop;
};

static const char *const default_pull[] = { "results" };

/* path equals folder or lies inside it; folder "." holds everything. */
static bool under(const char *path, const char *folder)
{
	size_t n = strlen(folder);
	if (strcmp(folder, ".") == 0)
		return true;
	return strncmp(path, folder, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool in_pull(const struct config *cfg, const char *path, const char **which)
{
	size_t n = cfg->pull.n ? cfg->pull.n : ARRAY_LEN(default_pull);
	for (size_t i = 0; i < n; i++) {
		const char *f = cfg->pull.n ? cfg->pull.v[i] : default_pull[i];
		if (under(path, f)) {
			if (which)
				*which = f;
			return true;
		}
	}
	return false;
}

/* path lies in one of the folders the walk must not enter. */
static bool skipped(const struct scan_spec *sp, const char *path)
{
	for (size_t i = 0; i < sp->nskip; i++)
		if (under(path, sp->skip[i]))
			return true;
	return false;
}

/* A warning about one entry: on stderr, or to the spec's callback (the
 * agent must not write to stderr). */
static void note(const struct scan_spec *sp, bool is_error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(const struct scan_spec *sp, bool is_error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	if (sp->warn)
		sp->warn(sp->warn_arg, is_error, m);
	else
		warn_msg("%s", m);
	free(m);
}

/* ".git" anywhere, ".ferry" and ferry.ini at the root: never synced, no
 * rule can bring them back.  ferry.ini is ferry's, not the project's
 * code: adding a pull folder must not make every later job's code new. */
static bool hard_skip(const char *path, const char *name)
{
	return strcmp(name, ".git") == 0 || strcmp(path, FERRY_STATE_DIR) == 0 || strcmp(path, CONFIG_NAME) == 0;
}

/* "cannot WHAT 'PATH': reason", counted. */
static void count_error(struct walker *w, const char *what, const char *path, int err)
{
	w->st->errors++;
	note(w->sp, true, "cannot %s '%s': %s", what, path, strerror(err));
}

/* Adds the .gitignore in the directory dirfd (path dir, "" = root). */
static void load_gitignore(const struct scan_spec *sp, struct ignore *ig, int dirfd, const char *dir)
{
	int fd = openat(dirfd, ".gitignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return;
	char *src = xasprintf("%s%s.gitignore", dir, dir[0] ? "/" : "");
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		char *text = xmalloc(IGNORE_FILE_MAX + 1);
		size_t len = 0;
		ssize_t n;
		while (len <= IGNORE_FILE_MAX &&
		       (n = read(fd, text + len, IGNORE_FILE_MAX + 1 - len)) > 0)
			len += (size_t)n;
		int r = len > IGNORE_FILE_MAX ? -EFBIG : ignore_add_text(ig, dir, src, text, len);
		if (r < 0)
			note(sp, false, "'%s' not used: %s", src, r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		free(text);
	}
	free(src);
	close(fd);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory dirfd (freshly opened: read from offset
 * 0), sorted, in lv (reused from folder to folder at one depth).  Read
 * with platform_dents (getdents64) straight from dirfd: no dup,
 * fdopendir and fcntl, no copy of each name.  -1 with errno on error. */
static int read_names(int dirfd, struct level *lv)
{
	size_t len = 0;
	lv->n = 0;
	for (;;) {
		if (lv->cap - len < SCAN_DENTS_CHUNK) {
			lv->cap = lv->cap ? lv->cap * 2 : SCAN_DENTS_CHUNK * 2;
			lv->blk = xrealloc(lv->blk, lv->cap);
		}
		ssize_t r = platform_dents(dirfd, lv->blk + len, lv->cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	lv->gitignore = false;
	size_t off = 0;
	const char *nm;
	while ((nm = platform_dent_name(lv->blk, len, &off)) != NULL) {
		if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
			continue;
		if (lv->n == lv->vcap) {
			lv->vcap = lv->vcap ? lv->vcap * 2 : 64;
			lv->v = xrealloc(lv->v, lv->vcap * sizeof(char *));
		}
		lv->v[lv->n++] = (char *)nm;
		lv->gitignore |= strcmp(nm, ".gitignore") == 0;
	}
	if (lv->n > 1)
		qsort(lv->v, lv->n, sizeof(char *), cmp_names);
	return 0;
}

/* Is w->path kept out by a rule?  A path git tracks is kept out only by
 * the project file's rules; inside a folder a .gitignore ignores, only
 * tracked paths (and folders on the way to one) are kept.  *enter: a
 * folder walked for its tracked paths alone. */
static bool rule_excludes(struct walker *w, bool is_dir, bool *enter)
{
	const struct git_tracked *t = w->sp->tracked;
	*enter = false;
	/* Named by push --ignored: in, whatever the rules; a folder on the
	 * way to one is walked for it alone. */
	for (size_t i = 0; i < w->sp->ninclude; i++) {
		const char *in = w->sp->include[i];
		size_t pl = strlen(w->path), il = strlen(in);
		if (strncmp(w->path, in, il) == 0 && (w->path[il] == '\0' || w->path[il] == '/'))
			return false;
		if (is_dir && pl < il && strncmp(in, w->path, pl) == 0 && in[pl] == '/') {
			if (!w->tracked_only && !ignore_match(&w->ig, w->path, is_dir, NULL))
				return false;
			*enter = !w->tracked_only;
			return false;
		}
	}
	if (!w->tracked_only && !ignore_match(&w->ig, w->path, is_dir, NULL))
		return false;
	if (t && t->len && (is_dir ? git_tracked_below(t, w->path) : git_tracked_has(t, w->path)) &&
	    !ignore_match(&w->proj, w->path, is_dir, NULL)) {
		*enter = is_dir && !w->tracked_only;
		return false;
	}
	if (w->sp->excluded && !w->tracked_only)
		w->sp->excluded(w->sp->excluded_arg, w->path, is_dir);
	return true;
}

static enum entry_type type_of(mode_t m)
{
	return S_ISREG(m) ? ENT_FILE : S_ISDIR(m) ? ENT_DIR : S_ISLNK(m) ? ENT_LINK : ENT_OTHER;
}

static int emit(struct walker *w, const struct stat *st)
{
	struct scan_entry e = {
		.path = w->path, .type = type_of(st->st_mode), .mode = st->st_mode & 07777,
		.size = (uint64_t)st->st_size, .ino = (uint64_t)st->st_ino, .dev = (uint64_t)st->st_dev,
		.mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec,
	};
	if (e.type == ENT_FILE)
		w->st->files++;
	else if (e.type == ENT_DIR)
		w->st->dirs++;
	else
		w->st->links++;
	int r = w->fn(&e, w->arg);
	if (r)
		w->stop = r;
	return r;
}

/* Walks the directory dirfd whose path is w->path[0..plen). */
static void walk(struct walker *w, int dirfd, size_t plen)
{
	size_t mark = ignore_mark(&w->ig);

	if (++w->depth > SCAN_DEPTH_MAX) {
		w->st->errors++;
		note(w->sp, true, "'%s' is nested deeper than %d folders: not synced", w->path, SCAN_DEPTH_MAX);
		goto out;
	}
	struct level *lv = &w->lvl[w->depth];
	if (read_names(dirfd, lv) < 0) {
		count_error(w, "read folder", plen ? w->path : ".", errno);
		goto out;
	}
	/* Opened only where the listing has one: most folders have none. */
	if (lv->gitignore && !w->sp->no_gitignore)
		load_gitignore(w->sp, &w->ig, dirfd, w->path);
	for (size_t i = 0; i < lv->n && !w->stop; i++) {
		const char *name = lv->v[i];
		size_t nl = strlen(name);
		if (plen + 1 + nl > PATH_REL_MAX) {
			w->st->errors++;
			note(w->sp, true, "path '%.*s/%s' is longer than %d bytes: not synced", (int)plen, w->path, name,
			     PATH_REL_MAX);
			continue;
		}
		size_t clen = plen;
		if (plen)
			w->path[clen++] = '/';
		memcpy(w->path + clen, name, nl + 1);
		clen += nl;

		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)	/* vanished since readdir: fine */
				count_error(w, "stat", w->path, errno);
			goto next;
		}
		bool is_dir = S_ISDIR(st.st_mode), enter;
		if (hard_skip(w->path, name) || skipped(w->sp, w->path) || rule_excludes(w, is_dir, &enter))
			goto next;
		if (type_of(st.st_mode) == ENT_OTHER) {
			w->st->skipped_special++;
			note(w->sp, false, "skipping '%s': not a file, folder or symlink (FIFO, socket or device)", w->path);
			goto next;
		}
		if (emit(w, &st))
			break;
		if (is_dir) {
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				count_error(w, "open folder", w->path, errno);
			} else {
				w->tracked_only |= enter;
				walk(w, fd, clen);
				w->tracked_only &= !enter;
				close(fd);
			}
		}
next:
		w->path[plen] = '\0';
	}
out:
	w->depth--;
	ignore_pop(&w->ig, mark);
}

static void add_project_rules(const struct scan_spec *sp, struct ignore *ig, bool quiet)
{
	for (size_t i = 0; i < sp->nignore; i++)
		if (ignore_add_pattern(ig, sp->ignore[i], CONFIG_NAME, sp->ignore_line) < 0 && !quiet)
			note(sp, false, "ignore pattern '%s' in %s not used", sp->ignore[i], CONFIG_NAME);
}

/* The folders to walk, without those inside another listed one; none
 * listed means the whole tree ("."). */
static char **top_folders(char *const *f, size_t nf, size_t *n)
{
	char **v = xcalloc(nf + 2, sizeof(char *));
	size_t k = 0;
	if (nf == 0)
		v[k++] = xstrdup(".");
	for (size_t i = 0; i < nf; i++) {
		bool inner = false;
		for (size_t j = 0; j < nf && !inner; j++)
			if (i != j && under(f[i], f[j]) && (strcmp(f[i], f[j]) != 0 || j < i))
				inner = true;
		if (!inner)
			v[k++] = xstrdup(f[i]);
	}
	qsort(v, k, sizeof(char *), cmp_names);
	v[k] = NULL;
	*n = k;
	return v;
}

static char **push_folders(const struct config *cfg, size_t *n)
{
	return top_folders(cfg->push.v, cfg->push.n, n);
}

void scan_spec_push(struct scan_spec *sp, const struct config *cfg)
{
	memset(sp, 0, sizeof(*sp));
	sp->root = cfg->root;
	sp->folders = cfg->push.v;
	sp->nfolders = cfg->push.n;
	sp->skip = cfg->pull.n ? cfg->pull.v : (char *const *)default_pull;
	sp->nskip = cfg->pull.n ? cfg->pull.n : ARRAY_LEN(default_pull);
	sp->ignore = cfg->ignore.v;
	sp->nignore = cfg->ignore.n;
	sp->ignore_line = cfg->line[KEY_IGNORE];
	sp->what = "push folder";
}

/* Git's tracked list for the project, cached in its state folder. */
static void load_tracked(const struct config *cfg, struct git_tracked *t)
{
	char *cache = xasprintf("%s/%s/git-tracked", cfg->root, FERRY_STATE_DIR);
	git_tracked_load(t, cfg->root, cache);
	free(cache);
}

int scan_push_set(const struct config *cfg, scan_fn fn, void *arg, struct scan_stats *st, char **err)
{
	return scan_push_set_with(cfg, NULL, 0, NULL, NULL, fn, arg, st, err);
}

int scan_push_set_with(const struct config *cfg, char *const *include, size_t ninclude,
		       void (*warn)(void *arg, bool is_error, const char *msg), void *warn_arg, scan_fn fn, void *arg,
		       struct scan_stats *st, char **err)
{
	struct scan_spec sp;
	struct git_tracked t;
	scan_spec_push(&sp, cfg);
	sp.include = include;
	sp.ninclude = ninclude;
	sp.warn = warn;
	sp.warn_arg = warn_arg;
	load_tracked(cfg, &t);
	sp.tracked = &t;
	int r = scan_tree(&sp, fn, arg, st, err);
	git_tracked_release(&t);
	return r;
}

int scan_tree(const struct scan_spec *sp, scan_fn fn, void *arg, struct scan_stats *st, char **err)
{
	struct walker w = { .sp = sp, .fn = fn, .arg = arg, .st = st };
	w.lvl = xcalloc(SCAN_DEPTH_MAX + 2, sizeof(*w.lvl));
	size_t nf;
	char **folders = NULL;
	int rootfd;

	memset(st, 0, sizeof(*st));
	*err = NULL;
	rootfd = open(sp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		*err = xasprintf("cannot open the project folder '%s': %s", sp->root, strerror(errno));
		return -1;
	}
	ignore_init(&w.ig);
	ignore_init(&w.proj);
	add_project_rules(sp, &w.ig, false);
	if (sp->tracked)
		add_project_rules(sp, &w.proj, true);
	folders = top_folders(sp->folders, sp->nfolders, &nf);
	for (size_t i = 0; i < nf && !w.stop; i++) {
		if (strcmp(folders[i], ".") == 0) {
			w.path[0] = '\0';
			walk(&w, rootfd, 0);
			continue;
		}
		/* Down to the folder: each level's .gitignore applies, and the
		 * folders on the way are entries too (they must exist there),
		 * unless sp->no_parents. */
		int dirfd = dup(rootfd);
		size_t mark = ignore_mark(&w.ig);
		const char *f = folders[i];
		size_t plen = 0;
		w.path[0] = '\0';
		for (;;) {
			if (!sp->no_gitignore)
				load_gitignore(sp, &w.ig, dirfd, w.path);
			const char *slash = strchr(f + plen + (plen ? 1 : 0), '/');
			size_t end = slash ? (size_t)(slash - f) : strlen(f);
			memcpy(w.path, f, end);
			w.path[end] = '\0';
			const char *name = w.path + (plen ? plen + 1 : 0);
			struct stat sb;
			int got = fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW);
			if (got == 0 && slash == NULL && (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode))) {
				/* A file named as a folder to sync (`pull --job`
				 * of a log a job wrote at the top): itself. */
				bool enter = false;
				if (hard_skip(w.path, name) || skipped(sp, w.path) || rule_excludes(&w, false, &enter))
					note(sp, false, "%s '%s' is ignored (see `ferry check-ignore %s`)", sp->what, f, w.path);
				else
					(void)emit(&w, &sb);
				break;
			}
			if (got < 0 || !S_ISDIR(sb.st_mode)) {
				if (sp->missing_ok && got < 0 && errno == ENOENT)
					break;	/* nothing there yet */
				w.st->errors++;
				note(sp, true, "%s '%s' is not a folder in the project", sp->what, f);
				break;
			}
			bool enter = false;
			if (hard_skip(w.path, name) || skipped(sp, w.path) || rule_excludes(&w, true, &enter)) {
				note(sp, false, "%s '%s' is ignored (see `ferry check-ignore %s`)", sp->what, f, w.path);
				break;
			}
			/* An ignored folder on the way that holds tracked files:
			 * from here on, only those. */
			w.tracked_only |= enter;
			if ((slash == NULL || !sp->no_parents) && emit(&w, &sb))
				break;
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				count_error(&w, "open folder", w.path, errno);
				break;
			}
			close(dirfd);
			dirfd = fd;
			plen = end;
			if (slash == NULL) {
				walk(&w, dirfd, plen);
				break;
			}
		}
		close(dirfd);
		ignore_pop(&w.ig, mark);
		w.tracked_only = false;
	}
	free_words(folders);
	ignore_release(&w.ig);
	ignore_release(&w.proj);
	for (size_t i = 0; i < SCAN_DEPTH_MAX + 2; i++) {
		free(w.lvl[i].blk);
		free(w.lvl[i].v);
	}
	free(w.lvl);
	close(rootfd);
	return w.stop;
}

/* The project file's rules of one list ("ignore" or "pull_ignore"). */
static void add_list(struct ignore *ig, const struct strlist *l, int line)
{
	for (size_t i = 0; i < l->n; i++)
		(void)ignore_add_pattern(ig, l->v[i], CONFIG_NAME, line);
}

static char *rule_text(const struct ignore_rule *r)
{
	return xasprintf("%s:%d:%s", r->source, r->line, r->pattern);
}

enum scan_verdict scan_explain(const struct config *cfg, const char *path, bool is_dir, char **why)
{
	const char *pull;
	size_t nf;
	enum scan_verdict v = SCAN_PUSHED;

	*why = NULL;
	/* The hard rules first: they win over every pattern. */
	for (const char *c = path; *c; ) {
		size_t n = strcspn(c, "/");
		if (n == 4 && strncmp(c, ".git", 4) == 0) {
			*why = xstrdup("(ferry):0:.git (never synced)");
			return SCAN_EXCLUDED;
		}
		c += n;
		while (*c == '/')
			c++;
	}
	if (under(path, FERRY_STATE_DIR)) {
		*why = xstrdup("(ferry):0:" FERRY_STATE_DIR "/ (ferry's own state)");
		return SCAN_EXCLUDED;
	}
	if (strcmp(path, CONFIG_NAME) == 0) {
		*why = xstrdup("(ferry):0:" CONFIG_NAME " (ferry's project file, not code)");
		return SCAN_EXCLUDED;
	}
	struct ignore ig, proj;
	ignore_init(&ig);
	ignore_init(&proj);
	const struct ignore_rule *r = NULL;
	if (in_pull(cfg, path, &pull)) {
		/* A result: .gitignore has no say, pull_ignore has. */
		add_list(&ig, &cfg->pull_ignore, cfg->line[KEY_PULL_IGNORE]);
		if (ignore_path(&ig, path, is_dir, &r) && r != NULL) {
			*why = xasprintf("%s:%d:pull_ignore = %s (not pulled)", r->source, r->line, r->pattern);
			v = SCAN_PULL_IGNORED;
		} else {
			*why = cfg->pull.n ? xasprintf("%s:%d:pull = %s (a result: pulled whole, whatever .gitignore says)",
						      CONFIG_NAME, cfg->line[KEY_PULL], pull)
					   : xasprintf("(default):0:pull = %s (a result: pulled whole, whatever .gitignore says)",
						       pull);
			v = SCAN_RESULT;
		}
		goto out;
	}
	char **folders = push_folders(cfg, &nf);
	bool in_push = false;
	for (size_t i = 0; i < nf; i++)
		in_push |= under(path, folders[i]) || (is_dir && under(folders[i], path));
	free_words(folders);
	if (!in_push) {
		*why = xasprintf("%s:%d:push (not in a push folder)", CONFIG_NAME, cfg->line[KEY_PUSH]);
		v = SCAN_EXCLUDED;
		goto out;
	}

	struct scan_spec sp;
	scan_spec_push(&sp, cfg);
	add_project_rules(&sp, &ig, false);
	add_project_rules(&sp, &proj, true);
	int rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd >= 0) {
		load_gitignore(&sp, &ig, rootfd, "");
		/* Each ancestor folder's .gitignore, opened beneath the root. */
		char *dir = xstrdup(path);
		for (char *s = dir; (s = strchr(s, '/')) != NULL; s++) {
			*s = '\0';
			int fd = open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
			if (fd >= 0) {
				load_gitignore(&sp, &ig, fd, dir);
				close(fd);
			}
			*s = '/';
		}
		free(dir);
		close(rootfd);
	}
	if (!ignore_path(&ig, path, is_dir, &r)) {
		/* A negated rule that re-includes it is named, as git does. */
		if (r != NULL)
			*why = rule_text(r);
		goto out;
	}
	v = SCAN_EXCLUDED;
	*why = r ? rule_text(r) : NULL;
	const struct ignore_rule *pr = NULL;
	if (ignore_path(&proj, path, is_dir, &pr)) {
		/* sync.ignore excludes even what git tracks. */
		free(*why);
		*why = pr ? rule_text(pr) : NULL;
		goto out;
	}
	struct git_tracked t;
	load_tracked(cfg, &t);
	if (is_dir ? git_tracked_below(&t, path) : git_tracked_has(&t, path)) {
		char *rule = *why;
		*why = xasprintf("(git):0:tracked%s%s (pushed: git never ignores a tracked file)",
				 rule ? ", not ignored by " : "", rule ? rule : "");
		free(rule);
		v = SCAN_TRACKED;
	}
	git_tracked_release(&t);
out:
	ignore_release(&ig);
	ignore_release(&proj);
	return v;
}
