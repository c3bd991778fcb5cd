/* test_isd.c - image-safe data: field validation and text, the record on
 * disk (round trip, damage, foreign bytes, tables that leave no room),
 * and its life through the engine: capture never stores it, a whole-disk
 * restore keeps the target's, -ap keeps it too, and both record the image.
 *
 * Disks are sparse files with tables built here byte by byte (an MBR with
 * one partition, or a GPT without a backup, which is all the area check
 * reads), so the test needs neither root nor partitioning tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "img.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

#define MIB (1024 * 1024)

static char dir[] = "/tmp/img-isd-XXXXXX";

static const char *path(const char *name)
{
	static char pool[32][256];
	static int n;
	if (n == 32)
		abort();
	snprintf(pool[n], sizeof(pool[n]), "%s/%s", dir, name);
	return pool[n++];
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put(const char *p, const void *b, size_t n, off_t off)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, b, n, off) != (ssize_t)n)
		abort();
	close(fd);
}

static void get(const char *p, void *b, size_t n, off_t off)
{
	int fd = open(p, O_RDONLY);
	if (fd < 0 || pread(fd, b, n, off) != (ssize_t)n)
		abort();
	close(fd);
}

static void blank(const char *p, off_t size)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size) < 0)
		abort();
	close(fd);
}

/* An MBR disk of size bytes with one Linux partition from sector start
 * to the end. */
static void mbr_disk(const char *p, off_t size, uint32_t start)
{
	uint8_t s[512] = {0};
	blank(p, size);
	uint8_t *e = s + 446;
	e[4] = 0x83;
	le32(e + 8, start);
	le32(e + 12, (uint32_t)(size / 512) - start);
	s[510] = 0x55;
	s[511] = 0xaa;
	put(p, s, sizeof(s), 0);
}

/* A GPT disk (512-byte sectors): protective MBR, primary header, 128
 * entries at entries_lba, one partition from first_lba to the last
 * usable sector.  No backup: the area check reads the primary only. */
static void gpt_disk(const char *p, off_t size, uint64_t entries_lba, uint64_t first_lba)
{
	uint8_t mbr[512] = {0}, h[512] = {0}, ents[128 * 128] = {0};
	uint64_t last = (uint64_t)size / 512 - 1;
	blank(p, size);
	mbr[446 + 4] = 0xee;
	le32(mbr + 446 + 8, 1);
	le32(mbr + 446 + 12, (uint32_t)last);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	static const uint8_t linux_type[16] = { 0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
						0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4 };
	memcpy(ents, linux_type, 16);
	memset(ents + 16, 0x42, 16);
	le64(ents + 32, first_lba);
	le64(ents + 40, last - 34);
	memcpy(h, "EFI PART", 8);
	le32(h + 8, 0x00010000);
	le32(h + 12, 92);
	le64(h + 24, 1);
	le64(h + 32, last);
	le64(h + 40, 34);
	le64(h + 48, last - 34);
	memset(h + 56, 0x17, 16);
	le64(h + 72, entries_lba);
	le32(h + 80, 128);
	le32(h + 84, 128);
	le32(h + 88, (uint32_t)crc32(0, ents, sizeof(ents)));
	le32(h + 16, (uint32_t)crc32(0, h, 92));
	put(p, mbr, sizeof(mbr), 0);
	put(p, h, sizeof(h), 512);
	put(p, ents, sizeof(ents), (off_t)(entries_lba * 512));
}

static int area_is(const char *p, int byte)
{
	uint8_t a[IMG_ISD_SIZE];
	get(p, a, sizeof(a), IMG_ISD_OFFSET);
	for (size_t i = 0; i < sizeof(a); i++)
		if (a[i] != byte)
			return 0;
	return 1;
}

static int same_isd(const struct img_isd *a, const struct img_isd *b)
{
	return !strcmp(a->name, b->name) && a->net == b->net && !strcmp(a->ip, b->ip) &&
	       !strcmp(a->mask, b->mask) && !strcmp(a->gateway, b->gateway) &&
	       !strcmp(a->dns, b->dns) && !strcmp(a->last_image, b->last_image) &&
	       a->last_time == b->last_time && a->pending == b->pending;
}

static int set_all(struct img_isd *isd, const char *const *kv, size_t n)
{
	struct img_error e = {0};
	for (size_t i = 0; i < n; i++)
		if (img_isd_set(isd, kv[i], &e)) {
			fprintf(stderr, "set %s: %s\n", kv[i], e.msg);
			return -1;
		}
	return 0;
}

static void test_fields(void)
{
	struct img_isd isd = {0}, before;
	struct img_error e = {0};
	char buf[IMG_ISD_FORMAT_MAX];
	static const char *const good[] = {
		"name=lab-pc-01", "NET=Static", "ip=198.18.0.10", "mask=255.255.254.0",
		"gateway=198.18.0.1", "dns=198.18.0.2,198.18.0.3", "pending=1",
		"lastimage=/srv/images/lab.img", "lasttime=1700000000",
	};
	CHECK(set_all(&isd, good, sizeof(good) / sizeof(good[0])) == 0, "good values refused");
	CHECK(!strcmp(isd.name, "lab-pc-01") && isd.net == IMG_ISD_NET_STATIC &&
	      !strcmp(isd.ip, "198.18.0.10") && !strcmp(isd.mask, "255.255.254.0") &&
	      !strcmp(isd.gateway, "198.18.0.1") && !strcmp(isd.dns, "198.18.0.2,198.18.0.3") &&
	      isd.pending == 1 && !strcmp(isd.last_image, "/srv/images/lab.img") &&
	      isd.last_time == 1700000000, "fields not stored as given");

	static const char *const bad[][2] = {
		{ "name=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", "63" },
		{ "name=lab pc", "letters" },
		{ "name=-lab", "begins" },
		{ "net=bootp", "dhcp or static" },
		{ "ip=198.18.0", "IPv4" },
		{ "ip=256.1.1.1", "IPv4" },
		{ "ip=198.18.0.10 ", "IPv4" },
		{ "ip=224.0.0.1", "unicast" },
		{ "mask=255.0.255.0", "netmask" },
		{ "mask=0.0.0.0", "netmask" },
		{ "gateway=x", "IPv4" },
		{ "dns=198.18.0.2,,198.18.0.3", "commas" },
		{ "dns=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5", "at most 4" },
		{ "pending=2", "0 or 1" },
		{ "lasttime=-5", "digits" },
		{ "lasttime=99999999999999999999", "range" },
		{ "lastimage=a\nb", "control" },
		{ "colour=blue", "unknown key" },
		{ "name", "KEY=VALUE" },
		{ "=x", "unknown key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		before = isd;
		e.msg[0] = 0;
		int rc = img_isd_set(&isd, bad[i][0], &e);
		CHECK(rc == -IMG_E_USAGE && e.code == -IMG_E_USAGE, "'%s' accepted (rc %d)", bad[i][0], rc);
		CHECK(strstr(e.msg, bad[i][1]) != NULL, "'%s': message '%s' lacks '%s'",
		      bad[i][0], e.msg, bad[i][1]);
		CHECK(same_isd(&before, &isd), "'%s' changed the record", bad[i][0]);
	}
	CHECK(img_isd_set(&isd, "name=", &e) == 0 && !isd.name[0], "empty value does not clear");
	CHECK(img_isd_set(&isd, "name=lab-pc-01", &e) == 0, "name again");

	CHECK(img_isd_format(&isd, buf, sizeof(buf)) == 0, "format failed");
	CHECK(strstr(buf, "Name: lab-pc-01\n") && strstr(buf, "Network: static\n") &&
	      strstr(buf, "IP address: 198.18.0.10\n") && strstr(buf, "Netmask: 255.255.254.0\n") &&
	      strstr(buf, "Gateway: 198.18.0.1\n") &&
	      strstr(buf, "DNS servers: 198.18.0.2,198.18.0.3\n") &&
	      strstr(buf, "Last image: /srv/images/lab.img\n") &&
	      strstr(buf, "Last imaged: 2023-11-14 22:13:20 UTC (1700000000)\n") &&
	      strstr(buf, "Pending work: yes\n"), "format gave:\n%s", buf);
	struct img_isd empty = {0};
	CHECK(img_isd_format(&empty, buf, sizeof(buf)) == 0 && strstr(buf, "Name: (none)\n") &&
	      strstr(buf, "Last imaged: never\n"), "empty record formats as:\n%s", buf);
	char small[20];
	CHECK(img_isd_format(&isd, small, sizeof(small)) == -ENOSPC &&
	      strlen(small) == sizeof(small) - 1, "small buffer not reported");
}

static void test_disk(void)
{
	struct img_isd w = {0}, r;
	struct img_error e = {0};
	const char *d = path("mbr.img");
	static const char *const kv[] = { "name=lab-a", "net=static", "ip=198.18.1.20",
					  "mask=255.255.255.0", "dns=198.18.1.1" };
	mbr_disk(d, 8 * MIB, 2048);
	CHECK(img_isd_read(d, &r, &e) == 0 && strstr(e.msg, "all zero") && e.code == 0,
	      "fresh disk: %s", e.msg);
	CHECK(set_all(&w, kv, sizeof(kv) / sizeof(kv[0])) == 0, "set");
	int rc = img_isd_write(d, &w, &e);
	CHECK(rc == 0, "write: %d %s", rc, e.msg);
	CHECK(img_isd_read(d, &r, &e) == 1 && same_isd(&r, &w), "round trip differs");
	uint8_t head[8];
	get(d, head, 8, IMG_ISD_OFFSET);
	CHECK(!memcmp(head, "IMGZISD1", 8), "no magic at the area's start");
	uint8_t mbr0[512], mbr1[512];
	get(d, mbr0, sizeof(mbr0), 0);
	/* A valid record may be replaced. */
	CHECK(img_isd_set(&w, "net=dhcp", &e) == 0 && img_isd_write(d, &w, &e) == 0 &&
	      img_isd_read(d, &r, &e) == 1 && r.net == IMG_ISD_NET_DHCP, "rewrite: %s", e.msg);
	get(d, mbr1, sizeof(mbr1), 0);
	CHECK(!memcmp(mbr0, mbr1, 512), "the MBR changed");

	/* Static without its address is refused before the disk is touched. */
	struct img_isd s = {0};
	CHECK(img_isd_set(&s, "net=static", &e) == 0, "set net");
	CHECK(img_isd_write(d, &s, &e) == -IMG_E_USAGE && strstr(e.msg, "needs ip and mask"),
	      "static without ip: %s", e.msg);
	CHECK(img_isd_read(d, &r, &e) == 1 && !strcmp(r.name, "lab-a"), "refused write changed it");

	/* A damaged record is no record, and is not overwritten. */
	uint8_t a[IMG_ISD_SIZE], b[IMG_ISD_SIZE];
	get(d, a, sizeof(a), IMG_ISD_OFFSET);
	a[24] ^= 0x01;
	put(d, a, sizeof(a), IMG_ISD_OFFSET);
	rc = img_isd_read(d, &r, &e);
	CHECK(rc == 0 && strstr(e.msg, "CRC") && !r.name[0], "damaged record read: %d %s", rc, e.msg);
	rc = img_isd_write(d, &w, &e);
	CHECK(rc == -IMG_E_BUSY && strstr(e.msg, d) && strstr(e.msg, "not free"),
	      "write over a damaged record: %d %s", rc, e.msg);
	get(d, b, sizeof(b), IMG_ISD_OFFSET);
	CHECK(!memcmp(a, b, sizeof(a)), "damaged record was overwritten");

	/* Non-zero bytes that are not ours. */
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 1);
	put(d, a, sizeof(a), IMG_ISD_OFFSET);
	rc = img_isd_read(d, &r, &e);
	CHECK(rc == 0 && strstr(e.msg, "other data"), "garbage read: %d %s", rc, e.msg);
	rc = img_isd_write(d, &w, &e);
	CHECK(rc == -IMG_E_BUSY && strstr(e.msg, "other data") && strstr(e.msg, "nothing was written"),
	      "write over garbage: %d %s", rc, e.msg);
	get(d, b, sizeof(b), IMG_ISD_OFFSET);
	CHECK(!memcmp(a, b, sizeof(a)), "garbage was overwritten");

	/* Hand-made records: a later version, a bad value under a good CRC,
	 * an unknown key (skipped). */
	static const struct { uint16_t ver; const char *body; int want; const char *msg; } hand[] = {
		{ 2, "name=x\npending=0\n", 0, "version 2" },
		{ 1, "ip=300.1.1.1\npending=0\n", 0, "invalid" },
		{ 1, "name=x\nname=y\n", 0, "twice" },
		{ 1, "name=x", 0, "unterminated" },
		{ 1, "colour=blue\nname=hand\n", 1, NULL },
	};
	for (size_t i = 0; i < sizeof(hand) / sizeof(hand[0]); i++) {
		size_t n = strlen(hand[i].body);
		memset(a, 0, sizeof(a));
		memcpy(a, "IMGZISD1", 8);
		a[8] = (uint8_t)hand[i].ver;
		le32(a + 12, (uint32_t)n);
		le32(a + 16, (uint32_t)crc32(0, (const Bytef *)hand[i].body, (uInt)n));
		memcpy(a + 20, hand[i].body, n);
		put(d, a, sizeof(a), IMG_ISD_OFFSET);
		rc = img_isd_read(d, &r, &e);
		CHECK(rc == hand[i].want, "hand record %zu: %d %s", i, rc, e.msg);
		if (hand[i].msg)
			CHECK(strstr(e.msg, hand[i].msg) != NULL, "hand record %zu: '%s'", i, e.msg);
		else
			CHECK(!strcmp(r.name, "hand"), "hand record %zu: name '%s'", i, r.name);
	}

	/* A partition at sector 63 covers the area: refused, nothing written. */
	const char *old = path("mbr63.img");
	mbr_disk(old, 8 * MIB, 63);
	rc = img_isd_write(old, &w, &e);
	CHECK(rc == -IMG_E_TABLE && strstr(e.msg, old) && strstr(e.msg, "partition 1") &&
	      strstr(e.msg, "sector 63") && strstr(e.msg, "before 1 MiB"),
	      "sector-63 disk: %d %s", rc, e.msg);
	CHECK(area_is(old, 0), "sector-63 disk was written");
	CHECK(img_isd_read(old, &r, &e) == 0 && strstr(e.msg, "before 1 MiB"), "read: %s", e.msg);

	/* No table at all. */
	const char *raw = path("raw.img");
	blank(raw, 4 * MIB);
	CHECK(img_isd_write(raw, &w, &e) == -IMG_E_TABLE && strstr(e.msg, "no partition table"),
	      "no table: %s", e.msg);
	CHECK(area_is(raw, 0), "table-less disk was written");
	CHECK(img_isd_read(raw, &r, &e) == 0, "no table: read");
	CHECK(img_isd_read(path("missing.img"), &r, &e) == -ENOENT, "missing disk: %s", e.msg);

	/* Sector 0 ends in 55 AA but is no MBR: a FAT boot sector, an entry
	 * with a bad status byte, an entry past the disk's end. */
	static const struct { int at; uint8_t v; const char *msg; } not_mbr[] = {
		{ 54, 'F', "filesystem on the whole disk" },
		{ 446, 0x12, "not a valid MBR" },
		{ 446 + 15, 0x7f, "not a valid MBR" },
	};
	for (size_t i = 0; i < sizeof(not_mbr) / sizeof(not_mbr[0]); i++) {
		const char *f = path(i == 0 ? "fat.img" : i == 1 ? "status.img" : "past.img");
		mbr_disk(f, 8 * MIB, 2048);
		if (not_mbr[i].at == 54)
			put(f, "FAT16   ", 8, 54);
		else
			put(f, &not_mbr[i].v, 1, not_mbr[i].at);
		rc = img_isd_write(f, &w, &e);
		CHECK(rc == -IMG_E_TABLE && strstr(e.msg, not_mbr[i].msg), "not an MBR %zu: %d %s",
		      i, rc, e.msg);
		CHECK(area_is(f, 0), "not an MBR %zu: written", i);
	}
}

static void test_gpt(void)
{
	struct img_isd w = {0}, r;
	struct img_error e = {0};
	CHECK(img_isd_set(&w, "name=gpt-pc", &e) == 0 && img_isd_set(&w, "net=dhcp", &e) == 0, "set");
	const char *g = path("gpt.img");
	gpt_disk(g, 8 * MIB, 2, 2048);
	int rc = img_isd_write(g, &w, &e);
	CHECK(rc == 0, "gpt write: %d %s", rc, e.msg);
	CHECK(img_isd_read(g, &r, &e) == 1 && !strcmp(r.name, "gpt-pc"), "gpt read: %s", e.msg);

	const char *low = path("gpt34.img");
	gpt_disk(low, 8 * MIB, 2, 34);
	rc = img_isd_write(low, &w, &e);
	CHECK(rc == -IMG_E_TABLE && strstr(e.msg, "partition 1 starts at byte 17408"),
	      "gpt partition at 34: %d %s", rc, e.msg);
	CHECK(area_is(low, 0), "gpt34 written");

	/* Entries at LBA 2020 run to byte 1050624, past the area's start. */
	const char *late = path("gptlate.img");
	gpt_disk(late, 8 * MIB, 2020, 4096);
	rc = img_isd_write(late, &w, &e);
	CHECK(rc == -IMG_E_TABLE && strstr(e.msg, "entry array"), "gpt late entries: %d %s", rc, e.msg);

	/* A damaged primary header leaves no proof that the area is free. */
	const char *dmg = path("gptbad.img");
	gpt_disk(dmg, 8 * MIB, 2, 2048);
	uint8_t x = 0x99;
	put(dmg, &x, 1, 512 + 60);
	rc = img_isd_write(dmg, &w, &e);
	CHECK(rc == -IMG_E_TABLE && strstr(e.msg, "damaged"), "gpt bad header: %d %s", rc, e.msg);

	/* A protective MBR without a GPT header behind it. */
	const char *gone = path("gptgone.img");
	gpt_disk(gone, 8 * MIB, 2, 2048);
	uint8_t zero[512] = {0};
	put(gone, zero, sizeof(zero), 512);
	rc = img_isd_write(gone, &w, &e);
	CHECK(rc == -IMG_E_TABLE && strstr(e.msg, "header is missing"), "gpt no header: %d %s",
	      rc, e.msg);
	CHECK(area_is(gone, 0), "gpt without header written");
}

/* ---- through capture and restore ------------------------------------- */

struct msgs {
	int warns;
	char last[1024];
};

static void on_msg(void *ctx, enum img_level level, const char *text)
{
	struct msgs *m = ctx;
	if (level == IMG_WARN) {
		m->warns++;
		snprintf(m->last, sizeof(m->last), "%s", text);
	}
}

static int make(const char *disk, const char *image)
{
	const char *disks[1] = { disk };
	struct img_make_opts o = { .disks = disks, .ndisks = 1, .level = 1,
				   .codec = IMG_CODEC_ZSTD, .threads = 2 };
	struct img_error e = {0};
	int rc = img_make_file(&o, image, NULL, NULL, &e);
	if (rc)
		fprintf(stderr, "make %s: %s\n", disk, e.msg);
	return rc;
}

static int restore(const char *image, const char *disk, const struct img_map *maps,
		   size_t nmaps, const char *name, struct msgs *m)
{
	const char *disks[1] = { disk };
	struct img_restore_opts o = { .disks = disks, .ndisks = 1, .maps = maps,
				      .nmaps = nmaps, .threads = 2, .image_name = name };
	struct img_callbacks cb = { .message = on_msg, .ctx = m };
	struct img_error e = {0};
	int rc = img_restore_file(&o, image, &cb, NULL, &e);
	if (rc)
		fprintf(stderr, "restore %s onto %s: %s\n", image, disk, e.msg);
	return rc;
}

static void fill_partition(const char *d, uint32_t start, size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);
	uint32_t x = seed;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		b[i] = (uint8_t)(x >> 16);
	}
	put(d, b, len, (off_t)start * 512);
	free(b);
}

static int same_range(const char *a, const char *b, off_t off, size_t len)
{
	uint8_t *x = malloc(len), *y = malloc(len);
	get(a, x, len, off);
	get(b, y, len, off);
	int same = !memcmp(x, y, len);
	free(x);
	free(y);
	return same;
}

static void test_engine(void)
{
	struct img_isd isd = {0}, r;
	struct img_error e = {0};
	struct msgs m = {0};
	const char *src = path("src.img"), *image = path("src.imgf");
	const char *keep = path("keep.img"), *fresh = path("fresh.img"), *none = path("none.img");
	static const char *const a_kv[] = { "name=lab-a", "net=static", "ip=198.18.2.10",
					    "mask=255.255.255.0", "gateway=198.18.2.1" };
	static const char *const b_kv[] = { "name=lab-b", "net=dhcp", "pending=1" };
	time_t t0 = time(NULL);

	mbr_disk(src, 4 * MIB, 2048);
	fill_partition(src, 2048, 3 * MIB, 7);
	/* Boot-loader bytes in the gap, short of the area: they must travel. */
	fill_partition(src, 1, 60 * 1024, 8);
	CHECK(set_all(&isd, a_kv, sizeof(a_kv) / sizeof(a_kv[0])) == 0 &&
	      img_isd_write(src, &isd, &e) == 0, "source isd: %s", e.msg);
	uint8_t src_area[IMG_ISD_SIZE];
	get(src, src_area, sizeof(src_area), IMG_ISD_OFFSET);
	if (make(src, image)) {
		CHECK(0, "capture failed");
		return;
	}
	uint8_t after[IMG_ISD_SIZE];
	get(src, after, sizeof(after), IMG_ISD_OFFSET);
	CHECK(!memcmp(src_area, after, sizeof(after)), "capture changed the source's area");

	/* Restore without a name onto a blank disk: the area stays zero, so
	 * the image did not carry lab-a's record. */
	blank(none, 4 * MIB);
	CHECK(restore(image, none, NULL, 0, NULL, &m) == 0, "restore onto blank, no name");
	CHECK(area_is(none, 0), "the image carried the source's image-safe data");
	CHECK(same_range(src, none, 512, 60 * 1024), "boot-loader bytes in the gap lost");
	CHECK(same_range(src, none, 2048 * 512, 3 * MIB), "partition data differs");
	CHECK(img_isd_read(none, &r, &e) == 0, "blank target has a record: %s", r.name);

	/* With a name onto a blank disk: a fresh record with only the image. */
	blank(fresh, 4 * MIB);
	CHECK(restore(image, fresh, NULL, 0, "lab.img", &m) == 0, "restore onto blank");
	CHECK(img_isd_read(fresh, &r, &e) == 1 && !r.name[0] && r.net == IMG_ISD_NET_UNSET &&
	      !strcmp(r.last_image, "lab.img") && r.last_time >= t0 && r.last_time <= time(NULL) + 1,
	      "fresh record: name '%s' image '%s' time %lld (%s)", r.name, r.last_image,
	      (long long)r.last_time, e.msg);

	/* Onto a disk with its own record: it survives the whole restore. */
	mbr_disk(keep, 4 * MIB, 2048);
	memset(&isd, 0, sizeof(isd));
	CHECK(set_all(&isd, b_kv, sizeof(b_kv) / sizeof(b_kv[0])) == 0 &&
	      img_isd_write(keep, &isd, &e) == 0, "target isd: %s", e.msg);
	m.warns = 0;
	CHECK(restore(image, keep, NULL, 0, "/srv/lab.img", &m) == 0, "restore onto keep");
	CHECK(m.warns == 0, "warnings: %d (%s)", m.warns, m.last);
	CHECK(img_isd_read(keep, &r, &e) == 1 && !strcmp(r.name, "lab-b") &&
	      r.net == IMG_ISD_NET_DHCP && r.pending == 1 && !strcmp(r.last_image, "/srv/lab.img"),
	      "kept record: name '%s' net %d image '%s' (%s)", r.name, r.net, r.last_image, e.msg);
	CHECK(same_range(src, keep, 2048 * 512, 3 * MIB), "partition data differs after keep");

	/* -ap: the area is left alone but for the last image. */
	struct img_map map = { 1, 1 };
	CHECK(restore(image, keep, &map, 1, "second.img", &m) == 0, "restore -ap");
	CHECK(img_isd_read(keep, &r, &e) == 1 && !strcmp(r.name, "lab-b") &&
	      !strcmp(r.last_image, "second.img"), "-ap record: name '%s' image '%s'",
	      r.name, r.last_image);

	/* An image whose table leaves no room: the target's record cannot be
	 * put back; the restore succeeds with a warning that names it. */
	const char *low = path("low.img"), *lowimg = path("low.imgf");
	mbr_disk(low, 4 * MIB, 63);
	fill_partition(low, 63, 2 * MIB, 9);
	CHECK(make(low, lowimg) == 0, "capture of a sector-63 disk");
	m.warns = 0;
	CHECK(restore(lowimg, keep, NULL, 0, "low.img", &m) == 0, "restore of a sector-63 image");
	CHECK(m.warns == 1 && strstr(m.last, "lab-b") && strstr(m.last, "before 1 MiB"),
	      "warning: %d '%s'", m.warns, m.last);
	CHECK(same_range(low, keep, 63 * 512, 2 * MIB), "sector-63 partition data differs");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_fields();
	test_disk();
	test_gpt();
	test_engine();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
