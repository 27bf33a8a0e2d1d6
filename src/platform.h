/*
 * platform.h - the operating system calls of the client that POSIX does
 * not have, behind one small interface.
 *
 * Linux (glibc or musl) is the one implementation today; docs/porting.md
 * lists what each function must do and what a macOS port would use.  The
 * agent's own Linux-only code (agent-*.c, mon-*.c, job-*.c, fwd-detect.c)
 * does not go through here: the agent runs on Linux servers only.
 *
 * Every function is safe to call from any thread; platform_exec_self and
 * platform_close_from are also safe between fork and exec.
 */
#ifndef FERRY_PLATFORM_H
#define FERRY_PLATFORM_H

#include <stddef.h>
#include <sys/types.h>

/* The path of the executable this process runs, NUL-terminated in buf.
 * 0, or -1 with errno (ENAMETOOLONG when it does not fit). */
int platform_self_exe(char *buf, size_t size);

/* A new fd (O_RDONLY | O_CLOEXEC) on the file this process runs: that
 * file, even where its path now names another.  fd, or -1 with errno. */
int platform_open_self_exe(void);

/* Replaces the process with its own executable (the file it runs, not a
 * path looked up again), with argv.  Returns only on failure: -1, errno. */
int platform_exec_self(char *const argv[]);

/* The build id of the main program (the GNU build-id note on ELF): up to
 * cap bytes in id.  Its length, 0 when it has none. */
size_t platform_build_id(unsigned char *id, size_t cap);

/* rel opened beneath rootfd by the kernel in one call, no symlink
 * followed in any component, the last included (flags get O_NOFOLLOW |
 * O_CLOEXEC).  fd, or -errno; -ENOSYS where this kernel or platform has
 * no such call (the caller walks the components itself, fsx.c). */
int platform_open_beneath(int rootfd, const char *rel, int flags, mode_t mode);

/* renameat that fails with EEXIST rather than replace newname.  0, or -1
 * with errno; ENOSYS, EINVAL or EOPNOTSUPP where the kernel, the
 * filesystem or the platform cannot (the caller falls back). */
int platform_rename_noreplace(int olddfd, const char *oldname, int newdfd, const char *newname);

/* The process's umask, read without setting it (another thread could see
 * the set-and-restore).  0, or -1 where it cannot be read. */
int platform_umask_read(mode_t *out);

/* Asks for sig when the parent process ends.  0, or -1 with errno
 * (ENOSYS: not here; the caller watches getppid()). */
int platform_parent_death_signal(int sig);

/* Closes every fd from lowfd up. */
void platform_close_from(int lowfd);

/* A folder's entries, read in bulk from dirfd's offset (straight from the
 * fd: no DIR, no copy of each name).  Bytes put in buf, 0 at the end, or
 * -1 with errno; cap must hold the longest entry (SCAN_DENTS_CHUNK). */
ssize_t platform_dents(int dirfd, void *buf, size_t cap);

/* The entry at *off in what platform_dents put in buf (len bytes in all,
 * concatenated reads allowed): its name, which lives as long as buf, and
 * *off moved past it.  NULL once *off reaches len. */
const char *platform_dent_name(const void *buf, size_t len, size_t *off);

/* "KILL" for SIGKILL: the name without "SIG", NULL for a number with no
 * name (real-time signals included). */
const char *platform_sig_abbrev(int sig);

#endif
