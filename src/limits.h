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
#define CONN_OUT_MAX		(CONN_OUT_HIGH + MANIFEST_BATCH_MAX + 2 * (FRAME_HDR_LEN + FRAME_MAX))	/* the queue's hard bound: the high mark, a manifest batch, two frames */
#define CONN_OUT_BATCH		(64 * 1024)	/* file data queued before a write: one write for many small files */
#define STDIN_WINDOW		(256 * 1024)	/* stdin bytes in flight, client to agent */
#define CHAN_OPEN_MAX		256		/* channels open at once on one session (forwarded connections) */
#define CHAN_WINDOW		(2 * 1024 * 1024)	/* payload bytes in flight per channel and direction: more than a frame */
#define CHAN_WINDOW_ACK		(64 * 1024)	/* consumed bytes granted back at once */
#define CHAN_OUT_HIGH		(256 * 1024)	/* a channel's producer stops queueing above this */
#define CHAN_OUT_MAX		(CHAN_OUT_HIGH + 2 * FRAME_HDR_LEN + FRAME_MAX)	/* a channel queue's hard bound: one frame and its CLOSE past the mark */
#define EV_FDS_MAX		1024		/* fds one event loop watches (a forward: a socket a channel) */

/* Project file. */
#define CONFIG_SUGGEST_KEY_MAX	32		/* "did you mean": longer keys get no edit-distance table (33x33 on the stack) */
#define CONFIG_FILE_MAX		(64 * 1024)
#define CONFIG_LINE_MAX		1024
#define CONFIG_LIST_MAX		256		/* items in one list key */
#define TRUST_FILE_MAX		(256 * 1024)	/* the user's record of trusted ferry.ini files */
#define CONFIG_DIR_DEPTH_MAX	64		/* parent dirs searched for ferry.ini */

/* Ignore rules (.gitignore and the project file). */
#define IGNORE_PATTERN_MAX	4096		/* bytes in one pattern line */
#define IGNORE_RULES_MAX	16384		/* rules from one .gitignore text */
#define IGNORE_FILE_MAX		(1024 * 1024)	/* bytes of one .gitignore text */
#define IGNORE_TOTAL_MAX	(256 * 1024)	/* rules held by one struct ignore */

/* Walking the project. */
#define SCAN_DEPTH_MAX		512		/* nested folders */
#define SCAN_DENTS_CHUNK	(32 * 1024)	/* room for one getdents64 call */
#define GIT_TRACKED_MAX		(256u << 20)	/* bytes of `git ls-files -z` output taken; past it, no tracked list */

/* The sync index. */
#define INDEX_ENTRIES_MAX	(8 * 1024 * 1024)	/* files one index tracks */
#define INDEX_PATHS_MAX		((size_t)1 << 31)	/* bytes of paths in one index */
#define INDEX_FILE_MAX		((size_t)2 << 30)	/* bytes of an index file */
#define INDEX_DROP_EVERY	(1024 * 1024)	/* an index file's mapped pages are given back as decoding passes this much */
#define INDEX_WRITE_PIECE	(256 * 1024)	/* an index file is written in pieces of about this much */
#define APPLY_WRITEBACK_CHUNK	(8u << 20)	/* a file being written starts writeback every this many bytes */
#define DROP_DEFER_MIN		(16u << 20)	/* an old version this large is freed after the reply (agent_defer_close) */
#define DROP_DEFER_MAX		64		/* old versions held for that at once */
#define DROP_FD_SCAN_MAX	4096		/* fds the dropping process closes (all but those it holds) */
#define INDEX_LOG_MIN		(64 * 1024)	/* an index's log may grow to this, or a quarter of the index */
#define INDEX_RACY_NS		(1000000000ull)	/* timestamp granularity we assume */
#define HASH_CHUNK		(128 * 1024)	/* read size when hashing */
#define SOURCE_ARENA_BLOCK	(256 * 1024)	/* manifest paths are packed in blocks of this */

/* Sync. */
#define SYNC_LOCK_WAIT_MS	30000		/* a second sync of a root waits this long */
#define SYNC_GUARD_MIN		20		/* deletions before the mass-deletion guard looks */
#define SYNC_KEEP_MAX		INDEX_ENTRIES_MAX	/* paths a push says are excluded, not deleted */
#define SYNC_FORCE_PATHS_MAX	4096		/* paths of one `push --force PATH...` */
#define SYNC_NAMES_SHOWN	5		/* paths named in a summary line ("and N more") */

/* Jobs. */
#define JOB_NAME_MAX		256		/* bytes of a job name */
#define JOB_RECORD_MAX		(1024 * 1024)	/* bytes of a job record */
#define JOB_ID_MAX		1000000000u	/* ids are below this */
#define JOB_IDS_MAX		100000		/* jobs listed from one folder */
#define JOB_LOG_HEAD		(16 * 1024 * 1024)	/* first bytes of output, always kept */
#define JOB_LOG_SEG		(16 * 1024 * 1024)	/* one segment of the rolling tail */
#define JOB_LOG_SEGS		4		/* tail segments kept (64 MiB) */
#define JOB_TAIL_SCAN		(4 * 1024 * 1024)	/* bytes searched for `logs --tail N` lines */
#define JOB_ATTACH_REPLAY	(16 * 1024)	/* recent output shown on attach */
#define JOB_VIEWER_BUF		(1024 * 1024)	/* output queued for a slow viewer before it is dropped */
#define JOB_VIEWERS_MAX		16		/* attached viewers and followers of one job */
#define JOB_KILL_GRACE_MS	5000		/* TERM, then KILL after this */
#define JOB_LOST_KILL_WAIT_MS	5000		/* a lost job's processes are given this to go after KILL */
#define JOB_LOST_POLL_MS	100		/* ... and looked for this often */
#define JOB_FOLLOW_CHECK_MS	1000		/* a follower looks at the record this often (a supervisor that died) */
#define JOB_PEAK_SAMPLE_MS	1000		/* how often the tree's memory is summed */
#define JOB_START_TIMEOUT_MS	10000		/* supervisor to report the job running */
#define JOBS_RECENT		10		/* finished jobs `ferry jobs` shows without --all */
#define DIFF_FILE_MAX		(64 * 1024 * 1024)	/* bytes of a server file `ferry diff` fetches */
#define JOB_HARVEST_DIR_DELAY_MS	1000	/* a folder a job makes moves this long after it appears */
#define JOB_HARVEST_FILES	(256 * 1024)	/* files a job makes in code folders that are followed (deletions, atomic saves) */
#define JOB_HARVEST_WATCHES	1024		/* code folders of a snapshot watched for a job's outputs (the rest: at the end) */
#define PULL_JOBS_MAX		(256 * 1024)	/* bytes of the paths `pull --job` brought, remembered */
#define JOB_OUTPUTS_MAX		(512 * 1024)	/* bytes of a job's list of outputs moved out of its snapshot */
#define SNAP_CODE_MAX		((size_t)1 << 30)	/* bytes of a snapshot's list of code paths */
#define JOB_REASON_MAX		512		/* bytes of why ferry stopped a job */
#define JOB_NOTICE_MAX		1024		/* bytes of one notice line from the agent (JOB_NOTICE) */
#define JOB_COMMIT_ROOM		64		/* a JOB_START is checked against FRAME_MAX before its git commit id (SHA-256: 64 hex digits) is known */
#define JOB_TREE_MAX		4096		/* processes of one job looked at */
#define PATH_MAX_ABS		4096		/* an absolute path in a record */
#define JOB_SPEC_MAX		(16 * 1024 * 1024)	/* bytes of a launch spec, its environment included */
#define JOB_SPEC_ITEMS_MAX	65536		/* argv or environment entries in a spec */
#define JOB_RESOURCES_MAX	64		/* resource requests in a spec ("gpu=1") */
#define JOB_ENV_ID_MAX		256		/* bytes of a spec's environment id */
#define JOB_BACKEND_NAME_MAX	32		/* bytes of a record's backend name */
#define JOB_REPORT_TEXT_MAX	4096		/* bytes of a warning or error the supervisor reports */
/* One tagged value (job-tag.c): the kernel's own cap on one argument or
 * environment string (MAX_ARG_STRLEN, 32 pages), so anything exec could
 * take fits and nothing larger is read. */
#define TAG_VALUE_MAX		(128 * 1024)
#define TAG_ITEM_MAX		TAG_VALUE_MAX	/* one entry of a tagged list */
/* Push (cmd-push.c) and signature hints (SYNC_HINT). */
#define PUSH_RETRIES		2		/* pushes again when files changed while they were sent */
#define PUSH_CHANGED_MAX	64		/* such files held back for that, past it plain errors */
#define SIG_HINT_MIN		(16u << 20)	/* a changed file this large is named to the destination before it is hashed */
#define SIG_HINT_MAX		16		/* such names in one sync */

/* Delta transfer (sync-delta.h): rsync's rolling checksum, blocks of ~sqrt(size). */
#define DELTA_MIN_SIZE		(64 * 1024)	/* smaller files go whole: a signature would not pay */
#define DELTA_BLOCK_MIN		2048		/* block size floor: sums per byte stay small */
#define DELTA_BLOCK_MAX		(128 * 1024)	/* ceiling: a changed byte costs at most this much literal */
#define DELTA_BLOCKS_MAX	(1024 * 1024)	/* blocks in one signature: 12 MiB of sums; bigger files go whole */
#define DELTA_SUM_LEN		12		/* u32 weak + u64 strong per block on the wire */
#define DELTA_SIG_FRAME_SUMS	4096		/* sums per SYNC_SIG frame (48 KiB) */
#define DELTA_SIG_TOTAL_MAX	(64u * 1024 * 1024)	/* bytes of sums one sync holds at the source; past it files go whole */
#define DELTA_LITERAL_MAX	FRAME_CHUNK	/* bytes in one literal op */
#define DELTA_FRAME_MAX		(FRAME_CHUNK + 16)	/* ops in one SYNC_DELTA frame, decompressed */
#define DELTA_EMIT_BYTES	(8u * 1024 * 1024)	/* file bytes one DELTA frame may cover: keeps the destination busy */
#define DELTA_CHAIN_MAX		64		/* weak-sum candidates tried per position (rsync's chain cap) */
#define DELTA_DROP_ALIGN	(2u << 20)	/* the old version's cache goes in aligned windows this large (a folio's most) */
#define DELTA_READ		(256 * 1024)	/* read size for signatures, deltas and block copies */

/* zstd for file data (sync-zstd.h): only while the link is the bottleneck. */
#define ZSTD_LEVEL		9		/* only while the link is the bottleneck (backlog rule), so spend CPU: 40.6 vs 46.4 MB at 3 for the source tree */
#define ZSTD_LEVEL_FAST		1		/* when level ZSTD_LEVEL is slower than the link */
#define ZSTD_PROBE_EVERY	64		/* too slow even so: one chunk in this many still tries */
#define ZSTD_LINK_WINDOW_MS	200		/* the link's speed is taken over at least this much backlogged time */
#define ZSTD_LEVEL_BPS		(70 * 1000 * 1000)	/* level ZSTD_LEVEL's speed, a guess until measured (one core, source code) */
#define ZSTD_SPEED_MARGIN	2		/* a level is kept while it compresses this many times faster than the link */
#define ZSTD_BACKLOG		(256 * 1024)	/* queued output that says "the link is slower than us" */
#define ZSTD_MIN_CHUNK		64		/* smaller chunks go raw (the stream's history makes small ones pay) */
#define ZSTD_WINDOW_LOG		24		/* 16 MiB of history, both sides: bounds the receiver's memory (4.7% fewer bytes than 8 MiB on the source tree; 32 MiB: 0.2% more) */
#define ZSTD_WINDOW_LOG_FAST	20		/* level ZSTD_LEVEL_FAST's: 1 MiB (the sender's memory on a fast link) */
#define ZSTD_HASH_LOG		21		/* level ZSTD_LEVEL's match tables (8 + 4 MiB): with the */
#define ZSTD_CHAIN_LOG		20		/*   16 MiB window, 2.4% fewer bytes than 4 + 2 MiB */
#define MANIFEST_BATCH		(128 * 1024)	/* manifest frames compressed together (SYNC_ENTRIES_Z) */
#define MANIFEST_BATCH_MAX	(1024 * 1024)	/* a batch's decoded size, a hard cap (one entry is < 9 KiB) */
#define MANIFEST_ZMIN		1024		/* a smaller batch goes as plain frames */
#define MANIFEST_ZSTD_LEVEL	3		/* the manifest's compression: small, alike records */
#define ZSTD_START_BYTES	(8u << 20)	/* until a session wrote this much, chunks go compressed (at the stream's first level) even without a backlog */
#define SSH_WINDOW_BYTES	(2u << 20)	/* OpenSSH's session channel window: at most this much in flight per round trip */
#define THIN_PROOF_BYTES	(2 * SSH_WINDOW_BYTES)	/* a thin link backs our queue up before this much went out (~2.9 MB at 20 Mbit/s) */
#define PING_CHECK_EVERY	256		/* the destination's index walk looks for a ping this often (entries: ~1 ms) */
#define MANIFEST_FLOW_EVERY	4096		/* the source looks at its input this often while it queues its manifest (entries) */
#define PING_ANSWER_MAX		16		/* pings answered at one such look */
#define ZSTD_GAIN_PCT		10		/* a chunk must shrink by this much to keep compressing the file */
#define ZSTD_RETRY_CHUNKS	64		/* raw chunks before trying again in a file that did not shrink */
#define ZSTD_RAW_MAX		DELTA_FRAME_MAX	/* decompressed bytes of one frame, a hard cap */

/* Paths. */
#define PATH_REL_MAX		4096		/* a relative path on the wire */
#define PATH_NAME_MAX		255		/* one component */

/* Memory (util.c). */
#define ALLOC_HUGE_PAGE		(2u << 20)	/* a transparent huge page on x86-64 and arm64 (4K base pages) */
#define ALLOC_HUGE_MIN		(2u << 20)	/* blocks this large ask (for their aligned 2 MiB spans) */

/* Processes and environment. */
#define LOGIN_ENV_TIMEOUT_MS	10000		/* resolving the login shell's env */
#define LOGIN_ENV_EXIT_GRACE_MS	300		/* after the shell exits, for its output */
#define LOGIN_ENV_MAX		(1024 * 1024)	/* bytes of a dumped environment */
#define LOGIN_ENV_VARS_MAX	4096
#define SSH_STDERR_KEEP		4096		/* ssh diagnostics kept for the error line */
#define AGENT_UPLOAD_MAX	(64 * 1024 * 1024)
/* How much of a bundle agent is read to find its build id and machine:
 * the ELF header, program headers and notes lie in its first page. */
#define AGENT_HEAD_MAX		(64 * 1024)
/* The folders the boot script may install the agent in (agent_dir, or
 * the cache, runtime, /dev/shm, $TMPDIR and /var/tmp ones): the install
 * rounds (one more each time a write fails half way). */
#define BOOT_CANDIDATES_MAX	5
/* How often an agent looks for other versions beside it to remove. */
#define AGENT_PRUNE_EVERY_S	(24 * 3600)
/* A version folder changed this recently may be being installed. */
#define AGENT_PRUNE_YOUNG_S	3600

/* names.c: users and hosts without NSS in the process. */
#define NAMES_FIELD_MAX		256	/* a user name, a passwd field */
#define NAMES_PATH_MAX		4096	/* a home or shell path */
#define NAMES_PASSWD_MAX	(16 * 1024 * 1024)	/* /etc/passwd read whole */
#define NAMES_GETENT_OUT_MAX	(64 * 1024)	/* what getent may print */
#define NAMES_GETENT_MS		3000	/* a hung LDAP lookup ends here */
#define NAMES_HOST_MAX		253	/* a DNS name */
#define TRANSPORT_EXIT_WAIT_MS	3000		/* ssh's exit after we close, before TERM */
#define SIGNAL_GRACE_MS		2000		/* wait after forwarding TERM/HUP */
#define STARTUP_TIMEOUT_MS	60000		/* ssh output to agent preamble */
#define INT_PRESSES_TO_QUIT	3		/* Ctrl-C presses before ferry gives up */
#define TERM_NAME_MAX		256		/* a $TERM passed to the server for exec -t; longer is not a terminal name */
#define DOCTOR_CHECKS_MAX	16		/* lines of one `ferry doctor` report */
#define RECONNECT_FIRST_MS	1000		/* a lost follow tries again after this, */
#define RECONNECT_MAX_MS	15000		/* doubling up to this, */
#define RECONNECT_GIVE_UP_MS	(5 * 60 * 1000)	/* and for this long in all */

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
#define MON_PID_FDS_MAX		16384		/* /proc/PID/schedstat files kept open (and at most half of RLIMIT_NOFILE) */
#define MON_PROC_REFRESH	10		/* an idle process's resident set is re-read (statm) every this many samples */
#define MON_PROC_RELIST_MS	10000		/* /proc is listed at least this often, even when no pid was handed out */
#define MON_NAME_MAX		256		/* a name or id string in a sample */
#define MON_SMI_OUT_MAX		(256 * 1024)	/* bytes of nvidia-smi output */
#define MON_SMI_TIMEOUT_MS	5000		/* one nvidia-smi run */
#define MON_SMI_PERIOD_MS	2000		/* nvidia-smi at most this often (a process per run) */
#define MON_JOB_FILE_MAX	256		/* bytes of a job's sid or state file */
#define MON_GPU_MASK_BITS	64		/* GPU indexes a user's or job's mask (u64 on the wire) can name */
#define MON_SMI_FIELDS_MAX	16		/* fields of one nvidia-smi CSV line looked at */
#define STATUS_USERS_SHOWN	10		/* users `ferry status` lists, busiest first */
#define STATUS_WHY_SHOWN	180		/* bytes of a failed dry run's error `ferry status` shows (one line) */
#define MON_KILL_MAX		4096		/* processes one kill request signals */

/* Forwarding (fwd-wire.h, docs/forward.md). */
#define FWD_HOST_MAX		255		/* a host name in FWD_OPEN */
#define FWD_ADDR_MAX		64		/* a listening address in FWD_PORT */
#define FWD_JOB_MAX		64		/* a job id in FWD_WATCH and FWD_PORT (mon_job_id_ok) */
#define FWD_URLS_MAX		16		/* URLs in one FWD_PORT */
#define FWD_URL_MAX		4096		/* bytes of one URL */
#define FWD_SCAN_MS		100		/* the agent looks for new listening sockets ... */
#define FWD_SCAN_IDLE_MS	250		/* ... and this often once nothing changed for FWD_FAST_MS */
#define FWD_FAST_MS		15000		/* after a watch starts, a job starts or a port changes */
#define FWD_PORTS_MAX		64		/* ports one watch reports (a job's, or every job's) */
#define FWD_LOG_SCAN_MAX	(1024 * 1024)	/* log bytes a watch reads for URLs per job, at most */
#define FWD_LOCAL_TRIES		32		/* a taken local port: the next ones tried */
#define FWD_CONNECT_MS		10000		/* the agent's connect to a forward's target */
#define FWD_UNIX_PATH_MAX	108		/* sun_path: a Unix socket's path and its NUL */
#define FWD_CHUNK		(256 * 1024)	/* a forwarded stream's bytes per read and per FWD_DATA */
#define CONN_FILL_MAX		(256 * 1024)	/* bytes one read of the link takes in */
#define PIPE_GROW		(1024 * 1024)	/* the link's pipes are grown to this where the kernel lets us */

#endif
