/*
 * test-fwd.c - forwarding's detector: URLs in log text and their local
 * rewrite, the /proc/net/tcp parser, the sock_diag dump against it, and
 * the detector on real sockets held by forked processes (a job's, one
 * outside the jobs, one of another uid when run as root).
 *
 * FERRY_FWD_BENCH_PROCS=N (a manual run, not `make check`) starts N
 * sleeping processes before the timing of an idle look.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fwd-detect.h"
#include "fwd-url.h"
#include "limits.h"
#include "t.h"
#include "util.h"

#define S(x) x, sizeof(x) - 1

/* The URLs fwd_url_find sees in s, joined by '|'. */
static char *urls_of(const char *s, size_t n)
{
	struct fwd_url u[16];
	size_t k = fwd_url_find(s, n, u, 16);
	char *out = xstrdup("");
	for (size_t i = 0; i < k; i++) {
		char *x = xasprintf("%s%s%.*s", out, i ? "|" : "", (int)u[i].len, s + u[i].off);
		free(out);
		out = x;
	}
	return out;
}

static void check_urls(const char *name, const char *text, const char *want)
{
	t_case = name;
	char *got = urls_of(text, strlen(text));
	CHECK_STR(got, want);
	free(got);
}

static void test_url_find(void)
{
	check_urls("jupyter 7",
		   "[I 2024-05-01 10:00:00.123 ServerApp] Jupyter Server 2.14.0 is running at:\r\n"
		   "[I 2024-05-01 10:00:00.123 ServerApp] http://localhost:8888/tree?token=0f3c9a\r\n"
		   "[I 2024-05-01 10:00:00.123 ServerApp]     http://127.0.0.1:8888/tree?token=0f3c9a\r\n",
		   "http://localhost:8888/tree?token=0f3c9a|http://127.0.0.1:8888/tree?token=0f3c9a");
	check_urls("jupyter 6",
		   "    To access the notebook, open this file in a browser:\n"
		   "        file:///home/u/.local/share/jupyter/runtime/nbserver-42-open.html\n"
		   "    Or copy and paste one of these URLs:\n"
		   "        http://gpu1:8888/?token=abc\n"
		   "     or http://127.0.0.1:8888/?token=abc\n",
		   "http://gpu1:8888/?token=abc|http://127.0.0.1:8888/?token=abc");
	check_urls("tensorboard", "TensorBoard 2.16 at http://localhost:6006/ (Press CTRL+C to quit)",
		   "http://localhost:6006/");
	check_urls("http.server", "Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...",
		   "http://0.0.0.0:8000/");
	check_urls("gradio", "Running on local URL:  http://127.0.0.1:7860\n\nTo create a public link, set `share=True`",
		   "http://127.0.0.1:7860");
	check_urls("streamlit", "  You can now view your Streamlit app in your browser.\n\n"
		   "  Local URL: http://localhost:8501\n  Network URL: http://10.1.2.3:8501\n",
		   "http://localhost:8501|http://10.1.2.3:8501");
	check_urls("ipv6", "at http://[::1]:8888/lab?token=x and https://[fe80::1]:443/", "http://[::1]:8888/lab?token=x|https://[fe80::1]:443/");
	check_urls("ansi", "\x1b[32mINFO\x1b[0m:     Uvicorn running on \x1b[1mhttp://127.0.0.1:8000\x1b[0m (Press CTRL+C)",
		   "http://127.0.0.1:8000");
	check_urls("ansi underline", "\x1b[4mhttps://localhost:8443/x?a=1&b=%2F\x1b[24m", "https://localhost:8443/x?a=1&b=%2F");
	check_urls("trailing", "see http://localhost:8080/x. Or (http://h:1/a), or [http://h:2]. 'http://h:3/q' <http://h:4/>",
		   "http://localhost:8080/x|http://h:1/a|http://h:2|http://h:3/q|http://h:4/");
	check_urls("no port", "http://localhost/ and https://example.com/x and http://h:/x", "");
	check_urls("bad ports", "http://h:0/ http://h:70000/ http://h:123456/ http://h:65535/", "http://h:65535/");
	check_urls("port then junk", "http://h:80abc http://h:80.x/ http://h:81#frag", "http://h:81#frag");
	check_urls("scheme case", "HTTP://Host:8000/A", "HTTP://Host:8000/A");
	check_urls("no scheme", "localhost:8888/tree ftp://h:21/ httpx://h:1/", "");
	check_urls("nested", "http://http://h:5/x", "http://h:5/x");
	check_urls("utf-8 border", "│ http://localhost:7860 │", "http://localhost:7860");

	t_case = "oversize";
	size_t big = FWD_URL_MAX + 100;
	char *s = xmalloc(big + 64);
	memcpy(s, "http://h:1/", 11);
	memset(s + 11, 'a', big - 11);
	memcpy(s + big, " http://h:2/ok", 15);
	char *got = urls_of(s, strlen(s));
	CHECK_STR(got, "http://h:2/ok");
	free(got);
	/* Exactly FWD_URL_MAX is kept. */
	s[FWD_URL_MAX] = ' ';
	got = urls_of(s, strlen(s));
	CHECK(strlen(got) > FWD_URL_MAX && got[FWD_URL_MAX] == '|' && strcmp(got + FWD_URL_MAX + 1, "http://h:2/ok") == 0);
	free(got);
	free(s);

	t_case = "max";
	struct fwd_url u[2];
	CHECK(fwd_url_find(S("http://a:1 http://b:2 http://c:3"), u, 2) == 2);
	CHECK(u[0].port == 1 && u[1].port == 2 && u[1].off == 11 && u[1].len == 10);
	CHECK(fwd_url_find(S("http://a:1"), u, 0) == 0);
	CHECK(fwd_url_find("http://a:1", 9, u, 2) == 0);	/* cut inside the port: "http://a:" */
}

static void check_local(const char *url, const char *host, uint16_t port, const char *want)
{
	char *got = fwd_url_local(url, strlen(url), host, port);
	if (want == NULL)
		CHECK(got == NULL);
	else
		CHECK_STR(got, want);
	free(got);
}

static void test_url_local(void)
{
	t_case = "url local";
	check_local("http://localhost:8888/tree?token=0f3c&next=%2Flab%3Fa#frag", "127.0.0.1", 8889,
		    "http://127.0.0.1:8889/tree?token=0f3c&next=%2Flab%3Fa#frag");
	check_local("http://[::1]:8888/lab", NULL, 8888, "http://127.0.0.1:8888/lab");
	check_local("https://gpu1:443", "::1", 9443, "https://[::1]:9443");
	check_local("HTTP://H:1?x=%00y", NULL, 2, "HTTP://127.0.0.1:2?x=%00y");
	check_local("http://h/", NULL, 1, NULL);
	check_local("http://h:1/ x", NULL, 1, NULL);
	check_local("http://h:1/.", NULL, 1, NULL);
	check_local(" http://h:1/", NULL, 1, NULL);
	check_local("http://h:0/", NULL, 1, NULL);
	check_local("", NULL, 1, NULL);
}

static const char tcp4[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21934 1 "
	"0000000000000000 100 0 0 10 0\n"
	"   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 98765 1 "
	"0000000000000000 100 0 0 10 0\n"
	"   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 98770 1 "
	"0000000000000000 20 4 30 10 -1\n"
	"   3: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 98771 1 "
	"0000000000000000 100 0 0 10 0\n";
static const char tcp6[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
	"tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 98766 1 0000000000000000 100 0 0 10 0\n"
	"   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 98767 1 0000000000000000 100 0 0 10 0\n";

static void test_proc_net(void)
{
	struct fwd_sock *v = NULL;
	size_t n = 0;
	int little = *(const uint8_t *)&(uint32_t){ 1 } == 1;

	t_case = "proc net: tcp";
	CHECK(fwd_proc_net_parse(S(tcp4), 4, 1000, &v, &n) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(v[0].ino == 98765 && v[0].port == 8080 && v[0].family == 4);
		CHECK_STR(v[0].addr, "0.0.0.0");
		CHECK(v[1].ino == 98771 && v[1].port == 8888);
		if (little)
			CHECK_STR(v[1].addr, "127.0.0.1");
	}
	t_case = "proc net: tcp6 appends";
	CHECK(fwd_proc_net_parse(S(tcp6), 6, 1000, &v, &n) == 0);
	CHECK(n == 4);
	if (n == 4) {
		CHECK(v[2].ino == 98766 && v[2].port == 8080 && v[2].family == 6);
		CHECK_STR(v[2].addr, "::");
		CHECK(v[3].port == 22);
		if (little)
			CHECK_STR(v[3].addr, "::1");
	}
	free(v);
	v = NULL;
	n = 0;
	t_case = "proc net: other uid";
	CHECK(fwd_proc_net_parse(S(tcp4), 4, 0, &v, &n) == 0 && n == 1 && v[0].port == 631);
	free(v);
	v = NULL;
	n = 0;
	t_case = "proc net: empty, header";
	CHECK(fwd_proc_net_parse("", 0, 4, 1000, &v, &n) == 0 && n == 0);
	CHECK(fwd_proc_net_parse(tcp4, 96, 4, 1000, &v, &n) == 0 && n == 0);
	t_case = "proc net: garbage";
	CHECK(fwd_proc_net_parse(S("hello\nworld\n"), 4, 1000, &v, &n) == -EBADMSG);
	CHECK(fwd_proc_net_parse(tcp4, 150, 4, 1000, &v, &n) == -EBADMSG);	/* a cut line */
	CHECK(fwd_proc_net_parse(S(tcp6), 4, 1000, &v, &n) == -EBADMSG);	/* v6 text as v4 */
	CHECK(fwd_proc_net_parse(S(tcp4), 6, 1000, &v, &n) == -EBADMSG);
	CHECK(fwd_proc_net_parse(S("   0: 0100007G:0277 00000000:0000 0A 0:0 0:0 0 0 0 1\n"), 4, 0, &v, &n) == -EBADMSG);
	CHECK(fwd_proc_net_parse(S(tcp4), 5, 1000, &v, &n) == -EBADMSG);
	CHECK(n == 0);
	free(v);
}

/* A listening socket on addr (family 4 or 6) port (0: any); its port. */
static int listen_on(int family, const char *addr, uint16_t *port)
{
	int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (fd < 0)
		return -1;
	if (family == 6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(*port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(*port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		sl = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port = ntohs(family == 6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static uint64_t ino_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static const struct fwd_sock *find_sock(const struct fwd_sock *v, int n, uint64_t ino)
{
	for (int i = 0; i < n; i++)
		if (v[i].ino == ino)
			return &v[i];
	return NULL;
}

static void test_listen_dump(void)
{
	uint16_t p4 = 0, p6 = 0;
	int s4 = listen_on(4, "127.0.0.1", &p4), s6 = listen_on(6, "::1", &p6);
	struct fwd_sock *nl = NULL, *pr = NULL, *any = NULL;
	t_case = "listen dump: netlink and /proc/net agree";
	int nn = fwd_listen_dump_nl(getuid(), &nl), np = fwd_listen_dump_proc(NULL, getuid(), &pr);
	int na = fwd_listen_dump(getuid(), &any);
	CHECK(s4 >= 0 && nn > 0 && np > 0 && na == nn);
	const struct fwd_sock *a = find_sock(nl, nn, ino_of(s4)), *b = find_sock(pr, np, ino_of(s4));
	CHECK(a && b);
	if (a && b) {
		CHECK(a->port == p4 && b->port == p4 && a->family == 4 && b->family == 4);
		CHECK_STR(a->addr, "127.0.0.1");
		CHECK_STR(b->addr, "127.0.0.1");
	}
	if (s6 >= 0) {
		a = find_sock(nl, nn, ino_of(s6));
		b = find_sock(pr, np, ino_of(s6));
		CHECK(a && b);
		if (a && b) {
			CHECK(a->port == p6 && b->port == p6 && a->family == 6 && b->family == 6);
			CHECK_STR(a->addr, "::1");
			CHECK_STR(b->addr, "::1");
		}
	}
	/* The same set both ways (sockets come and go on a shared box:
	 * only ours are compared exactly). */
	int same = 0;
	for (int i = 0; i < nn; i++)
		same += find_sock(pr, np, nl[i].ino) != NULL;
	CHECK(same >= nn - 2);
	free(nl);
	free(pr);
	free(any);
	t_case = "listen dump: another uid sees none of ours";
	nn = fwd_listen_dump_nl(getuid() + 4242, &nl);
	CHECK(nn >= 0 && find_sock(nl, nn, ino_of(s4)) == NULL);
	free(nl);
	close(s4);
	if (s6 >= 0)
		close(s6);
}

/* ---- the detector ---- */

struct ev {
	char job[80];
	bool up;
	uint8_t family;
	char addr[FWD_ADDR_MAX];
	uint16_t port;
	uint32_t nurls;
	char urls[1024];	/* joined by '|' */
};
struct evs {
	struct ev e[32];
	int n;
};

static void on_port(void *arg, const struct fwd_port *p)
{
	struct evs *v = arg;
	if (v->n == 32)
		return;
	struct ev *e = &v->e[v->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->job, sizeof(e->job), "%s", p->job);
	e->up = p->up;
	e->family = p->family;
	snprintf(e->addr, sizeof(e->addr), "%s", p->addr);
	e->port = p->port;
	e->nurls = p->nurls;
	size_t o = 0;
	for (uint32_t i = 0; i < p->nurls && p->urls[i]; i++) {
		int k = snprintf(e->urls + o, sizeof(e->urls) - o, "%s%s", i ? "|" : "", p->urls[i]);
		if (k > 0 && (size_t)k < sizeof(e->urls) - o)
			o += (size_t)k;
	}
	if (p->urls[p->nurls] != NULL)
		e->nurls = 9999;	/* not NULL-terminated */
}

static int scan(struct fwd_det *d, struct evs *v)
{
	v->n = 0;
	return fwd_det_scan(d, on_port, v);
}

/* Looks until something is said (a walk of /proc may wait for the one
 * before it to be far enough behind), at most 3 s. */
static int scan_wait(struct fwd_det *d, struct evs *v)
{
	struct timespec ts = { 0, 10000000 };
	int r = 0;
	for (int i = 0; i < 300 && (r = scan(d, v)) == 0 && v->n == 0; i++)
		nanosleep(&ts, NULL);
	return r;
}

static void put(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s.tmp", dir, name), *q = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
	(void)rename(p, q);
	free(p);
	free(q);
}

static void log_add(const char *dir, const char *text)
{
	char *p = xasprintf("%s/log", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
	free(p);
}

static char *make_job(const char *jobs, const char *id)
{
	char *dir = xasprintf("%s/%s", jobs, id);
	mkdir(dir, 0755);
	put(dir, "state", "running\n");
	log_add(dir, "");
	return dir;
}

/* A job's process: setsid() (unless !own_session), its sid written into
 * jobdir (NULL: none), then as uid (if set), it listens on 127.0.0.1:0 and
 * [::]: the same port, and says the port on out.  Commands on in: 'l' +
 * u16: listen on that port too; 'c': close them all; EOF: exit. */
static pid_t spawn_server(const char *jobdir, bool own_session, uid_t uid, int *to, int *from)
{
	int a[2], b[2];
	if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		if (own_session)
			setsid();
		if (jobdir) {
			char sid[24];
			snprintf(sid, sizeof(sid), "%d\n", (int)getsid(0));
			put(jobdir, "sid", sid);
		}
		if (uid != (uid_t)-1 && setuid(uid) < 0)
			_exit(3);
		int fds[8], nfd = 0;
		uint16_t port = 0;
		fds[nfd] = listen_on(4, "127.0.0.1", &port);
		nfd += fds[nfd] >= 0;
		fds[nfd] = listen_on(6, "::", &port);
		nfd += fds[nfd] >= 0;
		(void)write_all(b[1], &port, sizeof(port));
		char c;
		while (read(a[0], &c, 1) == 1) {
			if (c == 'l' && read(a[0], &port, sizeof(port)) == sizeof(port) && nfd < 8) {
				fds[nfd] = listen_on(4, "127.0.0.1", &port);
				nfd += fds[nfd] >= 0;
			} else if (c == 'c') {
				while (nfd > 0)
					close(fds[--nfd]);
			}
			(void)write_all(b[1], "k", 1);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*to = a[1];
	*from = b[0];
	return pid;
}

static void server_cmd(int to, int from, const void *cmd, size_t n)
{
	char k;
	(void)write_all(to, cmd, n);
	(void)read(from, &k, 1);
}

static void reap(pid_t pid, int to, int from)
{
	close(to);
	close(from);
	/* Another child may hold the other end of its pipe: no EOF. */
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static uint16_t free_port(void)
{
	uint16_t p = 0;
	int fd = listen_on(4, "127.0.0.1", &p);
	close(fd);
	return p;
}

static void test_detector(const char *jobs)
{
	struct evs v;
	int to, from, oto, ofrom;
	uint16_t port = 0, oport = 0;
	char *dir = make_job(jobs, "7"), *line;
	log_add(dir, "starting\r\n");
	pid_t pid = spawn_server(dir, true, (uid_t)-1, &to, &from);
	CHECK(pid > 0 && read(from, &port, sizeof(port)) == sizeof(port) && port != 0);
	/* One of ours outside the jobs, printing into the job's log a URL
	 * for its port: neither is ever reported. */
	pid_t other = spawn_server(NULL, false, (uid_t)-1, &oto, &ofrom);
	CHECK(other > 0 && read(ofrom, &oport, sizeof(oport)) == sizeof(oport) && oport != 0);
	line = xasprintf("not ours: http://localhost:%u/\r\n", oport);
	log_add(dir, line);
	free(line);

	struct fwd_det *d = fwd_det_new(jobs, NULL, getuid(), NULL);
	t_case = "detector: a job's port, v4 and v6, is one report";
	CHECK(scan(d, &v) == 0);
	CHECK(v.n == 1);
	CHECK_STR(v.e[0].job, "7");
	CHECK(v.e[0].up && v.e[0].port == port && v.e[0].family == 4 && v.e[0].nurls == 0);
	CHECK_STR(v.e[0].addr, "127.0.0.1");
	t_case = "detector: nothing new, nothing said";
	CHECK(scan(d, &v) == 0 && v.n == 0);

	t_case = "detector: a URL in the log, coloured, from a pty";
	line = xasprintf("\x1b[32m[I ServerApp]\x1b[0m http://localhost:%u/tree?token=abc\r\n"
			 "    or http://127.0.0.1:%u/tree?token=abc\r\n", port, port);
	log_add(dir, line);
	CHECK(scan(d, &v) == 0 && v.n == 1);
	char *want = xasprintf("http://localhost:%u/tree?token=abc|http://127.0.0.1:%u/tree?token=abc", port, port);
	CHECK(v.e[0].up && v.e[0].port == port && v.e[0].nurls == 2);
	CHECK_STR(v.e[0].urls, want);
	free(want);
	t_case = "detector: the same URLs again: nothing";
	log_add(dir, line);
	free(line);
	CHECK(scan(d, &v) == 0 && v.n == 0);

	t_case = "detector: a URL split between two reads";
	line = xasprintf("Serving on http://127.0.0.1:%u/sp", port);
	log_add(dir, line);
	free(line);
	CHECK(scan(d, &v) == 0 && v.n == 0);
	log_add(dir, "lit?x=1 (Press CTRL+C)\r\n");
	CHECK(scan(d, &v) == 0 && v.n == 1);
	want = xasprintf("http://127.0.0.1:%u/split?x=1", port);
	CHECK_STR(v.e[0].urls, want);
	free(want);

	t_case = "detector: a URL across two chunks of one read";
	size_t fill = 16 * 1024 - 20;
	char *pad = xmalloc(fill + 1);
	for (size_t i = 0; i < fill; i++)
		pad[i] = i % 80 == 79 ? '\n' : 'x';
	pad[fill] = '\0';
	line = xasprintf("%s http://127.0.0.1:%u/chunk?t=1\r\n", pad, port);
	log_add(dir, line);
	free(line);
	CHECK(scan(d, &v) == 0 && v.n == 1);
	want = xasprintf("http://127.0.0.1:%u/chunk?t=1", port);
	CHECK_STR(v.e[0].urls, want);
	free(want);

	t_case = "detector: a run too long to be a URL, then one";
	memset(pad, 'a', fill);
	line = xasprintf("http://127.0.0.1:%u/%s\r\nhttp://127.0.0.1:%u/after\r\n", port, pad, port);
	log_add(dir, line);
	free(line);
	free(pad);
	CHECK(scan(d, &v) == 0 && v.n == 1);
	want = xasprintf("http://127.0.0.1:%u/after", port);
	CHECK_STR(v.e[0].urls, want);
	free(want);

	t_case = "detector: at most FWD_URLS_MAX URLs a report";
	for (int i = 0; i < FWD_URLS_MAX + 4; i++) {
		line = xasprintf("http://localhost:%u/u%d\n", port, i);
		log_add(dir, line);
		free(line);
	}
	CHECK(scan(d, &v) == 0 && v.n == 1 && v.e[0].nurls == FWD_URLS_MAX);
	CHECK(scan(d, &v) == 0 && v.n == 1 && v.e[0].nurls == 4);
	want = xasprintf("http://localhost:%u/u%d", port, FWD_URLS_MAX + 3);
	CHECK(strstr(v.e[0].urls, want) != NULL);
	free(want);
	CHECK(scan(d, &v) == 0 && v.n == 0);

	t_case = "detector: a URL before its port is up, sent with the up";
	uint16_t q = free_port();
	line = xasprintf("TensorBoard 2.16 at http://localhost:%u/ (Press CTRL+C to quit)\r\n", q);
	log_add(dir, line);
	free(line);
	CHECK(scan(d, &v) == 0 && v.n == 0);
	char cmd[3] = { 'l' };
	memcpy(cmd + 1, &q, 2);
	server_cmd(to, from, cmd, 3);
	CHECK(scan_wait(d, &v) == 0 && v.n == 1);
	want = xasprintf("http://localhost:%u/", q);
	CHECK(v.e[0].up && v.e[0].port == q && v.e[0].nurls == 1);
	CHECK_STR(v.e[0].urls, want);
	free(want);

	t_case = "detector: idle looks";
	uint64_t t0 = now_mono_ns();
	int looks = 1000, bad = 0;
	for (int i = 0; i < looks; i++)
		bad += scan(d, &v) != 0 || v.n != 0;
	uint64_t dt = now_mono_ns() - t0;
	CHECK(bad == 0);
	fprintf(stderr, "fwd: an idle look, 2 ports up: %.1f us (%d looks)\n", (double)dt / looks / 1000, looks);
	t_case = "detector: closed: down, once per port";
	server_cmd(to, from, "c", 1);
	CHECK(scan(d, &v) == 0 && v.n == 0);	/* two looks in a row without it */
	CHECK(scan(d, &v) == 0 && v.n == 2);
	CHECK(!v.e[0].up && !v.e[1].up && v.e[0].nurls == 0);
	CHECK((v.e[0].port == port && v.e[1].port == q) || (v.e[0].port == q && v.e[1].port == port));
	CHECK(scan(d, &v) == 0 && v.n == 0);

	fwd_det_free(d);
	reap(pid, to, from);
	reap(other, oto, ofrom);

	t_case = "detector: a single job watched, that ends";
	pid = spawn_server(dir, true, (uid_t)-1, &to, &from);
	CHECK(read(from, &port, sizeof(port)) == sizeof(port));
	d = fwd_det_new(jobs, NULL, getuid(), "7");
	CHECK(scan(d, &v) == 0 && v.n == 1 && v.e[0].up && v.e[0].port == port);
	put(dir, "state", "exited 0\n");
	struct timespec ts = { 1, 100000000 };
	nanosleep(&ts, NULL);
	CHECK(scan(d, &v) == 1);
	CHECK(v.n == 1 && !v.e[0].up && v.e[0].port == port);
	CHECK(scan(d, &v) == 1 && v.n == 0);
	fwd_det_free(d);
	reap(pid, to, from);
	t_case = "detector: a job's sid written after its server listens";
	char *late = make_job(jobs, "10");
	pid = spawn_server(NULL, true, (uid_t)-1, &to, &from);
	CHECK(read(from, &port, sizeof(port)) == sizeof(port));
	d = fwd_det_new(jobs, NULL, getuid(), NULL);
	CHECK(scan(d, &v) == 0 && v.n == 0);
	char sid[24];
	snprintf(sid, sizeof(sid), "%d\n", (int)pid);
	put(late, "sid", sid);
	CHECK(scan(d, &v) == 0 && v.n == 0);
	nanosleep(&ts, NULL);
	CHECK(scan(d, &v) == 0 && v.n == 1 && v.e[0].up && v.e[0].port == port);
	CHECK_STR(v.e[0].job, "10");
	fwd_det_free(d);
	reap(pid, to, from);
	put(late, "state", "exited 0\n");
	free(late);

	t_case = "detector: a single job that is not there";
	d = fwd_det_new(jobs, NULL, getuid(), "99");
	CHECK(scan(d, &v) == 1 && v.n == 0);
	fwd_det_free(d);
	free(dir);
}

/* As root: a process of uid 65534 in a job's session listens; a detector
 * of root never reports it, one of 65534 does. */
static void test_detector_uid(const char *jobs)
{
	struct evs v;
	int to, from;
	uint16_t port = 0;
	if (getuid() != 0)
		return;
	char *dir = make_job(jobs, "8");
	pid_t pid = spawn_server(dir, true, 65534, &to, &from);
	CHECK(pid > 0 && read(from, &port, sizeof(port)) == sizeof(port) && port != 0);
	struct fwd_det *d = fwd_det_new(jobs, NULL, 0, NULL), *n = fwd_det_new(jobs, NULL, 65534, NULL);
	t_case = "detector: another uid's port in a job's session";
	CHECK(scan(d, &v) == 0 && v.n == 0);
	CHECK(scan(n, &v) == 0 && v.n == 1 && v.e[0].port == port);
	fwd_det_free(d);
	fwd_det_free(n);
	reap(pid, to, from);
	put(dir, "state", "exited 0\n");
	free(dir);
}

/* FERRY_FWD_BENCH_PROCS=N: an idle look with N more sleeping processes. */
static void bench(const char *jobs)
{
	const char *e = getenv("FERRY_FWD_BENCH_PROCS");
	int n = e ? atoi(e) : 0, looks = 1000;
	if (n <= 0)
		return;
	pid_t *kids = xcalloc((size_t)n, sizeof(pid_t));
	for (int i = 0; i < n; i++)
		if ((kids[i] = fork()) == 0) {
			pause();
			_exit(0);
		}
	struct evs v;
	int to, from;
	uint16_t port;
	char *dir = make_job(jobs, "9");
	pid_t pid = spawn_server(dir, true, (uid_t)-1, &to, &from);
	(void)read(from, &port, sizeof(port));
	struct fwd_det *d = fwd_det_new(jobs, NULL, getuid(), NULL);
	uint64_t t0 = now_mono_ns();
	scan(d, &v);
	uint64_t first = now_mono_ns() - t0;
	fprintf(stderr, "fwd bench: the first look (walks /proc): %.1f us\n", (double)first / 1000);
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	t0 = now_mono_ns();
	for (int i = 0; i < looks; i++)
		scan(d, &v);
	uint64_t dt = now_mono_ns() - t0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	double cpu = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
	fprintf(stderr, "fwd bench: %d extra processes: an idle look %.1f us wall, %.1f us cpu\n", n,
		(double)dt / looks / 1000, cpu / looks / 1000);
	/* And one look that must walk /proc (a new socket of ours). */
	uint16_t p2 = 0;
	int s = listen_on(4, "127.0.0.1", &p2);
	/* Past the spacing of walks. */
	uint64_t wait = first * 25 + 100000000;
	struct timespec ts = { (time_t)(wait / 1000000000), (long)(wait % 1000000000) };
	nanosleep(&ts, NULL);
	t0 = now_mono_ns();
	scan(d, &v);
	fprintf(stderr, "fwd bench: a look that walks /proc again (sessions known): %.1f us\n", (double)(now_mono_ns() - t0) / 1000);
	close(s);
	fwd_det_free(d);
	reap(pid, to, from);
	put(dir, "state", "exited 0\n");
	free(dir);
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
}

static void rm_rf(const char *p)
{
	char *cmd = xasprintf("rm -rf '%s'", p);
	(void)system(cmd);
	free(cmd);
}

void test_fwd(void)
{
	test_url_find();
	test_url_local();
	test_proc_net();
	test_listen_dump();
	char jobs[] = "/tmp/ferry-fwd-XXXXXX";
	CHECK(mkdtemp(jobs) != NULL);
	test_detector(jobs);
	test_detector_uid(jobs);
	bench(jobs);
	rm_rf(jobs);
}
