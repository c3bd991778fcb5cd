/* format.c - encode and decode image records (version 1).
 *
 * Decoders treat every byte as hostile: each length and offset is checked
 * before use, reserved fields must be zero, and the error names the record
 * and its stream offset.
 */
#include <errno.h>
#include <stdio.h>
#include <zlib.h>

#include "format.h"
#include "internal.h"

static uint32_t crc(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const uint8_t *b = p;
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, b, k);
		b += k;
		n -= k;
	}
	return (uint32_t)c;
}

void img_fmt_put_prefix(uint8_t out[IMG_PREFIX_LEN], const char *tag,
			uint64_t body_len, const void *covered_bytes,
			uint32_t covered)
{
	memcpy(out, tag, 4);
	img_le32(out + 4, 0);
	img_le64(out + 8, body_len);
	img_le32(out + 16, crc(covered_bytes, covered));
	img_le32(out + 20, covered);
}

int img_fmt_get_prefix(const uint8_t in[IMG_PREFIX_LEN], struct img_prefix *p,
		       uint64_t at, struct img_error *err)
{
	memcpy(p->tag, in, 4);
	p->tag[4] = 0;
	p->flags = img_get32(in + 4);
	p->body_len = img_get64(in + 8);
	p->crc = img_get32(in + 16);
	p->covered = img_get32(in + 20);
	for (int i = 0; i < 4; i++)
		if (p->tag[i] < 'A' || p->tag[i] > 'Z')
			return img_err_set(err, -IMG_E_CORRUPT,
					   "no record starts at image offset %llu (bad tag)",
					   (unsigned long long)at);
	if (p->flags)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "%s record at image offset %llu has reserved flags 0x%x set",
				   p->tag, (unsigned long long)at, p->flags);
	if (p->covered > p->body_len)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "%s record at image offset %llu: checksum covers more than the body",
				   p->tag, (unsigned long long)at);
	return 0;
}

int img_fmt_check_filehdr(const uint8_t *p, struct img_error *err)
{
	if (memcmp(p, IMG_MAGIC, 8) != 0)
		return img_err_set(err, -IMG_E_FORMAT,
				   "not an img image (bad magic at offset 0)");
	uint16_t ver = img_get16(p + 8), hlen = img_get16(p + 10);
	uint32_t feat = img_get32(p + 12);
	if (ver != IMG_FORMAT_VERSION)
		return img_err_set(err, -IMG_E_VERSION,
				   "image format version %u is not supported (this img reads version %u)",
				   ver, IMG_FORMAT_VERSION);
	if (hlen != IMG_FILEHDR_LEN)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "file header length %u, expected %u", hlen,
				   IMG_FILEHDR_LEN);
	if (feat & ~IMG_FEATURES_KNOWN)
		return img_err_set(err, -IMG_E_VERSION,
				   "image uses unknown features 0x%x", feat);
	return 0;
}

/* ---- HEAD ------------------------------------------------------------ */

static void put_disk(struct img_wbuf *b, const struct img_disk *d)
{
	img_putstr(b, d->path);
	img_putstr(b, d->model);
	img_put64(b, d->size);
	img_put32(b, d->sector);
	img_put8(b, (uint8_t)d->table);
	img_put8(b, 0);
	img_put16(b, 0);
	img_put32(b, (uint32_t)d->nraw);
	for (size_t i = 0; i < d->nraw; i++) {
		img_put64(b, d->raw[i].offset);
		img_put32(b, d->raw[i].len);
		img_put(b, d->raw[i].data, d->raw[i].len);
	}
}

static void put_part(struct img_wbuf *b, const struct img_part *p)
{
	img_put32(b, (uint32_t)p->number);
	img_put32(b, (uint32_t)p->table_number);
	img_put32(b, (uint32_t)p->disk);
	img_put8(b, (uint8_t)p->kind);
	img_put8(b, (uint8_t)p->capture);
	img_put16(b, 0);
	img_put64(b, p->start);
	img_put64(b, p->length);
	img_putstr(b, p->type);
	img_putstr(b, p->name);
	img_put64(b, p->flags);
	img_putstr(b, p->fs);
	img_putstr(b, p->label);
	img_putstr(b, p->uuid);
	img_put32(b, p->unit);
	img_putstr(b, p->note);
	img_put64(b, p->used);
	img_put64(b, p->next);
	for (size_t i = 0; i < p->next; i++) {
		img_put64(b, p->ext[i].start);
		img_put64(b, p->ext[i].len);
	}
}

int img_fmt_put_header(struct img_wbuf *b, const struct img_layout *l,
		       struct img_error *err)
{
	uint8_t fh[IMG_FILEHDR_LEN];
	memcpy(fh, IMG_MAGIC, 8);
	img_le16(fh + 8, IMG_FORMAT_VERSION);
	img_le16(fh + 10, IMG_FILEHDR_LEN);
	img_le32(fh + 12, 0);
	img_put(b, fh, sizeof(fh));
	size_t pre = b->len;
	uint8_t zero[IMG_PREFIX_LEN] = {0};
	img_put(b, zero, sizeof(zero));
	size_t body = b->len;

	img_put64(b, l->created);
	img_putstr(b, l->host);
	img_putstr(b, l->tool);
	img_put32(b, l->chunk);
	img_put8(b, (uint8_t)l->codec);
	img_put8(b, (uint8_t)l->level);
	img_put16(b, 0);
	img_put32(b, (uint32_t)l->ndisks);
	img_put32(b, (uint32_t)l->nparts);
	for (size_t i = 0; i < l->ndisks; i++)
		put_disk(b, &l->disks[i]);
	for (size_t i = 0; i < l->nparts; i++)
		put_part(b, &l->parts[i]);
	if (b->overflow)
		return img_err_set(err, b->overflow == 2 ? -ENOMEM : -IMG_E_LIMIT,
				   "image header larger than %u MiB (too many extents?)",
				   IMG_HEAD_MAX >> 20);
	img_fmt_put_prefix(b->p + pre, IMG_TAG_HEAD, b->len - body, b->p + body,
			   (uint32_t)(b->len - body));
	return 0;
}

#define BAD(...) do { rc = img_err_set(err, -IMG_E_CORRUPT, __VA_ARGS__); goto out; } while (0)

static int get_disk(struct img_rbuf *r, struct img_disk *d, size_t i,
		    struct img_error *err)
{
	int rc = 0;
	img_rdstr(r, d->path, sizeof(d->path));
	img_rdstr(r, d->model, sizeof(d->model));
	d->size = img_rd64(r);
	d->sector = img_rd32(r);
	uint8_t table = img_rd8(r);
	uint8_t res8 = img_rd8(r);
	uint16_t res16 = img_rd16(r);
	uint32_t nraw = img_rd32(r);
	if (r->bad)
		BAD("image header ends inside disk %zu", i + 1);
	if (res8 || res16)
		BAD("image header: disk %zu has reserved fields set", i + 1);
	if (table > IMG_TABLE_GPT)
		BAD("image header: disk %zu has unknown table type %u", i + 1, table);
	d->table = table;
	if (d->sector != 512 && d->sector != 1024 && d->sector != 2048 &&
	    d->sector != 4096)
		BAD("image header: disk %zu has sector size %u", i + 1, d->sector);
	if (d->size % d->sector)
		BAD("image header: disk %zu size is not a multiple of its sector size",
		    i + 1);
	if (nraw > IMG_RAWSECT_COUNT_MAX)
		BAD("image header: disk %zu has %u table regions (limit %u)", i + 1,
		    nraw, IMG_RAWSECT_COUNT_MAX);
	d->raw = calloc(nraw ? nraw : 1, sizeof(*d->raw));
	if (!d->raw)
		return img_err_set(err, -ENOMEM, "out of memory");
	for (uint32_t k = 0; k < nraw; k++) {
		struct img_rawsect *s = &d->raw[k];
		s->offset = img_rd64(r);
		s->len = img_rd32(r);
		if (r->bad)
			BAD("image header ends inside disk %zu table region %u", i + 1, k);
		if (s->len == 0 || s->len > IMG_RAWSECT_MAX || s->offset > d->size ||
		    s->len > d->size - s->offset || s->offset % d->sector ||
		    s->len % d->sector)
			BAD("image header: disk %zu table region %u (offset %llu, %u bytes) is outside the disk or unaligned",
			    i + 1, k, (unsigned long long)s->offset, s->len);
		const uint8_t *p = img_get(r, s->len);
		if (r->bad || !p)
			BAD("image header ends inside disk %zu table region %u", i + 1, k);
		s->data = malloc(s->len);
		if (!s->data) {
			rc = img_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(s->data, p, s->len);
		d->nraw++;
	}
out:
	return rc;
}

static int get_part(struct img_rbuf *r, const struct img_layout *l,
		    struct img_part *p, size_t i, struct img_error *err)
{
	int rc = 0;
	p->number = (int)img_rd32(r);
	p->table_number = (int)img_rd32(r);
	uint32_t disk = img_rd32(r);
	uint8_t kind = img_rd8(r), cap = img_rd8(r);
	uint16_t res = img_rd16(r);
	p->start = img_rd64(r);
	p->length = img_rd64(r);
	img_rdstr(r, p->type, sizeof(p->type));
	img_rdstr(r, p->name, sizeof(p->name));
	p->flags = img_rd64(r);
	img_rdstr(r, p->fs, sizeof(p->fs));
	img_rdstr(r, p->label, sizeof(p->label));
	img_rdstr(r, p->uuid, sizeof(p->uuid));
	p->unit = img_rd32(r);
	img_rdstr(r, p->note, sizeof(p->note));
	p->used = img_rd64(r);
	uint64_t next = img_rd64(r);
	if (r->bad)
		BAD("image header ends inside area %zu", i);
	if (res)
		BAD("image header: area %zu has reserved fields set", i);
	if (p->number < 0 || p->number > 0xffff || p->table_number < 0 ||
	    p->table_number > 0xffff)
		BAD("image header: area %zu has partition number %d", i, p->number);
	if (disk >= l->ndisks)
		BAD("image header: area %zu names disk %u of %zu", i, disk + 1,
		    l->ndisks);
	p->disk = (int)disk;
	if (kind > IMG_PK_BOOTAREA || cap > IMG_CAP_NONE)
		BAD("image header: area %zu has unknown kind %u or capture %u", i,
		    kind, cap);
	p->kind = kind;
	p->capture = cap;
	const struct img_disk *d = &l->disks[disk];
	if (p->start > d->size || p->length > d->size - p->start ||
	    p->start % d->sector || p->length % d->sector)
		BAD("image header: partition %d (area %zu) lies outside disk %u or is unaligned",
		    p->number, i, disk + 1);
	if (next > (IMG_HEAD_MAX / 16))
		BAD("image header: area %zu has %llu extents", i,
		    (unsigned long long)next);
	if (next) {
		p->ext = malloc(next * sizeof(*p->ext));
		if (!p->ext)
			return img_err_set(err, -ENOMEM, "out of memory");
	}
	uint64_t sum = 0, end = 0;
	for (uint64_t k = 0; k < next; k++) {
		uint64_t s = img_rd64(r), n = img_rd64(r);
		if (r->bad)
			BAD("image header ends inside the extents of area %zu", i);
		if (n == 0 || s < end || s > p->length || n > p->length - s ||
		    s % 512 || n % 512)
			BAD("image header: partition %d extent %llu (%llu+%llu) is empty, unsorted, unaligned or outside the partition",
			    p->number, (unsigned long long)k,
			    (unsigned long long)s, (unsigned long long)n);
		p->ext[k].start = s;
		p->ext[k].len = n;
		end = s + n;
		sum += n;
		p->next++;
	}
	if (sum != p->used)
		BAD("image header: partition %d says %llu bytes used but its extents hold %llu",
		    p->number, (unsigned long long)p->used,
		    (unsigned long long)sum);
out:
	return rc;
}

int img_fmt_get_header(const uint8_t *body, size_t len, struct img_layout **out,
		       struct img_error *err)
{
	int rc = 0;
	struct img_rbuf r = { .p = body, .len = len };
	struct img_layout *l = calloc(1, sizeof(*l));
	if (!l)
		return img_err_set(err, -ENOMEM, "out of memory");
	l->created = img_rd64(&r);
	img_rdstr(&r, l->host, sizeof(l->host));
	img_rdstr(&r, l->tool, sizeof(l->tool));
	l->chunk = img_rd32(&r);
	l->codec = img_rd8(&r);
	l->level = img_rd8(&r);
	uint16_t res = img_rd16(&r);
	uint32_t nd = img_rd32(&r), np = img_rd32(&r);
	if (r.bad)
		BAD("image header is too short");
	if (res)
		BAD("image header has reserved fields set");
	if (l->chunk < IMG_CHUNK_MIN || l->chunk > IMG_CHUNK_MAX ||
	    (l->chunk & (l->chunk - 1)))
		BAD("image header: chunk size %u is not a power of two in [%u, %u]",
		    l->chunk, IMG_CHUNK_MIN, IMG_CHUNK_MAX);
	if (l->codec > IMG_CODEC_DEFLATE || l->level > 9)
		BAD("image header: unknown codec %d or level %d", l->codec, l->level);
	if (nd == 0 || nd > IMG_DISKS_MAX || np > IMG_PARTS_MAX)
		BAD("image header: %u disks, %u areas (limits 1..%u, %u)", nd, np,
		    IMG_DISKS_MAX, IMG_PARTS_MAX);
	l->disks = calloc(nd, sizeof(*l->disks));
	l->parts = calloc(np ? np : 1, sizeof(*l->parts));
	if (!l->disks || !l->parts) {
		rc = img_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nd; i++) {
		l->ndisks++;
		rc = get_disk(&r, &l->disks[i], i, err);
		if (rc)
			goto out;
	}
	for (uint32_t i = 0; i < np; i++) {
		l->nparts++;
		rc = get_part(&r, l, &l->parts[i], i, err);
		if (rc)
			goto out;
	}
	if (r.pos != r.len)
		BAD("image header has %zu bytes of trailing garbage", r.len - r.pos);
out:
	if (rc)
		img_layout_free(l);
	else
		*out = l;
	return rc;
}

void img_layout_free(struct img_layout *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ndisks; i++) {
		for (size_t k = 0; k < l->disks[i].nraw; k++)
			free(l->disks[i].raw[k].data);
		free(l->disks[i].raw);
	}
	for (size_t i = 0; i < l->nparts; i++)
		free(l->parts[i].ext);
	free(l->disks);
	free(l->parts);
	free(l);
}

/* ---- CHNK ------------------------------------------------------------ */

/* Is [start, start+len) inside one of p's extents (sorted, disjoint)? */
static int inside_extents(const struct img_part *p, uint64_t start, uint64_t len)
{
	size_t lo = 0, hi = p->next;
	while (lo < hi) { /* first extent ending after start */
		size_t mid = lo + (hi - lo) / 2;
		if (p->ext[mid].start + p->ext[mid].len <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->next && p->ext[lo].start <= start &&
	       start + len <= p->ext[lo].start + p->ext[lo].len;
}

size_t img_fmt_chunk_meta_len(uint32_t nruns)
{
	return IMG_CHUNK_META_LEN + (size_t)nruns * 8;
}

void img_fmt_put_chunk(uint8_t *o, const struct img_chunk *c)
{
	img_le32(o + 0, c->area);
	img_le32(o + 4, 0);
	img_le64(o + 8, c->offset);
	img_le32(o + 16, c->window);
	o[20] = c->codec;
	o[21] = o[22] = o[23] = 0;
	img_le32(o + 24, c->raw);
	img_le32(o + 28, c->stored);
	memcpy(o + 32, c->digest, 32);
	img_le32(o + 64, c->nruns);
	img_le32(o + 68, 0);
	for (uint32_t i = 0; i < c->nruns; i++) {
		img_le32(o + 72 + 8 * i, c->runs[i].off);
		img_le32(o + 76 + 8 * i, c->runs[i].len);
	}
}

int img_fmt_get_chunk(const uint8_t *in, size_t len, struct img_chunk *c,
		      struct img_run *runs, uint32_t maxruns,
		      const struct img_layout *l, uint64_t at,
		      struct img_error *err)
{
	int rc = 0;
	if (len < IMG_CHUNK_META_LEN)
		BAD("chunk at image offset %llu is too short",
		    (unsigned long long)at);
	c->area = img_get32(in);
	uint32_t flags = img_get32(in + 4);
	c->offset = img_get64(in + 8);
	c->window = img_get32(in + 16);
	c->codec = in[20];
	c->raw = img_get32(in + 24);
	c->stored = img_get32(in + 28);
	memcpy(c->digest, in + 32, 32);
	c->nruns = img_get32(in + 64);
	c->runs = runs;
	if (flags || in[21] || in[22] || in[23] || img_get32(in + 68))
		BAD("chunk at image offset %llu has reserved fields set",
		    (unsigned long long)at);
	if (c->area >= l->nparts)
		BAD("chunk at image offset %llu names area %u of %zu",
		    (unsigned long long)at, c->area, l->nparts);
	const struct img_part *p = &l->parts[c->area];
	if (c->window == 0 || c->window > l->chunk || c->offset % l->chunk ||
	    c->offset >= p->length || c->window > p->length - c->offset)
		BAD("chunk at image offset %llu: window %llu+%u lies outside partition %d",
		    (unsigned long long)at, (unsigned long long)c->offset,
		    c->window, p->number);
	if (c->codec > IMG_CODEC_ZERO)
		BAD("chunk at image offset %llu has unknown codec %u",
		    (unsigned long long)at, c->codec);
	if (c->nruns == 0 || c->nruns > maxruns)
		BAD("chunk at image offset %llu has %u runs (limit %u)",
		    (unsigned long long)at, c->nruns, maxruns);
	if (len != img_fmt_chunk_meta_len(c->nruns) + c->stored)
		BAD("chunk at image offset %llu: record length does not match its fields",
		    (unsigned long long)at);
	uint64_t sum = 0, end = 0;
	for (uint32_t i = 0; i < c->nruns; i++) {
		uint32_t o = img_get32(in + 72 + 8 * i), n = img_get32(in + 76 + 8 * i);
		if (n == 0 || o < end || o > c->window || n > c->window - o ||
		    o % 512 || n % 512)
			BAD("chunk at image offset %llu: run %u (%u+%u) is empty, unsorted, unaligned or outside its window",
			    (unsigned long long)at, i, o, n);
		runs[i].off = o;
		runs[i].len = n;
		end = (uint64_t)o + n;
		sum += n;
	}
	if (sum != c->raw)
		BAD("chunk at image offset %llu: runs hold %llu bytes, chunk says %u",
		    (unsigned long long)at, (unsigned long long)sum, c->raw);
	if (p->capture != IMG_CAP_FS && p->capture != IMG_CAP_RAW)
		BAD("chunk at image offset %llu belongs to partition %d, which holds no data",
		    (unsigned long long)at, p->number);
	for (uint32_t i = 0; i < c->nruns; i++)
		if (!inside_extents(p, c->offset + runs[i].off, runs[i].len))
			BAD("chunk at image offset %llu: run %u lies outside partition %d's used blocks",
			    (unsigned long long)at, i, p->number);
	if ((c->codec == IMG_CODEC_STORED && c->stored != c->raw) ||
	    (c->codec == IMG_CODEC_ZERO && c->stored != 0) ||
	    ((c->codec == IMG_CODEC_ZSTD || c->codec == IMG_CODEC_DEFLATE) &&
	     (c->stored == 0 || c->stored >= c->raw)))
		BAD("chunk at image offset %llu: stored size %u does not fit codec %u",
		    (unsigned long long)at, c->stored, c->codec);
out:
	return rc;
}

/* ---- TRLR ------------------------------------------------------------ */

void img_fmt_put_trailer(uint8_t o[IMG_TRAILER_BODY_LEN], const struct img_trailer *t)
{
	img_le64(o, t->index_offset);
	img_le64(o + 8, t->chunks);
	img_le64(o + 16, t->raw_total);
	img_le64(o + 24, t->stored_total);
	memcpy(o + 32, t->digest, 32);
}

void img_fmt_get_trailer(const uint8_t in[IMG_TRAILER_BODY_LEN], struct img_trailer *t)
{
	t->index_offset = img_get64(in);
	t->chunks = img_get64(in + 8);
	t->raw_total = img_get64(in + 16);
	t->stored_total = img_get64(in + 24);
	memcpy(t->digest, in + 32, 32);
}
