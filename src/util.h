/*
 * util.h - allocation that never fails, messages in one style, exit codes.
 *
 * Library code returns 0 or a negative error and never exits; only command
 * edges call die().  Allocation failure aborts: no caller tests for NULL.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes: the documented table (docs/exit-codes.md).  For `exec` the
 * remote command's own status passes through, a signal as 128+N. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* the command ran and reports failure */
	EXIT_USAGE = 64,	/* bad options or arguments */
	EXIT_CONNECT = 69,	/* cannot reach the host */
	EXIT_INTERNAL = 70,	/* a bug in ferry */
	EXIT_OSERR = 71,	/* local system error: fork, pipe, disk */
	EXIT_REMOTE = 73,	/* remote side cannot do it: install, path, disk */
	EXIT_LOST = 75,		/* connection lost while a command ran */
	EXIT_PROTO = 76,	/* the peer broke the protocol */
	EXIT_AUTH = 77,		/* authentication or host key refused */
	EXIT_CONFIG = 78,	/* project file error */
};

#define ATTR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Says so and aborts: what the x* allocators do when memory runs out. */
void oom(size_t n) ATTR_NORETURN;
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ATTR_PRINTF(1, 0);

/* "ferry: <msg>" on stderr, msg made visible (str_visible: one line, no
 * control characters). */
void error_msg(const char *fmt, ...) ATTR_PRINTF(1, 2);
void warn_msg(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* "hint: <msg>" on stderr, after an error. */
void hint_msg(const char *fmt, ...) ATTR_PRINTF(1, 2);
void die(int code, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_NORETURN;
/* A bug: prints and aborts. */
void bug(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

/* Writes all of p, retrying on EINTR and short counts; on a non-blocking
 * fd it waits (poll) rather than fail with -EAGAIN, never losing track of
 * what was written.  0 or -errno. */
int write_all(int fd, const void *p, size_t n);
/* Monotonic and wall clocks in nanoseconds. */
uint64_t now_mono_ns(void);
uint64_t now_wall_ns(void);

/* Quote s for a POSIX shell as one word ('...' with '\'' for quotes). */
char *sh_quote(const char *s);

/* Split a command line into words like a shell would, without expansion:
 * whitespace separates, '...' and "..." quote, backslash escapes.  Returns
 * the count (>0) and a NULL-terminated vector, or -1 on an unbalanced quote
 * or an empty line. */
int split_words(const char *s, char ***out);
void free_words(char **v);

/* A shared flock on this process's own executable, for as long as it
 * lives: the agent version is in use (agent-prune.c tries it
 * exclusive).  Forks share it: whoever closes every fd (a detaching
 * job supervisor) keeps exe_held_fd() (-1 when none is held). */
void exe_hold_shared(void);
int exe_held_fd(void);

/* The ferry version and the id of this exact build (version + build id). */
const char *ferry_version(void);
const char *ferry_build_id(void);

/* s as a JSON string literal, quotes included (bytes >= 0x80 pass as is;
 * invalid UTF-8 becomes U+FFFD). */
char *json_quote(const char *s);
/* The one way a string from the server or from a file name reaches a
 * human-readable line (README, "What ferry prints"): one line,
 * nothing a terminal acts on.  Printable ASCII and well-formed printable
 * UTF-8 pass as they are; a backslash becomes \\ so that the output reads
 * back to exactly one input; BEL, BS, TAB, LF, VT, FF, CR and ESC become
 * \a \b \t \n \v \f \r \e; other C0 controls, NUL, DEL, C1 controls
 * (a lone 0x80..0x9f or U+0080..U+009F, byte by byte) and bytes that are
 * not UTF-8 become \xNN; line separators and bidirectional controls
 * (U+061C, U+200E, U+200F, U+2028..U+202E, U+2066..U+2069) become \uNNNN.
 * At most 4 output bytes per input byte.
 *
 * str_visible_to: n bytes at p (NULs included) into out, which has room
 * for 4 * n + 1; returns the length written (NUL-terminated).
 * str_visible, str_visible_n: the same, allocated (caller frees).
 * vis: for a printf argument, s made visible in one of 8 buffers it owns
 * and reuses (valid until the 8th call after it; NULL shows "(null)").
 * Diagnostics (error_msg, warn_msg, hint_msg, die, ferr_die) pass their
 * whole line through it already: never hand them a vis() string. */
size_t str_visible_to(char *out, const void *p, size_t n);
/* Lines of text from elsewhere (what ssh or the server's shell printed):
 * each line made visible, its newline kept, a CR before it dropped. */
char *str_visible_lines(const void *p, size_t n);
char *str_visible_n(const void *p, size_t n);
char *str_visible(const char *s);
const char *vis(const char *s);
/* The columns s takes on a terminal (UTF-8 continuation bytes count 0). */
size_t str_columns(const char *s);
/* Cuts s (in place) to at most cols columns, ending it with "..." when
 * it was longer (cols >= 3). */
void str_cut_columns(char *s, size_t cols);
/* "512M", "8G", "1.5T", "4096" (bytes; K, M, G, T are powers of 1024, an
 * optional "B" or "iB" after them).  0, or -1 for anything else or more
 * than 2^60. */
int parse_size(const char *s, uint64_t *out);

/* POSIX cksum(1) CRC of a byte string (length folded in). */
uint32_t posix_cksum(const void *p, size_t n);

/* With FERRY_TIMING set: "[pid] ms-since-first-call @monotonic-s N
 * faults C cpu ms P KiB peak what" on stderr (N: minor page faults so
 * far, C: CPU time so far, user and system, P: peak RSS so far), for
 * profiling a sync's phases (client and agent alike); what is printf's
 * format. */
void trace_phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
