/*
 * shims.c - glibc's _FORTIFY_SOURCE entry points, for the musl build only.
 *
 * Debian builds its static libraries against glibc with -D_FORTIFY_SOURCE=2
 * and ships no sources, so each libc call the compiler could bound comes
 * out as glibc's checked twin (__sprintf_chk for sprintf, ...), which
 * musl does not have.  Everything else they call, musl has (nm -u against
 * musl's libc.a, mk/musl.mk; __stack_chk_fail and the canary at %fs:0x28
 * are the same ABI in both).  Each function below does what glibc's does:
 * the plain call, after the same bound check, aborting where glibc's
 * __chk_fail would.  Who needs which (nm -A ... | grep _chk):
 *
 *   __fprintf_chk    libzstd.a (zdict, cover: dictionary training logs),
 *                    libncursesw.a (lib_initscr), libtinfo.a (lib_setup)
 *   __vfprintf_chk   libtinfo.a (comp_error)
 *   __sprintf_chk    libncursesw.a (lib_screen), libtinfo.a (lib_tparm,
 *                    read_entry, lib_keyname, getenv_num, visbuf, ...)
 *   __vsnprintf_chk  libncursesw.a (safe_sprintf)
 *   __strcpy_chk     libncursesw.a (lib_screen)
 *   __memcpy_chk     libtinfo.a (read_entry)
 *
 * ncurses is linked at all because the unit tests reach cmd.c (fwd.c ->
 * cmd-job.c -> cmd_usage_die), whose command table names cmd_top; no unit
 * test runs ncurses code.  The flag argument (glibc's "%n only from
 * read-only formats") has no musl counterpart and is ignored.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
char *__strcpy_chk(char *dst, const char *src, size_t dstlen);
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);

/* glibc's __chk_fail: a buffer overflow was caught; nothing to recover. */
static void chk_fail(void)
{
	fputs("*** buffer overflow detected ***: terminated\n", stderr);
	abort();
}

int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfprintf(fp, fmt, ap);
	va_end(ap);
	return r;
}

int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap)
{
	return vfprintf(fp, fmt, ap);
}

int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
{
	/* slen is (size_t)-1 where the compiler did not know the size;
	 * musl's vsnprintf refuses sizes past INT_MAX (EOVERFLOW). */
	size_t n = slen > INT_MAX ? INT_MAX : slen;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(s, n, fmt, ap);
	va_end(ap);
	if (r >= 0 && (size_t)r >= n)
		chk_fail();
	return r;
}

int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, va_list ap)
{
	if (maxlen > slen)
		chk_fail();
	return vsnprintf(s, maxlen > INT_MAX ? INT_MAX : maxlen, fmt, ap);
}

char *__strcpy_chk(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src) + 1;
	if (n > dstlen)
		chk_fail();
	return memcpy(dst, src, n);
}

void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		chk_fail();
	return memcpy(dst, src, n);
}
