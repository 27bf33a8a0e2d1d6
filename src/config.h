/*
 * config.h - the project file, ferry.ini, the user's own file
 * (~/.config/ferry/config.ini), and the effective settings.
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
#define CONFIG_SKIP_MAX 64	/* ports in forward.skip */

enum target_kind { TARGET_NONE, TARGET_SSH, TARGET_LOCAL };

enum config_key {
	KEY_TYPE, KEY_HOST, KEY_PATH, KEY_SSH_COMMAND, KEY_AGENT_DIR, KEY_SHARED,
	KEY_PUSH, KEY_PULL, KEY_IGNORE, KEY_PULL_IGNORE,
	KEY_MAX_MEM, KEY_MIN_AVAILABLE,
	KEY_FWD_AUTO, KEY_FWD_SKIP, KEY_FWD_PORTS,
	KEY__COUNT
};

/* Where an effective value came from (`ferry config` shows it). */
enum config_src { SRC_DEFAULT, SRC_PROJECT, SRC_USER, SRC_ENV };

/* The sections of the user's file a value may come from, least specific
 * first: [target], [host "NAME"], [project "/PATH"]. */
enum user_scope { SCOPE_ALL, SCOPE_HOST, SCOPE_PROJECT, SCOPE__COUNT };

/* What the user's file says for one project: the values of the sections
 * that apply to its host and folder (NULL: not set there). */
struct user_vals {
	char *val[SCOPE__COUNT][KEY__COUNT];
	int line[SCOPE__COUNT][KEY__COUNT];
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
	bool fwd_off;		/* forward.auto = off: no automatic forwards */
	uint16_t fwd_skip[CONFIG_SKIP_MAX];	/* forward.skip: ports never forwarded automatically */
	uint32_t fwd_nskip;
	uint16_t fwd_ports[CONFIG_SKIP_MAX];	/* forward.ports: forwarded always, job or not */
	uint32_t fwd_nports;
	int line[KEY__COUNT];	/* line each key came from, 0 = not in file */
	/* Where each effective value came from; for SRC_USER the file and
	 * line in it.  A key that runs a local program (config_key_program)
	 * keeps ferry.ini's own value in file_program, for `ferry trust`. */
	enum config_src src[KEY__COUNT];
	int user_line[KEY__COUNT];
	char *user_file;	/* the user's file, whether or not it exists */
	char *file_program[KEY__COUNT];
	char file_hash[33];	/* XXH3-128 of ferry.ini as parsed, hex */
	bool program_in_file;	/* ferry.ini sets a key that runs a program */
	bool trusted;		/* ... and the user trusts this very file */
};

/* Key name ("target.host") for messages and `ferry config`. */
const char *config_key_name(enum config_key k);

/* Whether k names a program run on this computer (ferry.ini needs
 * `ferry trust` for it), and whether the user's file may hold it. */
bool config_key_program(enum config_key k);
bool config_key_user(enum config_key k);

/* "ferry.ini:5 (trusted)", "/home/me/.config/ferry/config.ini:3",
 * "FERRY_SSH_COMMAND", "default".  Caller frees. */
char *config_origin(const struct config *c, enum config_key k);

/* The user's file: $XDG_CONFIG_HOME/ferry/config.ini when that is an
 * absolute path, else ~/.config/ferry/config.ini.  Caller frees. */
char *config_user_path(void);

/* Parses text as the user's file: the sections [target], [host "NAME"]
 * and [project "/PATH"], each holding only keys config_key_user allows.
 * Every section is checked; the values of those that apply to host (NULL
 * for a local target) and the project folder root land in u.  0, or -1
 * with *err as config_parse. */
int config_parse_user(struct user_vals *u, const char *file, const char *text, size_t len,
		      const char *host, const char *root, char **err);
void user_vals_release(struct user_vals *u);

/* Parses text (the contents of file, for messages) into c.  0, or -1 with
 * a one-line message ("ferry.ini:7: unknown key ...") in *err (caller
 * frees).  Does not resolve the environment. */
int config_parse(struct config *c, const char *file, const char *text, size_t len, char **err);
/* Finds ferry.ini from dir upwards, reads and parses it, then the user's
 * file (refused, -1, when another user owns it or may write it) and the
 * environment (FERRY_SSH_COMMAND), in the order of docs/config.md.  0,
 * -ENOENT if there is none (no message), -1 with *err set, or -EACCES
 * with *err set and c filled when the value in use of a key that runs a
 * program comes from a ferry.ini the user has not trusted (`ferry
 * config` and `ferry trust` show it; everything else stops, with
 * CONFIG_TRUST_HINT). */
#define CONFIG_TRUST_HINT "run `ferry trust` to see what it runs and allow it"
int config_load(struct config *c, const char *dir, char **err);
void config_release(struct config *c);

/* Renders a fresh ferry.ini for `ferry init`. */
char *config_render(enum target_kind kind, const char *host, const char *path);

#endif
