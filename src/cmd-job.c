/*
 * cmd-job.c - what the job commands share: a session, its replies, the
 * records, naming jobs by id, name or "the latest", a question on a terminal.
 *
 * Jobs live on the server (agent-job.c, job-sup.c); each command is thin
 * and has its file: cmd-run.c, cmd-jobs.c, cmd-logs.c, cmd-attach.c,
 * cmd-kill.c, cmd-wait.c; tables and JSON in cmd-job-print.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cmd.h"
#include "cmd-job.h"
#include "job-wire.h"
#include "limits.h"

#include "banned.h"

/* ---- sessions and replies ---- */

void open_or_die(struct session *s, const struct config *cfg, uint16_t type, const struct buf *b)
{
	struct ferr e = { 0 };
	struct session_opts so = { 0 };
	if (session_open(s, cfg, &so, type, b, &e) < 0)
		ferr_die(&e);
}

/* The agent's ERROR frame as one clear line, and the exit. */
void die_for_error(struct session *s, struct rd *body)
{
	struct ferr e = { 0 };
	(void)err_from_peer(body, s->label, &e);
	ferr_die(&e);
}

/* The next frame; dies with one clear line on an ERROR or a lost link. */
uint16_t next_or_die(struct session *s, struct rd *body)
{
	uint16_t type;
	int r = conn_flush(&s->c) < 0 ? 0 : conn_read(&s->c, &type, body);
	if (r <= 0) {
		struct ferr e = { 0 };
		err_from_read(s, r, true, &e);
		ferr_die(&e);
	}
	if (type == MSG_ERROR)
		die_for_error(s, body);
	return type;
}

/* Prints a notice; returns its job id (0: about no job in particular). */
uint32_t print_notice(struct session *s, struct rd *body)
{
	uint32_t id = rd_u32(body);
	char *m = rd_cstr(body, JOB_NOTICE_MAX);
	rd_expect_end(body);
	if (!rd_ok(body) || m == NULL)
		die(EXIT_PROTO, "malformed notice from the agent on '%s'", s->label);
	m[strcspn(m, "\n")] = '\0';
	warn_msg("%s", m);
	free(m);
	return id;
}

void decode_record_or_die(struct session *s, struct rd *body, struct job *j)
{
	if (job_decode(rd_peek(body), rd_left(body), j) < 0)
		die(EXIT_PROTO, "malformed job record from the agent on '%s'", s->label);
}

/* The exit status a job's end maps to, as a shell would say it. */
int job_status(uint8_t state, int32_t code, int32_t sig)
{
	if (!job_ended(state))		/* running, queued, lost */
		return EXIT_FAIL;
	return sig ? 128 + sig : code < 0 ? EXIT_FAIL : code;	/* killed, no status seen */
}

/* JOB_LIST's body: no ids, and the project (its root as in ferry.ini;
 * "": every project). */
void list_request(struct buf *b, const char *project)
{
	buf_init(b, FRAME_MAX);
	job_ids_encode(NULL, 0, b);
	buf_put_cstr(b, project);
}

/* The records a JOB_LIST sent, ascending by id, until its end; a notice
 * is printed and makes *code 1. */
struct job *read_records(struct session *s, size_t *n, int *code)
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

void free_records(struct job *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		job_release(&v[i]);
	free(v);
}

/* How a name, or no job argument, picks a job of this project: the
 * newest (logs, wait, jobs show, jobs rm), or the running one (kill,
 * attach; a name two running jobs carry is ambiguous). */

/* Turns a command's job arguments into ids.  An id stays an id, of this
 * project or another (ids are unique per user on a server).  A name is
 * this project's newest job of that name; no argument (n 0) is its newest
 * job.  Names and none need this project's jobs: s is opened with that
 * list and *opened says so (the command's own request then follows in the
 * same session).  *pick_out gets the record picked for n 0 when not NULL.
 * Returns max(n, 1) ids; dies with one line when a name matches nothing
 * or is ambiguous. */
uint32_t *resolve_jobs(struct session *s, bool *opened, const struct config *cfg, const char *cmd,
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
void send_request(struct session *s, bool opened, const struct config *cfg, uint16_t type, struct buf *b)
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
bool confirm(const char *fmt, ...)
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

void term_size(uint16_t *rows, uint16_t *cols)
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

/* "30s", "90m", "12h", "7d", "2w" (a unit is required with need_unit:
 * `prune --older-than 1` once removed every finished job); ns, or
 * UINT64_MAX. */
uint64_t parse_age(const char *s, bool need_unit)
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
