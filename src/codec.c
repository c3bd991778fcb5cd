/* codec.c - zstd / deflate chunk codecs and SHA-256 digests.
 *
 * -comp levels 1..9 map onto zstd levels 2,3,4,5,6,7,9,13,19 (1 fastest,
 * 6 balanced, 9 smallest) and onto libdeflate levels 1..9; 0 stores.
 * -comp=1 uses zstd level 2, not 1: on 1 MiB chunks, which each start
 * without history, level 1 made images 0.9% larger than partclone | zstd
 * -1 on the benchmark fixture, level 2 made them 0.6% smaller at the same
 * CPU time (zstd 1.5.4, measured here).
 */
#include <errno.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"
#include "internal.h"

struct img_codec_ctx {
	enum img_codec codec;
	int level;                 /* -comp level */
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
	struct libdeflate_compressor *dc;
	struct libdeflate_decompressor *dd;
	EVP_MD_CTX *md;
	EVP_MD *sha;
};

static const int zstd_levels[10] = { 0, 2, 3, 4, 5, 6, 7, 9, 13, 19 };

int img_codec_level(enum img_codec codec, int level)
{
	if (level <= 0)
		return 0;
	if (level > 9)
		level = 9;
	return codec == IMG_CODEC_DEFLATE ? level : zstd_levels[level];
}

int img_codec_new(struct img_codec_ctx **out, enum img_codec codec, int level)
{
	struct img_codec_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->codec = codec;
	c->level = level;
	c->zd = ZSTD_createDCtx();
	c->dd = libdeflate_alloc_decompressor();
	c->md = EVP_MD_CTX_new();
	c->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!c->zd || !c->dd || !c->md || !c->sha)
		goto fail;
	if (level > 0 && codec == IMG_CODEC_ZSTD) {
		c->zc = ZSTD_createCCtx();
		if (!c->zc || ZSTD_isError(ZSTD_CCtx_setParameter(c->zc,
				ZSTD_c_compressionLevel, img_codec_level(codec, level))))
			goto fail;
	} else if (level > 0 && codec == IMG_CODEC_DEFLATE) {
		c->dc = libdeflate_alloc_compressor(img_codec_level(codec, level));
		if (!c->dc)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	img_codec_free(c);
	return -ENOMEM;
}

void img_codec_free(struct img_codec_ctx *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->zc);
	ZSTD_freeDCtx(c->zd);
	if (c->dc)
		libdeflate_free_compressor(c->dc);
	if (c->dd)
		libdeflate_free_decompressor(c->dd);
	EVP_MD_CTX_free(c->md);
	EVP_MD_free(c->sha);
	free(c);
}

size_t img_codec_bound(size_t n)
{
	size_t z = ZSTD_compressBound(n);
	size_t d = n + n / 8 + 4096; /* >= libdeflate_deflate_compress_bound */
	return z > d ? z : d;
}

int img_is_zero(const uint8_t *p, size_t n)
{
	/* Compare word-wise after the first 16 bytes are checked directly. */
	size_t k = n < 16 ? n : 16;
	for (size_t i = 0; i < k; i++)
		if (p[i])
			return 0;
	return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

long img_codec_pack(struct img_codec_ctx *c, const uint8_t *src, size_t n,
		    uint8_t *dst, size_t cap, uint8_t *codec)
{
	size_t r = 0;
	if (img_is_zero(src, n)) {
		*codec = IMG_CODEC_ZERO;
		return 0;
	}
	if (c->zc) {
		r = ZSTD_compress2(c->zc, dst, cap, src, n);
		if (ZSTD_isError(r))
			return -IMG_E_CODEC;
		*codec = IMG_CODEC_ZSTD;
	} else if (c->dc) {
		r = libdeflate_deflate_compress(c->dc, src, n, dst, cap);
		*codec = IMG_CODEC_DEFLATE;
		if (r == 0)
			r = n; /* did not fit: store */
	}
	if (r == 0 || r >= n) {
		if (cap < n)
			return -IMG_E_CODEC;
		memcpy(dst, src, n);
		*codec = IMG_CODEC_STORED;
		r = n;
	}
	return (long)r;
}

int img_codec_unpack(struct img_codec_ctx *c, uint8_t codec, const uint8_t *src,
		     size_t n, uint8_t *dst, size_t raw)
{
	switch (codec) {
	case IMG_CODEC_ZERO:
		memset(dst, 0, raw);
		return 0;
	case IMG_CODEC_STORED:
		if (n != raw)
			return -IMG_E_CORRUPT;
		memcpy(dst, src, n);
		return 0;
	case IMG_CODEC_ZSTD: {
		size_t r = ZSTD_decompressDCtx(c->zd, dst, raw, src, n);
		return ZSTD_isError(r) || r != raw ? -IMG_E_CORRUPT : 0;
	}
	case IMG_CODEC_DEFLATE: {
		size_t got = 0;
		enum libdeflate_result r = libdeflate_deflate_decompress(c->dd, src,
						n, dst, raw, &got);
		return r != LIBDEFLATE_SUCCESS || got != raw ? -IMG_E_CORRUPT : 0;
	}
	}
	return -IMG_E_CORRUPT;
}

int img_sha256(struct img_codec_ctx *c, const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;
	if (!EVP_DigestInit_ex(c->md, c->sha, NULL) ||
	    !EVP_DigestUpdate(c->md, p, n) ||
	    !EVP_DigestFinal_ex(c->md, out, &len) || len != 32)
		return -IMG_E_CODEC;
	return 0;
}

struct img_sha {
	EVP_MD_CTX *md;
	int bad;
};

int img_sha_new(struct img_sha **out)
{
	struct img_sha *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->md = EVP_MD_CTX_new();
	if (!s->md || !EVP_DigestInit_ex(s->md, EVP_sha256(), NULL)) {
		img_sha_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void img_sha_update(struct img_sha *s, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(s->md, p, n))
		s->bad = 1;
}

void img_sha_final(struct img_sha *s, uint8_t out[32])
{
	unsigned int len = 0;
	if (s->bad || !EVP_DigestFinal_ex(s->md, out, &len))
		memset(out, 0, 32);
}

void img_sha_free(struct img_sha *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->md);
	free(s);
}
