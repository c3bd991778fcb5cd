/* test_format.c - image format codec and chunk codecs, round trip and
 * rejection of damaged or reserved fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "format.h"
#include "base/err.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static struct img_layout *sample(void)
{
	struct img_layout *l = calloc(1, sizeof(*l));
	l->created = 1700000000;
	strcpy(l->host, "lab-07");
	strcpy(l->tool, "img test");
	l->chunk = IMG_CHUNK_DEFAULT;
	l->codec = IMG_CODEC_ZSTD;
	l->level = 1;
	l->ndisks = 1;
	l->disks = calloc(1, sizeof(*l->disks));
	strcpy(l->disks[0].path, "/dev/sda");
	l->disks[0].size = 64ull << 20;
	l->disks[0].sector = 512;
	l->disks[0].table = IMG_TABLE_MSDOS;
	l->disks[0].nraw = 1;
	l->disks[0].raw = calloc(1, sizeof(struct img_rawsect));
	l->disks[0].raw[0].len = 512;
	l->disks[0].raw[0].data = calloc(1, 512);
	l->disks[0].raw[0].data[510] = 0x55;
	l->nparts = 2;
	l->parts = calloc(2, sizeof(*l->parts));
	struct img_part *p = &l->parts[0];
	p->number = 1;
	p->table_number = 1;
	p->start = 1 << 20;
	p->length = 32 << 20;
	strcpy(p->type, "0x83");
	strcpy(p->fs, "ext4");
	strcpy(p->label, "root");
	p->unit = 4096;
	p->next = 2;
	p->ext = calloc(2, sizeof(*p->ext));
	p->ext[0] = (struct img_extent){ 0, 128 << 10 };
	p->ext[1] = (struct img_extent){ 1 << 20, 4096 };
	p->used = (128 << 10) + 4096;
	p = &l->parts[1];
	p->kind = IMG_PK_BOOTAREA;
	p->start = 512;
	p->length = (1 << 20) - 512;
	p->capture = IMG_CAP_RAW;
	p->next = 1;
	p->ext = calloc(1, sizeof(*p->ext));
	p->ext[0] = (struct img_extent){ 0, p->length };
	p->used = p->length;
	return l;
}

static void test_header(void)
{
	struct img_layout *l = sample(), *d = NULL;
	struct img_wbuf b = { .max = IMG_HEAD_MAX };
	struct img_error e = {0};
	CHECK(img_fmt_put_header(&b, l, &e) == 0, "encode: %s", e.msg);
	CHECK(img_fmt_check_filehdr(b.p, &e) == 0, "file header: %s", e.msg);
	struct img_prefix p;
	CHECK(img_fmt_get_prefix(b.p + IMG_FILEHDR_LEN, &p, 16, &e) == 0, "prefix");
	CHECK(!strcmp(p.tag, "HEAD") && p.body_len == b.len - 40, "prefix fields");
	const uint8_t *body = b.p + 40;
	CHECK(img_fmt_get_header(body, p.body_len, &d, &e) == 0, "decode: %s", e.msg);
	if (d) {
		CHECK(d->ndisks == 1 && d->nparts == 2, "counts");
		CHECK(!strcmp(d->host, "lab-07") && d->disks[0].raw[0].data[510] == 0x55,
		      "host and raw sector");
		CHECK(d->parts[0].next == 2 && d->parts[0].ext[1].start == 1 << 20 &&
		      !strcmp(d->parts[0].label, "root"), "extents and label");
		img_layout_free(d);
	}
	/* Every single-byte truncation of the body must be rejected. */
	int bad = 0;
	for (size_t n = 0; n < p.body_len; n += 7) {
		d = NULL;
		if (img_fmt_get_header(body, n, &d, &e) == 0) {
			bad++;
			img_layout_free(d);
		}
	}
	CHECK(bad == 0, "%d truncated headers accepted", bad);
	/* Reserved bytes after the level must be zero. */
	uint8_t *copy = malloc(p.body_len);
	memcpy(copy, body, p.body_len);
	size_t res = 8 + 2 + strlen("lab-07") + 2 + strlen("img test") + 4 + 2;
	copy[res] = 1;
	d = NULL;
	CHECK(img_fmt_get_header(copy, p.body_len, &d, &e) == -IMG_E_CORRUPT &&
	      strstr(e.msg, "reserved"), "reserved field accepted: %s", e.msg);
	free(copy);
	/* Wrong magic and version. */
	uint8_t fh[16];
	memcpy(fh, b.p, 16);
	fh[1] = 'X';
	CHECK(img_fmt_check_filehdr(fh, &e) == -IMG_E_FORMAT, "bad magic");
	memcpy(fh, b.p, 16);
	fh[8] = 99;
	CHECK(img_fmt_check_filehdr(fh, &e) == -IMG_E_VERSION && strstr(e.msg, "99"),
	      "bad version: %s", e.msg);
	/* An extent outside its partition. */
	l->parts[0].ext[1].start = 64ull << 20;
	free(b.p);
	b = (struct img_wbuf){ .max = IMG_HEAD_MAX };
	img_fmt_put_header(&b, l, &e);
	d = NULL;
	CHECK(img_fmt_get_header(b.p + 40, b.len - 40, &d, &e) == -IMG_E_CORRUPT &&
	      strstr(e.msg, "extent"), "extent outside accepted: %s", e.msg);
	free(b.p);
	img_layout_free(l);
}

static void test_chunk(void)
{
	struct img_layout *l = sample();
	struct img_run runs[3] = { { 0, 4096 }, { 8192, 512 }, { 65536, 1024 } };
	struct img_chunk c = { .area = 0, .offset = 0, .window = 1 << 20,
			       .codec = IMG_CODEC_ZSTD, .raw = 4096 + 512 + 1024,
			       .stored = 100, .nruns = 3, .runs = runs };
	memset(c.digest, 0xab, 32);
	size_t ml = img_fmt_chunk_meta_len(3);
	uint8_t *buf = calloc(1, ml + 100);
	img_fmt_put_chunk(buf, &c);
	struct img_chunk d;
	struct img_run out[8];
	struct img_error e = {0};
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == 0,
	      "chunk decode: %s", e.msg);
	CHECK(d.nruns == 3 && out[2].off == 65536 && d.digest[31] == 0xab, "chunk fields");
	CHECK(img_fmt_get_chunk(buf, ml + 99, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT,
	      "length mismatch accepted");
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 2, l, 0, &e) == -IMG_E_CORRUPT,
	      "too many runs accepted");
	buf[21] = 1;
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT,
	      "reserved byte accepted");
	buf[21] = 0;
	img_le32(buf, 7);
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT &&
	      strstr(e.msg, "area"), "bad area accepted");
	img_le32(buf, 0);
	img_le32(buf + 72 + 16, 512 << 10); /* run 2 outside the used blocks */
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT &&
	      strstr(e.msg, "used blocks"), "run outside the extents accepted: %s", e.msg);
	img_le32(buf + 72 + 16, 65536);
	l->parts[0].capture = IMG_CAP_EXCLUDED;
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT,
	      "chunk of an excluded partition accepted");
	l->parts[0].capture = IMG_CAP_FS;
	img_le32(buf + 72 + 8, 4000); /* run 1 overlaps run 0 */
	CHECK(img_fmt_get_chunk(buf, ml + 100, &d, out, 8, l, 0, &e) == -IMG_E_CORRUPT,
	      "overlapping runs accepted");
	free(buf);
	img_layout_free(l);
}

static void test_codec(void)
{
	enum img_codec codecs[] = { IMG_CODEC_ZSTD, IMG_CODEC_DEFLATE };
	size_t n = 1 << 20;
	uint8_t *src = malloc(n), *dst = malloc(img_codec_bound(n)), *back = malloc(n);
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)(i % 251 < 100 ? 'a' + i % 7 : (i * 2654435761u) >> 13);
	for (size_t k = 0; k < 2; k++)
		for (int lv = 0; lv <= 9; lv += 3) {
			struct img_codec_ctx *c = NULL;
			uint8_t codec = 0xff;
			CHECK(img_codec_new(&c, codecs[k], lv) == 0, "codec new");
			long s = img_codec_pack(c, src, n, dst, img_codec_bound(n), &codec);
			CHECK(s > 0 && (size_t)s <= n, "pack %ld", s);
			CHECK(lv == 0 ? codec == IMG_CODEC_STORED : codec == codecs[k],
			      "codec %u at level %d", codec, lv);
			CHECK(img_codec_unpack(c, codec, dst, (size_t)s, back, n) == 0 &&
			      memcmp(src, back, n) == 0, "round trip codec %d level %d",
			      codecs[k], lv);
			if (codec != IMG_CODEC_STORED) {
				dst[s / 2] ^= 0x40;
				int r = img_codec_unpack(c, codec, dst, (size_t)s, back, n);
				CHECK(r != 0 || memcmp(src, back, n) != 0,
				      "damaged stream went unnoticed");
			}
			img_codec_free(c);
		}
	struct img_codec_ctx *c = NULL;
	img_codec_new(&c, IMG_CODEC_ZSTD, 1);
	uint8_t codec;
	memset(src, 0, n);
	CHECK(img_codec_pack(c, src, n, dst, img_codec_bound(n), &codec) == 0 &&
	      codec == IMG_CODEC_ZERO, "zero chunk");
	uint8_t dg[32];
	img_sha256(c, "abc", 3, dg);
	CHECK(dg[0] == 0xba && dg[1] == 0x78 && dg[31] == 0xad, "sha256(abc)");
	img_codec_free(c);
	free(src);
	free(dst);
	free(back);
}

int main(void)
{
	test_header();
	test_chunk();
	test_codec();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
