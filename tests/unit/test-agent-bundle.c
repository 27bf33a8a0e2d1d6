/*
 * test-agent-bundle.c - the ELF head reader against the real agents and
 * this very binary, and against hand-built images that lie; the bundle
 * lookup (names from the server, files that are not what they say); the
 * per-host platform file under hostile host names.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-bundle.h"
#include "limits.h"
#include "t.h"
#include "util.h"


/* ---- hand-built images ---- */

#define IMG_MAX		1024
#define PH_OFF		64
#define NOTE_OFF	(PH_OFF + 2 * 56)
#define ID_HEX		"000102030405060708090a0b0c0d0e0f10111213"

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One note at p: its size. */
static size_t put_note(uint8_t *p, uint32_t namesz, uint32_t descsz, uint32_t type, const char *name,
		       size_t desc_bytes)
{
	put_le(p, namesz, 4);
	put_le(p + 4, descsz, 4);
	put_le(p + 8, type, 4);
	size_t nsz = (strlen(name) + 1 + 3) & ~(size_t)3;
	memset(p + 12, 0, nsz);
	memcpy(p + 12, name, strlen(name));
	for (size_t i = 0; i < desc_bytes; i++)
		p[12 + nsz + i] = (uint8_t)i;
	return 12 + nsz + ((desc_bytes + 3) & ~(size_t)3);
}

static void put_phdr(uint8_t *img, int i, uint32_t type, uint64_t off, uint64_t filesz)
{
	uint8_t *ph = img + PH_OFF + 56 * i;
	memset(ph, 0, 56);
	put_le(ph, type, 4);
	put_le(ph + 4, 4, 4);			/* p_flags: R */
	put_le(ph + 8, off, 8);
	put_le(ph + 32, filesz, 8);
	put_le(ph + 40, filesz, 8);		/* p_memsz */
	put_le(ph + 48, 4, 8);			/* p_align */
}

/* An ELF64 LE executable for machine: a PT_LOAD, then a PT_NOTE with the
 * GNU build id 00 01 .. 13.  Its length. */
static size_t mk_elf(uint8_t *img, uint16_t machine)
{
	static const uint8_t ident[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	memset(img, 0, IMG_MAX);
	memcpy(img, ident, sizeof(ident));
	put_le(img + 16, 2, 2);			/* ET_EXEC */
	put_le(img + 18, machine, 2);
	put_le(img + 20, 1, 4);
	put_le(img + 32, PH_OFF, 8);
	put_le(img + 52, 64, 2);		/* e_ehsize */
	put_le(img + 54, 56, 2);
	put_le(img + 56, 2, 2);
	put_le(img + 58, 64, 2);
	size_t nl = put_note(img + NOTE_OFF, 4, 20, 3, "GNU", 20);
	put_phdr(img, 0, 1 /* PT_LOAD */, 0, NOTE_OFF + nl);
	put_phdr(img, 1, 4 /* PT_NOTE */, NOTE_OFF, nl);
	return NOTE_OFF + nl;
}

static int build_id(const uint8_t *img, size_t n, char hex[41])
{
	memset(hex, 'z', 41);
	return elf_build_id(img, n, hex);
}

static void test_images(void)
{
	uint8_t img[IMG_MAX];
	char hex[41];
	size_t n;

	t_case = "good image";
	n = mk_elf(img, 62);
	CHECK(build_id(img, n, hex) == 0);
	CHECK_STR(hex, ID_HEX);
	CHECK_STR(elf_machine(img, n), "x86_64");
	mk_elf(img, 183);
	CHECK_STR(elf_machine(img, n), "aarch64");
	mk_elf(img, 21);
	CHECK_STR(elf_machine(img, n), "ppc64le");
	mk_elf(img, 3);				/* EM_386 */
	CHECK(elf_machine(img, n) == NULL);
	mk_elf(img, 0);
	CHECK(elf_machine(img, n) == NULL);
	CHECK(build_id(img, n, hex) == 0);	/* the id needs no known machine */

	t_case = "every truncation";
	n = mk_elf(img, 62);
	for (size_t k = 0; k < n; k++) {
		/* Each on the heap, exactly k bytes: ASan sees a read past k. */
		uint8_t *cut = xmalloc(k ? k : 1);
		memcpy(cut, img, k);
		CHECK(build_id(cut, k, hex) == -1);
		CHECK(hex[0] == '\0');
		/* The header up to e_phnum is all it needs. */
		CHECK((elf_machine(cut, k) != NULL) == (k >= 58));
		free(cut);
	}
	CHECK(elf_build_id(img, 0, hex) == -1);
	CHECK(elf_machine(img, 0) == NULL);

	t_case = "bad magic, 32-bit, big-endian";
	static const struct {
		int at;
		uint8_t v;
	} ident[] = { { 0, 0x7e }, { 3, 'f' }, { 4, 1 /* ELFCLASS32 */ }, { 4, 0 }, { 5, 2 /* ELFDATA2MSB */ }, { 5, 0 } };
	for (size_t i = 0; i < ARRAY_LEN(ident); i++) {
		n = mk_elf(img, 62);
		img[ident[i].at] = ident[i].v;
		CHECK(build_id(img, n, hex) == -1);
		CHECK(elf_machine(img, n) == NULL);
	}
	/* A true big-endian ppc64 head: EM_PPC64 is not ppc64le. */
	n = mk_elf(img, 0);
	img[5] = 2;
	img[18] = 0;
	img[19] = 21;
	CHECK(elf_machine(img, n) == NULL);

	t_case = "phoff past the end";
	static const uint64_t phoffs[] = { 0, 1, 8, 200, 211, 212, 213, 4096, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX,
					   UINT64_MAX - 55 };
	for (size_t i = 0; i < ARRAY_LEN(phoffs); i++) {
		n = mk_elf(img, 62);
		put_le(img + 32, phoffs[i], 8);
		if (phoffs[i] == 0)
			continue;	/* the header read as program headers: checked below */
		CHECK(build_id(img, n, hex) == -1);
		CHECK_STR(elf_machine(img, n), "x86_64");
	}
	n = mk_elf(img, 62);
	put_le(img + 32, 0, 8);
	CHECK(build_id(img, n, hex) == -1);

	t_case = "phentsize";
	static const uint16_t phents[] = { 0, 1, 55 };
	for (size_t i = 0; i < ARRAY_LEN(phents); i++) {
		n = mk_elf(img, 62);
		put_le(img + 54, phents[i], 2);
		CHECK(build_id(img, n, hex) == -1);
	}
	n = mk_elf(img, 62);
	put_le(img + 54, 65535, 2);		/* the second header lies past the end */
	CHECK(build_id(img, n, hex) == -1);

	t_case = "phnum huge";
	n = mk_elf(img, 62);
	put_le(img + 56, 65535, 2);
	CHECK(build_id(img, n, hex) == 0);	/* the note comes first: found */
	CHECK_STR(hex, ID_HEX);
	put_phdr(img, 1, 1, NOTE_OFF, 36);	/* no note: the rest is garbage */
	CHECK(build_id(img, n, hex) == -1);
	n = mk_elf(img, 62);
	put_le(img + 56, 0, 2);
	CHECK(build_id(img, n, hex) == -1);

	t_case = "PT_NOTE running past n";
	static const struct {
		uint64_t off, filesz;
	} notes[] = {
		{ NOTE_OFF, 37 }, { NOTE_OFF, 4096 }, { NOTE_OFF, UINT64_MAX }, { NOTE_OFF, UINT64_MAX - NOTE_OFF + 1 },
		{ NOTE_OFF, (uint64_t)1 << 63 }, { 213, 0 }, { 4096, 36 }, { UINT64_MAX, 36 }, { UINT64_MAX - 35, 36 },
		{ NOTE_OFF + 1, 36 }, { NOTE_OFF, 35 }, { NOTE_OFF, 0 }, { NOTE_OFF, 11 },
	};
	for (size_t i = 0; i < ARRAY_LEN(notes); i++) {
		n = mk_elf(img, 62);
		put_phdr(img, 1, 4, notes[i].off, notes[i].filesz);
		CHECK(build_id(img, n, hex) == -1);
	}

	t_case = "namesz/descsz overflowing";
	static const struct {
		uint32_t namesz, descsz;
	} sz[] = {
		{ UINT32_MAX, 20 }, { UINT32_MAX - 2, 20 }, { UINT32_MAX - 3, 20 }, { 4, UINT32_MAX },
		{ 4, UINT32_MAX - 2 }, { 4, UINT32_MAX - 3 }, { UINT32_MAX, UINT32_MAX }, { 4, 21 }, { 4, 24 },
		{ 5, 20 }, { 8, 20 }, { 3, 20 }, { 0, 20 },
	};
	for (size_t i = 0; i < ARRAY_LEN(sz); i++) {
		n = mk_elf(img, 62);
		put_le(img + NOTE_OFF, sz[i].namesz, 4);
		put_le(img + NOTE_OFF + 4, sz[i].descsz, 4);
		CHECK(build_id(img, n, hex) == -1);
		CHECK(hex[0] == '\0');
	}

	t_case = "a note with descsz 0";
	n = mk_elf(img, 62);
	size_t nl = put_note(img + NOTE_OFF, 4, 0, 3, "GNU", 0);
	put_phdr(img, 1, 4, NOTE_OFF, nl);
	CHECK(build_id(img, NOTE_OFF + nl, hex) == -1);
	CHECK(hex[0] == '\0');

	t_case = "the build id after other notes";
	n = mk_elf(img, 62);
	nl = put_note(img + NOTE_OFF, 4, 0, 3, "GNU", 0);
	nl += put_note(img + NOTE_OFF + nl, 4, 16, 1 /* NT_GNU_ABI_TAG */, "GNU", 16);
	nl += put_note(img + NOTE_OFF + nl, 8, 20, 3, "Android", 20);
	nl += put_note(img + NOTE_OFF + nl, 4, 20, 3, "GNU", 20);
	put_phdr(img, 1, 4, NOTE_OFF, nl);
	CHECK(build_id(img, NOTE_OFF + nl, hex) == 0);
	CHECK_STR(hex, ID_HEX);

	t_case = "a second PT_NOTE holds it";
	n = mk_elf(img, 62);
	nl = put_note(img + NOTE_OFF, 4, 16, 5 /* NT_GNU_PROPERTY_TYPE_0 */, "GNU", 16);
	size_t nl2 = put_note(img + NOTE_OFF + nl, 4, 20, 3, "GNU", 20);
	put_phdr(img, 0, 4, NOTE_OFF, nl);
	put_phdr(img, 1, 4, NOTE_OFF + nl, nl2);
	CHECK(build_id(img, NOTE_OFF + nl + nl2, hex) == 0);
	CHECK_STR(hex, ID_HEX);

	t_case = "short and long build ids";
	n = mk_elf(img, 62);
	nl = put_note(img + NOTE_OFF, 4, 8, 3, "GNU", 8);
	put_phdr(img, 1, 4, NOTE_OFF, nl);
	CHECK(build_id(img, NOTE_OFF + nl, hex) == 0);
	CHECK_STR(hex, "0001020304050607");
	nl = put_note(img + NOTE_OFF, 4, 1, 3, "GNU", 1);
	put_phdr(img, 1, 4, NOTE_OFF, nl);
	CHECK(build_id(img, NOTE_OFF + nl, hex) == 0);
	CHECK_STR(hex, "00");
	nl = put_note(img + NOTE_OFF, 4, 64, 3, "GNU", 64);
	put_phdr(img, 1, 4, NOTE_OFF, nl);
	CHECK(build_id(img, NOTE_OFF + nl, hex) == 0);
	CHECK_STR(hex, ID_HEX);			/* the first 20 bytes */
}

/* ---- real files ---- */

/* The first max bytes of path into a new buffer: length, or -1. */
static ssize_t slurp(const char *path, uint8_t **out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*out = NULL;
	if (fd < 0)
		return -1;
	uint8_t *b = xmalloc(max);
	size_t n = 0;
	ssize_t got;
	while (n < max && (got = read(fd, b + n, max - n)) > 0)
		n += (size_t)got;
	close(fd);
	*out = b;
	return (ssize_t)n;
}

/* The build id `readelf -n` prints for path, or "" when it prints none. */
static void readelf_id(const char *path, char *hex, size_t cap)
{
	char *cmd = xasprintf("readelf -n '%s' 2>/dev/null", path), line[512];
	FILE *f = popen(cmd, "r");
	hex[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *at = strstr(line, "Build ID: ");
		if (at != NULL && hex[0] == '\0') {
			snprintf(hex, cap, "%s", at + strlen("Build ID: "));
			hex[strcspn(hex, " \r\n")] = '\0';
		}
	}
	if (f != NULL)
		pclose(f);
	free(cmd);
}

static void check_real(const char *path, const char *arch)
{
	uint8_t *head;
	char hex[41], want[128];
	ssize_t n = slurp(path, &head, AGENT_HEAD_MAX);
	CHECK(n > 64);
	if (n > 64) {
		readelf_id(path, want, sizeof(want));
		CHECK(strlen(want) == 40);
		CHECK(elf_build_id(head, (size_t)n, hex) == 0);
		CHECK_STR(hex, want);
		if (arch != NULL)
			CHECK_STR(elf_machine(head, (size_t)n), arch);
	}
	free(head);
}

static char exe_dir[4096];

static void test_real(void)
{
	ssize_t k = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
	exe_dir[k > 0 ? k : 0] = '\0';
	char *slash = strrchr(exe_dir, '/');
	if (slash != NULL)
		*slash = '\0';

	t_case = "this test binary";
	char *self = xasprintf("%s/unit", exe_dir);	/* for readelf: not its own /proc/self/exe */
	check_real(self, NULL);
	free(self);
	uint8_t *head;
	char hex[41];
	ssize_t n = slurp("/proc/self/exe", &head, AGENT_HEAD_MAX);
	CHECK(n > 0 && elf_build_id(head, (size_t)n, hex) == 0);
	const char *mine = strchr(ferry_build_id(), '-');
	CHECK(mine != NULL && strncmp(mine + 1, hex, 12) == 0 && strlen(mine + 1) == 12);
#if defined(__x86_64__)
	CHECK_STR(elf_machine(head, (size_t)n), "x86_64");
#elif defined(__aarch64__)
	CHECK_STR(elf_machine(head, (size_t)n), "aarch64");
#endif
	free(head);

	static const char *const arches[] = { "x86_64", "aarch64", "ppc64le" };
	for (size_t i = 0; i < ARRAY_LEN(arches); i++) {
		char *p = xasprintf("%s/../agents/ferry-agent-linux-%s", exe_dir, arches[i]);
		t_case = arches[i];
		if (access(p, F_OK) == 0)
			check_real(p, arches[i]);
		else
			fprintf(stderr, "note: %s missing (make agents): not checked\n", p);
		free(p);
	}
}

/* ---- the bundle ---- */

static char base[64];

static void put_file(const char *name, const void *p, size_t n, mode_t mode)
{
	char *path = xasprintf("%s/%s", base, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	if (fd >= 0)
		close(fd);
	CHECK(chmod(path, mode) == 0);
	free(path);
}

/* bundle_find in a child that alarm() ends: 0 found, -1 not, -2 hung. */
static int find_timed(const char *os, const char *arch)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct bundle_agent a;
		alarm(1);
		_exit(bundle_find(os, arch, &a) == 0 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		return -2;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_bundle(void)
{
	const char *saved_env = getenv("FERRY_AGENT_BUNDLE");
	char *saved = saved_env ? xstrdup(saved_env) : NULL;
	uint8_t img[IMG_MAX];
	size_t n;
	struct bundle_agent a;
	char *s;

	snprintf(base, sizeof(base), "/tmp/ferry-bundle-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
	setenv("FERRY_AGENT_BUNDLE", base, 1);

	t_case = "bundle_dir";
	s = bundle_dir();
	CHECK_STR(s, base);
	free(s);

	t_case = "a good agent";
	n = mk_elf(img, 62);
	put_file("ferry-agent-linux-x86_64", img, n, 0755);
	CHECK(bundle_find("Linux", "x86_64", &a) == 0);
	s = xasprintf("%s/ferry-agent-linux-x86_64", base);
	CHECK_STR(a.path, s);
	free(s);
	s = xasprintf("%s-000102030405", ferry_version());
	CHECK_STR(a.id, s);
	free(s);
	bundle_agent_free(&a);
	CHECK(a.path == NULL);
	bundle_agent_free(&a);			/* twice: harmless */
	CHECK(bundle_find("linux", "x86_64", &a) == 0);
	bundle_agent_free(&a);

	t_case = "named for one arch, holding another";
	put_file("ferry-agent-linux-aarch64", img, n, 0755);
	CHECK(bundle_find("Linux", "aarch64", &a) == -1);
	CHECK(a.path == NULL);

	t_case = "not executable";
	n = mk_elf(img, 21);
	put_file("ferry-agent-linux-ppc64le", img, n, 0644);
	CHECK(bundle_find("Linux", "ppc64le", &a) == -1);
	CHECK(a.path == NULL);
	s = xasprintf("%s/ferry-agent-linux-ppc64le", base);
	CHECK(chmod(s, 0755) == 0);
	CHECK(bundle_find("Linux", "ppc64le", &a) == 0);
	bundle_agent_free(&a);
	CHECK(chmod(s, 0644) == 0);
	free(s);

	t_case = "no build id, not ELF, empty, a folder";
	n = mk_elf(img, 62);
	put_le(img + NOTE_OFF + 8, 1, 4);
	put_file("ferry-agent-linux-x86_64", img, n, 0755);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	put_file("ferry-agent-linux-x86_64", "#!/bin/sh\nexit 0\n", 17, 0755);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	put_file("ferry-agent-linux-x86_64", "", 0, 0755);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	s = xasprintf("%s/ferry-agent-linux-x86_64", base);
	CHECK(unlink(s) == 0 && mkdir(s, 0755) == 0);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	CHECK(rmdir(s) == 0);
	free(s);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	CHECK(bundle_find("Linux", "sparc64", &a) == -1);
	CHECK(bundle_find("Darwin", "x86_64", &a) == -1);
	CHECK(bundle_find("", "", &a) == -1);
	n = mk_elf(img, 62);
	put_file("ferry-agent-linux-x86_64", img, n, 0755);
	CHECK(bundle_find("Linux", "x86_64", &a) == 0);
	bundle_agent_free(&a);

	t_case = "names from the server that leave the folder";
	/* A good agent where "os = x/" would reach it. */
	s = xasprintf("%s/ferry-agent-x", base);
	CHECK(mkdir(s, 0755) == 0);
	free(s);
	n = mk_elf(img, 62);
	put_file("ferry-agent-x/-x86_64", img, n, 0755);
	static const struct {
		const char *os, *arch;
	} hostile[] = {
		{ "x/", "x86_64" }, { "linux/../x/", "x86_64" }, { "/", "x86_64" }, { "Linux", "x86_64/" },
		{ "Linux", "/x86_64" }, { "Linux", "x86_64/." }, { "Linux", "../x86_64" }, { "..", "x86_64" },
		{ ".", "x86_64" }, { ".Linux", "x86_64" }, { "Linux", ".x86_64" }, { "Linux", "." },
	};
	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		t_case = hostile[i].os;
		CHECK(bundle_find(hostile[i].os, hostile[i].arch, &a) == -1);
		CHECK(a.path == NULL);
	}

	t_case = "bundle_platforms";
	put_file("ferry-agent-linux-x86_64.tmp", img, n, 0755);
	put_file("README", "x", 1, 0644);
	s = bundle_platforms();
	/* Names, not checked files: a listing for --version. */
	CHECK_STR(s, "linux-aarch64 linux-ppc64le linux-x86_64 x");
	free(s);

	t_case = "a FIFO where an agent should be";
	s = xasprintf("%s/ferry-agent-linux-fifo64", base);
	CHECK(mkfifo(s, 0755) == 0);
	free(s);
	CHECK(find_timed("Linux", "fifo64") == -1);	/* refused, not waited on */
	CHECK(find_timed("Linux", "x86_64") == 0);

	t_case = "no bundle";
	setenv("FERRY_AGENT_BUNDLE", "", 1);
	CHECK(bundle_dir() == NULL);
	CHECK(bundle_find("Linux", "x86_64", &a) == -1);
	s = bundle_platforms();
	CHECK_STR(s, "");
	free(s);
	s = xasprintf("%s/none", base);
	setenv("FERRY_AGENT_BUNDLE", s, 1);
	free(s);
	CHECK(bundle_dir() == NULL);
	s = xasprintf("%s/README", base);
	setenv("FERRY_AGENT_BUNDLE", s, 1);	/* a file, not a folder */
	free(s);
	CHECK(bundle_dir() == NULL);

	if (saved != NULL)
		setenv("FERRY_AGENT_BUNDLE", saved, 1);
	else
		unsetenv("FERRY_AGENT_BUNDLE");
	free(saved);
	s = xasprintf("rm -rf '%s'", base);
	CHECK(system(s) == 0);
	free(s);
}

/* ---- the per-host platform ---- */

/* The names in dir but . and ..: how many; the first into one. */
static int list_dir(const char *dir, char *one, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int k = 0;
	one[0] = '\0';
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (k++ == 0)
			snprintf(one, cap, "%s", de->d_name);
	}
	if (d != NULL)
		closedir(d);
	return k;
}

static void test_hosts(void)
{
	const char *saved_env = getenv("XDG_STATE_HOME");
	char *saved = saved_env ? xstrdup(saved_env) : NULL;
	char os[64], arch[64], one[2048];
	char *st, *hosts, *s;

	snprintf(base, sizeof(base), "/tmp/ferry-hosts-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
	st = xasprintf("%s/state", base);
	setenv("XDG_STATE_HOME", st, 1);
	hosts = xasprintf("%s/ferry/hosts", st);

	t_case = "none yet";
	CHECK(host_platform_get("gpu1", os, arch) == -1);
	host_platform_forget("gpu1");		/* nothing there: harmless */

	t_case = "round trip";
	host_platform_put("gpu1", "Linux", "x86_64");
	CHECK(host_platform_get("gpu1", os, arch) == 0);
	CHECK_STR(os, "Linux");
	CHECK_STR(arch, "x86_64");
	CHECK(list_dir(hosts, one, sizeof(one)) == 1);
	CHECK_STR(one, "gpu1");
	struct stat sb;
	s = xasprintf("%s/gpu1", hosts);
	CHECK(stat(s, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	free(s);
	CHECK(stat(hosts, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	host_platform_put("gpu1", "Linux", "aarch64");
	CHECK(host_platform_get("gpu1", os, arch) == 0);
	CHECK_STR(arch, "aarch64");
	CHECK(host_platform_get("gpu2", os, arch) == -1);
	CHECK(host_platform_get("GPU1", os, arch) == -1);
	host_platform_forget("gpu1");
	CHECK(host_platform_get("gpu1", os, arch) == -1);
	CHECK(list_dir(hosts, one, sizeof(one)) == 0);

	t_case = "hostile host names: one file inside hosts/";
	char longh[300], longw[300];
	memset(longh, 'a', sizeof(longh) - 1);
	longh[sizeof(longh) - 1] = '\0';
	memset(longw, '/', 100);
	longw[100] = '\0';
	static const struct {
		const char *host, *file;
	} names[] = {
		{ "../x", "%2E.%2Fx" }, { "a/b", "a%2Fb" }, { "-x", "%2Dx" }, { "..", "%2E." }, { ".", "%2E" },
		{ "user@gpu-1.lab", "user@gpu-1.lab" }, { "a%2Fb", "a%252Fb" }, { "a b\n", "a%20b%0A" },
		{ "@x", "%40x" }, { "_x", "%5Fx" }, { "\xff", "%FF" }, { "x/../../../../tmp/evil", NULL },
	};
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		t_case = names[i].host;
		host_platform_put(names[i].host, "Linux", "ppc64le");
		CHECK(host_platform_get(names[i].host, os, arch) == 0);
		CHECK_STR(arch, "ppc64le");
		CHECK(list_dir(hosts, one, sizeof(one)) == 1);
		if (names[i].file != NULL)
			CHECK_STR(one, names[i].file);
		CHECK(strchr(one, '/') == NULL && one[0] != '.');
		host_platform_forget(names[i].host);
		CHECK(list_dir(hosts, one, sizeof(one)) == 0);
	}
	/* Nothing was made beside hosts/. */
	s = xasprintf("%s/ferry", st);
	CHECK(list_dir(s, one, sizeof(one)) == 1);
	CHECK_STR(one, "hosts");
	free(s);
	CHECK(list_dir(st, one, sizeof(one)) == 1);
	CHECK(list_dir(base, one, sizeof(one)) == 1);

	t_case = "a and a%2Fb and a/b are three hosts";
	host_platform_put("a/b", "Linux", "x86_64");
	host_platform_put("a%2Fb", "Linux", "aarch64");
	host_platform_put("a", "Linux", "ppc64le");
	CHECK(host_platform_get("a/b", os, arch) == 0);
	CHECK_STR(arch, "x86_64");
	CHECK(host_platform_get("a%2Fb", os, arch) == 0);
	CHECK_STR(arch, "aarch64");
	CHECK(host_platform_get("a", os, arch) == 0);
	CHECK_STR(arch, "ppc64le");
	CHECK(list_dir(hosts, one, sizeof(one)) == 3);
	host_platform_forget("a/b");
	host_platform_forget("a%2Fb");
	host_platform_forget("a");

	t_case = "very long host names";
	/* Past NAME_MAX once escaped: not recorded (a probe next time), and
	 * never a file elsewhere nor another host's. */
	const char *const longs[] = { longh, longw };
	for (size_t i = 0; i < ARRAY_LEN(longs); i++) {
		host_platform_put(longs[i], "Linux", "x86_64");
		int r = host_platform_get(longs[i], os, arch);
		CHECK(r == -1 || strcmp(arch, "x86_64") == 0);
		CHECK(list_dir(hosts, one, sizeof(one)) == (r == 0 ? 1 : 0));
		host_platform_forget(longs[i]);
		CHECK(list_dir(hosts, one, sizeof(one)) == 0);
	}
	/* 70 escaped bytes (210, and the temporary name's suffix) still fit. */
	memset(longw, '/', 70);
	longw[70] = '\0';
	host_platform_put(longw, "Linux", "x86_64");
	CHECK(host_platform_get(longw, os, arch) == 0);
	host_platform_forget(longw);

	t_case = "empty host name";
	host_platform_put("", "Linux", "x86_64");
	CHECK(host_platform_get("", os, arch) == -1);
	host_platform_forget("");
	CHECK(list_dir(hosts, one, sizeof(one)) == 0);

	t_case = "a file that holds one word";
	s = xasprintf("%s/odd", hosts);
	FILE *f = fopen(s, "w");
	if (f != NULL) {
		fputs("Linux\n", f);
		fclose(f);
	}
	free(s);
	CHECK(host_platform_get("odd", os, arch) == -1);
	host_platform_forget("odd");

	if (saved != NULL)
		setenv("XDG_STATE_HOME", saved, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(saved);
	free(st);
	free(hosts);
	s = xasprintf("rm -rf '%s'", base);
	CHECK(system(s) == 0);
	free(s);
}

void test_agent_bundle(void)
{
	test_images();
	test_real();
	test_bundle();
	test_hosts();
	t_case = NULL;
}
