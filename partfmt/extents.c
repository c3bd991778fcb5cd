/* extents.c - the extent list every handler fills (pf.h).  Apart from the
 * registry so that handlers never call back into the file that lists them. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "pf.h"

int pf_extents_add(struct pf_extents *e, uint64_t start, uint64_t len)
{
	struct img_extent *last;

	if (len == 0)
		return 0;
	if (start + len < start)
		return -EINVAL;
	if (e->n) {
		last = &e->v[e->n - 1];
		if (start < last->start)
			return -EINVAL;
		/* Adjacent or overlapping the last one: extend it. */
		if (start <= last->start + last->len) {
			if (start + len > last->start + last->len)
				last->len = start + len - last->start;
			return 0;
		}
	}
	return pf_extents_push(e, start, len);
}

int pf_extents_push(struct pf_extents *e, uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 64;
		struct img_extent *nv;

		if (ncap < e->cap || ncap > SIZE_MAX / sizeof(*nv))
			return -ENOMEM;
		nv = realloc(e->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = ncap;
	}
	e->v[e->n].start = start;
	e->v[e->n].len = len;
	e->n++;
	return 0;
}

static int pf_extent_cmp(const void *a, const void *b)
{
	const struct img_extent *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void pf_extents_settle(struct pf_extents *e)
{
	size_t out = 0;

	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), pf_extent_cmp);
	for (size_t i = 0; i < e->n; i++) {
		struct img_extent *last = out ? &e->v[out - 1] : NULL;
		uint64_t end = e->v[i].start + e->v[i].len;

		if (last && e->v[i].start <= last->start + last->len) {
			if (end > last->start + last->len)
				last->len = end - last->start;
		} else {
			e->v[out++] = e->v[i];
		}
	}
	e->n = out;
}

int pf_result_take(struct pf_result *r, struct pf_extents *e, uint32_t unit, int ret)
{
	if (ret < 0) {
		free(e->v);
		e->v = NULL;
		e->n = e->cap = 0;
		return ret;
	}
	r->unit = unit;
	r->ext = e->v;
	r->next = e->n;
	return 0;
}

/* The fd offset of volume offset off, and how many bytes follow it in
 * the same piece. */
static uint64_t pf_where(const struct pf_source *s, uint64_t off, uint64_t *run)
{
	if (!s->nseg) {
		*run = s->length - off;
		return s->offset + off;
	}
	for (size_t i = 0; i < s->nseg; i++)
		if (off - s->seg[i].at < s->seg[i].len) {
			*run = s->seg[i].len - (off - s->seg[i].at);
			return s->seg[i].off + (off - s->seg[i].at);
		}
	*run = 0;
	return 0;
}

int pf_read(const struct pf_source *s, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	if (off > s->length || n > s->length - off)
		return -EIO;
	while (n) {
		uint64_t run, at = pf_where(s, off, &run);
		if (!run)
			return -EIO;
		ssize_t got = pread(s->fd, p, run < n ? (size_t)run : n, (off_t)at);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}
