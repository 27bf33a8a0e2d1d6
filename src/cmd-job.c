/*
 * cmd-job.c - the job commands: run, jobs, logs, attach, kill, wait.
 *
 * Jobs live on the server (agent-job.c, job-sup.c); these commands are
 * thin: one request, then the records or the output that come back.
 * `ferry run` pushes first, as a barrier, in the same session: the job
 * starts only once the server's push folders equal this side's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "job-sup.h"
#include "job-wire.h"
#include "job.h"
#include "limits.h"
#include "session.h"
#include "sig.h"
#include "spawn.h"
#include "util.h"

#define DETACH_KEY 0x1d		/* Ctrl-] */

/* ---- sessions and replies ---- */

static void open_or_die(struct session *s, const struct config *cfg, uint16_t type, const struct buf *b)
{
	struct ferr e = { 0 };
	struct session_opts so = { 0 };
	if (session_open(s, cfg, &so, type, b, &e) < 0)
		ferr_die(&e);
}

/* The agent's ERROR frame as one clear line, and the exit. */
static void die_for_error(struct session *s, struct rd *body) __attribute__((noreturn));
static void die_for_error(struct session *s, struct rd *body)
{
	uint32_t code;
	char *msg;
	if (error_decode(body, &code, &msg) < 0)
		die(EXIT_PROTO, "malformed error from the agent on '%s'", s->label);
	if (code == PERR_NOJOB) {
		error_msg("%s (on %s)", msg, s->label);
		hint_msg("`ferry jobs --all` lists the jobs there");
		exit(EXIT_FAIL);
	}
	if (code == PERR_JOB)
		die(EXIT_FAIL, "%s (on %s)", msg, s->label);
	die(code == PERR_PROTOCOL ? EXIT_PROTO : EXIT_REMOTE, "%s (on %s)", msg, s->label);
}

/* The next frame; dies with one clear line on an ERROR or a lost link. */
static uint16_t next_or_die(struct session *s, struct rd *body)
{
	uint16_t type;
	int r = conn_flush(&s->c) < 0 ? 0 : conn_read(&s->c, &type, body);
	if (r <= 0) {
		struct ferr e = { 0 };
		if (r < 0 && r != -EPROTO)
			ferr_set(&e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", s->label);
		else
			session_lost(s, true, &e);
		ferr_die(&e);
	}
	if (type == MSG_ERROR)
		die_for_error(s, body);
	return type;
}

/* Prints a notice; returns its job id (0: about no job in particular). */
static uint32_t print_notice(struct session *s, struct rd *body)
{
	uint32_t id = rd_u32(body);
	char *m = rd_cstr(body, 1024);
	rd_expect_end(body);
	if (!rd_ok(body) || m == NULL)
		die(EXIT_PROTO, "malformed notice from the agent on '%s'", s->label);
	m[strcspn(m, "\n")] = '\0';
	warn_msg("%s", m);
	free(m);
	return id;
}

static void decode_record_or_die(struct session *s, struct rd *body, struct job *j)
{
	if (job_decode(body->p + body->off, rd_left(body), j) < 0)
		die(EXIT_PROTO, "malformed job record from the agent on '%s'", s->label);
}

/* The exit status a job's end maps to, as a shell would say it. */
static int job_status(uint8_t state, int32_t code, int32_t sig)
{
	if (state == JOB_LOST || state == JOB_RUNNING)
		return EXIT_FAIL;
	return sig ? 128 + sig : code;
}

/* JOB_LIST's body: no ids, and the project (its root as in ferry.ini;
 * "": every project). */
static void list_request(struct buf *b, const char *project)
{
	buf_init(b, FRAME_MAX);
	job_ids_encode(NULL, 0, b);
	buf_put_cstr(b, project);
}

/* The records a JOB_LIST sent, ascending by id, until its end; a notice
 * is printed and makes *code 1. */
static struct job *read_records(struct session *s, size_t *n, int *code)
{
	struct job *v = NULL;
	*n = 0;
	for (;;) {
		struct rd body;
		uint16_t type = next_or_die(s, &body);
		if (type == MSG_JOB_LIST_END)
			break;
		if (type == MSG_JOB_NOTICE) {
			/* id 0: about no job (a snapshot kept), not a failure */
			if (print_notice(s, &body) != 0)
				*code = EXIT_FAIL;
			continue;
		}
		if (type == MSG_JOB_OUTPUTS) {
			uint32_t id = rd_u32(&body);
			char *list = rd_cstr(&body, JOB_OUTPUTS_MAX);
			rd_expect_end(&body);
			if (!rd_ok(&body) || list == NULL || *n == 0 || v[*n - 1].id != id || v[*n - 1].outputs)
				die(EXIT_PROTO, "malformed job outputs from the agent on '%s'", s->label);
			v[*n - 1].outputs = list;
			continue;
		}
		if (type != MSG_JOB_RECORD)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		decode_record_or_die(s, &body, &v[(*n)++]);
	}
	return v;
}

static void free_records(struct job *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		job_release(&v[i]);
	free(v);
}

/* How a name, or no job argument, picks a job of this project: the
 * newest (logs, wait, jobs show, jobs rm), or the running one (kill,
 * attach; a name two running jobs carry is ambiguous). */
enum pick { PICK_NEWEST, PICK_RUNNING };

/* Turns a command's job arguments into ids.  An id stays an id, of this
 * project or another (ids are unique per user on a server).  A name is
 * this project's newest job of that name; no argument (n 0) is its newest
 * job.  Names and none need this project's jobs: s is opened with that
 * list and *opened says so (the command's own request then follows in the
 * same session).  *pick_out gets the record picked for n 0 when not NULL.
 * Returns max(n, 1) ids; dies with one line when a name matches nothing
 * or is ambiguous. */
static uint32_t *resolve_jobs(struct session *s, bool *opened, const struct config *cfg, const char *cmd,
			      char **args, int n, enum pick pick, struct job *pick_out)
{
	uint32_t *ids = xcalloc((size_t)n + 1, sizeof(uint32_t));
	bool names = n == 0;
	for (int i = 0; i < n; i++) {
		ids[i] = job_parse_id(args[i]);
		if (ids[i] == 0 && (args[i][0] == '\0' || strchr(args[i], '\n')))
			cmd_usage_die(cmd, "'%s' is not a job id or name (see `ferry jobs`)", args[i]);
		names |= ids[i] == 0;
	}
	*opened = false;
	if (!names)
		return ids;
	struct buf b;
	int code = 0;
	size_t nv;
	list_request(&b, cfg->path);
	open_or_die(s, cfg, MSG_JOB_LIST, &b);
	buf_release(&b);
	*opened = true;
	struct job *v = read_records(s, &nv, &code);
	for (int i = 0; i < (n ? n : 1); i++) {
		if (n && ids[i])
			continue;
		const char *name = n ? args[i] : NULL;
		size_t newest = nv, running = nv, nrunning = 0;
		for (size_t k = 0; k < nv; k++) {
			if (name && strcmp(v[k].name, name) != 0)
				continue;
			newest = k;
			if (v[k].state == JOB_RUNNING) {
				running = k;
				nrunning++;
			}
		}
		if (pick == PICK_RUNNING && name && nrunning > 1) {
			struct buf l;
			buf_init(&l, FRAME_MAX);
			for (size_t k = 0; k < nv; k++)
				if (v[k].state == JOB_RUNNING && strcmp(v[k].name, name) == 0) {
					char *one = xasprintf("%s%u", l.len ? ", " : "", v[k].id);
					buf_put(&l, one, strlen(one));
					free(one);
				}
			buf_put(&l, "", 1);
			die(EXIT_FAIL, "%zu running jobs are named '%s' in this project: %s; give the id", nrunning,
			    name, (char *)l.data);
		}
		/* A name none of whose jobs runs picks its newest: the
		 * command then says it is not running. */
		size_t got = pick == PICK_RUNNING && (nrunning || !name) ? running : newest;
		if (got == nv) {
			if (name)
				error_msg("no job named '%s' in this project on %s", name, s->label);
			else
				error_msg("no %sjob of this project on %s", pick == PICK_RUNNING ? "running " : "",
					  s->label);
			hint_msg("`ferry jobs` lists this project's jobs, `ferry jobs --all` every project's");
			exit(EXIT_FAIL);
		}
		ids[i] = v[got].id;
		if (n == 0 && pick_out) {
			*pick_out = v[got];
			memset(&v[got], 0, sizeof(v[got]));
		}
	}
	free_records(v, nv);
	return ids;
}

/* Sends the request: the first of the session, or after the list that
 * resolve_jobs asked for. */
static void send_request(struct session *s, bool opened, const struct config *cfg, uint16_t type, struct buf *b)
{
	if (opened)
		conn_queue(&s->c, type, b->data, b->len);
	else
		open_or_die(s, cfg, type, b);
}

uint32_t job_outputs_lookup(const struct config *cfg, const char *arg, char **outputs, char **root)
{
	struct session s;
	bool opened;
	struct buf b;
	int code = 0;
	size_t nv;
	char *args[] = { (char *)arg, NULL };
	uint32_t *ids = resolve_jobs(&s, &opened, cfg, "pull", args, 1, PICK_NEWEST, NULL);
	buf_init(&b, FRAME_MAX);
	job_ids_encode(ids, 1, &b);
	send_request(&s, opened, cfg, MSG_JOB_LIST, &b);
	buf_release(&b);
	struct job *v = read_records(&s, &nv, &code);
	session_close(&s);
	free(ids);
	if (nv != 1)
		exit(code ? code : EXIT_FAIL);
	uint32_t id = v[0].id;
	*outputs = v[0].outputs ? xstrdup(v[0].outputs) : NULL;
	*root = xstrdup(v[0].root);
	free_records(v, nv);
	return id;
}

/* Asks a yes/no question on the terminal; true for y or yes. */
static bool confirm(const char *fmt, ...) ATTR_PRINTF(1, 2);
static bool confirm(const char *fmt, ...)
{
	va_list ap;
	char line[64];
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" [y/N] ", stderr);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	line[strcspn(line, "\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

/* ---- formatting ---- */

static char *fmt_bytes(uint64_t b)
{
	if (b == 0)
		return xstrdup("-");
	if (b < 1024 * 1024)
		return xasprintf("%.0f KiB", (double)b / 1024);
	if (b < 1024ull * 1024 * 1024)
		return xasprintf("%.1f MiB", (double)b / (1024 * 1024));
	return xasprintf("%.1f GiB", (double)b / (1024.0 * 1024 * 1024));
}

static char *fmt_duration(uint64_t ns)
{
	uint64_t s = ns / 1000000000u;
	if (s < 60)
		return xasprintf("%us", (unsigned)s);
	if (s < 3600)
		return xasprintf("%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
	if (s < 86400)
		return xasprintf("%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
	return xasprintf("%ud%02uh", (unsigned)(s / 86400), (unsigned)(s % 86400 / 3600));
}

static char *fmt_time(uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char b[32];
	localtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%d %H:%M", &tm);
	return xstrdup(b);
}

static char *fmt_command(const struct job *j)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	for (uint32_t i = 0; i < j->argc; i++) {
		const char *arg = j->argv[i];
		bool plain = arg[0] != '\0' && strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					    "0123456789_./:=,+-@%") == strlen(arg);
		char *q = j->shell || plain ? xstrdup(arg) : sh_quote(arg);
		if (i)
			buf_put(&b, " ", 1);
		buf_put(&b, q, strlen(q));
		free(q);
	}
	buf_put(&b, "", 1);
	char *s = xstrdup((char *)b.data);
	buf_release(&b);
	return s;
}

/* "+dirty", "+untracked" or "". */
static const char *git_suffix(uint8_t git)
{
	return git == JOB_GIT_DIRTY ? "+dirty" : git == JOB_GIT_UNTRACKED ? "+untracked" : "";
}

static char *fmt_code(const struct job *j)
{
	const char *tree = j->tree[0] ? j->tree : "?";
	if (!j->git_commit[0])
		return xasprintf("%.8s", tree);
	return xasprintf("%.8s git %.7s%s", tree, j->git_commit, git_suffix(j->git_dirty));
}

/* A project as a column: its folder's last part(s), at most w columns. */
static char *fmt_project(const char *root, size_t w)
{
	size_t n = strlen(root);
	char *v = n > w ? xasprintf("...%s", root + n - (w - 3)) : xstrdup(root);
	char *vis = str_visible(v);
	free(v);
	return vis;
}

static char *fmt_exit(const struct job *j)
{
	if (j->state == JOB_RUNNING || j->state == JOB_LOST)
		return xstrdup("-");
	if (j->signal)
		return xasprintf("SIG%s", sigabbrev_np(j->signal) ? sigabbrev_np(j->signal) : "?");
	return xasprintf("%d", j->exit_code);
}

static void print_json(const struct job *j)
{
	char *name = json_quote(j->name), *cwd = json_quote(j->cwd), *root = json_quote(j->root);
	char *tree = json_quote(j->tree), *git = json_quote(j->git_commit), *snap = json_quote(j->snapshot);
	char *reason = json_quote(j->reason);
	printf("{\"id\":%u,\"name\":%s,\"state\":\"%s\",\"exit_code\":", j->id, name, job_state_name(j->state));
	if (j->state == JOB_RUNNING || j->state == JOB_LOST || j->signal)
		printf("null");
	else
		printf("%d", j->exit_code);
	printf(",\"signal\":%d,\"start_ns\":%llu,\"end_ns\":%llu,\"peak_rss\":%llu,\"pid\":%d,\"supervisor_pid\":%d,"
	       "\"root\":%s,\"cwd\":%s,\"snapshot\":%s,\"tree\":%s,\"git_commit\":%s,\"git_dirty\":%s,\"git_state\":\"%s\","
	       "\"killed\":%s,\"reason\":%s,\"max_mem\":%llu,\"min_available\":%llu,"
	       "\"log_bytes\":%llu,\"shell\":%s,\"argv\":[",
	       j->signal, (unsigned long long)j->start_ns, (unsigned long long)j->end_ns,
	       (unsigned long long)j->peak_rss, j->pid, j->sup_pid, root, cwd, snap, tree, git,
	       j->git_dirty == JOB_GIT_UNKNOWN ? "null" : j->git_dirty == JOB_GIT_DIRTY ? "true" : "false",
	       job_git_name(j->git_dirty), j->killed ? "true" : "false",
	       reason, (unsigned long long)j->max_mem, (unsigned long long)j->min_avail,
	       (unsigned long long)j->log_bytes, j->shell ? "true" : "false");
	for (uint32_t i = 0; i < j->argc; i++) {
		char *a = json_quote(j->argv[i]);
		printf("%s%s", i ? "," : "", a);
		free(a);
	}
	printf("]");
	if (j->outputs) {
		/* What it moved out of its snapshot, a path each. */
		char *all = xstrdup(j->outputs), *save = NULL;
		int k = 0;
		printf(",\"outputs\":[");
		for (char *p = strtok_r(all, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
			char *q = json_quote(p);
			printf("%s%s", k++ ? "," : "", q);
			free(q);
		}
		printf("]");
		free(all);
	}
	printf("}\n");
	free(name);
	free(cwd);
	free(root);
	free(tree);
	free(git);
	free(snap);
	free(reason);
}

/* The job table's columns, in order; COMMAND, last, takes the rest of
 * the line.  drop: on a narrow terminal, the columns that go first (1)
 * so that COMMAND keeps TABLE_CMD_MIN columns; 0 never goes. */
enum { COL_ID, COL_NAME, COL_STATE, COL_EXIT, COL_STARTED, COL_TIME, COL_MEM, COL_CODE, COL_PROJECT, COL_COUNT };
static const struct {
	const char *head;
	int width;		/* negative: left-aligned */
	int gap;		/* spaces after it */
	int drop;
} table_cols[COL_COUNT] = {
	[COL_ID] = { "ID", -5, 1, 0 },
	[COL_NAME] = { "NAME", -12, 1, 0 },
	[COL_STATE] = { "STATE", -8, 1, 0 },
	[COL_EXIT] = { "EXIT", 7, 2, 0 },
	[COL_STARTED] = { "STARTED", -16, 1, 2 },
	[COL_TIME] = { "TIME", 7, 1, 4 },
	[COL_MEM] = { "PEAK MEM", 9, 2, 3 },
	[COL_CODE] = { "CODE", -30, 1, 1 },	/* "1a2b3c4d git 1a2b3c4+untracked" */
	[COL_PROJECT] = { "PROJECT", -20, 1, 5 },
};
#define TABLE_CMD_MIN 20

/* How the job table is laid out: a PROJECT column with --all; on a
 * terminal, columns dropped as it narrows and rows cut to its width (a
 * long command never wraps). */
struct table {
	bool show[COL_COUNT];
	size_t cols;		/* 0: not a terminal, full rows */
};

static void table_init(struct table *t, bool project, size_t cols)
{
	size_t used = 0;
	t->cols = cols;
	for (int c = 0; c < COL_COUNT; c++) {
		t->show[c] = c != COL_PROJECT || project;
		if (t->show[c])
			used += (size_t)abs(table_cols[c].width) + (size_t)table_cols[c].gap;
	}
	for (int drop = 1; cols && used + TABLE_CMD_MIN > cols && drop <= 5; drop++)
		for (int c = 0; c < COL_COUNT; c++)
			if (t->show[c] && table_cols[c].drop == drop) {
				t->show[c] = false;
				used -= (size_t)abs(table_cols[c].width) + (size_t)table_cols[c].gap;
			}
}

/* One row: the cells (NULL where a column is not shown), then COMMAND;
 * cut to the terminal's width. */
static void print_cells(const struct table *t, char *const cell[COL_COUNT], const char *cmd)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	for (int c = 0; c < COL_COUNT; c++) {
		if (!t->show[c])
			continue;
		int w = table_cols[c].width;
		/* A name is cut to its column; other cells push the row
		 * right rather than lose their end ("+untracked"). */
		char *one = c == COL_NAME ? xasprintf("%-*.*s%*s", -w, -w, cell[c], table_cols[c].gap, "")
			    : xasprintf("%*s%*s", w, cell[c], table_cols[c].gap, "");
		buf_put(&b, one, strlen(one));
		free(one);
	}
	buf_put(&b, cmd, strlen(cmd));
	buf_put(&b, "", 1);
	char *line = (char *)b.data;
	if (t->cols)
		str_cut_columns(line, t->cols);
	printf("%s\n", line);
	buf_release(&b);
}

static void print_header(const struct table *t)
{
	char *cell[COL_COUNT];
	for (int c = 0; c < COL_COUNT; c++)
		cell[c] = (char *)table_cols[c].head;
	print_cells(t, cell, "COMMAND");
}

static void print_row(const struct table *t, const struct job *j)
{
	uint64_t end = j->end_ns ? j->end_ns : now_wall_ns();
	char id[16], *cmd = fmt_command(j), *cell[COL_COUNT];
	snprintf(id, sizeof(id), "%u", j->id);
	cell[COL_ID] = xstrdup(id);
	cell[COL_NAME] = str_visible(j->name[0] ? j->name : "-");
	cell[COL_STATE] = xstrdup(job_state_name(j->state));
	cell[COL_EXIT] = fmt_exit(j);
	cell[COL_STARTED] = fmt_time(j->start_ns);
	cell[COL_TIME] = fmt_duration(end > j->start_ns ? end - j->start_ns : 0);
	cell[COL_MEM] = fmt_bytes(j->peak_rss);
	cell[COL_CODE] = fmt_code(j);
	cell[COL_PROJECT] = fmt_project(j->root, (size_t)-table_cols[COL_PROJECT].width);
	char *vcmd = str_visible(cmd);
	print_cells(t, cell, vcmd);
	for (int c = 0; c < COL_COUNT; c++)
		free(cell[c]);
	free(vcmd);
	free(cmd);
}

#define OUTPUTS_LISTED 8	/* paths a job wrote that `jobs show` names */

static void print_show(const struct job *j)
{
	char *start = fmt_time(j->start_ns), *mem = fmt_bytes(j->peak_rss), *cmd = fmt_command(j);
	char *ex = fmt_exit(j);
	uint64_t end = j->end_ns ? j->end_ns : now_wall_ns();
	char *dur = fmt_duration(end > j->start_ns ? end - j->start_ns : 0);
	printf("id:        %u\n", j->id);
	printf("name:      %s\n", j->name[0] ? j->name : "-");
	printf("state:     %s%s%s%s\n", job_state_name(j->state),
	       j->killed && !j->reason[0] ? " (by ferry kill)" : "", j->reason[0] ? " - " : "", j->reason);
	printf("exit:      %s\n", ex);
	printf("command:   %s%s\n", cmd, j->shell ? "  (shell)" : "");
	printf("started:   %s\n", start);
	printf("duration:  %s\n", dur);
	printf("peak mem:  %s\n", mem);
	printf("code:      tree %s, git %s%s\n", j->tree[0] ? j->tree : "unknown",
	       j->git_commit[0] ? j->git_commit : "unknown", j->git_commit[0] ? git_suffix(j->git_dirty) : "");
	printf("project:   %s\n", j->root);
	printf("ran in:    %s%s\n", j->cwd, j->snapshot[0] ? "  (snapshot)" : "  (in place)");
	if (j->snapshot[0])
		printf("           (a snapshot of the code as pushed when it started: tracebacks name its paths;\n"
		       "           what the job writes there is moved to the project)\n");
	if (j->outputs) {
		/* One line, the first few paths, control characters shown. */
		char *all = xstrdup(j->outputs), *list = xstrdup(""), *save = NULL;
		size_t shown = 0, more = 0;
		for (char *p = strtok_r(all, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
			if (shown == OUTPUTS_LISTED) {
				more++;
				continue;
			}
			char *vis = str_visible(p), *l = xasprintf("%s%s%s", list, shown ? ", " : "", vis);
			free(vis);
			free(list);
			list = l;
			shown++;
		}
		printf("wrote:     %s", list);
		if (more)
			printf(" and %zu more", more);
		printf("  (in the project folder)\n");
		free(list);
		free(all);
	}
	printf("pid:       %d\n", j->pid);
	printf("log:       %llu bytes\n", (unsigned long long)j->log_bytes);
	if (j->max_mem || j->min_avail) {
		char *a = fmt_bytes(j->max_mem), *b = fmt_bytes(j->min_avail);
		printf("limits:    max mem %s, host guard %s\n", j->max_mem ? a : "none", j->min_avail ? b : "off");
		free(a);
		free(b);
	}
	free(start);
	free(mem);
	free(cmd);
	free(ex);
	free(dur);
}

/* ---- run ---- */

/* A command run here (git) whose output is collected later, so it runs
 * while the push does. */
struct probe {
	struct child ch;
	bool started;
};

static void probe_start(struct probe *p, char *const argv[])
{
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_PIPE, .err = SPAWN_NULL };
	p->started = spawn(argv, &o, &p->ch) == 0;
}

/* Its stdout (the first line only with first_line); NULL when it
 * failed. */
static char *probe_finish(struct probe *p, bool first_line)
{
	if (!p->started)
		return NULL;
	struct buf b;
	char chunk[4096];
	ssize_t n;
	buf_init(&b, 1u << 20);
	while ((n = read(p->ch.out, chunk, sizeof(chunk))) > 0 && buf_put(&b, chunk, (size_t)n) == 0)
		;
	int st;
	child_close(&p->ch);
	bool ok = wait_child(p->ch.pid, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	buf_put(&b, "", 1);
	char *s = ok ? xstrdup((char *)b.data) : NULL;
	buf_release(&b);
	if (s && first_line)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

struct git_probe {
	struct probe rev, status;
};

/* Is root inside a git work tree (a .git in it or a parent)?  Without
 * one, git is not run at all. */
static bool in_git_tree(const char *root)
{
	char *d = xstrdup(root);
	bool found = false;
	for (int depth = 0; depth < CONFIG_DIR_DEPTH_MAX && !found; depth++) {
		char *g = xasprintf("%s/.git", d);
		found = access(g, F_OK) == 0;
		free(g);
		char *slash = strrchr(d, '/');
		if (slash == NULL || slash == d)
			break;
		*slash = '\0';
	}
	if (!found && access("/.git", F_OK) == 0)
		found = true;
	free(d);
	return found;
}

static void git_start(struct git_probe *g, const char *root)
{
	char *rev[] = { "git", "-C", (char *)root, "rev-parse", "--verify", "-q", "HEAD", NULL };
	char *st[] = { "git", "-C", (char *)root, "status", "--porcelain", NULL };
	memset(g, 0, sizeof(*g));
	if (!in_git_tree(root))
		return;
	probe_start(&g->rev, rev);
	probe_start(&g->status, st);
}

static void git_finish(struct git_probe *g, char **commit, uint8_t *dirty)
{
	char *c = probe_finish(&g->rev, true), *s = probe_finish(&g->status, false);
	*commit = c && strlen(c) <= 64 ? xstrdup(c) : xstrdup("");
	*dirty = (*commit)[0] == '\0' || s == NULL ? JOB_GIT_UNKNOWN : job_git_state(s);
	free(c);
	free(s);
}

static void term_size(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;
	*rows = 0;
	*cols = 0;
	for (int fd = 0; fd < 3; fd++)
		if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			*rows = ws.ws_row;
			*cols = ws.ws_col;
			return;
		}
}

/* JOB_LOGS' body (job-wire.h). */
static void logs_request(struct buf *b, uint32_t id, uint32_t tail, uint8_t flags, uint64_t from)
{
	struct job_logs_req q = { .id = id, .tail = tail, .flags = flags, .from = from };
	buf_init(b, 32);
	job_logs_encode(&q, b);
}

/* ---- following: Ctrl-C and a lost link ---- */

/* The last byte we printed on stdout did not end a line: a line of ours
 * on stderr starts with a newline, so it starts at column 0. */
static bool out_mid_line;

static int print_out(const void *p, size_t n)
{
	if (n > 0)
		out_mid_line = ((const uint8_t *)p)[n - 1] != '\n';
	return write_all(1, p, n);
}

static void line_start(const char *nl)
{
	struct stat so, se;
	bool shared = (fstat(1, &so) == 0 && fstat(2, &se) == 0 && so.st_dev == se.st_dev && so.st_ino == se.st_ino) ||
		      (isatty(1) && isatty(2));
	if (out_mid_line && shared)
		(void)write_all(2, nl, strlen(nl));
	out_mid_line = false;
}

/* Ctrl-C while following: the jobs go on, and say how to stop them. */
static int still_running(const uint32_t *ids, uint32_t n, const char *nl)
{
	if (isatty(2)) {
		/* The terminal echoed ^C where the cursor was. */
		(void)write_all(2, nl, strlen(nl));
		out_mid_line = false;
	}
	line_start(nl);
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "ferry: job %u keeps running; stop it with: ferry kill %u%s", ids[i], ids[i], nl);
	return 130;
}

/* The next frame of a follow: 1 (an ERROR dies), 0 the link is lost, -1
 * Ctrl-C. */
static int follow_next(struct session *s, uint16_t *type, struct rd *body)
{
	for (;;) {
		int r = conn_next(&s->c, type, body);
		if (r < 0)
			die(EXIT_PROTO, "malformed frame from the agent on '%s'", s->label);
		if (r == 1) {
			if (*type == MSG_ERROR)
				die_for_error(s, body);
			return 1;
		}
		if (s->c.eof)
			return 0;
		struct pollfd p[4] = {
			{ .fd = s->c.rfd, .events = POLLIN },
			{ .fd = s->c.out.len ? s->c.wfd : -1, .events = POLLOUT },
			{ .fd = sig_fd(), .events = POLLIN },
			{ .fd = s->proc.err, .events = POLLIN },
		};
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			return 0;
		if (p[2].revents) {
			sig_drain();
			if (sig_take(SIGINT))
				return -1;
		}
		if (p[3].revents)
			session_read_stderr(s);
		if (s->c.out.len && conn_flush_some(&s->c) < 0)
			return 0;
		if (p[0].revents) {
			int fr = conn_fill(&s->c);
			if (fr < 0 && fr != -EAGAIN)
				s->c.eof = true;
		}
	}
}

/* The link dropped: says so on a line of its own and opens the session
 * again with req.  0, 1 on Ctrl-C meanwhile; any other failure dies. */
static int relink(struct session *s, const struct config *cfg, uint16_t type, const struct buf *req, const char *nl)
{
	struct ferr e = { 0 };
	line_start(nl);
	session_close(s);	/* what ssh said about it comes first */
	fprintf(stderr, "ferry: connection lost; reconnecting...%s", nl);
	if (session_reopen(s, cfg, type, req, &e) < 0) {
		if (e.code == 128 + SIGINT) {
			ferr_release(&e);
			return 1;
		}
		ferr_die(&e);
	}
	fprintf(stderr, "ferry: reconnected%s", nl);
	return 0;
}

/* Prints the log of job id from a follow request already sent (with
 * JOB_LOGS_AT) until the job ends, across lost links: the log offset of
 * each byte printed is known, and a new request asks for the next one.
 * The exit status to use. */
static int follow_logs(struct session *s, const struct config *cfg, uint32_t id, uint32_t tail)
{
	uint64_t pos = 0;
	bool known = false;

	sig_watch(SIGINT);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct rd body;
		uint16_t type;
		int r = follow_next(s, &type, &body);
		if (r < 0)
			return still_running(&id, 1, "\n");
		if (r == 0) {
			struct buf b;
			logs_request(&b, id, tail, JOB_LOGS_FOLLOW | JOB_LOGS_AT | (known ? JOB_LOGS_FROM : 0), pos);
			r = relink(s, cfg, MSG_JOB_LOGS, &b, "\n");
			buf_release(&b);
			if (r)
				return still_running(&id, 1, "\n");
			continue;
		}
		if (type == MSG_JOB_LOG_AT) {
			pos = rd_u64(&body);
			rd_expect_end(&body);
			if (!rd_ok(&body))
				die(EXIT_PROTO, "malformed log position from the agent on '%s'", s->label);
			known = true;
			continue;
		}
		if (type == MSG_JOB_OUTPUT) {
			size_t n = rd_left(&body);
			if (print_out(body.p + body.off, n) < 0)
				return errno == EPIPE ? 0 : EXIT_OSERR;
			pos += n;
			continue;
		}
		if (type != MSG_JOB_DONE)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		uint32_t jid;
		uint8_t state;
		int32_t code, sig;
		if (job_done_decode(&body, &jid, &state, &code, &sig) < 0)
			die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
		if (state == JOB_LOST) {
			line_start("\n");
			error_msg("job %u is lost: its supervisor on %s is gone", id, s->label);
			return EXIT_FAIL;
		}
		return job_status(state, code, sig);
	}
}

/* Prints the log the agent streams back for a JOB_LOGS request already
 * sent (not following), until its JOB_DONE. */
static int read_logs(struct session *s)
{
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct rd body;
		uint16_t type = next_or_die(s, &body);
		if (type == MSG_JOB_OUTPUT) {
			if (write_all(1, body.p + body.off, rd_left(&body)) < 0)
				return errno == EPIPE ? 0 : EXIT_OSERR;
			continue;
		}
		uint32_t jid;
		uint8_t state;
		int32_t code, sig;
		if (type != MSG_JOB_DONE)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		if (job_done_decode(&body, &jid, &state, &code, &sig) < 0)
			die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
		return 0;
	}
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-push", no_argument, NULL, 'P' },
		{ "in-place", no_argument, NULL, 'I' },
		{ "env", required_argument, NULL, 'e' },
		{ "shell", required_argument, NULL, 's' },
		{ "no-login-env", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "max-mem", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct job_start_req q = { 0 };
	bool max_mem_set = false;
	struct config cfg;
	struct session s;
	struct buf b;
	const char *shell = NULL;
	bool follow = false, no_push = false, json = false;
	int c;

	q.env = xcalloc(1, sizeof(char *));
	while ((c = getopt_long(argc, argv, "+n:fe:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (strlen(optarg) > JOB_NAME_MAX || strchr(optarg, '\n') || optarg[0] == '\0')
				cmd_usage_die("run", "a job name is one line of 1 to %d bytes", JOB_NAME_MAX);
			if (job_parse_id(optarg))
				cmd_usage_die("run", "'%s' reads as a job id: a name needs a letter", optarg);
			free(q.name);
			q.name = xstrdup(optarg);
			break;
		case 'f': follow = true; break;
		case 'P': no_push = true; break;
		case 'I': q.flags |= JOBF_IN_PLACE; break;
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				cmd_usage_die("run", "--env wants K=V, not '%s'", optarg);
			q.env = xrealloc(q.env, (q.envc + 2) * sizeof(char *));
			q.env[q.envc++] = xstrdup(optarg);
			q.env[q.envc] = NULL;
			break;
		case 's': shell = optarg; break;
		case 'L': q.flags |= JOBF_NO_LOGIN_ENV; break;
		case 'j': json = true; break;
		case 'M':
			if (parse_size(optarg, &q.max_mem) < 0 || q.max_mem == 0)
				cmd_usage_die("run", "--max-mem wants a size like 512M or 8G, not '%s'", optarg);
			max_mem_set = true;
			break;
		case 'h': cmd_usage("run", 0); return 0;
		default: cmd_usage("run", 1); return EXIT_USAGE;
		}
	}
	if (shell != NULL && optind != argc)
		cmd_usage_die("run", "--shell takes the whole command as one string; unexpected '%s'", argv[optind]);
	if (shell == NULL && optind == argc)
		cmd_usage_die("run", "missing the command to run");
	if (q.envc > PROTO_ENV_MAX || (size_t)(argc - optind) > PROTO_ARGV_MAX)
		cmd_usage_die("run", "too many arguments (at most %d)", PROTO_ARGV_MAX);
	if (shell) {
		q.flags |= JOBF_SHELL;
		q.argv = xcalloc(2, sizeof(char *));
		q.argv[0] = xstrdup(shell);
		q.argc = 1;
	} else {
		q.argc = (uint32_t)(argc - optind);
		q.argv = xcalloc(q.argc + 1, sizeof(char *));
		for (uint32_t i = 0; i < q.argc; i++)
			q.argv[i] = xstrdup(argv[optind + (int)i]);
	}
	if (q.name == NULL)
		q.name = xstrdup("");
	cmd_load_config(&cfg);
	q.root = xstrdup(cfg.path);
	if (!max_mem_set)
		q.max_mem = cfg.max_mem;
	q.min_avail = cfg.min_available;
	struct git_probe git;
	git_start(&git, cfg.root);
	static const char *const dpull[] = { "results" };
	q.npull = (uint32_t)(cfg.pull.n ? cfg.pull.n : 1);
	q.pull = xcalloc(q.npull + 1, sizeof(char *));
	for (uint32_t i = 0; i < q.npull; i++)
		q.pull[i] = xstrdup(cfg.pull.n ? cfg.pull.v[i] : dpull[i]);
	term_size(&q.rows, &q.cols);
	buf_init(&b, FRAME_MAX);
	/* Too long is a usage error before anything happens (the commit,
	 * added later, is at most 64 bytes). */
	q.git_commit = xstrdup("");
	if (job_start_encode(&q, &b) < 0 || b.len + 64 > FRAME_MAX)
		cmd_usage_die("run", "the command line is too long (at most %d bytes)", FRAME_MAX - 64);
	buf_reset(&b);
	free(q.git_commit);

	if (no_push) {
		/* The session opens while git looks at the work tree. */
		open_or_die(&s, &cfg, 0, NULL);
		git_finish(&git, &q.git_commit, &q.git_dirty);
		if (job_start_encode(&q, &b) < 0 || b.len > FRAME_MAX)
			cmd_usage_die("run", "the command line is too long (at most %d bytes)", FRAME_MAX);
		conn_queue(&s.c, MSG_JOB_START, b.data, b.len);
	} else {
		/* The push is the barrier: no job unless it completed.  git
		 * runs meanwhile. */
		struct push_opts po = { .quiet = true, .want_progress = isatty(2) ? -1 : 0 };
		int code = push_run(&cfg, &po, &s);
		git_finish(&git, &q.git_commit, &q.git_dirty);
		if (code != 0) {
			error_msg("no job started: the push did not complete");
			exit(code);
		}
		if (job_start_encode(&q, &b) < 0 || b.len > FRAME_MAX)
			cmd_usage_die("run", "the command line is too long (at most %d bytes)", FRAME_MAX);
		conn_queue(&s.c, MSG_JOB_START, b.data, b.len);
	}
	struct job j;
	for (;;) {
		struct rd body;
		uint16_t type = next_or_die(&s, &body);
		if (type == MSG_JOB_NOTICE) {
			print_notice(&s, &body);
			continue;
		}
		if (type != MSG_JOB_RECORD)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s.label);
		decode_record_or_die(&s, &body, &j);
		break;
	}
	int code = 0;
	if (json)
		print_json(&j);
	else if (follow)
		fprintf(stderr, "ferry: job %u started (ferry logs %u)\n", j.id, j.id);	/* stdout is the job's */
	else
		printf("%u\n", j.id);
	fflush(stdout);
	if (j.state != JOB_RUNNING && j.exit_code >= 126) {
		/* The command could not be executed: the notice said why. */
		code = j.exit_code;
	} else if (follow) {
		struct buf lb;
		logs_request(&lb, j.id, 0, JOB_LOGS_FOLLOW | JOB_LOGS_AT, 0);
		conn_queue(&s.c, MSG_JOB_LOGS, lb.data, lb.len);
		buf_release(&lb);
		code = follow_logs(&s, &cfg, j.id, 0);
	} else if (!json && isatty(2)) {
		hint_msg("follow it with `ferry logs -f %u`, stop it with `ferry kill %u`", j.id, j.id);
	}
	session_close(&s);
	job_release(&j);
	job_start_release(&q);
	buf_release(&b);
	config_release(&cfg);
	return code;
}

/* ---- jobs ---- */

/* "30s", "90m", "12h", "7d", "2w" (a unit is required with need_unit:
 * `prune --older-than 1` once removed every finished job); ns, or
 * UINT64_MAX. */
static uint64_t parse_age(const char *s, bool need_unit)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;
	if (end == s || !(v >= 0) || v > 1e7)
		return UINT64_MAX;
	switch (*end) {
	case 's': mul = 1; end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	case 'w': mul = 7 * 86400; end++; break;
	case '\0':
		if (need_unit)
			return UINT64_MAX;
		break;
	default: return UINT64_MAX;
	}
	if (*end != '\0')
		return UINT64_MAX;
	return (uint64_t)(v * (double)mul * 1e9);
}

/* Sends JOB_RM for ids on s (opened or not) and reports; 0 or EXIT_FAIL
 * (a notice: not found, running). */
static int rm_ids(struct session *s, bool opened, const struct config *cfg, const uint32_t *ids, uint32_t n,
		  bool quiet)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	buf_put_u8(&b, 0);
	buf_put_u64(&b, 0);
	job_ids_encode(ids, n, &b);
	send_request(s, opened, cfg, MSG_JOB_RM, &b);
	buf_release(&b);
	int code = 0;
	size_t nv;
	struct job *v = read_records(s, &nv, &code);
	for (size_t i = 0; i < nv && !quiet; i++)
		printf("removed job %u (its record and log; what it wrote stays in %s)\n", v[i].id, v[i].root);
	if (quiet)
		printf("removed %zu finished job%s (records and logs; what they wrote stays in the project folder)\n",
		       nv, nv == 1 ? "" : "s");
	free_records(v, nv);
	return code;
}

static int jobs_rm(struct config *cfg, char **args, int n)
{
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, cfg, "jobs rm", args, n, PICK_NEWEST, NULL);
	int code = rm_ids(&s, opened, cfg, ids, (uint32_t)n, false);
	session_close(&s);
	free(ids);
	return code;
}

/* The finished jobs of this project (every project with all) that ended
 * at least older ago go, once a person said yes or --yes did. */
static int jobs_prune(struct config *cfg, bool all, uint64_t older, bool yes)
{
	struct session s;
	struct buf b;
	int code = 0;
	size_t nv, ngo = 0;
	if (!yes && !(isatty(0) && isatty(2)))
		cmd_usage_die("jobs", "prune removes jobs and their logs: confirm with --yes (no terminal to ask on)");
	list_request(&b, all ? "" : cfg->path);
	open_or_die(&s, cfg, MSG_JOB_LIST, &b);
	buf_release(&b);
	struct job *v = read_records(&s, &nv, &code);
	uint32_t *go = xcalloc(nv + 1, sizeof(uint32_t));
	/* The laptop's clock against the server's end times: a skew of
	 * minutes against ages of hours and days. */
	uint64_t now = now_wall_ns();
	for (size_t i = 0; i < nv; i++)
		if (v[i].state != JOB_RUNNING && (older == 0 || (v[i].end_ns && now > v[i].end_ns &&
								   now - v[i].end_ns >= older)))
			go[ngo++] = v[i].id;
	free_records(v, nv);
	if (ngo == 0) {
		printf("no finished job%s to remove\n", older ? " that old" : "");
	} else if (yes || confirm("remove %zu finished job%s of %s with %s log%s?", ngo, ngo == 1 ? "" : "s",
				  all ? "every project" : "this project", ngo == 1 ? "its" : "their", ngo == 1 ? "" : "s")) {
		int r = rm_ids(&s, true, cfg, go, (uint32_t)ngo, true);
		if (r)
			code = r;
	} else {
		error_msg("nothing removed");
		code = EXIT_FAIL;
	}
	session_close(&s);
	free(go);
	return code;
}

int cmd_jobs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "last", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool all = false, json = false, yes = false;
	uint64_t older = 0;
	long last = JOBS_RECENT;
	int c;

	while ((c = getopt_long(argc, argv, "an:yh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'n': {
			char *end;
			last = strtol(optarg, &end, 10);
			if (end == optarg || *end || last < 0 || last > JOB_IDS_MAX)
				cmd_usage_die("jobs", "--last wants a number of finished jobs (0: every one), not '%s'", optarg);
			break;
		}
		case 'j': json = true; break;
		case 'o':
			older = parse_age(optarg, true);
			if (older == UINT64_MAX)
				cmd_usage_die("jobs", "--older-than wants an age with its unit (s, m, h, d, w), like 30m, 12h or 7d, not '%s'", optarg);
			break;
		case 'y': yes = true; break;
		case 'h': cmd_usage("jobs", 0); return 0;
		default: cmd_usage("jobs", 1); return EXIT_USAGE;
		}
	}
	const char *sub = optind < argc ? argv[optind++] : NULL;
	if (sub && strcmp(sub, "rm") != 0 && strcmp(sub, "prune") != 0 && strcmp(sub, "show") != 0)
		cmd_usage_die("jobs", "unknown subcommand '%s' (show, rm, prune)", sub);
	if (sub && strcmp(sub, "prune") == 0 && optind != argc)
		cmd_usage_die("jobs", "prune takes no job ids (it removes every finished job)");
	if (sub && strcmp(sub, "rm") == 0 && optind == argc)
		cmd_usage_die("jobs", "rm wants a job id or name");
	if (!sub && optind != argc)
		cmd_usage_die("jobs", "unexpected '%s'", argv[optind]);
	if (argc - optind > JOB_IDS_MAX)
		cmd_usage_die("jobs", "too many jobs (at most %d)", JOB_IDS_MAX);
	cmd_load_config(&cfg);
	int code = 0;
	if (sub && strcmp(sub, "show") != 0) {
		code = strcmp(sub, "prune") == 0 ? jobs_prune(&cfg, all, older, yes)
						 : jobs_rm(&cfg, argv + optind, argc - optind);
		config_release(&cfg);
		return code;
	}
	/* show: ids and names (none: the latest); the list: this project's
	 * jobs, or every project's with --all. */
	struct buf b;
	struct session s;
	struct job *v = NULL;
	size_t nv = 0;
	if (sub) {
		bool opened;
		uint32_t n = optind == argc ? 1 : (uint32_t)(argc - optind);
		uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "jobs show", argv + optind, argc - optind, PICK_NEWEST, NULL);
		buf_init(&b, FRAME_MAX);
		job_ids_encode(ids, n, &b);
		send_request(&s, opened, &cfg, MSG_JOB_LIST, &b);
		free(ids);
	} else {
		list_request(&b, all ? "" : cfg.path);
		open_or_die(&s, &cfg, MSG_JOB_LIST, &b);
	}
	v = read_records(&s, &nv, &code);
	session_close(&s);
	/* Without --all: the running and lost ones, and the last few ended. */
	size_t ended = 0, first_shown = 0;
	for (size_t i = 0; i < nv; i++)
		ended += v[i].state != JOB_RUNNING && v[i].state != JOB_LOST;
	if (!all && !sub && last && ended > (size_t)last)
		first_shown = ended - (size_t)last;
	struct table t;
	struct winsize ws;
	table_init(&t, all, isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0);
	if (!json && !sub && nv)
		print_header(&t);
	size_t k = 0;
	for (size_t i = 0; i < nv; i++) {
		bool finished = v[i].state != JOB_RUNNING && v[i].state != JOB_LOST;
		if (finished && k++ < first_shown)
			continue;
		if (json)
			print_json(&v[i]);
		else if (sub)
			print_show(&v[i]);
		else
			print_row(&t, &v[i]);
	}
	if (!json && !sub && nv == 0)
		printf("no jobs %son %s (start one with `ferry run -- CMD`)\n", all ? "" : "of this project ", s.label);
	if (!json && !sub && first_shown)
		printf("(%zu older finished job%s not shown: `ferry jobs --last 0`)\n", first_shown,
		       first_shown == 1 ? "" : "s");
	free_records(v, nv);
	buf_release(&b);
	config_release(&cfg);
	return code;
}

/* ---- logs ---- */

int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool follow = false;
	uint32_t tail = 0;
	int c;

	while ((c = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = true; break;
		case 'n':
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v == 0 || v > 1000000)
				cmd_usage_die("logs", "--tail wants a number of lines (1 to 1000000), not '%s'", optarg);
			tail = (uint32_t)v;
			break;
		}
		case 'h': cmd_usage("logs", 0); return 0;
		default: cmd_usage("logs", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("logs", "one job at a time");
	cmd_load_config(&cfg);
	struct session s;
	struct buf b;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "logs", argv + optind, argc - optind, PICK_NEWEST, NULL);
	uint32_t id = ids[0];
	free(ids);
	logs_request(&b, id, tail, follow ? JOB_LOGS_FOLLOW | JOB_LOGS_AT : 0, 0);
	send_request(&s, opened, &cfg, MSG_JOB_LOGS, &b);
	int code = follow ? follow_logs(&s, &cfg, id, tail) : read_logs(&s);
	session_close(&s);
	buf_release(&b);
	config_release(&cfg);
	return code;
}

/* ---- attach ---- */

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		(void)tcsetattr(0, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

static void send_resize(struct session *s)
{
	uint16_t rows, cols;
	term_size(&rows, &cols);
	uint8_t b[4] = { (uint8_t)(rows >> 8), (uint8_t)rows, (uint8_t)(cols >> 8), (uint8_t)cols };
	if (rows && cols)
		conn_queue(&s->c, MSG_JOB_RESIZE, b, sizeof(b));
}

static void set_raw(void)
{
	struct termios raw;
	if (tcgetattr(0, &saved_tio) < 0)
		return;
	if (!tio_saved)
		atexit(restore_tty);
	tio_saved = true;
	raw = saved_tio;
	cfmakeraw(&raw);
	(void)tcsetattr(0, TCSAFLUSH, &raw);
}

/* JOB_ATTACH's body: u32 id, u16 rows, u16 cols, u64 the log offset seen
 * up to (UINT64_MAX: none yet, the recent output first). */
static void attach_request(struct buf *b, uint32_t id, uint64_t from)
{
	uint16_t rows, cols;
	term_size(&rows, &cols);
	buf_init(b, 16);
	buf_put_u32(b, id);
	buf_put_u16(b, rows);
	buf_put_u16(b, cols);
	buf_put_u64(b, from);
}

struct attach {
	struct session *s;
	uint32_t id;
	uint64_t pos;		/* log offset of the next byte, UINT64_MAX unknown */
	bool shown;		/* the recent output was shown (banner said) */
	bool done;
	int code;
};

/* Handles the frames already buffered: the recent output can come in
 * with the hello, before anything is left to poll for. */
static void attach_frames(struct attach *a)
{
	struct session *s = a->s;
	uint16_t type;
	struct rd body;
	int fr;
	while (!a->done && (fr = conn_next(&s->c, &type, &body)) == 1) {
		if (type == MSG_JOB_OUTPUT) {
			size_t n = rd_left(&body);
			(void)print_out(body.p + body.off, n);
			if (a->pos != UINT64_MAX)
				a->pos += n;
		} else if (type == MSG_JOB_LOG_AT) {
			/* The recent output is out: from here on, live. */
			a->pos = rd_u64(&body);
			rd_expect_end(&body);
			if (!rd_ok(&body)) {
				restore_tty();
				die(EXIT_PROTO, "malformed log position from the agent on '%s'", s->label);
			}
			if (!a->shown) {
				line_start("\r\n");
				fprintf(stderr, "ferry: attached to job %u; detach with Ctrl-]\r\n", a->id);
				a->shown = true;
			}
		} else if (type == MSG_JOB_DONE) {
			restore_tty();
			uint32_t jid;
			uint8_t state;
			int32_t jc, sig;
			if (job_done_decode(&body, &jid, &state, &jc, &sig) < 0)
				die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
			fprintf(stderr, "\n[job %u %s]\n", a->id, job_state_name(state));
			a->code = job_status(state, jc, sig);
			a->done = true;
		} else if (type == MSG_ERROR) {
			restore_tty();
			die_for_error(s, &body);
		} else {
			restore_tty();
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		}
	}
	if (!a->done && fr < 0) {
		restore_tty();
		die(EXIT_PROTO, "malformed frame from the agent on '%s'", s->label);
	}
}

int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': cmd_usage("attach", 0); return 0;
		default: cmd_usage("attach", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("attach", "one job at a time");
	if (!isatty(0))
		die(EXIT_USAGE, "attach needs a terminal on stdin (use `ferry logs -f%s%s` to watch)",
		    optind < argc ? " " : "", optind < argc ? argv[optind] : "");
	cmd_load_config(&cfg);
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "attach", argv + optind, argc - optind, PICK_RUNNING, NULL);
	uint32_t id = ids[0];
	free(ids);
	struct buf b;
	attach_request(&b, id, UINT64_MAX);
	send_request(&s, opened, &cfg, MSG_JOB_ATTACH, &b);
	buf_release(&b);

	set_raw();
	sig_watch(SIGWINCH);
	sig_watch(SIGINT);	/* only while reconnecting: raw mode makes Ctrl-C a key */
	signal(SIGPIPE, SIG_IGN);
	struct attach a = { .s = &s, .id = id, .pos = UINT64_MAX };
	bool lost = false;
	for (;;) {
		attach_frames(&a);
		if (a.done)
			break;
		if (lost) {
			/* Cooked again meanwhile, so that Ctrl-C stops us. */
			restore_tty();
			attach_request(&b, id, a.pos);
			int r = relink(&s, &cfg, MSG_JOB_ATTACH, &b, "\n");
			buf_release(&b);
			if (r) {
				a.code = still_running(&id, 1, "\n");
				break;
			}
			set_raw();
			lost = false;
			continue;
		}
		struct pollfd p[4] = {
			{ .fd = 0, .events = POLLIN },
			{ .fd = s.c.rfd, .events = POLLIN },
			{ .fd = sig_fd(), .events = POLLIN },
			{ .fd = s.proc.err, .events = POLLIN },
		};
		if (s.c.out.len && conn_flush(&s.c) < 0) {
			lost = true;
			continue;
		}
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents) {
			sig_drain();
			if (sig_take(SIGWINCH))
				send_resize(&s);
			(void)sig_take(SIGINT);
		}
		if (p[3].revents)
			session_read_stderr(&s);
		if (p[0].revents) {
			uint8_t in[4096];
			ssize_t n = read(0, in, sizeof(in));
			if (n <= 0)
				break;
			uint8_t *k = memchr(in, DETACH_KEY, (size_t)n);
			if (k) {
				if (k > in)
					conn_queue(&s.c, MSG_JOB_INPUT, in, (size_t)(k - in));
				(void)conn_flush(&s.c);
				restore_tty();
				fprintf(stderr, "\n[detached from job %u: `ferry attach %u` to come back]\n", id, id);
				break;
			}
			conn_queue(&s.c, MSG_JOB_INPUT, in, (size_t)n);
		}
		if (p[1].revents) {
			int r = conn_fill(&s.c);
			if (r == 0 || (r < 0 && r != -EAGAIN)) {
				attach_frames(&a);	/* the last words first */
				lost = !a.done;
			}
		}
	}
	restore_tty();
	session_close(&s);
	config_release(&cfg);
	return a.code;
}

/* ---- kill ---- */

static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM },
	};
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end == '\0' && end != s && signal_to_wire((int)v) != 0)
		return (int)v;
	return -1;
}

int cmd_kill(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	int c, sig = SIGTERM;
	uint32_t grace = JOB_KILL_GRACE_MS;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sig = parse_signal(optarg);
			if (sig < 0)
				cmd_usage_die("kill", "unknown signal '%s' (TERM, INT, HUP, QUIT, KILL, USR1, USR2)", optarg);
			break;
		case 'g': {
			uint64_t g = parse_age(optarg, false);
			if (g == UINT64_MAX || g > 3600ull * 1000000000u)
				cmd_usage_die("kill", "--grace wants a time like 10s or 2m, not '%s'", optarg);
			grace = (uint32_t)(g / 1000000u);
			break;
		}
		case 'h': cmd_usage("kill", 0); return 0;
		default: cmd_usage("kill", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("kill", "one job at a time");
	/* The latest running job is a guess: a person confirms it, a script
	 * names the job. */
	bool ask = optind == argc;
	if (ask && !(isatty(0) && isatty(2)))
		cmd_usage_die("kill", "name the job to kill (without a terminal there is no asking which)");
	cmd_load_config(&cfg);
	struct buf b;
	struct session s;
	bool opened;
	struct job latest = { 0 };
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "kill", argv + optind, argc - optind, PICK_RUNNING, &latest);
	uint32_t id = ids[0];
	free(ids);
	if (ask) {
		char *dur = fmt_duration(now_wall_ns() > latest.start_ns ? now_wall_ns() - latest.start_ns : 0);
		char *name = str_visible(latest.name[0] ? latest.name : "-");
		bool yes = confirm("kill job %u (%s, running %s)?", id, name, dur);
		free(dur);
		free(name);
		job_release(&latest);
		if (!yes) {
			session_close(&s);
			error_msg("nothing killed");
			config_release(&cfg);
			return EXIT_FAIL;
		}
	}
	buf_init(&b, 16);
	buf_put_u32(&b, id);
	buf_put_u32(&b, signal_to_wire(sig));
	buf_put_u32(&b, grace);
	send_request(&s, opened, &cfg, MSG_JOB_KILL, &b);
	struct rd body;
	uint16_t type = next_or_die(&s, &body);
	if (type != MSG_JOB_RECORD)
		die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s.label);
	struct job j;
	decode_record_or_die(&s, &body, &j);
	session_close(&s);
	if (j.state == JOB_RUNNING)
		printf("job %u was sent SIG%s and is still running\n", id, sigabbrev_np(sig));
	else
		printf("job %u %s\n", id, job_state_name(j.state));
	job_release(&j);
	buf_release(&b);
	config_release(&cfg);
	return 0;
}

/* ---- wait ---- */

static void notify(const struct job *j)
{
	char *ex = fmt_exit(j);
	char *msg = xasprintf("job %u %s (exit %s)", j->id, job_state_name(j->state), ex);
	(void)write_all(2, "\a", 1);
	char *argv[] = { "notify-send", "ferry", msg, NULL };
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_NULL, .err = SPAWN_NULL };
	struct child ch;
	if (spawn(argv, &o, &ch) == 0) {
		int st;
		child_close(&ch);
		(void)wait_child(ch.pid, &st);
	}
	free(msg);
	free(ex);
}

int cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "notify", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool want_notify = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': want_notify = true; break;
		case 'h': cmd_usage("wait", 0); return 0;
		default: cmd_usage("wait", 1); return EXIT_USAGE;
		}
	}
	if (argc - optind > JOB_IDS_MAX)
		cmd_usage_die("wait", "too many jobs (at most %d)", JOB_IDS_MAX);
	uint32_t n = optind == argc ? 1 : (uint32_t)(argc - optind);
	cmd_load_config(&cfg);
	struct buf b;
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "wait", argv + optind, argc - optind, PICK_NEWEST, NULL);
	buf_init(&b, FRAME_MAX);
	job_ids_encode(ids, n, &b);
	send_request(&s, opened, &cfg, MSG_JOB_WAIT, &b);
	sig_watch(SIGINT);
	int code = 0;
	uint32_t left = 0;	/* ids[left..n) have not ended yet */
	for (;;) {
		struct rd body;
		uint16_t type;
		int r = follow_next(&s, &type, &body);
		if (r < 0) {
			code = still_running(ids + left, n - left, "\n");
			break;
		}
		if (r == 0) {
			/* Ask again for the jobs not seen to end. */
			buf_reset(&b);
			job_ids_encode(ids + left, n - left, &b);
			if (relink(&s, &cfg, MSG_JOB_WAIT, &b, "\n")) {
				code = still_running(ids + left, n - left, "\n");
				break;
			}
			continue;
		}
		if (type == MSG_JOB_LIST_END)
			break;
		if (type == MSG_JOB_NOTICE) {
			print_notice(&s, &body);
			if (left < n)
				left++;	/* a job removed meanwhile */
			if (code == 0)
				code = EXIT_FAIL;
			continue;
		}
		if (type != MSG_JOB_RECORD)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s.label);
		struct job j;
		decode_record_or_die(&s, &body, &j);
		if (left < n && ids[left] == j.id)
			left++;
		char *ex = fmt_exit(&j);
		printf("job %u %s (exit %s)\n", j.id, job_state_name(j.state), ex);
		fflush(stdout);
		free(ex);
		int st = job_status(j.state, j.exit_code, j.signal);
		if (code == 0)
			code = st;
		if (want_notify)
			notify(&j);
		job_release(&j);
	}
	session_close(&s);
	free(ids);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
