/* extents.c - the extent list every handler fills (pf.h).  Apart from the
 * registry so that handlers never call back into the file that lists them. */
#include <errno.h>
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

int pf_read(const struct pf_source *s, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	if (off > s->length || n > s->length - off)
		return -EIO;
	while (n) {
		ssize_t got = pread(s->fd, p, n, (off_t)(s->offset + off));

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
