/*
 * limits.h - every size and count cap in ferry, on one screen.
 *
 * Anything that bounds memory or work driven by input from the peer, a
 * project file, the filesystem or the user is named here.  A value the peer
 * declares never sizes an allocation: buffers grow as bytes arrive and stop
 * at these caps.
 */
#ifndef FERRY_LIMITS_H
#define FERRY_LIMITS_H

/* Wire protocol. */
#define FRAME_HDR_LEN		8		/* u32 len, u16 type, u16 zero */
#define FRAME_MAX		(1024 * 1024)	/* payload bytes in one frame */
#define FRAME_CHUNK		(64 * 1024)	/* bulk data per frame we send */
#define PROTO_STR_MAX		(64 * 1024)	/* one string inside a message */
#define PROTO_ARGV_MAX		4096		/* argv entries in an exec request */
#define PROTO_ENV_MAX		4096		/* env entries in an exec request */
#define PROTO_KV_MAX		256		/* key/value pairs in an info reply */
#define PRELUDE_MAX		(64 * 1024)	/* bytes the remote shell may print before the agent */
#define PRELUDE_LINE_MAX	4096		/* one FERRY-BOOT line field */
#define CONN_OUT_HIGH		(1024 * 1024)	/* stop reading producers above this queue */
#define STDIN_WINDOW		(256 * 1024)	/* stdin bytes in flight, client to agent */

/* Project file. */
#define CONFIG_FILE_MAX		(64 * 1024)
#define CONFIG_LINE_MAX		1024
#define CONFIG_LIST_MAX		256		/* items in one list key */
#define CONFIG_DIR_DEPTH_MAX	64		/* parent dirs searched for ferry.ini */

/* Ignore rules (.gitignore and the project file). */
#define IGNORE_PATTERN_MAX	4096		/* bytes in one pattern line */
#define IGNORE_RULES_MAX	16384		/* rules from one .gitignore text */
#define IGNORE_FILE_MAX		(1024 * 1024)	/* bytes of one .gitignore text */
#define IGNORE_TOTAL_MAX	(256 * 1024)	/* rules held by one struct ignore */

/* Walking the project. */
#define SCAN_DEPTH_MAX		512		/* nested folders */

/* The sync index. */
#define INDEX_ENTRIES_MAX	(8 * 1024 * 1024)	/* files one index tracks */
#define INDEX_PATHS_MAX		((size_t)1 << 31)	/* bytes of paths in one index */
#define INDEX_FILE_MAX		((size_t)2 << 30)	/* bytes of an index file */
#define INDEX_RACY_NS		(1000000000ull)	/* timestamp granularity we assume */
#define HASH_CHUNK		(128 * 1024)	/* read size when hashing */

/* Sync. */
#define SYNC_LOCK_WAIT_MS	30000		/* a second sync of a root waits this long */
#define SYNC_GUARD_MIN		20		/* deletions before the mass-deletion guard looks */

/* Paths. */
#define PATH_REL_MAX		4096		/* a relative path on the wire */
#define PATH_NAME_MAX		255		/* one component */

/* Processes and environment. */
#define LOGIN_ENV_TIMEOUT_MS	10000		/* resolving the login shell's env */
#define LOGIN_ENV_EXIT_GRACE_MS	300		/* after the shell exits, for its output */
#define LOGIN_ENV_MAX		(1024 * 1024)	/* bytes of a dumped environment */
#define LOGIN_ENV_VARS_MAX	4096
#define SSH_STDERR_KEEP		4096		/* ssh diagnostics kept for the error line */
#define AGENT_UPLOAD_MAX	(64 * 1024 * 1024)
#define TRANSPORT_EXIT_WAIT_MS	3000		/* ssh's exit after we close, before TERM */
#define SIGNAL_GRACE_MS		2000		/* wait after forwarding TERM/HUP */
#define STARTUP_TIMEOUT_MS	60000		/* ssh output to agent preamble */
#define INT_PRESSES_TO_QUIT	3		/* Ctrl-C presses before ferry gives up */

/* Monitoring (mon-*.c, docs/PROTOCOL.md 0x05xx). */
#define MON_INTERVAL_MIN_MS	100		/* fastest sampling a client may ask for */
#define MON_INTERVAL_MAX_MS	3600000
#define MON_WARMUP_MS		250		/* first sample: rates over at most this */
#define MON_PROC_FILE_MAX	(1024 * 1024)	/* bytes read from one /proc file (/proc/stat on 4096 cores) */
#define MON_CPUS_MAX		4096		/* cores in one sample */
#define MON_GPUS_MAX		64		/* GPUs in one sample (a bit mask each) */
#define MON_GPU_PROCS_MAX	256		/* processes listed per GPU */
#define MON_USERS_MAX		256		/* users in one sample */
#define MON_JOBS_MAX		256		/* ferry jobs in one sample */
#define MON_JOBS_RECENT		16		/* finished jobs listed beside the running ones */
#define MON_PROCS_MAX		128		/* processes in one sample */
#define MON_PROCS_DEFAULT	24		/* top consumers by CPU and by memory, each */
#define MON_PIDS_MAX		(1024 * 1024)	/* processes one sampler tracks */
#define MON_NAME_MAX		256		/* a name or id string in a sample */
#define MON_SMI_OUT_MAX		(256 * 1024)	/* bytes of nvidia-smi output */
#define MON_SMI_TIMEOUT_MS	5000		/* one nvidia-smi run */
#define MON_SMI_PERIOD_MS	2000		/* nvidia-smi at most this often (a process per run) */
#define MON_JOB_FILE_MAX	256		/* bytes of a job's sid or state file */
#define MON_KILL_MAX		4096		/* processes one kill request signals */

#endif
