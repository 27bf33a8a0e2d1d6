/*
 * agent.h - the server side: `ferry agent` speaks the protocol on
 * stdin/stdout until the client closes the session.
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"
#include "limits.h"
#include "proto.h"

struct agent;
struct ev_loop;

/*
 * A request served on the event loop (exec, monitoring, logs -f, wait,
 * attach) is bound to its channel: an achan.  Its handler starts from the
 * request, then lives on callbacks; it queues its frames on the channel
 * (achan_queue, after asking achan_room) and says achan_done when it has
 * queued its last one.
 */
struct achan;
struct achan_ops {
	/* A frame of the peer's on the channel.  <0: the request failed (an
	 * ERROR queued): the agent stops it (on channel 0, the session).  1:
	 * the request ended (achan_done said) and the frame is not its: it
	 * starts the next request. */
	int (*frame)(struct achan *x, uint16_t type, struct rd *body);
	/* The channel has room again after achan_room said no. */
	void (*room)(struct achan *x);
	/* SIGCHLD came (handlers that asked achan_children). */
	void (*child)(struct achan *x);
	/* Ends the request now, queueing nothing (the peer abandoned the
	 * channel or the session is over): frees the handler's state. */
	void (*stop)(struct achan *x);
	/* The peer sent CHAN_CLOSE: it sends nothing more (optional). */
	void (*peer_end)(struct achan *x);
};
struct achan {
	struct chan ch;
	struct agent *a;
	const struct achan_ops *ops;	/* NULL: no request running */
	void *st;			/* the handler's */
	bool used, started, want_room, children;
	bool own_window;	/* the handler grants the peer's window back
				 * itself (achan_consumed), as it passes the
				 * bytes on, instead of on receipt */
};
struct ev_loop *achan_ev(const struct achan *x);
/* The conn, for a handler's reads of other fds it must not block on. */
struct conn *achan_conn(const struct achan *x);
/* May the handler queue one more frame?  When not, its room callback
 * runs once there is. */
bool achan_room(struct achan *x);
int achan_queue(struct achan *x, uint16_t type, const void *p, size_t n);
void achan_error(struct achan *x, uint32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For helpers that queue on a conn: achan_scratch makes s a conn that
 * only collects frames stamped with x's channel; achan_take moves them
 * onto x's queue and releases s. */
void achan_scratch(struct achan *x, struct conn *s);
void achan_take(struct achan *x, struct conn *s);
/* With own_window: n payload bytes of the peer's were passed on. */
void achan_consumed(struct achan *x, size_t n);
/* Abandons the channel (CHAN_RESET code, msg) and ends the request; the
 * handler has freed its state. */
void achan_reset(struct achan *x, uint32_t code, const char *msg);
/* Turns SIGCHLD delivery to x->ops->child on or off. */
void achan_children(struct achan *x, bool on);
/* A child of a stopped request: reaped when it ends. */
void achan_reap_later(struct achan *x, pid_t pid);
/* The request is over: its state is already freed; what it queued goes
 * out, then CHAN_CLOSE (not on channel 0). */
void achan_done(struct achan *x);

/* Runs a session on fds 0/1; returns the process exit code. */
int agent_main(void);

/* `ferry agent [--cwd DIR | --build-id | --dump-env | supervise JOBDIR]`,
 * argv[0] being "agent": the one entry of both the client executable and
 * the static agent (agent-main.c).  Returns the exit code. */
int agent_entry(int argc, char **argv);

/* Removes the other agent versions beside this one that no process of
 * ours runs, at most once every AGENT_PRUNE_EVERY_S (agent-prune.c). */
void agent_prune_versions(void);

/* `ferry agent --cwd DIR`: the boot script started the agent from inside
 * its own folder; back to DIR, the login folder ssh gave the session (or
 * $HOME, or /, when that is gone). */
void agent_chdir_login(const char *dir);

/* Expands the project root as the user wrote it: "~" and "~/x" are under
 * $HOME, a relative path is relative to $HOME (as scp does). */
char *agent_root_path(const char *root);

/* Requests on the loop: each starts its handler on x from the request
 * (or answers at once and says achan_done); <0 when the request is
 * malformed (an ERROR queued). */
int agent_exec_start(struct achan *x, struct rd *body);	/* agent-exec.c */
int agent_mon_start(struct achan *x, struct rd *body);		/* agent-mon.c */
int agent_job_logs_start(struct achan *x, struct rd *body);	/* agent-job.c */
int agent_job_wait_start(struct achan *x, struct rd *body);
int agent_job_attach_start(struct achan *x, struct rd *body);
int agent_fwd_open_start(struct achan *x, struct rd *body);	/* agent-fwd.c */
int agent_fwd_watch_start(struct achan *x, struct rd *body);

/* Sequential request handlers (agent-info.c, ...), run on channel 0.  They
 * return 0 to keep the session, <0 to end it (an ERROR frame already
 * queued if needed). */
int agent_info(struct conn *c, struct rd *body);
int agent_file_get(struct conn *c, struct rd *body);	/* agent-file.c */
int agent_sync(struct conn *c, struct rd *body);
/* Jobs (agent-job.c). */
int agent_job_start(struct conn *c, struct rd *body);
int agent_job_list(struct conn *c, struct rd *body);
int agent_job_kill(struct conn *c, struct rd *body);
int agent_job_rm(struct conn *c, struct rd *body);
/* Asks job id's supervisor to signal the job (then KILL after grace_ms,
 * 0 = the default), recorded as killed by the user.  0, -ENOENT, -ESRCH
 * (not running), or another -errno (supervisor unreachable). */
int job_ctl_kill(uint32_t id, int sig, uint32_t grace_ms);
/* The sync state folder of a project root (index, journal, lock). */
char *agent_state_dir(const char *root);
/* agent_state_dir(root), made and checked private with every folder of
 * ours on the way; NULL after an ERROR frame on c. */
char *agent_state_private(struct conn *c, const char *root);
/* Opens the project folder root for a sync or a job (project_open): 0
 * with *fd, *shared saying whether other users may write it (allowed
 * only when the project says so: allow_shared), or -1 after an ERROR
 * frame on c. */
int agent_project_open(struct conn *c, const char *root, bool allow_shared, int *fd, bool *shared);
/* The folder of root's snapshots: in it (SNAP_DIR) when only its user
 * can write it, else in the user's own state folder (made private);
 * NULL after an ERROR frame on c. */
char *agent_snap_base(struct conn *c, const char *root, bool shared);
/* The environment a command runs with: the login shell's (login) or
 * this process's, plus extra K=V, with PWD=root.  *warning (caller frees)
 * says why the login environment could not be had. */
char **agent_env(bool login, char *const *extra, uint32_t nextra, const char *root, char **warning);
/* The user's shell: passwd, else $SHELL in envp, else /bin/sh. */
const char *agent_user_shell(char *const *envp);

int agent_mon_kill(struct conn *c, struct rd *body);	/* agent-mon.c */
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
