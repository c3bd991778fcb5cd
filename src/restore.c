/* restore.c - image stream -> disks (or nowhere, to verify).
 *
 * The calling thread reads records in stream order, checks each record's
 * framing and metadata, and hands chunks to worker threads that
 * decompress, check the SHA-256 and write the runs at their own offsets
 * (order does not matter).  Nothing touches a disk until the header and
 * tables have been checked against every target.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <zlib.h>

#include "codec.h"
#include "disk.h"
#include "format.h"
#include "internal.h"
#include "isd.h"
#include "pipe.h"
#include "table.h"

struct slot {
	uint64_t at;          /* stream offset of the record */
	uint64_t seq;
	struct img_chunk c;
	struct img_run *runs;
	uint8_t *rec;         /* record body: meta + stored payload */
	uint8_t *raw;         /* decompressed payload */
};

struct target {
	int dev;              /* index into devs, -1: do not write */
	uint64_t base;        /* where the area starts on that device */
};

struct rst {
	const struct img_layout *l;
	struct img_dev *devs;
	size_t ndevs;
	struct target *tg;    /* one per area */
	int verify_only;
	unsigned nslots, nworkers;
	struct slot *slots;
	struct img_ring ring;
	int wrote;            /* something was written to a target */
};

/* ---- reading the stream --------------------------------------------- */

struct in {
	const struct img_source *src;
	uint64_t pos;
};

/* Read exactly n bytes; a short stream is a truncated image. */
static int in_read(struct in *in, void *buf, size_t n, const char *what,
		   struct img_error *err)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t r = in->src->read(in->src->ctx, p + got, n - got);
		if (r < 0)
			return img_err_set(err, (int)r,
					   "cannot read the image at offset %llu: %s",
					   (unsigned long long)(in->pos + got),
					   img_strerror((int)r));
		if (r == 0)
			return img_err_set(err, -IMG_E_TRUNCATED,
					   "image ends at offset %llu inside %s: the image is truncated (incomplete copy or upload?)",
					   (unsigned long long)(in->pos + got), what);
		got += (size_t)r;
	}
	in->pos += n;
	return 0;
}

static int read_header(struct in *in, struct img_layout **out,
		       struct img_error *err)
{
	uint8_t fh[IMG_FILEHDR_LEN], pre[IMG_PREFIX_LEN];
	struct img_prefix p;
	int rc = in_read(in, fh, sizeof(fh), "the file header", err);
	if (rc)
		return rc == -IMG_E_TRUNCATED && in->pos == 0
			       ? img_err_set(err, -IMG_E_FORMAT,
					     "not an img image (too short for a header)")
			       : rc;
	if ((rc = img_fmt_check_filehdr(fh, err)))
		return rc;
	uint64_t at = in->pos;
	if ((rc = in_read(in, pre, sizeof(pre), "the header record", err)) ||
	    (rc = img_fmt_get_prefix(pre, &p, at, err)))
		return rc;
	if (strcmp(p.tag, IMG_TAG_HEAD) || p.body_len > IMG_HEAD_MAX ||
	    p.covered != p.body_len)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "image offset %llu: expected the header record, found %s of %llu bytes",
				   (unsigned long long)at, p.tag,
				   (unsigned long long)p.body_len);
	uint8_t *body = malloc(p.body_len ? p.body_len : 1);
	if (!body)
		return img_err_set(err, -ENOMEM, "out of memory");
	rc = in_read(in, body, p.body_len, "the header record", err);
	if (!rc && (uint32_t)crc32(0, body, (uInt)p.body_len) != p.crc)
		rc = img_err_set(err, -IMG_E_CORRUPT,
				 "image header record at offset %llu fails its checksum: the image is corrupt",
				 (unsigned long long)at);
	if (!rc)
		rc = img_fmt_get_header(body, p.body_len, out, err);
	free(body);
	return rc;
}

/* ---- planning: where each area goes ---------------------------------- */

static int plan_whole(struct rst *r, const char *const *disks, size_t ndisks,
		      struct img_error *err)
{
	const struct img_layout *l = r->l;
	if (ndisks < l->ndisks)
		return img_err_set(err, -IMG_E_MISMATCH,
				   "the image holds %zu disks but only %zu target disks were given; name them in order with -disk=",
				   l->ndisks, ndisks);
	for (size_t i = 0; i < l->ndisks; i++) {
		int rc = img_dev_open(&r->devs[i], disks[i], 1, err);
		if (rc)
			return rc;
		r->ndevs++;
		rc = img_table_check(&l->disks[i], l, i, &r->devs[i], err);
		if (rc)
			return rc;
	}
	for (size_t a = 0; a < l->nparts; a++) {
		r->tg[a].dev = l->parts[a].disk;
		r->tg[a].base = l->parts[a].start;
	}
	return 0;
}

/* Check one -ap=aFROM:pTO against the image (l) and the target table
 * (tl); the k earlier maps must not use either side again.  Sets *src_at
 * to the image area and *dst to the target partition. */
static int map_check(const struct rst *r, const struct img_layout *tl,
		     const struct img_restore_opts *o, size_t k, size_t *src_at,
		     const struct img_part **dst, struct img_error *err)
{
	const struct img_layout *l = r->l;
	int from = o->maps[k].from, to = o->maps[k].to;
	const struct img_part *src = NULL;
	*dst = NULL;
	for (size_t a = 0; a < l->nparts; a++)
		if (l->parts[a].kind == IMG_PK_DATA && l->parts[a].number == from) {
			src = &l->parts[a];
			*src_at = a;
		}
	for (size_t t = 0; t < tl->nparts; t++)
		if (tl->parts[t].kind == IMG_PK_DATA && tl->parts[t].number == to)
			*dst = &tl->parts[t];
	if (!src)
		return img_err_set(err, -IMG_E_NOTFOUND,
				   "-ap=a%d:p%d: the image has no partition %d (see img -imginfo)",
				   from, to, from);
	if (!*dst)
		return img_err_set(err, -IMG_E_NOTFOUND,
				   "-ap=a%d:p%d: the target disks have no partition %d (see img -dump)",
				   from, to, to);
	const struct img_dev *dd = &r->devs[(*dst)->disk];
	if (src->capture == IMG_CAP_EXCLUDED)
		return img_err_set(err, -IMG_E_MISMATCH,
				   "-ap=a%d:p%d: image partition %d was excluded when the image was made",
				   from, to, from);
	if (l->disks[src->disk].sector != dd->sector)
		return img_err_set(err, -IMG_E_SECTOR,
				   "-ap=a%d:p%d: image partition has %u-byte sectors, target disk %s has %u-byte sectors",
				   from, to, l->disks[src->disk].sector, dd->path, dd->sector);
	if ((*dst)->length < src->length)
		return img_err_set(err, -IMG_E_TOOSMALL,
				   "-ap=a%d:p%d: image partition %d is %llu bytes but target partition %d has only %llu",
				   from, to, from, (unsigned long long)src->length, to,
				   (unsigned long long)(*dst)->length);
	for (size_t j = 0; j < k; j++)
		if (o->maps[j].to == to || o->maps[j].from == from)
			return img_err_set(err, -IMG_E_USAGE,
					   "-ap=a%d:p%d: partition used twice", from, to);
	return 0;
}

/* Free the target table plan_maps read. */
static void target_table_free(struct img_layout *tl)
{
	img_table_drop(tl, 0);
	free(tl->parts);
	for (size_t i = 0; i < tl->ndisks; i++) {
		for (size_t k = 0; k < tl->disks[i].nraw; k++)
			free(tl->disks[i].raw[k].data);
		free(tl->disks[i].raw);
	}
	free(tl->disks);
}

/* -ap: open the target disks, read their tables, and aim each mapped
 * image area at its target partition; unmapped areas get no target. */
static int plan_maps(struct rst *r, const struct img_restore_opts *o,
		     const char *const *disks, size_t ndisks,
		     struct img_error *err)
{
	const struct img_layout *l = r->l;
	struct img_layout tl = {0};
	int rc = 0, number = 0;
	tl.disks = calloc(ndisks, sizeof(*tl.disks));
	if (!tl.disks)
		return img_err_set(err, -ENOMEM, "out of memory");
	for (size_t a = 0; a < l->nparts; a++)
		r->tg[a].dev = -1;
	for (size_t i = 0; !rc && i < ndisks; i++) {
		rc = img_dev_open(&r->devs[i], disks[i], 1, err);
		if (rc)
			break;
		r->ndevs++;
		tl.ndisks++;
		rc = img_table_scan(&r->devs[i], &tl, i, &number, err);
	}
	for (size_t k = 0; !rc && k < o->nmaps; k++) {
		size_t sa = 0;
		const struct img_part *dst;
		rc = map_check(r, &tl, o, k, &sa, &dst, err);
		if (!rc) {
			r->tg[sa].dev = dst->disk;
			r->tg[sa].base = dst->start;
		}
	}
	target_table_free(&tl);
	return rc;
}

/* ---- workers ---------------------------------------------------------- */

static int write_zeros(const struct img_dev *d, uint64_t off, uint64_t len,
		       struct img_error *err)
{
	static const uint8_t zero[65536];
	if (!d->is_blk && fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    (off_t)off, (off_t)len) == 0)
		return 0;
	if (d->is_blk) {
		uint64_t range[2] = { off, len };
		if (ioctl(d->fd, BLKZEROOUT, range) == 0)
			return 0;
	}
	while (len) {
		size_t k = len > sizeof(zero) ? sizeof(zero) : (size_t)len;
		int rc = img_dev_write(d, zero, k, off, err);
		if (rc)
			return rc;
		off += k;
		len -= k;
	}
	return 0;
}

static int do_chunk(struct rst *r, struct img_codec_ctx *cc, struct slot *s,
		    struct img_error *err)
{
	const struct img_part *p = &r->l->parts[s->c.area];
	const struct target *t = &r->tg[s->c.area];
	size_t meta = img_fmt_chunk_meta_len(s->c.nruns);
	const uint8_t *payload = s->rec + meta;
	uint8_t dg[32];
	const uint8_t *data = s->raw;
	int rc;

	if (t->dev < 0 && !r->verify_only)
		return 0; /* not restored (-ap); its framing was checked */
	if (s->c.codec == IMG_CODEC_STORED) {
		/* Copied so that the writes start at an aligned buffer. */
		memcpy(s->raw, payload, s->c.raw);
	} else if (s->c.codec != IMG_CODEC_ZERO) {
		rc = img_codec_unpack(cc, s->c.codec, payload, s->c.stored, s->raw,
				      s->c.raw);
		if (rc)
			return img_err_set(err, -IMG_E_CORRUPT,
					   "chunk %llu at image offset %llu (partition %d, offset %llu) does not decompress: the image is corrupt",
					   (unsigned long long)s->seq, (unsigned long long)s->at,
					   p->number, (unsigned long long)s->c.offset);
	} else {
		memset(s->raw, 0, s->c.raw);
	}
	if ((rc = img_sha256(cc, data, s->c.raw, dg)))
		return img_err_set(err, rc, "cannot compute a digest");
	if (memcmp(dg, s->c.digest, 32) != 0)
		return img_err_set(err, -IMG_E_DIGEST,
				   "chunk %llu at image offset %llu (partition %d, offset %llu): data does not match its SHA-256 digest: the image is corrupt",
				   (unsigned long long)s->seq, (unsigned long long)s->at,
				   p->number, (unsigned long long)s->c.offset);
	if (r->verify_only)
		return 0;
	const struct img_dev *d = &r->devs[t->dev];
	uint64_t base = t->base + s->c.offset;
	__atomic_store_n(&r->wrote, 1, __ATOMIC_RELAXED);
	size_t at = 0;
	for (uint32_t i = 0; i < s->c.nruns; i++) {
		const struct img_run *run = &s->runs[i];
		rc = s->c.codec == IMG_CODEC_ZERO
			     ? write_zeros(d, base + run->off, run->len, err)
			     : img_dev_write_bulk(d, data + at, run->len,
						  base + run->off, err);
		if (rc)
			return rc;
		at += run->len;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct rst *r = arg;
	struct img_codec_ctx *cc = NULL;
	uint64_t seq;
	int idx;
	if (img_codec_new(&cc, IMG_CODEC_ZSTD, 0)) {
		img_ring_fail(&r->ring, -ENOMEM, NULL);
		return NULL;
	}
	while ((idx = img_ring_take(&r->ring, &seq)) >= 0) {
		struct img_error e = {0};
		int rc = do_chunk(r, cc, &r->slots[idx], &e);
		if (rc) {
			img_ring_fail(&r->ring, rc, &e);
			break;
		}
		img_ring_set(&r->ring, (unsigned)idx, IMG_SLOT_FREE);
	}
	img_codec_free(cc);
	return NULL;
}

/* ---- the record loop (calling thread) -------------------------------- */

/* What the record loop has seen so far: the index and the trailer must
 * agree with it. */
struct seen {
	uint32_t maxruns;
	size_t maxbody;
	uint64_t seq, raw_total, stored_total, index_at;
	uLong ixcrc;          /* over (offset, area, window) as seen */
	struct img_sha *sha;  /* over the chunk digests in stream order */
	int have_index;
	double last;          /* elapsed time of the last progress call */
};

/* A CHNK record whose prefix p was read at stream offset at: read its
 * body into the next slot, check framing and metadata, account for it in
 * sn and hand it to the workers.  1 when the ring stopped (a worker's
 * error is in the ring), else 0 or a negative code. */
static int chunk_record(struct rst *r, struct in *in, const struct img_prefix *p,
			uint64_t at, struct seen *sn, struct img_pipe_progress *pg,
			struct img_error *err)
{
	const struct img_layout *l = r->l;
	int rc;
	if (sn->have_index || p->body_len > sn->maxbody || p->body_len < IMG_CHUNK_META_LEN)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "chunk record at image offset %llu has length %llu (limit %zu) or follows the index",
				   (unsigned long long)at,
				   (unsigned long long)p->body_len, sn->maxbody);
	struct slot *s = &r->slots[sn->seq % r->nslots];
	if (img_ring_acquire(&r->ring, sn->seq))
		return 1;
	if ((rc = in_read(in, s->rec, p->body_len, "a chunk record", err)))
		return rc;
	if (p->covered < IMG_CHUNK_META_LEN ||
	    (uint32_t)crc32(0, s->rec, p->covered) != p->crc)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "chunk %llu at image offset %llu fails its checksum: the image is corrupt",
				   (unsigned long long)sn->seq, (unsigned long long)at);
	if ((rc = img_fmt_get_chunk(s->rec, p->body_len, &s->c, s->runs,
				    sn->maxruns, l, at, err)))
		return rc;
	if (p->covered != img_fmt_chunk_meta_len(s->c.nruns))
		return img_err_set(err, -IMG_E_CORRUPT,
				   "chunk %llu at image offset %llu: checksum does not cover its metadata",
				   (unsigned long long)sn->seq, (unsigned long long)at);
	s->at = at;
	s->seq = sn->seq;
	uint8_t ie[IMG_INDEX_ENTRY_LEN];
	img_le64(ie, at);
	img_le32(ie + 8, s->c.area);
	img_le32(ie + 12, (uint32_t)(s->c.offset / l->chunk));
	sn->ixcrc = crc32(sn->ixcrc, ie, sizeof(ie));
	img_sha_update(sn->sha, s->c.digest, 32);
	sn->raw_total += s->c.raw;
	sn->stored_total += s->c.stored;
	if (r->tg[s->c.area].dev >= 0 || r->verify_only)
		pg->pub.done += s->c.raw;
	pg->pub.part = l->parts[s->c.area].number;
	img_ring_publish(&r->ring, sn->seq);
	sn->seq++;
	return 0;
}

/* An INDX record: streamed in pieces, its entries must be the chunks
 * seen (count and the CRC over the entries). */
static int index_record(struct in *in, const struct img_prefix *p, uint64_t at,
			struct seen *sn, struct img_error *err)
{
	uint64_t want = 8 + sn->seq * IMG_INDEX_ENTRY_LEN;
	int rc;
	if (sn->have_index || p->body_len != want || p->covered != p->body_len)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "index at image offset %llu does not match the %llu chunks before it",
				   (unsigned long long)at, (unsigned long long)sn->seq);
	uint8_t buf[4096];
	uLong c = crc32(0, Z_NULL, 0), e = crc32(0, Z_NULL, 0);
	uint64_t left = p->body_len;
	int firstpiece = 1;
	while (left) {
		size_t k = left > sizeof(buf) ? sizeof(buf) : (size_t)left;
		if ((rc = in_read(in, buf, k, "the index", err)))
			return rc;
		c = crc32(c, buf, (uInt)k);
		if (firstpiece) {
			if (img_get64(buf) != sn->seq)
				return img_err_set(err, -IMG_E_CORRUPT,
						   "index at image offset %llu lists %llu chunks, the image has %llu",
						   (unsigned long long)at,
						   (unsigned long long)img_get64(buf),
						   (unsigned long long)sn->seq);
			e = crc32(e, buf + 8, (uInt)(k - 8));
			firstpiece = 0;
		} else {
			e = crc32(e, buf, (uInt)k);
		}
		left -= k;
	}
	if ((uint32_t)c != p->crc || e != sn->ixcrc)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "index at image offset %llu is damaged or does not match the chunks",
				   (unsigned long long)at);
	sn->have_index = 1;
	sn->index_at = at;
	return 0;
}

/* The TRLR record: it must follow the index, match the totals seen, and
 * be the last byte of the stream. */
static int trailer_record(struct in *in, const struct img_prefix *p, uint64_t at,
			  struct seen *sn, struct img_error *err)
{
	uint8_t body[IMG_TRAILER_BODY_LEN];
	struct img_trailer t;
	uint8_t dg[32];
	int rc;
	if (!sn->have_index || p->body_len != IMG_TRAILER_BODY_LEN ||
	    p->covered != p->body_len)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "trailer at image offset %llu is malformed or has no index before it",
				   (unsigned long long)at);
	if ((rc = in_read(in, body, sizeof(body), "the trailer", err)))
		return rc;
	img_fmt_get_trailer(body, &t);
	img_sha_final(sn->sha, dg);
	if ((uint32_t)crc32(0, body, sizeof(body)) != p->crc ||
	    t.index_offset != sn->index_at || t.chunks != sn->seq ||
	    t.raw_total != sn->raw_total || t.stored_total != sn->stored_total ||
	    memcmp(t.digest, dg, 32))
		return img_err_set(err, -IMG_E_CORRUPT,
				   "trailer at image offset %llu does not match the image (damaged image)",
				   (unsigned long long)at);
	uint8_t extra;
	ssize_t n = in->src->read(in->src->ctx, &extra, 1);
	if (n != 0)
		return n < 0 ? img_err_set(err, (int)n, "cannot read the image: %s",
					   img_strerror((int)n))
			     : img_err_set(err, -IMG_E_CORRUPT,
					   "image has data after its trailer at offset %llu",
					   (unsigned long long)in->pos);
	return 0;
}

/* Every record after the header, in stream order, until the trailer;
 * fills st on success. */
static int records(struct rst *r, struct in *in, const struct img_callbacks *cb,
		   struct img_stats *st, struct img_pipe_progress *pg,
		   struct img_error *err)
{
	const struct img_layout *l = r->l;
	struct seen sn = { .maxruns = img_fmt_max_runs(l->chunk) };
	sn.maxbody = img_fmt_chunk_meta_len(sn.maxruns) + l->chunk;
	sn.ixcrc = crc32(0, Z_NULL, 0);
	int rc = img_sha_new(&sn.sha);
	if (rc)
		return img_err_set(err, rc, "out of memory");

	for (;;) {
		uint8_t pre[IMG_PREFIX_LEN];
		struct img_prefix p;
		uint64_t at = in->pos;
		if ((rc = in_read(in, pre, sizeof(pre), "a record prefix", err)) ||
		    (rc = img_fmt_get_prefix(pre, &p, at, err)))
			goto out;
		if (!strcmp(p.tag, IMG_TAG_CHNK)) {
			if ((rc = chunk_record(r, in, &p, at, &sn, pg, err)) == 1)
				goto stopped;
			if (rc)
				goto out;
			pg->pub.elapsed = img_now() - pg->elapsed_base;
			if (cb && cb->progress && pg->pub.elapsed - sn.last >= 0.2) {
				sn.last = pg->pub.elapsed;
				pg->pub.rate = pg->pub.done / (pg->pub.elapsed > 0 ? pg->pub.elapsed : 1);
				cb->progress(cb->ctx, &pg->pub);
			}
			if (cb && cb->cancel && cb->cancel(cb->ctx)) {
				rc = img_err_set(err, -IMG_E_CANCELLED,
						 "cancelled at image offset %llu", (unsigned long long)at);
				goto out;
			}
		} else if (!strcmp(p.tag, IMG_TAG_INDX)) {
			if ((rc = index_record(in, &p, at, &sn, err)))
				goto out;
		} else if (!strcmp(p.tag, IMG_TAG_TRLR)) {
			if ((rc = trailer_record(in, &p, at, &sn, err)))
				goto out;
			break;
		} else {
			rc = img_err_set(err, -IMG_E_CORRUPT,
					 "unknown record %s at image offset %llu",
					 p.tag, (unsigned long long)at);
			goto out;
		}
	}
	st->chunks = sn.seq;
	st->raw_bytes = pg->pub.done; /* what was restored (all of it unless -ap) */
	st->stored_bytes = sn.stored_total;
	st->image_bytes = in->pos;
	rc = 0;
	goto out;
stopped:
	rc = img_ring_error(&r->ring, err);
out:
	img_sha_free(sn.sha);
	return rc;
}

/* Open and check the targets (r->devs, r->tg) and, for a whole-disk
 * restore, keep the first disk's image-safe data (*isd, *found as
 * img_isd_read_dev returns) and write the tables: after this the targets
 * have changed.  r->devs is owned by r (closed by img_restore). */
static int open_targets(struct rst *r, const struct img_restore_opts *o,
			const char *const *disks, size_t ndisks,
			struct img_isd *isd, int *found, struct img_error *err)
{
	const struct img_layout *l = r->l;
	struct img_error isd_err = {0};
	int rc;
	r->devs = calloc(ndisks, sizeof(*r->devs));
	if (!r->devs)
		return img_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ndisks; i++)
		r->devs[i].fd = -1;
	rc = o->nmaps ? plan_maps(r, o, disks, ndisks, err)
		      : plan_whole(r, disks, ndisks, err);
	if (rc)
		return rc;
	/* A whole-disk restore overwrites the area: keep its record. */
	if (!o->nmaps && r->ndevs &&
	    (*found = img_isd_read_dev(&r->devs[0], isd, &isd_err)) < 0) {
		if (err)
			*err = isd_err;
		return *found;
	}
	/* Validated: from here on the targets change. */
	for (size_t i = 0; !o->nmaps && i < l->ndisks; i++) {
		r->wrote = 1;
		rc = img_table_write(&l->disks[i], &r->devs[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

/* r->nslots slots with buffers for the largest record of r->l, and the
 * ring; freed by img_restore also when this fails midway. */
static int alloc_slots(struct rst *r, struct img_error *err)
{
	const struct img_layout *l = r->l;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots || img_ring_init(&r->ring, r->nslots, 1))
		return img_err_set(err, -ENOMEM, "out of memory");
	uint32_t maxruns = img_fmt_max_runs(l->chunk);
	for (unsigned i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];
		s->rec = malloc(img_fmt_chunk_meta_len(maxruns) + l->chunk);
		if (posix_memalign((void **)&s->raw, IMG_DIRECT_ALIGN, l->chunk))
			s->raw = NULL;
		s->runs = malloc(maxruns * sizeof(*s->runs));
		if (!s->rec || !s->raw || !s->runs)
			return img_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Everything one restore holds, from the header to the last flush. */
struct job {
	struct rst r;
	struct in in;
	struct img_layout *l;
	struct img_pipe_progress pg;
	char **def;                /* the default disks, when none was named */
	const char *const *disks;
	size_t ndisks;
	struct img_crew crew;
	struct img_isd isd;        /* the first target's, before any write */
	int isd_found;
};

/* Read the header and open the targets (not when verifying); the
 * progress total is the used bytes of the areas that have a target. */
static int restore_open(struct job *j, const struct img_restore_opts *o,
			struct img_error *err)
{
	int rc = read_header(&j->in, &j->l, err);
	if (rc)
		return rc;
	const struct img_layout *l = j->l;
	j->r.l = l;
	j->r.verify_only = o->verify_only;
	j->r.tg = calloc(l->nparts ? l->nparts : 1, sizeof(*j->r.tg));
	if (!j->r.tg)
		return img_err_set(err, -ENOMEM, "out of memory");
	if (!o->verify_only) {
		rc = img_disks_pick(&j->disks, &j->ndisks, &j->def, err);
		if (rc || (rc = open_targets(&j->r, o, j->disks, j->ndisks, &j->isd,
					     &j->isd_found, err)))
			return rc;
	}
	for (size_t a = 0; a < l->nparts; a++)
		if (j->r.tg[a].dev >= 0 || o->verify_only)
			j->pg.pub.total += l->parts[a].used;
	return 0;
}

/* Start the workers, feed them every record, wait for them. */
static int restore_run(struct job *j, const struct img_restore_opts *o,
		       const struct img_callbacks *cb, struct img_stats *st,
		       struct img_error *err)
{
	struct rst *r = &j->r;
	r->nworkers = img_threads(o->threads);
	img_pipe_size(j->l->chunk, j->l->chunk, &r->nworkers, &r->nslots);
	int rc = alloc_slots(r, err);
	if (rc)
		return rc;
	if (!img_crew_start(&j->crew, r->nworkers, worker, r, 0))
		return img_err_set(err, -EAGAIN, "cannot start worker threads");
	rc = records(r, &j->in, cb, st, &j->pg, err);
	if (rc)
		img_ring_fail(&r->ring, rc, err);
	img_ring_finish(&r->ring);
	img_crew_join(&j->crew);
	return rc ? rc : img_ring_error(&r->ring, err);
}

/* After the last record: the image-safe data, the flushes, the last
 * progress report. */
static int restore_finish(struct job *j, const struct img_restore_opts *o,
			  const struct img_callbacks *cb, struct img_error *err)
{
	int rc = 0;
	struct rst *r = &j->r;
	if (!o->verify_only && r->ndevs)
		rc = img_isd_restore_end(&r->devs[0], o->nmaps ? NULL : &j->isd,
					 j->isd_found, o->image_name, cb, err);
	for (size_t i = 0; !rc && !o->verify_only && i < r->ndevs; i++)
		rc = img_dev_flush(&r->devs[i], !o->nmaps, err);
	if (!rc && cb && cb->progress) {
		struct img_progress *p = &j->pg.pub;
		p->elapsed = img_now() - j->pg.elapsed_base;
		p->rate = p->done / (p->elapsed > 0 ? p->elapsed : 1);
		cb->progress(cb->ctx, p);
	}
	return rc;
}

/* Stop what still runs, say a partial write, free everything. */
static void restore_close(struct job *j, int rc, struct img_error *err)
{
	struct rst *r = &j->r;
	if (j->crew.n) {
		img_ring_fail(&r->ring, rc ? rc : -IMG_E_CANCELLED, NULL);
		img_crew_join(&j->crew);
	}
	if (rc && r->wrote && err) {
		size_t n = strlen(err->msg);
		if (n + 80 < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - n,
				 "; the target was partly written and is incomplete");
	}
	if (r->slots)
		for (unsigned i = 0; i < r->nslots; i++) {
			free(r->slots[i].rec);
			free(r->slots[i].raw);
			free(r->slots[i].runs);
		}
	free(r->slots);
	for (size_t i = 0; i < r->ndevs; i++)
		img_dev_close(&r->devs[i]);
	free(r->devs);
	free(r->tg);
	img_layout_free(j->l);
	img_strv_free(j->def, j->ndisks);
	img_ring_destroy(&r->ring);
}

int img_restore(const struct img_restore_opts *o, const struct img_source *src,
		const struct img_callbacks *cb, struct img_stats *st,
		struct img_error *err)
{
	struct img_stats dummy;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return img_err_set(err, -ENOMEM, "out of memory");
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	j->in.src = src;
	j->disks = o->disks;
	j->ndisks = o->ndisks;
	j->pg.elapsed_base = img_now();
	j->pg.pub.phase = o->verify_only ? "verify" : "restore";
	int rc = restore_open(j, o, err);
	if (!rc)
		rc = restore_run(j, o, cb, st, err);
	if (!rc)
		rc = restore_finish(j, o, cb, err);
	restore_close(j, rc, err);
	st->seconds = img_now() - j->pg.elapsed_base;
	free(j);
	return rc;
}

/* ---- from a local file ---------------------------------------------- */

static ssize_t fsrc_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t r = read(fd, buf, len);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

static int open_image(const char *path, int *fd, struct img_error *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return img_err_set(err, -errno, "cannot open image %s: %s", path,
				   strerror(errno));
	(void)posix_fadvise(*fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

int img_restore_file(const struct img_restore_opts *o, const char *path,
		     const struct img_callbacks *cb, struct img_stats *st,
		     struct img_error *err)
{
	int fd;
	int rc = open_image(path, &fd, err);
	if (rc)
		return rc;
	struct img_source src = { fsrc_read, &fd };
	rc = img_restore(o, &src, cb, st, err);
	close(fd);
	return rc;
}

int img_image_layout(const char *path, struct img_layout **out,
		     struct img_error *err)
{
	int fd;
	int rc = open_image(path, &fd, err);
	if (rc)
		return rc;
	struct img_source src = { fsrc_read, &fd };
	struct in in = { .src = &src };
	rc = read_header(&in, out, err);
	close(fd);
	return rc;
}
