/* make.c - capture: disks -> image stream.
 *
 * One reader thread cuts each area's used extents into chunk windows and
 * reads them; worker threads (one per core) digest and compress; the
 * calling thread writes finished chunks in order to the sink, builds the
 * index and reports progress.  Slot s of K holds chunk seq with
 * seq % K == s, so memory is K * (window + compress bound) whatever the
 * disk size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "disk.h"
#include "format.h"
#include "internal.h"
#include "isd.h"
#include "pipe.h"
#include "scan.h"

#define IMG_READERS 2  /* reads in flight at once */

struct slot {
	uint64_t seq;
	struct img_chunk c;
	struct img_run *runs;
	uint8_t *in;          /* raw payload */
	uint8_t *rec;         /* prefix + meta + stored payload */
	size_t reclen;
};

struct make {
	const struct img_layout *l;
	struct img_dev *devs;
	int level;
	enum img_codec codec;
	unsigned nslots, nworkers, nreaders;
	struct slot *slots;
	struct img_ring ring;
	int isd_blank;        /* disk 0 holds image-safe data: keep it out */
};

/* Read the runs of one window into s->in, back to back.  Dense windows are
 * read in one request (widened to IMG_DIRECT_ALIGN inside the window, so
 * it can bypass the page cache) and compacted; sparse ones run by run. */
static int read_window(struct make *m, const struct img_part *p, struct slot *s,
		       struct img_error *err)
{
	const struct img_dev *dev = &m->devs[p->disk];
	uint64_t base = p->start + s->c.offset;
	const struct img_run *last = &s->runs[s->c.nruns - 1];
	uint32_t first = s->runs[0].off, end = last->off + last->len;
	if (s->c.nruns == 1 || (uint64_t)s->c.raw * 4 >= end - first) {
		uint32_t lo = first / IMG_DIRECT_ALIGN * IMG_DIRECT_ALIGN;
		uint32_t hi = (end + IMG_DIRECT_ALIGN - 1) / IMG_DIRECT_ALIGN * IMG_DIRECT_ALIGN;
		if (hi > s->c.window)
			hi = end;
		int rc = img_dev_read_bulk(dev, s->in, hi - lo, base + lo, err);
		if (rc)
			return rc;
		/* Compact the runs; a run already in place (a dense window's
		 * first, usually its only one) is not moved onto itself. */
		size_t at = 0;
		for (uint32_t i = 0; i < s->c.nruns; i++) {
			size_t from = s->runs[i].off - lo;
			if (from != at)
				memmove(s->in + at, s->in + from, s->runs[i].len);
			at += s->runs[i].len;
		}
		return 0;
	}
	size_t at = 0;
	for (uint32_t i = 0; i < s->c.nruns; i++) {
		int rc = img_dev_read_bulk(dev, s->in + at, s->runs[i].len,
					   base + s->runs[i].off, err);
		if (rc)
			return rc;
		at += s->runs[i].len;
	}
	return 0;
}

/* Image-safe data belongs to its machine, never to an image: zero the
 * part of the area that a window of disk 0's boot area holds, before it
 * is digested and compressed (the runs sit back to back in s->in). */
static void blank_isd(struct slot *s, uint64_t base)
{
	size_t at = 0;
	for (uint32_t i = 0; i < s->c.nruns; i++) {
		uint64_t lo = base + s->runs[i].off, hi = lo + s->runs[i].len;
		uint64_t a = lo > IMG_ISD_OFFSET ? lo : IMG_ISD_OFFSET;
		uint64_t b = hi < IMG_ISD_OFFSET + IMG_ISD_SIZE ? hi : IMG_ISD_OFFSET + IMG_ISD_SIZE;
		if (a < b)
			memset(s->in + at + (a - lo), 0, (size_t)(b - a));
		at += s->runs[i].len;
	}
}

/* Readers: each walks the same windows in the same order and reads the
 * ones whose seq % nreaders is its own, so that several reads are in
 * flight: measured here, one reader at a time managed 0.9 GB/s of 1 MiB
 * direct reads and left the compressors waiting a third of the time. */
struct reader_arg {
	struct make *m;
	unsigned k;
};

static void *reader(void *arg)
{
	struct reader_arg *ra = arg;
	struct make *m = ra->m;
	const struct img_layout *l = m->l;
	struct img_error err = {0};
	uint64_t seq = 0;
	int rc = 0;

	for (size_t a = 0; a < l->nparts && !rc; a++) {
		const struct img_part *p = &l->parts[a];
		size_t e = 0;
		for (uint64_t w = 0; w < p->length && e < p->next && !rc; w += l->chunk) {
			uint64_t wend = w + l->chunk < p->length ? w + l->chunk : p->length;
			if (p->ext[e].start >= wend) {
				/* Jump straight to the window of the next extent. */
				w = p->ext[e].start / l->chunk * l->chunk - l->chunk;
				continue;
			}
			if (seq % m->nreaders != ra->k) {
				/* Another reader's window: skip its extents alike. */
				while (e < p->next && p->ext[e].start + p->ext[e].len <= wend)
					e++;
				seq++;
				continue;
			}
			if (img_ring_acquire(&m->ring, seq))
				goto out;
			struct slot *s = &m->slots[seq % m->nslots];
			s->seq = seq;
			s->c = (struct img_chunk){ .area = (uint32_t)a, .offset = w,
						   .window = (uint32_t)(wend - w),
						   .runs = s->runs };
			while (e < p->next && p->ext[e].start < wend) {
				uint64_t rs = p->ext[e].start > w ? p->ext[e].start : w;
				uint64_t re = p->ext[e].start + p->ext[e].len;
				if (re > wend)
					re = wend;
				struct img_run *lr = s->c.nruns ? &s->runs[s->c.nruns - 1] : NULL;
				if (lr && lr->off + lr->len == rs - w)
					lr->len += (uint32_t)(re - rs); /* adjacent extents */
				else
					s->runs[s->c.nruns++] = (struct img_run){
						(uint32_t)(rs - w), (uint32_t)(re - rs) };
				s->c.raw += (uint32_t)(re - rs);
				if (p->ext[e].start + p->ext[e].len > wend)
					break; /* continues into the next window */
				e++;
			}
			rc = read_window(m, p, s, &err);
			if (rc)
				break;
			if (m->isd_blank && p->disk == 0 && p->kind == IMG_PK_BOOTAREA)
				blank_isd(s, p->start + w);
			img_ring_publish(&m->ring, seq);
			seq++;
		}
	}
out:
	if (rc)
		img_ring_fail(&m->ring, rc, &err);
	img_ring_finish(&m->ring);
	return NULL;
}

static void *worker(void *arg)
{
	struct make *m = arg;
	struct img_codec_ctx *cc = NULL;
	uint64_t seq;
	int idx;
	if (img_codec_new(&cc, m->codec, m->level)) {
		img_ring_fail(&m->ring, -ENOMEM, NULL);
		return NULL;
	}
	while ((idx = img_ring_take(&m->ring, &seq)) >= 0) {
		struct slot *s = &m->slots[idx];
		size_t meta = img_fmt_chunk_meta_len(s->c.nruns);
		uint8_t *payload = s->rec + IMG_PREFIX_LEN + meta;
		long n = img_codec_pack(cc, s->in, s->c.raw, payload,
					img_codec_bound(m->l->chunk), &s->c.codec);
		int rc = n < 0 ? (int)n : img_sha256(cc, s->in, s->c.raw, s->c.digest);
		if (rc) {
			struct img_error e;
			img_err_set(&e, rc, "cannot compress chunk %llu: %s",
				    (unsigned long long)s->seq, img_strerror(rc));
			img_ring_fail(&m->ring, rc, &e);
			break;
		}
		s->c.stored = (uint32_t)n;
		img_fmt_put_chunk(s->rec + IMG_PREFIX_LEN, &s->c);
		img_fmt_put_prefix(s->rec, IMG_TAG_CHNK, meta + (size_t)n,
				   s->rec + IMG_PREFIX_LEN, (uint32_t)meta);
		s->reclen = IMG_PREFIX_LEN + meta + (size_t)n;
		img_ring_set(&m->ring, (unsigned)idx, IMG_SLOT_DONE);
	}
	img_codec_free(cc);
	return NULL;
}

/* After the last chunk record at *pos: the index (seq entries) and the
 * trailer with the digest over every chunk's digest. */
static int write_tail(const struct img_sink *sink, struct img_wbuf *idx,
		      struct img_sha *sha, uint64_t seq, uint64_t *pos,
		      struct img_stats *st, struct img_error *err)
{
	img_le64(idx->p, seq);
	uint8_t pre[IMG_PREFIX_LEN];
	img_fmt_put_prefix(pre, IMG_TAG_INDX, idx->len, idx->p, (uint32_t)idx->len);
	struct img_trailer t = { .index_offset = *pos, .chunks = seq,
				 .raw_total = st->raw_bytes,
				 .stored_total = st->stored_bytes };
	img_sha_final(sha, t.digest);
	uint8_t tr[IMG_TRAILER_LEN];
	img_fmt_put_trailer(tr + IMG_PREFIX_LEN, &t);
	img_fmt_put_prefix(tr, IMG_TAG_TRLR, IMG_TRAILER_BODY_LEN, tr + IMG_PREFIX_LEN,
			   IMG_TRAILER_BODY_LEN);
	int rc;
	if ((rc = sink->write(sink->ctx, pre, sizeof(pre))) ||
	    (rc = sink->write(sink->ctx, idx->p, idx->len)) ||
	    (rc = sink->write(sink->ctx, tr, sizeof(tr))))
		return img_err_set(err, rc, "cannot write the image index: %s", img_strerror(rc));
	*pos += sizeof(pre) + idx->len + sizeof(tr);
	st->image_bytes = *pos;
	return 0;
}

/* The writer side, on the calling thread. */
static int write_all(struct make *m, const struct img_sink *sink,
		     const struct img_callbacks *cb, struct img_stats *st,
		     struct img_pipe_progress *pg, struct img_error *err)
{
	struct img_wbuf idx = { .max = (size_t)1 << 34 };
	struct img_sha *sha = NULL;
	uint64_t seq = 0, pos = st->image_bytes;
	int rc = img_sha_new(&sha);
	double last = 0;
	if (rc)
		return img_err_set(err, rc, "out of memory");
	img_put64(&idx, 0); /* count, patched at the end */
	for (;;) {
		struct slot *s = &m->slots[seq % m->nslots];
		if (img_ring_wait_done(&m->ring, seq) <= 0)
			break;
		rc = sink->write(sink->ctx, s->rec, s->reclen);
		if (rc) {
			img_err_set(err, rc, "cannot write the image at offset %llu: %s",
				    (unsigned long long)pos, img_strerror(rc));
			break;
		}
		img_put64(&idx, pos);
		img_put32(&idx, s->c.area);
		img_put32(&idx, (uint32_t)(s->c.offset / m->l->chunk));
		img_sha_update(sha, s->c.digest, 32);
		pos += s->reclen;
		st->chunks++;
		st->raw_bytes += s->c.raw;
		st->stored_bytes += s->c.stored;
		pg->pub.done += s->c.raw;
		pg->pub.part = m->l->parts[s->c.area].number;
		img_ring_set(&m->ring, (unsigned)(seq % m->nslots), IMG_SLOT_FREE);
		seq++;
		pg->pub.elapsed = img_now() - pg->elapsed_base;
		if (cb && cb->progress && pg->pub.elapsed - last >= 0.2) {
			last = pg->pub.elapsed;
			pg->pub.rate = pg->pub.elapsed > 0 ? pg->pub.done / pg->pub.elapsed : 0;
			cb->progress(cb->ctx, &pg->pub);
		}
		if (cb && cb->cancel && cb->cancel(cb->ctx)) {
			rc = img_err_set(err, -IMG_E_CANCELLED, "cancelled after %llu chunks",
					 (unsigned long long)seq);
			break;
		}
	}
	if (rc) {
		img_ring_fail(&m->ring, rc, err);
		goto out;
	}
	if ((rc = img_ring_error(&m->ring, err)))
		goto out;
	if (idx.overflow) {
		rc = img_err_set(err, -ENOMEM, "out of memory for the image index");
		goto out;
	}
	if ((rc = write_tail(sink, &idx, sha, seq, &pos, st, err)))
		goto out;
	if (cb && cb->progress) {
		pg->pub.rate = pg->pub.elapsed > 0 ? pg->pub.done / pg->pub.elapsed : 0;
		cb->progress(cb->ctx, &pg->pub);
	}
out:
	free(idx.p);
	img_sha_free(sha);
	return rc;
}

static void fill_header_info(struct img_layout *l, const struct img_make_opts *o)
{
	l->created = (uint64_t)time(NULL);
	if (gethostname(l->host, sizeof(l->host)) < 0)
		l->host[0] = 0;
	l->host[sizeof(l->host) - 1] = 0;
	snprintf(l->tool, sizeof(l->tool), "img %s", IMG_VERSION_STRING);
	l->chunk = IMG_CHUNK_DEFAULT;
	l->codec = o->codec;
	l->level = o->level;
}

/* Write the image header for l to sink; its size counts in st. */
static int make_header(const struct img_layout *l, const struct img_sink *sink,
		       struct img_stats *st, struct img_error *err)
{
	struct img_wbuf hb = { .max = IMG_HEAD_MAX };
	int rc = img_fmt_put_header(&hb, l, err);
	if (!rc && (rc = sink->write(sink->ctx, hb.p, hb.len)))
		img_err_set(err, rc, "cannot write the image header: %s",
			    img_strerror(rc));
	st->image_bytes = hb.len;
	free(hb.p);
	return rc;
}

/* Size the pipeline for m->l, open the disks and allocate the slots and the
 * ring.  On failure what was made stays in m for make_free(). */
static int make_alloc(struct make *m, const char *const *disks, unsigned threads,
		      unsigned maxworkers, struct img_error *err)
{
	const struct img_layout *l = m->l;
	m->nworkers = img_threads(threads);
	if (m->nworkers > maxworkers)
		m->nworkers = maxworkers;
	img_pipe_size(l->chunk, img_codec_bound(l->chunk), &m->nworkers, &m->nslots);
	m->devs = calloc(l->ndisks, sizeof(*m->devs));
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->devs || !m->slots || img_ring_init(&m->ring, m->nslots, IMG_READERS))
		return img_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < l->ndisks; i++)
		m->devs[i].fd = -1;
	for (size_t i = 0; i < l->ndisks; i++) {
		int rc = img_dev_open(&m->devs[i], disks[i], 0, err);
		if (rc)
			return rc;
		(void)posix_fadvise(m->devs[i].fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	m->isd_blank = l->ndisks > 0 && img_isd_present(&m->devs[0]);
	uint32_t maxruns = img_fmt_max_runs(l->chunk);
	for (unsigned i = 0; i < m->nslots; i++) {
		struct slot *s = &m->slots[i];
		if (posix_memalign((void **)&s->in, IMG_DIRECT_ALIGN, l->chunk))
			s->in = NULL;
		s->runs = malloc(maxruns * sizeof(*s->runs));
		s->rec = malloc(IMG_PREFIX_LEN + img_fmt_chunk_meta_len(maxruns) +
				img_codec_bound(l->chunk));
		if (!s->in || !s->runs || !s->rec)
			return img_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Free what make_alloc made (threads already joined). */
static void make_free(struct make *m)
{
	if (m->slots)
		for (unsigned i = 0; i < m->nslots; i++) {
			free(m->slots[i].in);
			free(m->slots[i].runs);
			free(m->slots[i].rec);
		}
	free(m->slots);
	if (m->devs)
		for (size_t i = 0; i < m->l->ndisks; i++)
			img_dev_close(&m->devs[i]);
	free(m->devs);
	img_ring_destroy(&m->ring);
}

int img_make(const struct img_make_opts *o, const struct img_sink *sink,
	     const struct img_callbacks *cb, struct img_stats *st,
	     struct img_error *err)
{
	struct img_layout *l = NULL;
	struct make m;
	struct img_stats dummy;
	struct img_pipe_progress pg = {0};
	char **def = NULL;
	const char *const *disks = o->disks;
	size_t ndisks = o->ndisks;
	struct img_crew crew = { .n = 0 };
	struct reader_arg ra[IMG_READERS];
	int rc;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	memset(&m, 0, sizeof(m));
	if (o->level < 0 || o->level > 9 ||
	    (o->codec != IMG_CODEC_ZSTD && o->codec != IMG_CODEC_DEFLATE))
		return img_err_set(err, -IMG_E_USAGE,
				   "compression level %d or codec %d is not valid (levels 0-9)",
				   o->level, o->codec);
	pg.elapsed_base = img_now();
	rc = img_disks_pick(&disks, &ndisks, &def, err);
	if (rc)
		return rc;
	rc = img_scan_ex(disks, ndisks, o->exclude, o->nexclude, &l, cb, err);
	if (rc)
		goto out_nol;
	fill_header_info(l, o);
	m.l = l;
	if ((rc = make_header(l, sink, st, err)))
		goto out;

	for (size_t i = 0; i < l->nparts; i++)
		pg.pub.total += l->parts[i].used;
	pg.pub.phase = "capture";
	m.level = o->level;
	m.codec = o->codec;
	if ((rc = make_alloc(&m, disks, o->threads, IMG_CREW_MAX - IMG_READERS, err)))
		goto out;
	m.nreaders = IMG_READERS;
	for (unsigned i = 0; i < IMG_READERS; i++)
		ra[i] = (struct reader_arg){ &m, i };
	if (img_crew_start(&crew, IMG_READERS, reader, ra, sizeof(ra[0])) < IMG_READERS) {
		rc = img_err_set(err, -EAGAIN, "cannot start the reader threads");
		goto out;
	}
	if (img_crew_start(&crew, m.nworkers, worker, &m, 0) < IMG_READERS + m.nworkers)
		img_ring_fail(&m.ring, -EAGAIN, NULL);
	rc = write_all(&m, sink, cb, st, &pg, err);
	if (!rc && crew.n < IMG_READERS + m.nworkers)
		rc = img_err_set(err, -EAGAIN, "cannot start worker threads");
out:
	if (crew.n) {
		if (rc)
			img_ring_fail(&m.ring, rc, NULL);
		img_crew_join(&crew);
	}
	make_free(&m);
	img_layout_free(l);
out_nol:
	img_strv_free(def, ndisks);
	st->seconds = img_now() - pg.elapsed_base;
	return rc;
}

/* ---- into a local file ---------------------------------------------- */

/* The image file is written with O_DIRECT through an aligned staging
 * buffer: on the machines we measured, filling fresh page-cache pages
 * costs more CPU than compressing the data, and a capture never reads its
 * image back.  The unaligned tail is written after O_DIRECT is turned
 * off.  Filesystems without O_DIRECT get ordinary writes. */
#define STAGE_LEN (4u << 20)
#define STAGE_ALIGN 4096

struct fsink {
	int fd;
	int direct;
	uint8_t *buf;         /* STAGE_LEN bytes, STAGE_ALIGN-aligned */
	size_t len;
};

static int write_fd(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int fsink_drain(struct fsink *f, int final)
{
	size_t n = final ? f->len : f->len / STAGE_ALIGN * STAGE_ALIGN;
	size_t aligned = n / STAGE_ALIGN * STAGE_ALIGN;
	int rc = 0;
	if (aligned) {
		rc = write_fd(f->fd, f->buf, aligned);
		if (rc == -EINVAL && f->direct) {
			/* This filesystem refuses direct I/O after all. */
			(void)fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) & ~O_DIRECT);
			f->direct = 0;
			rc = write_fd(f->fd, f->buf, aligned);
		}
		if (rc)
			return rc;
	}
	if (final && n > aligned) {
		if (f->direct)
			(void)fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) & ~O_DIRECT);
		f->direct = 0;
		rc = write_fd(f->fd, f->buf + aligned, n - aligned);
		if (rc)
			return rc;
	}
	memmove(f->buf, f->buf + n, f->len - n);
	f->len -= n;
	return 0;
}

static int fsink_write(void *ctx, const void *buf, size_t len)
{
	struct fsink *f = ctx;
	const uint8_t *p = buf;
	while (len) {
		size_t k = STAGE_LEN - f->len < len ? STAGE_LEN - f->len : len;
		memcpy(f->buf + f->len, p, k);
		f->len += k;
		p += k;
		len -= k;
		if (f->len == STAGE_LEN) {
			int rc = fsink_drain(f, 0);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int img_make_file(const struct img_make_opts *o, const char *path,
		  const struct img_callbacks *cb, struct img_stats *st,
		  struct img_error *err)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.partial", path) >= (int)sizeof(tmp))
		return img_err_set(err, -ENAMETOOLONG, "image path is too long");
	struct fsink f = { .fd = -1 };
	if (posix_memalign((void **)&f.buf, STAGE_ALIGN, STAGE_LEN))
		return img_err_set(err, -ENOMEM, "out of memory");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
	f.direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		free(f.buf);
		return img_err_set(err, -e, "cannot create image %s: %s", tmp,
				   strerror(e));
	}
	f.fd = fd;
	struct img_sink sink = { fsink_write, &f };
	int rc = img_make(o, &sink, cb, st, err);
	if (!rc && (rc = fsink_drain(&f, 1)))
		img_err_set(err, rc, "cannot write image %s: %s", tmp, img_strerror(rc));
	free(f.buf);
	if (!rc && fsync(fd) < 0)
		rc = img_err_set(err, -errno, "cannot flush image %s: %s", tmp,
				 strerror(errno));
	if (close(fd) < 0 && !rc)
		rc = img_err_set(err, -errno, "cannot close image %s: %s", tmp,
				 strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = img_err_set(err, -errno, "cannot rename %s to %s: %s", tmp, path,
				 strerror(errno));
	if (rc) {
		unlink(tmp);
		return rc;
	}
	img_fsync_dir(path);
	return 0;
}
