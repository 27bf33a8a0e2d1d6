/*
 * platform.c - Linux's answers to platform.h, for glibc and musl alike.
 *
 * Raw system calls (syscall(2)) rather than libc wrappers where the
 * wrappers are new or glibc-only (openat2, renameat2, close_range,
 * getdents64): the same source then builds against musl, old glibc and
 * new, and a missing call is an ENOSYS at run time, never a link error.
 * Nothing here prints or exits.
 */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "fsx.h"
#include "util.h"

#include "banned.h"

/* The kernel's name for the running executable: a link that opens the
 * file itself, even one deleted or replaced since the exec. */
#define SELF_EXE "/proc/self/exe"

int platform_self_exe(char *buf, size_t size)
{
	ssize_t n = size > 1 ? readlink(SELF_EXE, buf, size - 1) : 0;
	if (n > 0 && (size_t)n < size - 1) {
		buf[n] = '\0';
		return 0;
	}
	if (n >= 0)
		errno = ENAMETOOLONG;	/* maybe cut short: readlink does not say */
	if (size > 0)
		buf[0] = '\0';
	return -1;
}

int platform_open_self_exe(void)
{
	return open(SELF_EXE, O_RDONLY | O_CLOEXEC);
}

int platform_exec_self(char *const argv[])
{
	execv(SELF_EXE, argv);
	return -1;
}

/* The main program is the first object dl_iterate_phdr reports, with
 * glibc and musl, static or dynamic.  Its name is no test: glibc gives
 * it "", musl gives it argv[0]. */
struct note_scan {
	unsigned char *id;
	size_t cap, len;
};

static int scan_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct note_scan *ns = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		size_t left = ph->p_memsz;
		while (left >= sizeof(ElfW(Nhdr))) {
			ElfW(Nhdr) nh;
			memcpy(&nh, p, sizeof(nh));
			size_t nsz = (nh.n_namesz + 3u) & ~3u;
			size_t dsz = (nh.n_descsz + 3u) & ~3u;
			size_t tot = sizeof(nh) + nsz + dsz;
			if (nsz > left || dsz > left || tot > left)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(p + sizeof(nh), "GNU", 4) == 0) {
				ns->len = nh.n_descsz < ns->cap ? nh.n_descsz : ns->cap;
				memcpy(ns->id, p + sizeof(nh) + nsz, ns->len);
				return 1;
			}
			p += tot;
			left -= tot;
		}
	}
	return 1;	/* the main program only */
}

size_t platform_build_id(unsigned char *id, size_t cap)
{
	struct note_scan ns = { .id = id, .cap = cap, .len = 0 };
	dl_iterate_phdr(scan_phdr, &ns);
	return ns.len;
}

int platform_open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	return fd >= 0 ? (int)fd : -errno;
#else
	return -ENOSYS;
#endif
}

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)	/* linux/fs.h; musl's stdio.h lacks it */
#endif

int platform_rename_noreplace(int olddfd, const char *oldname, int newdfd, const char *newname)
{
#ifdef SYS_renameat2
	return syscall(SYS_renameat2, olddfd, oldname, newdfd, newname, RENAME_NOREPLACE) < 0 ? -1 : 0;
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* "Umask:\t0022" in /proc/self/status (Linux 4.7+). */
int platform_umask_read(mode_t *out)
{
	char *data, *end;
	size_t len;
	if (read_file("/proc/self/status", 1 << 16, &data, &len) < 0)
		return -1;
	const char *p = strstr(data, "\nUmask:");
	int r = -1;
	if (p) {
		unsigned long v = strtoul(p + 7, &end, 8);
		if (end != p + 7 && v <= 0777) {
			*out = (mode_t)v;
			r = 0;
		}
	}
	free(data);
	return r;
}

int platform_parent_death_signal(int sig)
{
	return prctl(PR_SET_PDEATHSIG, sig) < 0 ? -1 : 0;
}

/* Where the fallback loop stops at most. */
#define CLOSE_FROM_MAX 65536

void platform_close_from(int lowfd)
{
	/* close_range: Linux 5.9; a loop to the usual limit before it. */
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
		return;
#endif
	/* Up to the fd limit (getrlimit: a plain syscall, safe after a
	 * fork), capped: a million closes would take a while. */
	struct rlimit rl;
	int top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < CLOSE_FROM_MAX
			  ? (int)rl.rlim_cur : CLOSE_FROM_MAX;
	for (int fd = lowfd; fd < top; fd++)
		close(fd);
}

/* The kernel's getdents64 record (linux/dirent.h has no userspace copy). */
struct dent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

ssize_t platform_dents(int dirfd, void *buf, size_t cap)
{
	return syscall(SYS_getdents64, dirfd, buf, cap);
}

const char *platform_dent_name(const void *buf, size_t len, size_t *off)
{
	const char *b = buf;
	unsigned short reclen;
	if (*off >= len || len - *off < offsetof(struct dent64, name) + 1)
		return NULL;
	memcpy(&reclen, b + *off + offsetof(struct dent64, reclen), sizeof(reclen));
	if (reclen <= offsetof(struct dent64, name) || reclen > len - *off)
		return NULL;	/* not a record the kernel writes */
	const char *name = b + *off + offsetof(struct dent64, name);
	*off += reclen;
	return name;
}

/* Names in place, not pointers: nothing for the static agents to
 * relocate (their RELRO segment sits one 64 KiB page from the 2 MiB cap
 * on ppc64le). */
static const struct {
	unsigned char sig;
	char name[7];
} sig_names[] = {
	{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
	{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
	{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
	{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" },
#ifdef SIGSTKFLT
	{ SIGSTKFLT, "STKFLT" },
#endif
	{ SIGCHLD, "CHLD" }, { SIGCONT, "CONT" }, { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" },
	{ SIGTTIN, "TTIN" }, { SIGTTOU, "TTOU" }, { SIGURG, "URG" }, { SIGXCPU, "XCPU" },
	{ SIGXFSZ, "XFSZ" }, { SIGVTALRM, "VTALRM" }, { SIGPROF, "PROF" }, { SIGWINCH, "WINCH" },
	/* glibc's sigabbrev_np says POLL for Linux's SIGIO. */
#ifdef SIGPOLL
	{ SIGPOLL, "POLL" },
#else
	{ SIGIO, "IO" },
#endif
#ifdef SIGPWR
	{ SIGPWR, "PWR" },
#endif
	{ SIGSYS, "SYS" },
};

const char *platform_sig_abbrev(int sig)
{
	for (size_t i = 0; i < ARRAY_LEN(sig_names); i++)
		if (sig_names[i].sig == sig)
			return sig_names[i].name;
	return NULL;
}
