/*
 * job-tag.c - tagged fields for the job record and the launch spec
 * (job-tag.h).
 *
 * A parser of untrusted bytes (a record on disk may be from any version,
 * or damaged): every read goes through struct rd, every length is checked
 * against the field's own limit before anything is allocated.
 */
#include "job-tag.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

#define AT(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))
#define AT_C(obj, off, type) ((const type *)(const void *)((const char *)(obj) + (off)))

static int put_field(struct buf *out, uint16_t tag, const void *p, size_t n)
{
	return buf_put_u16(out, tag) | buf_put_str(out, p, n);
}

static int put_int(struct buf *out, uint16_t tag, uint64_t v, size_t width)
{
	uint8_t b[8];
	for (size_t i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	return put_field(out, tag, b, width);
}

int tag_encode(const struct tag_field *t, size_t nt, const void *obj, struct buf *out)
{
	int r = 0;
	for (size_t i = 0; i < nt; i++) {
		const struct tag_field *f = &t[i];
		switch (f->kind) {
		case TAG_U8:
			r |= put_int(out, f->tag, *AT_C(obj, f->off, uint8_t), 1);
			break;
		case TAG_U16:
			r |= put_int(out, f->tag, *AT_C(obj, f->off, uint16_t), 2);
			break;
		case TAG_U32:
			r |= put_int(out, f->tag, *AT_C(obj, f->off, uint32_t), 4);
			break;
		case TAG_U64:
			r |= put_int(out, f->tag, *AT_C(obj, f->off, uint64_t), 8);
			break;
		case TAG_STR: {
			const char *s = *AT_C(obj, f->off, char *);
			r |= put_field(out, f->tag, s ? s : "", s ? strlen(s) : 0);
			break;
		}
		case TAG_LIST: {
			char *const *v = *(char **const *)(const void *)((const char *)obj + f->off);
			uint32_t n = *AT_C(obj, f->count_off, uint32_t);
			for (uint32_t k = 0; k < n; k++)
				r |= put_field(out, f->tag, v[k], strlen(v[k]));
			break;
		}
		}
	}
	return r ? -1 : 0;
}

static const struct tag_field *find(const struct tag_field *t, size_t nt, uint16_t tag)
{
	for (size_t i = 0; i < nt; i++)
		if (t[i].tag == tag)
			return &t[i];
	return NULL;
}

static char *get_str(const uint8_t *p, size_t n, size_t max)
{
	if (n > max || memchr(p, '\0', n) != NULL)
		return NULL;
	return xstrndup((const char *)p, n);
}

/* One list entry: the vector grows by doubling, so a record of N entries
 * costs what its bytes do. */
static int add_item(const struct tag_field *f, void *obj, const uint8_t *p, size_t n)
{
	char ***v = AT(obj, f->off, char **);
	uint32_t *count = AT(obj, f->count_off, uint32_t);
	char *s = get_str(p, n, TAG_ITEM_MAX);
	if (s == NULL || *count >= f->max) {
		free(s);
		return -1;
	}
	/* Room for the entry and the NULL after it; capacity is the next
	 * power of two, so no size needs to be stored. */
	uint32_t c = *count;
	if (c == 0 || (c + 1 >= 2 && ((c + 1) & c) == 0))
		*v = xrealloc(*v, (size_t)(c == 0 ? 2 : 2 * (c + 1)) * sizeof(char *));
	(*v)[c] = s;
	(*v)[c + 1] = NULL;
	*count = c + 1;
	return 0;
}

/* One value into its member; -1 when it does not fit. */
static int set_field(const struct tag_field *f, void *obj, const uint8_t *p, size_t n)
{
	static const size_t width[] = { [TAG_U8] = 1, [TAG_U16] = 2, [TAG_U32] = 4, [TAG_U64] = 8 };
	switch (f->kind) {
	case TAG_U8:
	case TAG_U16:
	case TAG_U32:
	case TAG_U64:
	{
		struct rd r;	/* the value's bytes, read as every wire integer is */
		if (n != width[f->kind])
			return -1;
		rd_init(&r, p, n);
		if (f->kind == TAG_U8)
			*AT(obj, f->off, uint8_t) = rd_u8(&r);
		else if (f->kind == TAG_U16)
			*AT(obj, f->off, uint16_t) = rd_u16(&r);
		else if (f->kind == TAG_U32)
			*AT(obj, f->off, uint32_t) = rd_u32(&r);
		else
			*AT(obj, f->off, uint64_t) = rd_u64(&r);
		return rd_ok(&r) ? 0 : -1;
	}
	case TAG_STR:
		return (*AT(obj, f->off, char *) = get_str(p, n, f->max)) ? 0 : -1;
	case TAG_LIST:
		return add_item(f, obj, p, n);
	}
	return -1;
}

int tag_decode(const struct tag_field *t, size_t nt, struct rd *r, void *obj)
{
	uint64_t seen = 0;
	while (rd_ok(r) && rd_left(r) > 0) {
		uint16_t tag = rd_u16(r);
		size_t n;
		const uint8_t *p = rd_str(r, TAG_VALUE_MAX, &n);
		const struct tag_field *f = rd_ok(r) ? find(t, nt, tag) : NULL;
		if (f == NULL)
			continue;	/* a later version's field */
		uint64_t bit = 1ull << (f->tag & 63);
		if ((f->kind != TAG_LIST && (seen & bit)) || set_field(f, obj, p, n) < 0)
			rd_fail(r);
		seen |= bit;
	}
	for (size_t i = 0; i < nt; i++) {
		const struct tag_field *f = &t[i];
		if (f->required && !(seen & (1ull << (f->tag & 63))))
			rd_fail(r);
		if (f->kind == TAG_STR && *AT(obj, f->off, char *) == NULL)
			*AT(obj, f->off, char *) = xstrdup("");
		if (f->kind == TAG_LIST && *AT(obj, f->off, char **) == NULL)
			*AT(obj, f->off, char **) = xcalloc(1, sizeof(char *));
	}
	return rd_ok(r) ? 0 : -1;
}
