/* memsrc.h - an image source reading from memory, for tests that feed
 * thousands of image variants to img_restore without files. */
#ifndef IMG_TEST_MEMSRC_H
#define IMG_TEST_MEMSRC_H

#include <string.h>

#include "img.h"

struct mem {
	const uint8_t *p;
	size_t n, pos;
};

static inline ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos < len ? m->n - m->pos : len;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

/* img_restore in verify mode over p[0..n); *consumed (if not NULL) gets
 * how many bytes the reader took. */
static inline int verify_mem(const uint8_t *p, size_t n, size_t *consumed,
			     struct img_error *e)
{
	struct mem m = { p, n, 0 };
	struct img_source src = { mem_read, &m };
	struct img_restore_opts o = { .verify_only = 1, .threads = 1 };
	int rc = img_restore(&o, &src, NULL, NULL, e);
	if (consumed)
		*consumed = m.pos;
	return rc;
}

#endif
