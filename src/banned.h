/*
 * banned.h - libc calls ferry does not use, made compile errors.
 *
 * Included last in every .c file under src/, after the system headers it would
 * otherwise break.  Each name below becomes an undeclared identifier that
 * says why, so a use fails the -Werror build at once:
 *
 *   strcpy, strcat, sprintf, vsprintf, gets: write with no bound; use
 *     snprintf, the buf.h API or xasprintf.
 *   atoi, atol: no error, undefined on overflow; use strtol/strtoul and
 *     check the end pointer and the range.
 *   strtok: hidden state, not reentrant, merges empty fields; use strchr
 *     or strsep.
 *   signal: which semantics (reset, SA_RESTART) depends on the libc; use
 *     sigaction, or sig_ignore/sig_default (sig.h).
 */
#ifndef FERRY_BANNED_H
#define FERRY_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_ferry

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef signal
#define signal(x, y) BANNED(signal)

#endif
