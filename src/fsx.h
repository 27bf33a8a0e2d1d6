/*
 * fsx.h - filesystem helpers with the safety rules in one place: path
 * validation for names that come from a peer or a project file, private
 * state directories, atomic file replacement.
 */
#ifndef FERRY_FSX_H
#define FERRY_FSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Checks a relative path from an untrusted source: not empty, not
 * absolute, no NUL (len is the full length), no "." or ".." components,
 * no empty components and no trailing slash, components of at most
 * PATH_NAME_MAX bytes, at most PATH_REL_MAX bytes.  0 or -EINVAL. */
int path_check_rel(const char *p, size_t len);

/* Creates dir (and missing parents) with mode 0700; then verifies through
 * the opened folder (O_NOFOLLOW, fstat) that it is a real directory (not
 * a symlink), owned by us, and not accessible to group or others (ours
 * but too open: tightened).  Only dir itself: a caller checks each of its
 * folders that must be private.  0 or -errno (-EPERM: exists but unsafe,
 * with *why set). */
int dir_private(const char *dir, const char **why);

/* Opens the project folder root (an existing absolute path) by walking
 * its real path one folder at a time (O_NOFOLLOW each, fstat of what was
 * opened), and says whether another user could change what is in it:
 * 0 private (root is ours and no one else may write it; every folder
 * above is root's or ours, and writable by no one else but where the
 * sticky bit keeps others from renaming what is ours), 1 not (*why says
 * which folder and why), -errno.  *fd is the opened root in both cases.
 * One openat and fstat per folder of the path, whatever the tree holds. */
int project_open(const char *root, int *fd, char **why);

/* The user's home: $HOME when it is an absolute path, else the password
 * database's when that is an existing folder other than "/", else "/".
 * Caller frees. */
char *user_home(void);
/* ferry's state folder on this machine: $XDG_STATE_HOME/ferry when that
 * is an absolute path, else <user_home>/.local/state/ferry (/tmp/ferry-UID
 * for a user without a home: its users check it with dir_private, since
 * another user may have made it first).  The one
 * answer for the jobs folder, the per-project sync state and the monitor
 * (they once disagreed when HOME was unset).  Not created.  Caller frees. */
char *state_home(void);

/* mkdir -p with the given mode for new directories.  0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);

/* Reads a whole regular file of at most max bytes.  0 or -errno
 * (-EFBIG when larger).  *out is NUL-terminated; caller frees. */
int read_file(const char *path, size_t max, char **out, size_t *len);
/* The rest of the open file fd (not closed), at most max bytes (-EFBIG
 * beyond), grown from size_hint; NUL-terminated.  0 or -errno. */
int read_fd_all(int fd, size_t size_hint, size_t max, char **out, size_t *len);

/* Opens (creating, 0600) the lock file path and takes an exclusive flock
 * on it, waiting up to ms for a holder to let go.  The fd (the lock lasts
 * until it is closed), or -errno: -EWOULDBLOCK when the wait ran out. */
int lock_file_wait(const char *path, unsigned ms);

/* Writes data to path atomically: a temp file beside it, fsync, rename.
 * With excl, fails with -EEXIST if path exists.  0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int excl);
/* The same without the fsync, for a cache that may be lost: a crash
 * leaves the old file, the new one, or (no fsync) one that fails to
 * decode and is rebuilt. */
int write_cache_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same for a file written in pieces (a large index, encoded a piece
 * at a time instead of whole in memory): atomic_out_open makes the temp
 * file (0 or -errno), atomic_out_write appends (the first error is kept
 * and later writes skipped), then one of atomic_out_commit (rename over
 * path; fsync first when durable), atomic_out_link (fsync, then link:
 * -EEXIST when path appeared) or atomic_out_abort (the temp file goes).
 * commit and link return 0 or -errno and leave no temp file behind. */
struct atomic_out {
	const char *path;
	char *tmp;
	int fd, err;
};
int atomic_out_open(struct atomic_out *o, const char *path, mode_t mode);
void atomic_out_write(struct atomic_out *o, const void *data, size_t len);
int atomic_out_commit(struct atomic_out *o, bool durable);
int atomic_out_link(struct atomic_out *o);
void atomic_out_abort(struct atomic_out *o);

/* Opens rel (checked with path_check_rel) beneath the directory rootfd,
 * never following a symlink in any component, the last included: openat2
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else
 * a walk of O_NOFOLLOW opens.  flags/mode as for openat (O_CLOEXEC is
 * added).  An fd, or -errno: -EINVAL for a bad path, -ELOOP or -EXDEV for
 * a symlink or an escape. */
int open_beneath(int rootfd, const char *rel, int flags, mode_t mode);

/* The O_NOFOLLOW walk alone, so tests cover it on kernels with openat2. */
int open_walk_for_tests(int rootfd, const char *rel, int flags, mode_t mode);

/* The process's umask, read once (/proc/self/status "Umask:", else a
 * umask() set-and-restore before any thread is started: umask() is
 * process-wide and has no read-only form).  fsx_umask_init reads it at
 * startup; fsx_umask reads it on first use otherwise. */
void fsx_umask_init(void);
mode_t fsx_umask(void);

/* The mode a sync gives a file or folder it places here, from the mode
 * the peer sent: only the permission bits travel (never setuid, setgid or
 * sticky, which would let a server plant a setuid program on the laptop)
 * and this side's umask removes what the user never gives away. */
mode_t sync_mode_here(uint32_t sent);

/* The absolute form of p (relative to cwd), lexically normalised. */
char *path_absolute(const char *p);

#endif
