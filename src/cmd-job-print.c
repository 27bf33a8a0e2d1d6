/*
 * cmd-job-print.c - a job as people and programs read it: the `ferry jobs`
 * table, `jobs show`, and JSON.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd-job.h"
#include "limits.h"
#include "platform.h"

#include "banned.h"

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

char *fmt_duration(uint64_t ns)
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
	char *shown = str_visible(v);
	free(v);
	return shown;
}

char *fmt_exit(const struct job *j)
{
	/* Killed before it started, or after its supervisor was lost: no
	 * exit status was seen, none is shown. */
	if (!job_ended(j->state) || (j->signal == 0 && j->exit_code < 0))
		return xstrdup("-");
	const char *sn = platform_sig_abbrev(j->signal);
	if (j->signal)
		return xasprintf("SIG%s", sn ? sn : "?");
	return xasprintf("%d", j->exit_code);
}

char *fmt_state(const struct job *j)
{
	if (j->state != JOB_LOST || !j->procs_known)
		return xstrdup(job_state_name(j->state));
	if (j->procs_left == 0)
		return xstrdup("lost (no processes left)");
	return xasprintf("lost (%u process%s still running)", j->procs_left, j->procs_left == 1 ? "" : "es");
}

void print_json(const struct job *j)
{
	char *name = json_quote(j->name), *cwd = json_quote(j->cwd), *root = json_quote(j->root);
	char *tree = json_quote(j->tree), *git = json_quote(j->git_commit), *snap = json_quote(j->snapshot);
	char *reason = json_quote(j->reason);
	printf("{\"id\":%u,\"name\":%s,\"state\":\"%s\",\"exit_code\":", j->id, name, job_state_name(j->state));
	if (!job_ended(j->state) || j->signal || j->exit_code < 0)
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
	/* A lost job: how many of its processes still run (null when the
	 * agent did not count them: an older one, or not lost). */
	if (j->state == JOB_LOST && j->procs_known)
		printf(",\"processes_left\":%u", j->procs_left);
	else
		printf(",\"processes_left\":null");
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


void table_init(struct table *t, bool project, size_t cols)
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

void print_header(const struct table *t)
{
	char *cell[COL_COUNT];
	for (int c = 0; c < COL_COUNT; c++)
		cell[c] = (char *)table_cols[c].head;
	print_cells(t, cell, "COMMAND");
}

void print_row(const struct table *t, const struct job *j)
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
	char *code = fmt_code(j);
	cell[COL_CODE] = str_visible(code);
	free(code);
	cell[COL_PROJECT] = fmt_project(j->root, (size_t)-table_cols[COL_PROJECT].width);
	char *vcmd = str_visible(cmd);
	print_cells(t, cell, vcmd);
	for (int c = 0; c < COL_COUNT; c++)
		free(cell[c]);
	free(vcmd);
	free(cmd);
}

#define OUTPUTS_LISTED 8	/* paths a job wrote that `jobs show` names */

void print_show(const struct job *j)
{
	char *start = fmt_time(j->start_ns), *mem = fmt_bytes(j->peak_rss), *cmd = fmt_command(j);
	char *ex = fmt_exit(j);
	uint64_t end = j->end_ns ? j->end_ns : now_wall_ns();
	char *dur = fmt_duration(end > j->start_ns ? end - j->start_ns : 0);
	printf("id:        %u\n", j->id);
	printf("name:      %s\n", vis(j->name[0] ? j->name : "-"));
	char *state = fmt_state(j);
	printf("state:     %s%s%s%s\n", state,
	       j->killed && !j->reason[0] ? " (by ferry kill)" : "", j->reason[0] ? " - " : "", vis(j->reason));
	printf("exit:      %s\n", ex);
	printf("command:   %s%s\n", vis(cmd), j->shell ? "  (shell)" : "");
	printf("started:   %s\n", start);
	printf("duration:  %s\n", dur);
	printf("peak mem:  %s\n", mem);
	printf("code:      tree %s, git %s%s\n", vis(j->tree[0] ? j->tree : "unknown"),
	       vis(j->git_commit[0] ? j->git_commit : "unknown"), j->git_commit[0] ? git_suffix(j->git_dirty) : "");
	printf("project:   %s\n", vis(j->root));
	printf("ran in:    %s%s\n", vis(j->cwd), j->snapshot[0] ? "  (snapshot)" : "  (in place)");
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
			char *l = xasprintf("%s%s%s", list, shown ? ", " : "", vis(p));
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
	if (j->state == JOB_LOST)
		printf("           (its supervisor is gone%s)\n",
		       j->procs_known && j->procs_left ? "; `ferry kill` stops what is left" : "");
	free(state);
	free(start);
	free(mem);
	free(cmd);
	free(ex);
	free(dur);
}
