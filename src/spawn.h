/*
 * spawn.h - fork/exec discipline: pipes for the fds we ask for, everything
 * else close-on-exec, signal state reset, and exec failures reported back
 * as an errno instead of a silent exit.
 */
#ifndef FERRY_SPAWN_H
#define FERRY_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct buf;

enum spawn_fd { SPAWN_INHERIT, SPAWN_PIPE, SPAWN_NULL };

struct spawn_opts {
	enum spawn_fd in, out, err;
	char *const *envp;	/* NULL: this process's environment */
	const char *cwd;	/* NULL: stay */
	bool new_pgrp;		/* own process group (Ctrl-C goes to it only) */
	bool new_session;	/* setsid(): no controlling terminal */
	bool ignore_sigint;	/* child starts with SIGINT ignored */
	const char *tty;	/* with new_session: this terminal (a pty slave)
				 * becomes the controlling one and stdin, stdout
				 * and stderr (in, out, err are not used) */
};

struct child {
	pid_t pid;
	int in, out, err;	/* our ends of the pipes, or -1 */
};

/* Starts argv[0] (searched in the PATH of envp when it has no slash).
 * 0 with *c filled, or -errno: from fork/pipe, or the errno execve
 * reported from the child (-ENOENT, -EACCES, -ENOEXEC...). */
int spawn(char *const argv[], const struct spawn_opts *o, struct child *c);
/* Closes our pipe ends (not the process). */
void child_close(struct child *c);
/* waitpid() retrying EINTR; the raw status. */
int wait_child(pid_t pid, int *status);

/* Runs argv (stdin and stderr /dev/null, a session of its own) and
 * collects its stdout into out, up to out's maximum (the rest is read and
 * dropped: *cut says so, when not NULL), for at most timeout_ms (then
 * SIGKILL).  Its exit code, or -1 when it could not run, was killed or
 * ran out of time.  For short helper programs: nvidia-smi, getent. */
int spawn_capture(char *const argv[], unsigned timeout_ms, struct buf *out, bool *cut);

/* execve() with PATH taken from envp; returns only on failure (-errno). */
int exec_search(char *const argv[], char *const envp[]);

/* A new pty: its master (close-on-exec, not our controlling terminal)
 * and the slave's path (caller frees).  0 or -errno. */
int pty_open(int *master, char **slave);

/* Sets O_NONBLOCK / FD_CLOEXEC. */
int fd_nonblock(int fd);
/* Grows a pipe to PIPE_GROW (64 KiB by default: a bulk stream would
 * take a write and a wake-up for each 64 KiB); nothing for other fds. */
void fd_pipe_grow(int fd);
int fd_cloexec(int fd);

#endif
