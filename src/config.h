/*
 * config.h - the project file, ferry.ini, and the effective settings.
 *
 * The file is read with inih through a line reader of our own that enforces
 * the size, line-length and byte-class limits and counts lines, so every
 * error names file and line.  Nothing here exits: config_load() returns a
 * negative code and fills an error line for the command edge to print.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdint.h>

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_NAME "ferry.ini"

enum target_kind { TARGET_NONE, TARGET_SSH, TARGET_LOCAL };

enum config_key {
	KEY_TYPE, KEY_HOST, KEY_PATH, KEY_SSH_COMMAND, KEY_AGENT_DIR, KEY_SHARED,
	KEY_PUSH, KEY_PULL, KEY_IGNORE, KEY_PULL_IGNORE,
	KEY_MAX_MEM, KEY_MIN_AVAILABLE,
	KEY__COUNT
};

struct strlist {
	char **v;
	size_t n;
};
void strlist_add(struct strlist *l, const char *s);
void strlist_release(struct strlist *l);

struct config {
	char *root;		/* directory holding ferry.ini (absolute) */
	char *file;		/* path of ferry.ini */
	enum target_kind kind;
	char *host;		/* ssh: host alias or user@host */
	char *path;		/* remote path; local: directory */
	char *ssh_command;	/* effective ssh command line */
	char *agent_dir;	/* remote dir for agents, NULL = default */
	bool shared;		/* target.shared: other users may write the project folder */
	struct strlist push, pull, ignore;
	struct strlist pull_ignore;	/* sync.pull_ignore: results not pulled */
	uint64_t max_mem;	/* jobs.max_mem: default --max-mem, 0 none */
	uint64_t min_available;	/* guard.min_available: host memory guard, 0 off */
	int line[KEY__COUNT];	/* line each key came from, 0 = not in file */
	const char *ssh_command_src;	/* where ssh_command came from */
};

/* Key name ("target.host") for messages and `ferry config`. */
const char *config_key_name(enum config_key k);

/* Parses text (the contents of file, for messages) into c.  0, or -1 with
 * a one-line message ("ferry.ini:7: unknown key ...") in *err (caller
 * frees).  Does not resolve the environment. */
int config_parse(struct config *c, const char *file, const char *text, size_t len, char **err);
/* Finds ferry.ini from dir upwards, reads, parses and applies the
 * environment (FERRY_SSH_COMMAND).  0, -ENOENT if there is none (no
 * message), or -1 with *err set. */
int config_load(struct config *c, const char *dir, char **err);
void config_release(struct config *c);

/* Renders a fresh ferry.ini for `ferry init`. */
char *config_render(enum target_kind kind, const char *host, const char *path);

#endif
