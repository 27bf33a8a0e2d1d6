/*
 * test-session.c - the ssh failure classifier: real lines OpenSSH prints
 * (and what a remote shell prints through it), with ssh's wait status,
 * to the class and exit code the user gets.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "session.h"
#include "t.h"
#include "util.h"

/* Wait statuses as waitpid reports them. */
#define EXITED(n)	((n) << 8)
#define KILLED(sig)	(sig)

void test_session(void)
{
	static const struct {
		const char *err;
		int st;
		bool during;
		enum ssh_fail fail;
		int exit;
	} cases[] = {
		/* Host keys. */
		{ "Host key verification failed.\n", EXITED(255), false, SSH_FAIL_HOSTKEY, EXIT_AUTH },
		{ "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
		  "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
		  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
		  "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
		  "Offending ECDSA key in /home/u/.ssh/known_hosts:3\n"
		  "Host key for gpu1 has changed and you have requested strict checking.\n"
		  "Host key verification failed.\n", EXITED(255), false, SSH_FAIL_HOSTKEY, EXIT_AUTH },
		{ "No ED25519 host key is known for gpu1 and you have requested strict checking.\n"
		  "Host key verification failed.\n", EXITED(255), false, SSH_FAIL_HOSTKEY, EXIT_AUTH },
		{ "No ECDSA host key is known for [127.0.0.1]:2222 and you have requested strict checking.\n",
		  EXITED(255), false, SSH_FAIL_HOSTKEY, EXIT_AUTH },
		/* Authentication: it explains the connection that then closed. */
		{ "u@gpu1: Permission denied (publickey).\n", EXITED(255), false, SSH_FAIL_AUTH, EXIT_AUTH },
		{ "u@gpu1: Permission denied (publickey,gssapi-keyex,gssapi-with-mic,password).\n", EXITED(255), false,
		  SSH_FAIL_AUTH, EXIT_AUTH },
		{ "Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures\n"
		  "Disconnected from 10.0.0.5 port 22\n", EXITED(255), false, SSH_FAIL_AUTH, EXIT_AUTH },
		{ "Load key \"/home/u/.ssh/id_ed25519\": bad permissions\n"
		  "u@gpu1: Permission denied (publickey).\n", EXITED(255), false, SSH_FAIL_AUTH, EXIT_AUTH },
		{ "Permission denied, please try again.\nConnection closed by 10.0.0.5 port 22\n", EXITED(255), false,
		  SSH_FAIL_AUTH, EXIT_AUTH },
		/* Reaching the host. */
		{ "ssh: connect to host gpu1 port 22: Connection refused\n", EXITED(255), false, SSH_FAIL_REFUSED,
		  EXIT_CONNECT },
		{ "ssh: Could not resolve hostname gpu1: Name or service not known\n", EXITED(255), false,
		  SSH_FAIL_RESOLVE, EXIT_CONNECT },
		{ "ssh: Could not resolve hostname gpu1: Temporary failure in name resolution\n", EXITED(255), false,
		  SSH_FAIL_RESOLVE, EXIT_CONNECT },
		{ "ssh: Could not resolve hostname gpu1: nodename nor servname provided, or not known\n", EXITED(255),
		  false, SSH_FAIL_RESOLVE, EXIT_CONNECT },
		{ "ssh: connect to host 10.0.0.5 port 22: Connection timed out\n", EXITED(255), false, SSH_FAIL_NETWORK,
		  EXIT_CONNECT },
		{ "ssh: connect to host 10.0.0.5 port 22: No route to host\n", EXITED(255), false, SSH_FAIL_NETWORK,
		  EXIT_CONNECT },
		{ "ssh: connect to host 10.0.0.5 port 22: Network is unreachable\n", EXITED(255), false,
		  SSH_FAIL_NETWORK, EXIT_CONNECT },
		{ "Connection timed out during banner exchange\nConnection to 10.0.0.5 port 22 timed out\n",
		  EXITED(255), false, SSH_FAIL_NETWORK, EXIT_CONNECT },
		{ "kex_exchange_identification: read: Connection reset by peer\n"
		  "Connection reset by 10.0.0.5 port 22\n", EXITED(255), false, SSH_FAIL_NETWORK, EXIT_CONNECT },
		{ "kex_exchange_identification: Connection closed by remote host\n"
		  "Connection closed by 10.0.0.5 port 22\n", EXITED(255), false, SSH_FAIL_NETWORK, EXIT_CONNECT },
		{ "channel 0: open failed: connect failed: Connection refused\n"
		  "stdio forwarding failed\n"
		  "kex_exchange_identification: Connection closed by remote host\n", EXITED(255), false,
		  SSH_FAIL_REFUSED, EXIT_CONNECT },	/* ProxyJump: the jump host could not reach gpu1 */
		/* A stale ControlMaster socket: ssh connects by itself, and
		 * what happens then is what counts. */
		{ "Control socket connect(/run/user/1000/ferry/cm-gpu1): Connection refused\n"
		  "ssh: connect to host gpu1 port 22: Connection timed out\n", EXITED(255), false, SSH_FAIL_NETWORK,
		  EXIT_CONNECT },
		{ "Control socket connect(/run/user/1000/ferry/cm-gpu1): Connection refused\n"
		  "ssh: Could not resolve hostname gpu1: Name or service not known\n", EXITED(255), false,
		  SSH_FAIL_RESOLVE, EXIT_CONNECT },
		/* 11+ sessions at once: the master refuses the 11th (sshd's
		 * MaxSessions) and ssh connects by itself; its notes about
		 * that are not the reason of anything. */
		{ "mux_client_request_session: session request failed: Session open refused by peer\n"
		  "ControlSocket /run/user/1000/ferry/0a1b already exists, disabling multiplexing\n"
		  "u@gpu1: Permission denied (publickey).\n", EXITED(255), false, SSH_FAIL_AUTH, EXIT_AUTH },
		{ "mux_client_request_session: read from master failed: Connection reset by peer\n", EXITED(1), false,
		  SSH_FAIL_NO_AGENT, EXIT_PROTO },
		{ "muxclient: master hello exchange failed\n"
		  "ssh: connect to host gpu1 port 22: Connection refused\n", EXITED(255), false, SSH_FAIL_REFUSED,
		  EXIT_CONNECT },
		/* The link going while a command ran. */
		{ "client_loop: send disconnect: Broken pipe\n", EXITED(255), true, SSH_FAIL_LOST, EXIT_LOST },
		{ "Connection to gpu1 closed by remote host.\n", EXITED(255), true, SSH_FAIL_LOST, EXIT_LOST },
		{ "Timeout, server 10.0.0.5 not responding.\n", EXITED(255), true, SSH_FAIL_LOST, EXIT_LOST },
		{ "", EXITED(255), true, SSH_FAIL_LOST, EXIT_LOST },
		{ "read: Connection reset by peer\n", KILLED(SIGTERM), true, SSH_FAIL_LOST, EXIT_LOST },
		{ "Connection reset by 10.0.0.5 port 22\n", KILLED(SIGTERM), false, SSH_FAIL_NETWORK, EXIT_CONNECT },
		/* ssh failed and said something else. */
		{ "Bad owner or permissions on /home/u/.ssh/config\n", EXITED(255), false, SSH_FAIL_SSH, EXIT_CONNECT },
		{ "/home/u/.ssh/config: line 4: Bad configuration option: hostnmae\n"
		  "/home/u/.ssh/config: terminating, 1 bad configuration options\n", EXITED(255), false, SSH_FAIL_SSH,
		  EXIT_CONNECT },
		{ "", EXITED(255), false, SSH_FAIL_SSH, EXIT_CONNECT },
		/* ssh connected; the remote shell failed, and its stderr came
		 * through ssh: its words are not ssh's. */
		{ "sh: 1: /home/u/.cache/ferry/agent/0.1.0-ab/ferry: Permission denied\n", EXITED(126), false,
		  SSH_FAIL_NO_AGENT, EXIT_PROTO },
		{ "bash: line 1: nc: Connection refused\n", EXITED(1), false, SSH_FAIL_NO_AGENT, EXIT_PROTO },
		{ "This account is currently not available.\n", EXITED(1), false, SSH_FAIL_NO_AGENT, EXIT_PROTO },
		{ "", EXITED(0), false, SSH_FAIL_NO_AGENT, EXIT_PROTO },
		/* Ctrl-C at one of ssh's prompts. */
		{ "Enter passphrase for key '/home/u/.ssh/id_ed25519': ", KILLED(SIGINT), false,
		  SSH_FAIL_INTERRUPTED, 128 + SIGINT },
		{ "", KILLED(SIGQUIT), false, SSH_FAIL_INTERRUPTED, 128 + SIGQUIT },
		{ "", KILLED(SIGINT), true, SSH_FAIL_LOST, EXIT_LOST },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		t_case = cases[i].err[0] ? cases[i].err : "(nothing on stderr)";
		enum ssh_fail f = session_ssh_class(cases[i].err, strlen(cases[i].err), cases[i].st, cases[i].during);
		CHECK(f == cases[i].fail);
		CHECK(session_ssh_exit(f, cases[i].st) == cases[i].exit);
	}

	/* The tail kept of ssh's stderr is bytes, not a string: a line cut
	 * at the end still counts, and nothing past n is read. */
	static const char cut[] = "u@gpu1: Permission denied (publickey).";
	t_case = "unterminated, and n shorter than the text";
	CHECK(session_ssh_class(cut, sizeof(cut) - 1, EXITED(255), false) == SSH_FAIL_AUTH);
	CHECK(session_ssh_class(cut, 12, EXITED(255), false) == SSH_FAIL_SSH);
}
