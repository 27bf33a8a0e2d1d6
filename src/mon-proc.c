/*
 * mon-proc.c - /proc parsers (see mon-proc.h).  Every byte goes through the
 * text cursor; nothing here trusts a file to look like the kernel's
 * documentation: missing fields stay unknown, odd lines are skipped.
 */
#include "mon-proc.h"

#include <string.h>

#include "mon-text.h"
#include "mon.h"
#include "util.h"

#include "banned.h"

uint64_t mp_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

int mp_stat(const char *p, size_t n, struct mp_cpu *total, struct mp_cpu *cores, uint32_t max, uint32_t *ncores)
{
	struct rd f;
	int found = 0;
	rd_init(&f, p, n);
	*ncores = 0;
	total->id = MON_NA;
	total->busy = total->total = 0;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		if (!tx_lit(&l, "cpu"))
			continue;
		uint32_t id = MON_NA;
		if (tx_peek(&l) >= '0' && tx_peek(&l) <= '9') {
			uint64_t v = tx_u64(&l);
			id = v < MON_NA ? (uint32_t)v : 0;
		} else if (tx_peek(&l) != ' ') {
			continue;
		}
		/* user nice system idle iowait irq softirq steal [guest guest_nice]:
		 * guest time is already inside user and nice. */
		uint64_t v[8];
		for (int i = 0; i < 8; i++)
			v[i] = tx_u64(&l);
		if (!rd_ok(&l))
			continue;
		struct mp_cpu c = { id, v[0] + v[1] + v[2] + v[5] + v[6] + v[7], 0 };
		c.total = c.busy + v[3] + v[4];
		if (id == MON_NA) {
			*total = c;
			found = 1;
		} else if (*ncores < max) {
			cores[(*ncores)++] = c;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

int mp_meminfo(const char *p, size_t n, struct mp_mem *m)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "MemTotal:", offsetof(struct mp_mem, total) },
		{ "MemAvailable:", offsetof(struct mp_mem, avail) },
		{ "SwapTotal:", offsetof(struct mp_mem, swap_total) },
		{ "SwapFree:", offsetof(struct mp_mem, swap_free) },
	};
	struct rd f;
	int found = 0;
	rd_init(&f, p, n);
	m->total = m->avail = m->swap_total = m->swap_free = MON_NA64;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (!tx_lit(&l, keys[i].key))
				continue;
			uint64_t kb = tx_u64(&l);
			tx_skip_blank(&l);
			/* Values are in kB; a line without the unit is taken as is. */
			if (rd_ok(&l) && kb <= UINT64_MAX / 1024) {
				memcpy((char *)m + keys[i].off, &(uint64_t){ kb * 1024 }, sizeof(uint64_t));
				found = 1;
			}
			break;
		}
	}
	return found ? 0 : -1;
}

int mp_loadavg(const char *p, size_t n, uint32_t load[3], uint32_t *tasks, uint32_t *last_pid)
{
	struct rd f;
	rd_init(&f, p, n);
	struct rd l = tx_line(&f);
	uint64_t v[3];
	for (int i = 0; i < 3; i++) {
		v[i] = tx_fixed100(&l);
		load[i] = MON_NA;
	}
	*tasks = *last_pid = MON_NA;
	if (!rd_ok(&l))
		return -1;
	for (int i = 0; i < 3; i++)
		load[i] = v[i] < MON_NA ? (uint32_t)v[i] : MON_NA - 1;
	(void)tx_u64(&l);
	if (tx_lit(&l, "/")) {
		uint64_t t = tx_u64(&l);
		if (rd_ok(&l) && t < MON_NA)
			*tasks = (uint32_t)t;
		uint64_t last = tx_u64(&l);
		if (rd_ok(&l) && last < MON_NA)
			*last_pid = (uint32_t)last;
	}
	return 0;
}

int mp_pressure(const char *p, size_t n, uint32_t *some_avg10)
{
	struct rd f;
	rd_init(&f, p, n);
	*some_avg10 = MON_NA;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		if (!tx_lit(&l, "some avg10="))
			continue;
		uint64_t v = tx_fixed100(&l);
		if (rd_ok(&l) && v <= 10000) {
			*some_avg10 = (uint32_t)v;
			return 0;
		}
	}
	return -1;
}

int mp_uptime(const char *p, size_t n, uint64_t *secs)
{
	struct rd f;
	rd_init(&f, p, n);
	*secs = tx_u64(&f);
	if (!rd_ok(&f)) {
		*secs = MON_NA64;
		return -1;
	}
	return 0;
}

/* A field of /proc/PID/stat that may be negative (tpgid -1, priority and
 * nice of real-time tasks): a negative value reads as 0. */
static uint64_t stat_field(struct rd *r)
{
	tx_skip_blank(r);
	bool neg = tx_lit(r, "-");
	uint64_t v = tx_u64(r);
	return neg ? 0 : v;
}

int mp_pid_stat(const char *p, size_t n, struct mp_pstat *s)
{
	struct rd f;
	memset(s, 0, sizeof(*s));
	rd_init(&f, p, n);
	uint64_t pid = tx_u64(&f);
	tx_skip_blank(&f);
	if (!rd_ok(&f) || !tx_lit(&f, "(") || pid >= MON_NA)
		return -1;
	/* The name ends at the last ')' of the file: look for it from the end. */
	size_t start = f.off, end = n;
	while (end > start && p[end - 1] != ')')
		end--;
	if (end == start)
		return -1;
	size_t clen = end - 1 - start;
	const uint8_t *c = rd_bytes(&f, clen);
	memcpy(s->comm, c, clen < MP_COMM_MAX - 1 ? clen : MP_COMM_MAX - 1);
	(void)rd_bytes(&f, 1);
	s->pid = (uint32_t)pid;
	size_t wl;
	const char *st = tx_word(&f, &wl);
	s->state = wl ? st[0] : '?';
	uint64_t v[19];
	/* ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads itrealvalue
	 * starttime, then vsize rss. */
	for (int i = 0; i < 19; i++)
		v[i] = stat_field(&f);
	(void)stat_field(&f);
	uint64_t rss = stat_field(&f);
	if (!rd_ok(&f) || wl != 1)
		return -1;
	s->ppid = (uint32_t)v[0];
	s->pgrp = (uint32_t)v[1];
	s->session = (uint32_t)v[2];
	s->flags = (uint32_t)v[5];
	s->utime = v[10];
	s->stime = v[11];
	s->threads = v[16] < MON_NA ? (uint32_t)v[16] : MON_NA;
	s->starttime = v[18];
	s->rss_pages = rss;
	return 0;
}

int mp_pid_schedstat(const char *p, size_t n, uint64_t *runtime_ns)
{
	struct rd f;
	rd_init(&f, p, n);
	uint64_t v = tx_u64(&f);
	*runtime_ns = 0;
	if (!rd_ok(&f))
		return -1;
	*runtime_ns = v;
	return 0;
}

int mp_pid_statm(const char *p, size_t n, uint64_t *rss_pages)
{
	struct rd f;
	rd_init(&f, p, n);
	(void)tx_u64(&f);
	uint64_t v = tx_u64(&f);
	*rss_pages = 0;
	if (!rd_ok(&f))
		return -1;
	*rss_pages = v;
	return 0;
}

int mp_pid_status(const char *p, size_t n, struct mp_pstatus *s)
{
	struct rd f;
	int found = 0;
	rd_init(&f, p, n);
	s->uid = s->threads = MON_NA;
	s->rss = MON_NA64;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		uint64_t v;
		if (tx_lit(&l, "Uid:")) {
			v = tx_u64(&l);
			if (rd_ok(&l) && v < MON_NA)
				s->uid = (uint32_t)v, found = 1;
		} else if (tx_lit(&l, "Threads:")) {
			v = tx_u64(&l);
			if (rd_ok(&l) && v < MON_NA)
				s->threads = (uint32_t)v, found = 1;
		} else if (tx_lit(&l, "VmRSS:")) {
			v = tx_u64(&l);
			if (rd_ok(&l) && v <= UINT64_MAX / 1024)
				s->rss = v * 1024, found = 1;
		}
	}
	return found ? 0 : -1;
}

char *mp_cmdline(const char *p, size_t n)
{
	char *s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = p[i] == '\0' ? ' ' : p[i];
	while (n > 0 && s[n - 1] == ' ')
		n--;
	s[n] = '\0';
	return s;
}

int mp_pid_io(const char *p, size_t n, uint64_t *read_bytes, uint64_t *write_bytes)
{
	struct rd f;
	rd_init(&f, p, n);
	*read_bytes = *write_bytes = MON_NA64;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		uint64_t *dst = tx_lit(&l, "read_bytes:") ? read_bytes : tx_lit(&l, "write_bytes:") ? write_bytes : NULL;
		if (dst == NULL)
			continue;
		uint64_t v = tx_u64(&l);
		if (rd_ok(&l) && v != MON_NA64)
			*dst = v;
	}
	return *read_bytes != MON_NA64 || *write_bytes != MON_NA64 ? 0 : -1;
}

int mp_diskstats(const char *p, size_t n, uint32_t major, uint32_t minor, uint64_t *rd_sect, uint64_t *wr_sect)
{
	struct rd f;
	rd_init(&f, p, n);
	*rd_sect = *wr_sect = MON_NA64;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		uint64_t ma = tx_u64(&l), mi = tx_u64(&l);
		if (!rd_ok(&l) || ma != major || mi != minor)
			continue;
		/* name, reads, reads merged, sectors read, ms reading, writes,
		 * writes merged, sectors written */
		tx_skip_words(&l, 1);
		uint64_t v[7];
		for (int i = 0; i < 7; i++)
			v[i] = tx_u64(&l);
		if (!rd_ok(&l))
			return -1;
		*rd_sect = v[2];
		*wr_sect = v[6];
		return 0;
	}
	return -1;
}

int mp_netdev(const char *p, size_t n, uint64_t *rx, uint64_t *tx)
{
	struct rd f;
	int found = 0;
	rd_init(&f, p, n);
	*rx = *tx = 0;
	while (!tx_eof(&f)) {
		struct rd l = tx_line(&f);
		/* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ..."
		 * (the two header lines have no number after the ':' they may hold) */
		tx_skip_blank(&l);
		size_t start = l.off;
		tx_skip_past(&l, ':');
		if (!rd_ok(&l))
			continue;
		size_t nl = l.off - 1 - start;
		bool lo = nl == 2 && memcmp(l.p + start, "lo", 2) == 0;
		uint64_t v[9];
		for (int i = 0; i < 9; i++)
			v[i] = tx_u64(&l);
		if (!rd_ok(&l) || lo)
			continue;
		*rx += v[0];
		*tx += v[8];
		found = 1;
	}
	if (!found)
		*rx = *tx = MON_NA64;
	return found ? 0 : -1;
}
