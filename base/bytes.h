/* base/bytes.h - explicit little-endian encoding into bounded buffers.
 *
 * struct img_wbuf grows up to a hard cap; every put after an overflow is a
 * no-op and the overflow is reported once by img_wbuf_error().
 * struct img_rbuf reads from a fixed span; every get past the end sets the
 * error flag and yields zeros, so decoders check once at the end of a
 * record instead of after every field.
 */
#ifndef IMG_BASE_BYTES_H
#define IMG_BASE_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void img_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void img_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}
static inline void img_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}
static inline uint16_t img_get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static inline uint32_t img_get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t img_get64(const uint8_t *p)
{
	return img_get32(p) | (uint64_t)img_get32(p + 4) << 32;
}

/* Big-endian fields (XFS and other on-disk formats that store them so). */
static inline uint16_t img_getbe16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t img_getbe32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t img_getbe64(const uint8_t *p)
{
	return (uint64_t)img_getbe32(p) << 32 | img_getbe32(p + 4);
}

struct img_wbuf {
	uint8_t *p;
	size_t len, cap, max;
	int overflow;
};

static inline int img_wbuf_reserve(struct img_wbuf *b, size_t n)
{
	if (b->overflow)
		return -1;
	if (n > b->max || b->len > b->max - n) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->len + n)
			nc *= 2;
		if (nc > b->max)
			nc = b->max;
		uint8_t *np = realloc(b->p, nc);
		if (!np) {
			b->overflow = 2;
			return -1;
		}
		b->p = np;
		b->cap = nc;
	}
	return 0;
}
static inline void img_put(struct img_wbuf *b, const void *d, size_t n)
{
	if (img_wbuf_reserve(b, n) == 0) {
		if (n)
			memcpy(b->p + b->len, d, n);
		b->len += n;
	}
}
static inline void img_put8(struct img_wbuf *b, uint8_t v) { img_put(b, &v, 1); }
static inline void img_put16(struct img_wbuf *b, uint16_t v)
{
	uint8_t t[2];
	img_le16(t, v);
	img_put(b, t, 2);
}
static inline void img_put32(struct img_wbuf *b, uint32_t v)
{
	uint8_t t[4];
	img_le32(t, v);
	img_put(b, t, 4);
}
static inline void img_put64(struct img_wbuf *b, uint64_t v)
{
	uint8_t t[8];
	img_le64(t, v);
	img_put(b, t, 8);
}
/* A string: u16 length, bytes, no terminator. */
static inline void img_putstr(struct img_wbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 0xffff)
		n = 0xffff;
	img_put16(b, (uint16_t)n);
	img_put(b, s, n);
}

struct img_rbuf {
	const uint8_t *p;
	size_t len, pos;
	int bad;
};

static inline const uint8_t *img_get(struct img_rbuf *r, size_t n)
{
	static const uint8_t zeros[8];
	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return n <= sizeof(zeros) ? zeros : NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}
static inline uint8_t img_rd8(struct img_rbuf *r) { return *img_get(r, 1); }
static inline uint16_t img_rd16(struct img_rbuf *r) { return img_get16(img_get(r, 2)); }
static inline uint32_t img_rd32(struct img_rbuf *r) { return img_get32(img_get(r, 4)); }
static inline uint64_t img_rd64(struct img_rbuf *r) { return img_get64(img_get(r, 8)); }
/* Read a string into dst (always terminated, cut to cap-1).  Embedded NULs
 * make the record bad: names in an image are text. */
static inline void img_rdstr(struct img_rbuf *r, char *dst, size_t cap)
{
	size_t n = img_rd16(r);
	const uint8_t *p = img_get(r, n);
	dst[0] = 0;
	if (r->bad || !p)
		return;
	if (memchr(p, 0, n)) {
		r->bad = 1;
		return;
	}
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(dst, p, k);
	dst[k] = 0;
}

#endif
