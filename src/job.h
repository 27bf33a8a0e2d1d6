/*
 * job.h - jobs on the server: the record of one run, where it lives, and
 * its log.
 *
 * Every job has a folder under the jobs folder (state_home()/jobs, i.e.
 * $XDG_STATE_HOME/ferry/jobs, default ~/.local/state/ferry/jobs, mode
 * 0700) named by its id:
 *
 *   spec     what to run (job-spec.h): written before anything runs
 *   record   the job record (job_encode; written atomically, 0600)
 *   state    "running", "exited", ... one word, for readers like the monitor
 *   sid      the session id of the job's processes (decimal)
 *   log      the first JOB_LOG_HEAD bytes of output; then log.1, log.2, ...
 *            segments of JOB_LOG_SEG bytes, of which the newest
 *            JOB_LOG_SEGS are kept (the head and a rolling tail)
 *   ctl      the supervisor's control socket while it runs
 *
 * A record that says running is asked of its backend (job-backend.h)
 * whether it still runs; one that does not is shown as lost.  A lost
 * job's processes may still run (its supervisor was killed, not the
 * job): they are found by the job's session and process group (the
 * command's pid) and their start times, and can still be killed.
 */
#ifndef FERRY_JOB_H
#define FERRY_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* On disk as numbers: new states go at the end.  queued: the spec is
 * written and nothing runs yet (a queue or a batch system starts it). */
enum job_state { JOB_RUNNING, JOB_EXITED, JOB_FAILED, JOB_KILLED, JOB_LOST, JOB_QUEUED, JOB_STATE_COUNT };

/* The laptop's work tree when the job started (git_dirty).  The values
 * are on disk in records of every version: 0..2 since the first, 3 since
 * untracked files were told apart. */
enum job_git {
	JOB_GIT_CLEAN,		/* `git status --porcelain` empty */
	JOB_GIT_DIRTY,		/* a tracked file modified, staged, deleted... */
	JOB_GIT_UNKNOWN,	/* no git, no commit, or git failed */
	JOB_GIT_UNTRACKED,	/* only untracked files ("??" lines) */
	JOB_GIT_COUNT
};

struct job {
	uint32_t id;
	uint8_t state;		/* enum job_state */
	uint8_t shell;		/* argv[0] is a shell line */
	char *name;		/* "" when none */
	char **argv;		/* NULL-terminated */
	uint32_t argc;
	char *root;		/* the live project folder */
	char *cwd;		/* where it runs: a snapshot, or root */
	char *snapshot;		/* snapshot id, "" when in place */
	char *tree;		/* hash of the pushed tree (hex), "" unknown */
	char *git_commit;	/* the laptop's HEAD, "" unknown */
	uint8_t git_dirty;	/* enum job_git */
	int32_t exit_code;	/* -1 while running or when killed by a signal */
	int32_t signal;		/* the signal that ended it, 0 if none */
	uint64_t start_ns, end_ns;	/* wall clock; end 0 while running */
	uint64_t peak_rss;	/* bytes, the job's process tree at its largest */
	int32_t pid;		/* the command (also its session id) */
	int32_t sup_pid;	/* the supervisor */
	uint64_t sup_start;	/* its start time, clock ticks after boot */
	char *boot_id;
	uint64_t log_bytes;	/* output written, dropped bytes included */
	uint8_t killed;		/* stopped by ferry: `ferry kill` or a guard */
	char *reason;		/* why ferry stopped it, "" otherwise */
	uint64_t max_mem;	/* --max-mem for its process tree, 0 none */
	uint64_t min_avail;	/* host guard threshold (MemAvailable), 0 off */
	char *backend;		/* who runs it (job-backend.h): "local" */
	uint64_t pid_start;	/* the command's start time (as sup_start): tells its
				 * pid, session and group from a reused one; 0 in
				 * records written before it was kept */
	uint8_t procs_known;	/* procs_left was counted: the agent does it for a
				 * lost job it sends (0 on disk) */
	uint32_t procs_left;	/* a lost job's processes still running */
	char *outputs;		/* not in the record: the paths it moved out of its
				 * snapshot, a line each (JOB_OUTPUTS), or NULL */
};

const char *job_state_name(uint8_t state);
/* Has the job ended (exited, failed, killed)?  Running, queued and lost
 * ones have no exit status yet. */
bool job_ended(uint8_t state);
/* "clean", "dirty", "unknown", "untracked". */
const char *job_git_name(uint8_t git);
/* The work tree's state from the output of `git status --porcelain`
 * (v1, lines "XY path"): JOB_GIT_CLEAN, _UNTRACKED or _DIRTY. */
uint8_t job_git_state(const char *porcelain);
void job_release(struct job *j);

/* The record's bytes (a parser of untrusted input: fuzzed).  0 or -1.
 * job_encode writes tagged fields ("FJB3", job-tag.h); job_decode also
 * reads the positional records of earlier versions ("FJB1", "FJB2"). */
int job_encode(const struct job *j, struct buf *out);
int job_decode(const void *p, size_t n, struct job *j);

/* The jobs folder's path (state_home()/jobs), not created: the one
 * answer for the agent, the supervisor and the monitor.  Caller frees. */
char *jobs_path(void);
/* The jobs folder, created 0700 (checked: owner, no symlink).  NULL with
 * *why set when it cannot be used. */
char *jobs_dir(const char **why);
/* A job's folder. */
char *job_dir(const char *jobs, uint32_t id);

/* A new job id with its folder created; 0 or -errno. */
int job_alloc(const char *jobs, uint32_t *id);
/* Writes record, state and sid atomically; 0 or -errno. */
int job_save(const char *jobs, const struct job *j);
/* Reads a job's record, and marks it lost if its backend says a running
 * one is gone.  0, -ENOENT, or -EBADMSG. */
int job_load(const char *jobs, uint32_t id, struct job *j);
/* Reads the record as it is on disk, without asking the backend. */
int job_load_raw(const char *jobs, uint32_t id, struct job *j);
/* Cancels a queued job: recorded as killed before it started.  0,
 * -ESRCH when it is no longer queued (it started meanwhile), -errno.
 * Holds the jobs folder's lock, which whoever starts queued jobs takes
 * too. */
int job_cancel(const char *jobs, uint32_t id, struct job *out);
/* Takes the jobs folder's lock (ids are handed out and queued jobs
 * change state under it): the fd to close, or -errno. */
int job_lock(const char *jobs);
/* Writes path atomically (temp + rename, 0600).  0 or -errno. */
int job_put_file(const char *path, const void *p, size_t n);
/* The ids of all jobs, ascending (caller frees). */
uint32_t *job_ids(const char *jobs, size_t *n);
/* Is the supervisor still the process the record names (this boot, that
 * pid, that start time, not a zombie)?  The local backend's answer. */
bool job_supervisor_alive(const struct job *j);

/* This boot's id, and a process's start time (clock ticks after boot,
 * field 22 of /proc/PID/stat): 0 when unknown. */
char *boot_id(void);
uint64_t proc_start_time(pid_t pid);

/* The checks below read a /proc tree: "/proc", or a fake one in tests.
 * A process counts as alive when its stat file parses, its state is not
 * Z (exited, not yet reaped) or X, and its start time is the one
 * expected (a pid used again by another process never matches). */
bool job_proc_alive(const char *proc, pid_t pid, uint64_t start);
/* job_supervisor_alive against that tree (its boot id included). */
bool job_supervisor_alive_in(const char *proc, const struct job *j);

/* The processes of a job whose supervisor is gone: this user's live
 * processes whose session or process group is the command's pid, started
 * no earlier than the command (pid_start; in older records, no earlier
 * than the supervisor), on the boot the record names.  None when that pid
 * now belongs to a process started at another time: the session and
 * group ids are then someone else's.  Up to max pids (and their start
 * times) into pids[] and starts[]; *group says some of them are still in
 * the job's process group.  Returns the count. */
size_t job_procs_in(const char *proc, const struct job *j, pid_t *pids, uint64_t *starts, size_t max, bool *group);
/* Sets j->procs_known and j->procs_left from /proc, for a lost job. */
void job_count_procs(struct job *j);

/* The log, as one stream over its head and segments.  Bytes that were
 * dropped between the head and the oldest kept segment read as one line
 * "[ferry: N bytes of output dropped]". */
struct job_log {
	int dirfd;
	uint32_t seg;		/* 0 = the head file "log", n = "log.n" */
	int fd;			/* open file of seg, or -1 */
	uint64_t off;		/* offset in it */
	bool gap_pending;	/* a dropped-bytes line is owed */
	uint64_t gap;
	char gapline[80];	/* that line, and how much of it was read */
	size_t gaplen, gapoff;
	uint64_t seg_max;	/* JOB_LOG_SEG (smaller in tests) */
	uint64_t head_max;	/* JOB_LOG_HEAD (smaller in tests) */
};
/* Opens the log of the job in dir at its start (tail_bytes 0) or at most
 * tail_bytes before its end.  0 or -errno. */
int job_log_open(struct job_log *l, const char *dir, uint64_t tail_bytes);
/* The bytes written to the log of the job in dir so far, dropped ones
 * included (the record's log_bytes is only written at the end). */
uint64_t job_log_size(const char *dir);
/* Reads what is there: >0 bytes, 0 nothing more for now, -errno. */
ssize_t job_log_read(struct job_log *l, void *p, size_t n);
void job_log_close(struct job_log *l);
/* Log offsets count every byte the job wrote (the writer's total), the
 * dropped ones too.  pos: the offset of the next byte read (after a
 * dropped-bytes line, of the first byte after the gap); seek: go there
 * (a place since dropped reads as a dropped-bytes line first). */
uint64_t job_log_pos(const struct job_log *l);
void job_log_seek(struct job_log *l, uint64_t pos);

/* Writing side, for the supervisor: appends to the head, then to
 * segments, rotating and deleting the oldest.  log_bytes counts all. */
struct job_log_writer {
	int dirfd;
	int fd;
	uint32_t seg;
	uint64_t seg_len;
	uint64_t total;
	uint64_t head_max, seg_max;	/* JOB_LOG_HEAD, JOB_LOG_SEG */
	uint32_t segs;			/* JOB_LOG_SEGS */
};
int job_log_writer_open(struct job_log_writer *w, int dirfd);
int job_log_write(struct job_log_writer *w, const void *p, size_t n);
void job_log_writer_close(struct job_log_writer *w);

/* Parses a job id argument ("7", "#7"); 0 when invalid. */
uint32_t job_parse_id(const char *s);

#endif
