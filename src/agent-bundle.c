/*
 * agent-bundle.c - the static agents this client carries (see
 * agent-bundle.h and docs/agents.md).
 *
 * Looking an agent up reads no more than the head of its file (the ELF
 * header, the program headers and the build id note are in its first
 * page): it happens on every command, to name the folder the server's
 * boot script looks in.
 */
#define _GNU_SOURCE
#include "agent-bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsx.h"
#include "limits.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

#define AGENT_PREFIX	"ferry-agent-"
/* A host's file name, before a hash suffix: 255 less the hash (9) and
 * the atomic writer's ".ferry-tmp.PID" (up to 22). */
#define HOST_FILE_NAME_MAX	200

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rd_le(struct rd *r, int n)
{
	const uint8_t *p = rd_bytes(r, (size_t)n);
	return p ? le(p, n) : 0;
}

/* The ELF64 LE header's fields we use; -1 when p is no such image. */
static int elf_head(const uint8_t *p, size_t n, uint16_t *machine, uint64_t *phoff, uint16_t *phnum,
		    uint16_t *phentsize)
{
	static const uint8_t magic[] = { 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */ };
	struct rd r;
	rd_init(&r, p, n);
	const uint8_t *id = rd_bytes(&r, 16);
	if (id == NULL || memcmp(id, magic, sizeof(magic)) != 0)
		return -1;
	(void)rd_le(&r, 2);			/* e_type */
	*machine = (uint16_t)rd_le(&r, 2);
	(void)rd_le(&r, 4);			/* e_version */
	(void)rd_le(&r, 8);			/* e_entry */
	*phoff = rd_le(&r, 8);
	(void)rd_le(&r, 8);			/* e_shoff */
	(void)rd_le(&r, 4);			/* e_flags */
	(void)rd_le(&r, 2);			/* e_ehsize */
	*phentsize = (uint16_t)rd_le(&r, 2);
	*phnum = (uint16_t)rd_le(&r, 2);
	return rd_ok(&r) ? 0 : -1;
}

const char *elf_machine(const void *p, size_t n)
{
	uint16_t m, phnum, phentsize;
	uint64_t phoff;
	if (elf_head(p, n, &m, &phoff, &phnum, &phentsize) < 0)
		return NULL;
	switch (m) {
	case 62: return "x86_64";	/* EM_X86_64 */
	case 183: return "aarch64";	/* EM_AARCH64 */
	case 21: return "ppc64le";	/* EM_PPC64, little-endian above */
	default: return NULL;
	}
}

/* The build id in one PT_NOTE segment's notes: 0 found, -1 not. */
static int note_build_id(struct rd *r, char hex[41])
{
	while (rd_left(r) >= 12) {
		uint32_t namesz = (uint32_t)rd_le(r, 4), descsz = (uint32_t)rd_le(r, 4), type = (uint32_t)rd_le(r, 4);
		size_t nsz = ((size_t)namesz + 3) & ~(size_t)3, dsz = ((size_t)descsz + 3) & ~(size_t)3;
		const uint8_t *name = rd_bytes(r, nsz);
		const uint8_t *desc = rd_bytes(r, dsz);
		if (!rd_ok(r))
			return -1;
		if (type == 3 /* NT_GNU_BUILD_ID */ && namesz == 4 && memcmp(name, "GNU", 4) == 0 && descsz > 0) {
			size_t k = descsz < 20 ? descsz : 20;
			for (size_t j = 0; j < k; j++)
				snprintf(hex + 2 * j, 3, "%02x", desc[j]);
			return 0;
		}
	}
	return -1;
}

int elf_build_id(const void *p, size_t n, char hex[41])
{
	uint16_t m, phnum, phentsize;
	uint64_t phoff;
	hex[0] = '\0';
	if (elf_head(p, n, &m, &phoff, &phnum, &phentsize) < 0 || phentsize < 56 || phoff > n)
		return -1;
	for (uint16_t i = 0; i < phnum; i++) {
		if ((uint64_t)phentsize * i > n - phoff)
			return -1;
		struct rd ph;
		rd_init(&ph, (const uint8_t *)p + phoff + (size_t)phentsize * i, n - phoff - (size_t)phentsize * i);
		uint32_t type = (uint32_t)rd_le(&ph, 4);
		(void)rd_le(&ph, 4);		/* p_flags */
		uint64_t off = rd_le(&ph, 8);
		(void)rd_le(&ph, 8);		/* p_vaddr */
		(void)rd_le(&ph, 8);		/* p_paddr */
		uint64_t filesz = rd_le(&ph, 8);
		if (!rd_ok(&ph))
			return -1;
		if (type != 4 /* PT_NOTE */ || off > n || filesz > n - off)
			continue;
		struct rd notes;
		rd_init(&notes, (const uint8_t *)p + off, (size_t)filesz);
		if (note_build_id(&notes, hex) == 0)
			return 0;
	}
	return -1;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *bundle_dir(void)
{
	const char *env = getenv("FERRY_AGENT_BUNDLE");
	if (env != NULL)
		return env[0] && is_dir(env) ? xstrdup(env) : NULL;	/* "" turns the bundle off */
	char exe[4096];
	if (platform_self_exe(exe, sizeof(exe)) < 0)
		return NULL;
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	static const char *const rel[] = { "../libexec/ferry", "build/agents" };
	for (size_t i = 0; i < ARRAY_LEN(rel); i++) {
		char *d = xasprintf("%s/%s", exe, rel[i]);
		if (is_dir(d))
			return d;
		free(d);
	}
	return NULL;
}

/* "Linux" -> "linux": uname's spelling to the file's. */
static void lower(char *dst, const char *src, size_t n)
{
	size_t i = 0;
	for (; src[i] && i + 1 < n; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
	dst[i] = '\0';
}

/* The head of path (its first AGENT_HEAD_MAX bytes): length, or -1. */
static ssize_t read_head(const char *path, uint8_t *head, size_t max)
{
	/* O_NONBLOCK: a FIFO there is refused below, not waited on. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = pread(fd, head, max, 0);
	close(fd);
	return n;
}

int bundle_find(const char *os, const char *arch, struct bundle_agent *a)
{
	char los[64];
	memset(a, 0, sizeof(*a));
	/* Names from the server: nothing that could leave the folder. */
	if (strchr(os, '/') || strchr(arch, '/') || os[0] == '.' || arch[0] == '.')
		return -1;
	char *dir = bundle_dir();
	if (dir == NULL)
		return -1;
	lower(los, os, sizeof(los));
	a->path = xasprintf("%s/" AGENT_PREFIX "%s-%s", dir, los, arch);
	free(dir);
	uint8_t *head = xmalloc(AGENT_HEAD_MAX);
	char hex[41];
	ssize_t n = read_head(a->path, head, AGENT_HEAD_MAX);
	int r = -1;
	/* The file must be what its name says: an executable for arch. */
	if (n > 0 && elf_build_id(head, (size_t)n, hex) == 0) {
		const char *m = elf_machine(head, (size_t)n);
		if (m != NULL && strcmp(m, arch) == 0 && access(a->path, X_OK) == 0) {
			snprintf(a->id, sizeof(a->id), "%s-%.12s", ferry_version(), hex);
			r = 0;
		}
	}
	free(head);
	if (r < 0)
		bundle_agent_free(a);
	return r;
}

void bundle_agent_free(struct bundle_agent *a)
{
	free(a->path);
	a->path = NULL;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

char *bundle_platforms(void)
{
	char *dir = bundle_dir();
	struct buf b;
	buf_init(&b, 4096);
	if (dir != NULL) {
		DIR *d = opendir(dir);
		struct dirent *de;
		char *names[32];
		size_t k = 0;
		while (d != NULL && (de = readdir(d)) != NULL && k < ARRAY_LEN(names))
			if (strncmp(de->d_name, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0 &&
			    strchr(de->d_name, '.') == NULL)
				names[k++] = xstrdup(de->d_name + strlen(AGENT_PREFIX));
		if (d != NULL)
			closedir(d);
		qsort(names, k, sizeof(names[0]), cmp_str);
		for (size_t i = 0; i < k; i++) {
			if (b.len == 0 || buf_put(&b, " ", 1) == 0)
				(void)buf_put(&b, names[i], strlen(names[i]));
			free(names[i]);
		}
	}
	free(dir);
	char *s = b.len ? xstrndup((const char *)b.data, b.len) : xstrdup("");
	buf_release(&b);
	return s;
}

/* hosts/<host>, the host name made a safe file name (%XX for anything
 * but letters, digits and ._-@). */
static char *host_file(const char *host, bool make)
{
	char *st = state_home();
	char *dir = xasprintf("%s/hosts", st);
	const char *why;
	if (make && (dir_private(st, &why) != 0 || dir_private(dir, &why) != 0)) {
		free(st);
		free(dir);
		return NULL;
	}
	free(st);
	struct buf b;
	buf_init(&b, 4096);
	(void)buf_put(&b, dir, strlen(dir));
	(void)buf_put(&b, "/", 1);
	/* A name too long for one file name (255, with the writer's temp
	 * suffix) keeps its first part and a hash of the whole: still one
	 * file per host. */
	size_t start = b.len;
	for (const unsigned char *c = (const unsigned char *)host; *c && b.len - start < HOST_FILE_NAME_MAX; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    ((*c == '.' || *c == '-' || *c == '_' || *c == '@') && c != (const unsigned char *)host)) {
			(void)buf_put(&b, c, 1);
		} else {
			char x[4];
			snprintf(x, sizeof(x), "%%%02X", *c);
			(void)buf_put(&b, x, strlen(x));
		}
	}
	if (strlen(host) * 3 > HOST_FILE_NAME_MAX) {
		char h[24];
		snprintf(h, sizeof(h), "~%08x", posix_cksum(host, strlen(host)));
		if (b.len - start > HOST_FILE_NAME_MAX)
			b.len = start + HOST_FILE_NAME_MAX;
		(void)buf_put(&b, h, strlen(h));
	}
	free(dir);
	char *p = xstrndup((const char *)b.data, b.len);
	buf_release(&b);
	return p;
}

int host_platform_get(const char *host, char *os, char *arch)
{
	char *path = host_file(host, false);
	char *text = NULL;
	size_t len = 0;
	int r = -1;
	if (path != NULL && read_file(path, 4096, &text, &len) == 0 &&
	    sscanf(text, "%63s %63s", os, arch) == 2)
		r = 0;
	free(path);
	free(text);
	return r;
}

void host_platform_put(const char *host, const char *os, const char *arch)
{
	char oos[64], oarch[64];
	if (host_platform_get(host, oos, oarch) == 0 && strcmp(oos, os) == 0 && strcmp(oarch, arch) == 0)
		return;
	char *path = host_file(host, true);
	if (path == NULL)
		return;
	char *line = xasprintf("%s %s\n", os, arch);
	(void)write_cache_atomic(path, line, strlen(line), 0600);
	free(line);
	free(path);
}

void host_platform_forget(const char *host)
{
	char *path = host_file(host, false);
	if (path != NULL)
		(void)unlink(path);
	free(path);
}
