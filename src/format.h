/* format.h - the img image format, version 1 (see man/img-image.5).
 *
 * An image is a byte stream written front to back without seeking:
 *
 *   file header   16 bytes: magic, version, header size, feature flags
 *   HEAD record   creation info, disks with their table sectors, areas
 *                 (partitions and boot areas) with their used-byte extents
 *   CHNK records  one per non-empty chunk window, any order
 *   INDX record   one entry per chunk: stream offset, area, window number
 *   TRLR record   fixed size, last in the file: index offset, totals,
 *                 image digest
 *
 * Every record starts with a 24-byte prefix: tag (4 ASCII bytes), flags
 * (u32, reserved, must be 0), body length (u64), CRC-32 (zlib polynomial)
 * of the first `covered` bytes of the body (u32), covered (u32).  HEAD,
 * INDX and TRLR are covered whole; CHNK covers its metadata, its payload
 * is covered by the SHA-256 of the uncompressed bytes.  All integers are
 * little-endian.
 */
#ifndef IMG_FORMAT_H
#define IMG_FORMAT_H

#include <stdint.h>

#include "base/bytes.h"
#include "img.h"

#define IMG_MAGIC "\x89IMG\r\n\x1a\n"
#define IMG_FILEHDR_LEN 16
#define IMG_FORMAT_VERSION 1
#define IMG_FEATURES_KNOWN 0u        /* no optional features in v1 */

#define IMG_PREFIX_LEN 24
#define IMG_CHUNK_DEFAULT (1u << 20) /* 1 MiB window: see img-image(5) */
#define IMG_CHUNK_MIN (64u << 10)
#define IMG_CHUNK_MAX (16u << 20)
#define IMG_HEAD_MAX (256u << 20)   /* header record body cap */
#define IMG_RAWSECT_MAX (1u << 20)  /* one table region */
#define IMG_RAWSECT_COUNT_MAX 1024
#define IMG_DISKS_MAX 64
#define IMG_PARTS_MAX 4096
#define IMG_CHUNK_META_LEN 72
#define IMG_INDEX_ENTRY_LEN 16
#define IMG_TRAILER_BODY_LEN 64
#define IMG_TRAILER_LEN (IMG_PREFIX_LEN + IMG_TRAILER_BODY_LEN)

#define IMG_TAG_HEAD "HEAD"
#define IMG_TAG_CHNK "CHNK"
#define IMG_TAG_INDX "INDX"
#define IMG_TAG_TRLR "TRLR"

struct img_prefix {
	char tag[5];
	uint32_t flags;
	uint64_t body_len;
	uint32_t crc;
	uint32_t covered;
};

struct img_run {
	uint32_t off;         /* bytes from the window start */
	uint32_t len;
};

/* Chunk metadata; runs point into caller-owned storage. */
struct img_chunk {
	uint32_t area;        /* index into img_layout.parts */
	uint64_t offset;      /* window start, bytes from the area start */
	uint32_t window;      /* window length (<= chunk size) */
	uint8_t codec;        /* enum img_codec */
	uint32_t raw;         /* uncompressed payload = sum of run lengths */
	uint32_t stored;      /* payload bytes in the record */
	uint8_t digest[32];   /* SHA-256 of the uncompressed payload */
	uint32_t nruns;
	struct img_run *runs;
};

struct img_trailer {
	uint64_t index_offset;  /* stream offset of the INDX record */
	uint64_t chunks;
	uint64_t raw_total;
	uint64_t stored_total;
	uint8_t digest[32];     /* SHA-256 over all chunk digests in stream order */
};

/* Encode the file header and HEAD record for l into b. */
int img_fmt_put_header(struct img_wbuf *b, const struct img_layout *l,
		       struct img_error *err);

/* Decode the 16-byte file header. */
int img_fmt_check_filehdr(const uint8_t *p, struct img_error *err);

/* Encode / decode a record prefix. */
void img_fmt_put_prefix(uint8_t out[IMG_PREFIX_LEN], const char *tag,
			uint64_t body_len, const void *covered_bytes,
			uint32_t covered);
int img_fmt_get_prefix(const uint8_t in[IMG_PREFIX_LEN], struct img_prefix *p,
		       uint64_t at, struct img_error *err);

/* Decode and validate a HEAD body into a new layout (free with
 * img_layout_free). */
int img_fmt_get_header(const uint8_t *body, size_t len, struct img_layout **out,
		       struct img_error *err);

/* Chunk metadata: encoded size, encode, decode+validate against l.
 * img_fmt_get_chunk stores up to maxruns runs into runs. */
size_t img_fmt_chunk_meta_len(uint32_t nruns);
void img_fmt_put_chunk(uint8_t *out, const struct img_chunk *c);
int img_fmt_get_chunk(const uint8_t *in, size_t len, struct img_chunk *c,
		      struct img_run *runs, uint32_t maxruns,
		      const struct img_layout *l, uint64_t at,
		      struct img_error *err);

void img_fmt_put_trailer(uint8_t out[IMG_TRAILER_BODY_LEN],
			 const struct img_trailer *t);
void img_fmt_get_trailer(const uint8_t in[IMG_TRAILER_BODY_LEN],
			 struct img_trailer *t);

/* Most runs a window can have: runs are disjoint and at least 512 bytes. */
static inline uint32_t img_fmt_max_runs(uint32_t window)
{
	return window / 512 / 2 + 1;
}

#endif
