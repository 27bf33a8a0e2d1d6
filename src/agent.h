/*
 * agent.h - the server side: `ferry agent` speaks the protocol on
 * stdin/stdout until the client closes the session.
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "limits.h"
#include "proto.h"

/* Runs a session on fds 0/1; returns the process exit code. */
int agent_main(void);

/* Expands the project root as the user wrote it: "~" and "~/x" are under
 * $HOME, a relative path is relative to $HOME (as scp does). */
char *agent_root_path(const char *root);

/* Request handlers (agent-exec.c, agent-info.c).  They return 0 to keep
 * the session, <0 to end it (an ERROR frame already queued if needed). */
int agent_exec(struct conn *c, struct rd *body);
int agent_info(struct conn *c, struct rd *body);
int agent_file_get(struct conn *c, struct rd *body);	/* agent-file.c */
int agent_sync(struct conn *c, struct rd *body);
/* Jobs (agent-job.c). */
int agent_job_start(struct conn *c, struct rd *body);
int agent_job_list(struct conn *c, struct rd *body);
int agent_job_logs(struct conn *c, struct rd *body);
int agent_job_kill(struct conn *c, struct rd *body);
int agent_job_wait(struct conn *c, struct rd *body);
int agent_job_attach(struct conn *c, struct rd *body);
int agent_job_rm(struct conn *c, struct rd *body);
/* Asks job id's supervisor to signal the job (then KILL after grace_ms,
 * 0 = the default), recorded as killed by the user.  0, -ENOENT, -ESRCH
 * (not running), or another -errno (supervisor unreachable). */
int job_ctl_kill(uint32_t id, int sig, uint32_t grace_ms);
/* The sync state folder of a project root (index, journal, lock). */
char *agent_state_dir(const char *root);
/* The environment a command runs with: the login shell's (login) or
 * this process's, plus extra K=V, with PWD=root.  *warning (caller frees)
 * says why the login environment could not be had. */
char **agent_env(bool login, char *const *extra, uint32_t nextra, const char *root, char **warning);
/* The user's shell: passwd, else $SHELL in envp, else /bin/sh. */
const char *agent_user_shell(char *const *envp);

int agent_mon(struct conn *c, struct rd *body);		/* agent-mon.c */
int agent_mon_kill(struct conn *c, struct rd *body);
/* Queues an ERROR frame. */
void agent_error(struct conn *c, uint32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* What one sync leaves for after its reply (agent.c): the old versions
 * of large replaced files, held open (freeing 1 GiB on ext4 takes
 * ~0.4 s), and the index to fsync (behind a large write it waits for
 * all of that data, ~0.2 s a GiB).  Zeroed at the sync's start. */
struct agent_later {
	int fds[DROP_DEFER_MAX];
	size_t nfds;
	char *to_sync;
};
void agent_defer_close(struct agent_later *l, int fd);
/* fsyncs an index file, its log and its folder at agent_later_run. */
void agent_sync_later(struct agent_later *l, const char *file);
/* Once the sync's last frame is written: a detached process frees the
 * held files and fsyncs the index; l is emptied. */
void agent_later_run(struct agent_later *l);

#endif
