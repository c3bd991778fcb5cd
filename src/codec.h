/* codec.h - chunk compression and digests.
 *
 * A struct img_codec_ctx belongs to one thread at a time; create one per
 * worker.  Buffers are the caller's: dst must hold img_codec_bound(n).
 */
#ifndef IMG_CODEC_H
#define IMG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "img.h"

struct img_codec_ctx;

int img_codec_new(struct img_codec_ctx **out, enum img_codec codec, int level);
void img_codec_free(struct img_codec_ctx *c);

/* Worst-case compressed size of n bytes, for any codec. */
size_t img_codec_bound(size_t n);

/* Compress src[0..n) into dst.  Sets *codec to the codec used: ZERO for
 * all-zero input (nothing stored), STORED when compression does not shrink
 * the data or level is 0 (dst then holds a copy), else the context's codec.
 * Returns the stored length or a negative code. */
long img_codec_pack(struct img_codec_ctx *c, const uint8_t *src, size_t n,
		    uint8_t *dst, size_t cap, uint8_t *codec);

/* Decompress exactly raw bytes into dst.  Returns 0 or -IMG_E_CORRUPT. */
int img_codec_unpack(struct img_codec_ctx *c, uint8_t codec,
		     const uint8_t *src, size_t n, uint8_t *dst, size_t raw);

/* SHA-256 of n bytes. */
int img_sha256(struct img_codec_ctx *c, const void *p, size_t n, uint8_t out[32]);

/* Non-zero when all n bytes are zero. */
int img_is_zero(const uint8_t *p, size_t n);

/* The library level that -comp=level maps to for codec. */
int img_codec_level(enum img_codec codec, int level);


/* Incremental SHA-256 (for the image digest over chunk digests). */
struct img_sha;
int img_sha_new(struct img_sha **out);
void img_sha_update(struct img_sha *s, const void *p, size_t n);
void img_sha_final(struct img_sha *s, uint8_t out[32]);
void img_sha_free(struct img_sha *s);

#endif
