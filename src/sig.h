/*
 * sig.h - signals as events: handlers only count and poke a self-pipe,
 * loops poll sig_fd() and take the counts.
 */
#ifndef FERRY_SIG_H
#define FERRY_SIG_H

/* Starts counting signo (SA_RESTART off, so blocking calls see EINTR). */
void sig_watch(int signo);
/* Back to the default disposition (async-signal-safe: fine in a child
 * between fork and exec). */
void sig_unwatch(int signo);
/* signo's disposition set to SIG_DFL or SIG_IGN (sigaction: safe between
 * fork and exec). */
void sig_default(int signo);
void sig_ignore(int signo);
void sig_default_all(void);
/* In a child that closed the inherited fds: forget the parent's pipe (its
 * fd numbers may be reused by files the child opens); the next
 * sig_watch makes a new one. */
void sig_forget(void);
/* The read end of the self-pipe (non-blocking), for poll. */
int sig_fd(void);
/* Drains the self-pipe. */
void sig_drain(void);
/* Returns and clears how many times signo arrived since the last take. */
int sig_take(int signo);

#endif
