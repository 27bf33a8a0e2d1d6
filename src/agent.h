/*
 * agent.h - the server side: `ferry agent` speaks the protocol on
 * stdin/stdout until the client closes the session.
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include "proto.h"

/* Runs a session on fds 0/1; returns the process exit code. */
int agent_main(void);

/* Expands the project root as the user wrote it: "~" and "~/x" are under
 * $HOME, a relative path is relative to $HOME (as scp does). */
char *agent_root_path(const char *root);

/* Request handlers (agent-exec.c, agent-info.c).  They return 0 to keep
 * the session, <0 to end it (an ERROR frame already queued if needed). */
int agent_exec(struct conn *c, struct rd *body);
int agent_info(struct conn *c, struct rd *body);
int agent_sync(struct conn *c, struct rd *body);
int agent_mon(struct conn *c, struct rd *body);		/* agent-mon.c */
int agent_mon_kill(struct conn *c, struct rd *body);
/* Queues an ERROR frame. */
void agent_error(struct conn *c, uint32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
