/*
 * sig.c - the self-pipe.  The handler does two async-signal-safe things:
 * bump a counter and write one byte.  Nothing else ever runs in it.
 */
#define _GNU_SOURCE
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static volatile sig_atomic_t counts[65];
static int pipefd[2] = { -1, -1 };

static void handler(int signo)
{
	int saved = errno;
	if (signo > 0 && signo < 65)
		counts[signo]++;
	if (pipefd[1] >= 0)
		(void)!write(pipefd[1], "", 1);
	errno = saved;
}

static void ensure_pipe(void)
{
	if (pipefd[0] >= 0)
		return;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		die(EXIT_OSERR, "cannot create a pipe: %s", strerror(errno));
}

void sig_forget(void)
{
	pipefd[0] = pipefd[1] = -1;
	memset((void *)counts, 0, sizeof(counts));
}

void sig_watch(int signo)
{
	struct sigaction sa;
	ensure_pipe();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

void sig_unwatch(int signo)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

void sig_ignore(int signo)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

int sig_fd(void)
{
	ensure_pipe();
	return pipefd[0];
}

void sig_drain(void)
{
	char b[64];
	while (read(pipefd[0], b, sizeof(b)) > 0)
		;
}

int sig_take(int signo)
{
	if (signo <= 0 || signo >= 65)
		return 0;
	/* Block signals so the handler cannot bump the count between our
	 * read and our reset. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int n = counts[signo];
	counts[signo] = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return n;
}
