/* isd.c - image-safe data: a workstation's own record outside every
 * partition, kept across restores.
 *
 * The area is the IMG_ISD_SIZE bytes ending at 1 MiB of the first disk of
 * a job, [1044480, 1048576).  Partitioning tools align the first partition
 * to 1 MiB, and boot loaders embedded in the gap (GRUB's core image after
 * the MBR or after the GPT entries) fill it from the front, so its last
 * 4 KiB are the place least likely to be taken.  The area is used only
 * when the table proves it lies outside every partition: an MBR or GPT
 * with every partition at or after 1 MiB and a GPT's primary entry array
 * ending before the area.  It is written only when it holds zeros or a
 * valid record, and nothing outside it is ever written.
 *
 * Record, integers little-endian:
 *   0   8  magic "IMGZISD1"
 *   8   2  version, 1
 *   10  2  flags, 0 (a set bit: a record this code does not know)
 *   12  4  body length, 1 .. IMG_ISD_SIZE - 20
 *   16  4  CRC-32 (zlib) of the body
 *   20  n  body: lines "key=value\n" with the keys of img_isd_set, each
 *          at most once; unknown keys of the form [a-z0-9_]+ are skipped
 *   the rest of the area is zero when written and ignored when read.
 * The bytes come from a disk: a record is valid only when every check
 * passes and every value passes img_isd_set; anything else is "no valid
 * record", never a partly read one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/bytes.h"
#include "disk.h"
#include "gpt.h"
#include "mbr.h"
#include "internal.h"
#include "isd.h"

#define ISD_MAGIC "IMGZISD1"
#define ISD_VERSION 1
#define ISD_HDR_LEN 20
#define ISD_BODY_MAX (IMG_ISD_SIZE - ISD_HDR_LEN)
#define ISD_LINE_MAX 320      /* the longest valid line is lastimage= + 255 */
#define ISD_MIB (1024ULL * 1024)

enum area { AREA_ZERO, AREA_RECORD, AREA_BAD, AREA_OTHER };

static const char *const keys[] = { "name", "net", "ip", "mask", "gateway",
				    "dns", "lastimage", "lasttime", "pending" };

/* ---- fields ----------------------------------------------------------- */

static int alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

static const char *check_name(const char *v)
{
	size_t n = strlen(v);
	if (n > IMG_ISD_NAME_MAX)
		return "a name has at most 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!alnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
			return "a name has only letters, digits, '-', '_' and '.'";
	if (n && (!alnum((unsigned char)v[0]) || !alnum((unsigned char)v[n - 1])))
		return "a name begins and ends with a letter or digit";
	return NULL;
}

/* Dotted IPv4 into canonical text (16 bytes) and a host-order value. */
static const char *parse_ip4(const char *v, char *out, uint32_t *host)
{
	struct in_addr a;
	if (strlen(v) > 15 || inet_pton(AF_INET, v, &a) != 1)
		return "not a dotted IPv4 address (like 198.18.0.10)";
	inet_ntop(AF_INET, &a, out, 16);
	*host = ntohl(a.s_addr);
	return NULL;
}

static const char *parse_unicast(const char *v, char *out)
{
	uint32_t h;
	const char *why = parse_ip4(v, out, &h);
	if (!why && (h == 0 || h >= 0xe0000000u))
		why = "not a unicast address (0.0.0.0, multicast and broadcast are not)";
	return why;
}

static const char *parse_mask(const char *v, char *out)
{
	uint32_t h;
	const char *why = parse_ip4(v, out, &h);
	if (!why && (h == 0 || (~h & (~h + 1)) != 0))
		why = "not a netmask (contiguous ones, like 255.255.255.0)";
	return why;
}

static const char *parse_dns(const char *v, char *out, size_t cap)
{
	char one[16], canon[16];
	size_t n = 0, at = 0;
	out[0] = 0;
	if (!*v)
		return NULL;
	for (const char *p = v;; ) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == 0 || len >= sizeof(one))
			return "dns takes up to 4 IPv4 addresses separated by commas";
		if (++n > IMG_ISD_DNS_MAX)
			return "at most 4 DNS servers";
		memcpy(one, p, len);
		one[len] = 0;
		const char *why = parse_unicast(one, canon);
		if (why)
			return why;
		at += (size_t)snprintf(out + at, cap - at, "%s%s", n > 1 ? "," : "", canon);
		if (!c)
			return NULL;
		p = c + 1;
	}
}

static const char *check_text(const char *v)
{
	if (strlen(v) > IMG_ISD_IMAGE_MAX)
		return "at most 255 bytes";
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "control characters are not allowed";
	return NULL;
}

static const char *parse_time(const char *v, int64_t *out)
{
	char *end;
	if (!*v) {
		*out = 0;
		return NULL;
	}
	for (const char *p = v; *p; p++)
		if (*p < '0' || *p > '9')
			return "a unix time: decimal digits only";
	errno = 0;
	long long t = strtoll(v, &end, 10);
	if (errno || *end)
		return "a unix time: out of range";
	*out = t;
	return NULL;
}

int img_isd_set(struct img_isd *isd, const char *kv, struct img_error *err)
{
	if (!isd || !kv)
		return img_err_set(err, -IMG_E_USAGE, "image-safe data: no record or no KEY=VALUE");
	const char *eq = strchr(kv, '=');
	if (!eq)
		return img_err_set(err, -IMG_E_USAGE,
				   "'%.80s' is not KEY=VALUE (keys: name, net, ip, mask, gateway, dns, lastimage, lasttime, pending)",
				   kv);
	char key[16];
	size_t klen = (size_t)(eq - kv);
	size_t k = IMG_ARRAY_SIZE(keys);
	if (klen && klen < sizeof(key)) {
		for (size_t i = 0; i < klen; i++)
			key[i] = (char)(kv[i] >= 'A' && kv[i] <= 'Z' ? kv[i] | 32 : kv[i]);
		key[klen] = 0;
		for (k = 0; k < IMG_ARRAY_SIZE(keys) && strcmp(key, keys[k]); k++)
			;
	}
	if (k == IMG_ARRAY_SIZE(keys))
		return img_err_set(err, -IMG_E_USAGE,
				   "unknown key '%.*s' (keys: name, net, ip, mask, gateway, dns, lastimage, lasttime, pending)",
				   (int)(klen > 40 ? 40 : klen), kv);
	const char *v = eq + 1, *why = NULL;
	struct img_isd t = *isd;
	switch (k) {
	case 0:
		if (!(why = check_name(v)))
			snprintf(t.name, sizeof(t.name), "%s", v);
		break;
	case 1:
		if (!*v)
			t.net = IMG_ISD_NET_UNSET;
		else if (!strcasecmp(v, "dhcp"))
			t.net = IMG_ISD_NET_DHCP;
		else if (!strcasecmp(v, "static"))
			t.net = IMG_ISD_NET_STATIC;
		else
			why = "net is dhcp or static";
		break;
	case 2:
		t.ip[0] = 0;
		if (*v)
			why = parse_unicast(v, t.ip);
		break;
	case 3:
		t.mask[0] = 0;
		if (*v)
			why = parse_mask(v, t.mask);
		break;
	case 4:
		t.gateway[0] = 0;
		if (*v)
			why = parse_unicast(v, t.gateway);
		break;
	case 5:
		why = parse_dns(v, t.dns, sizeof(t.dns));
		break;
	case 6:
		if (!(why = check_text(v)))
			snprintf(t.last_image, sizeof(t.last_image), "%s", v);
		break;
	case 7:
		why = parse_time(v, &t.last_time);
		break;
	case 8:
		if (!strcmp(v, "0") || !strcmp(v, "1") || !*v)
			t.pending = v[0] == '1';
		else
			why = "pending is 0 or 1";
		break;
	}
	if (why)
		return img_err_set(err, -IMG_E_USAGE, "%s=%.80s: %s", keys[k], v, why);
	*isd = t;
	return 0;
}

/* Checks between fields, for a record written or read. */
static const char *check_record(const struct img_isd *isd)
{
	if (isd->net == IMG_ISD_NET_STATIC && (!isd->ip[0] || !isd->mask[0]))
		return "net=static needs ip and mask";
	return NULL;
}

/* ---- the record --------------------------------------------------------- */

/* Parse a body into *out; on failure why says what is wrong. */
static int parse_body(const uint8_t *b, size_t len, struct img_isd *out,
		      char *why, size_t cap)
{
	unsigned seen = 0;
	size_t i = 0;
	memset(out, 0, sizeof(*out));
	while (i < len) {
		const uint8_t *nl = memchr(b + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (b + i)) : len - i;
		char line[ISD_LINE_MAX];
		if (!nl || ll >= sizeof(line) || memchr(b + i, 0, ll)) {
			snprintf(why, cap, "body line at byte %zu is unterminated, too long or holds a NUL", i);
			return -1;
		}
		memcpy(line, b + i, ll);
		line[ll] = 0;
		i += ll + 1;
		char *eq = strchr(line, '=');
		size_t k = 0, klen = eq ? (size_t)(eq - line) : 0;
		if (!klen) {
			snprintf(why, cap, "body line '%.40s' is not key=value", line);
			return -1;
		}
		for (size_t j = 0; j < klen; j++)
			if (!((line[j] >= 'a' && line[j] <= 'z') ||
			      (line[j] >= '0' && line[j] <= '9') || line[j] == '_')) {
				snprintf(why, cap, "body line '%.40s' has a bad key", line);
				return -1;
			}
		while (k < IMG_ARRAY_SIZE(keys) &&
		       (strlen(keys[k]) != klen || memcmp(keys[k], line, klen)))
			k++;
		if (k == IMG_ARRAY_SIZE(keys))
			continue; /* a later version's field */
		if (seen & (1u << k)) {
			snprintf(why, cap, "key %s appears twice", keys[k]);
			return -1;
		}
		seen |= 1u << k;
		struct img_error e = {0};
		if (img_isd_set(out, line, &e)) {
			snprintf(why, cap, "%.200s", e.msg);
			return -1;
		}
	}
	const char *w = check_record(out);
	if (w) {
		snprintf(why, cap, "%s", w);
		return -1;
	}
	return 0;
}

static int put_line(char *b, size_t *n, const char *key, const char *val)
{
	int k = snprintf(b + *n, ISD_BODY_MAX - *n, "%s=%s\n", key, val);
	if (k < 0 || (size_t)k >= ISD_BODY_MAX - *n)
		return -1;
	*n += (size_t)k;
	return 0;
}

/* The whole area for isd: header, body, zeros.  The body is parsed back,
 * so that nothing is written that a read would not accept. */
static int encode(const struct img_isd *isd, uint8_t *area, struct img_error *err)
{
	static const char *const nets[] = { "", "dhcp", "static" };
	char body[ISD_BODY_MAX], num[24], why[300];
	size_t n = 0;
	struct img_isd back;
	if (!memchr(isd->name, 0, sizeof(isd->name)) || !memchr(isd->ip, 0, sizeof(isd->ip)) ||
	    !memchr(isd->mask, 0, sizeof(isd->mask)) ||
	    !memchr(isd->gateway, 0, sizeof(isd->gateway)) ||
	    !memchr(isd->dns, 0, sizeof(isd->dns)) ||
	    !memchr(isd->last_image, 0, sizeof(isd->last_image)))
		return img_err_set(err, -IMG_E_USAGE, "image-safe data: a text field is not NUL-terminated");
	if ((unsigned)isd->net > IMG_ISD_NET_STATIC || isd->last_time < 0 ||
	    (isd->pending != 0 && isd->pending != 1))
		return img_err_set(err, -IMG_E_USAGE,
				   "image-safe data: net %d, lasttime %lld or pending %d out of range",
				   (int)isd->net, (long long)isd->last_time, isd->pending);
	snprintf(num, sizeof(num), "%lld", (long long)isd->last_time);
	if ((isd->name[0] && put_line(body, &n, "name", isd->name)) ||
	    (isd->net && put_line(body, &n, "net", nets[isd->net])) ||
	    (isd->ip[0] && put_line(body, &n, "ip", isd->ip)) ||
	    (isd->mask[0] && put_line(body, &n, "mask", isd->mask)) ||
	    (isd->gateway[0] && put_line(body, &n, "gateway", isd->gateway)) ||
	    (isd->dns[0] && put_line(body, &n, "dns", isd->dns)) ||
	    (isd->last_image[0] && put_line(body, &n, "lastimage", isd->last_image)) ||
	    (isd->last_time && put_line(body, &n, "lasttime", num)) ||
	    put_line(body, &n, "pending", isd->pending ? "1" : "0"))
		return img_err_set(err, -IMG_E_LIMIT, "image-safe data: the record does not fit %u bytes",
				   IMG_ISD_SIZE);
	if (parse_body((const uint8_t *)body, n, &back, why, sizeof(why)))
		return img_err_set(err, -IMG_E_USAGE, "image-safe data: %s", why);
	memset(area, 0, IMG_ISD_SIZE);
	memcpy(area, ISD_MAGIC, 8);
	img_le16(area + 8, ISD_VERSION);
	img_le16(area + 10, 0);
	img_le32(area + 12, (uint32_t)n);
	img_le32(area + 16, (uint32_t)crc32(0, (const Bytef *)body, (uInt)n));
	memcpy(area + ISD_HDR_LEN, body, n);
	return 0;
}

/* What the IMG_ISD_SIZE bytes of an area hold; *out is the record when
 * AREA_RECORD, else why says what is there. */
static enum area parse_area(const uint8_t *a, struct img_isd *out, char *why,
			    size_t cap)
{
	size_t i = 0;
	while (i < IMG_ISD_SIZE && !a[i])
		i++;
	memset(out, 0, sizeof(*out));
	if (i == IMG_ISD_SIZE) {
		snprintf(why, cap, "the area is all zero");
		return AREA_ZERO;
	}
	if (memcmp(a, ISD_MAGIC, 8)) {
		snprintf(why, cap, "the area holds other data (neither zeros nor a record)");
		return AREA_OTHER;
	}
	uint16_t ver = img_get16(a + 8), flags = img_get16(a + 10);
	uint32_t len = img_get32(a + 12), crc = img_get32(a + 16);
	if (ver != ISD_VERSION || flags) {
		snprintf(why, cap, "the record has version %u, flags 0x%x, which this img does not know",
			 ver, flags);
		return AREA_BAD;
	}
	if (len == 0 || len > ISD_BODY_MAX) {
		snprintf(why, cap, "the record's length %u is out of range (1 to %u): damaged record",
			 len, ISD_BODY_MAX);
		return AREA_BAD;
	}
	if ((uint32_t)crc32(0, a + ISD_HDR_LEN, len) != crc) {
		snprintf(why, cap, "the record fails its CRC-32 check: damaged record");
		return AREA_BAD;
	}
	char w[300];
	if (parse_body(a + ISD_HDR_LEN, len, out, w, sizeof(w))) {
		memset(out, 0, sizeof(*out));
		snprintf(why, cap, "the record is invalid: %s", w);
		return AREA_BAD;
	}
	return AREA_RECORD;
}

/* ---- where: the table must prove the area free ------------------------ */

static int no_room(const struct img_dev *d, struct img_error *err, const char *why)
{
	return img_err_set(err, -IMG_E_TABLE,
			   "disk %s cannot hold image-safe data (bytes %llu to %llu): %s",
			   d->path, IMG_ISD_OFFSET, IMG_ISD_OFFSET + IMG_ISD_SIZE - 1, why);
}

static int gpt_place(const struct img_dev *d, uint8_t *sec, struct img_error *err)
{
	uint32_t ss = d->sector;
	char why[160];
	int rc = img_dev_read(d, sec, ss, ss, err);
	if (rc)
		return rc;
	struct img_gpt_hdr h;
	enum img_gpt_bad bad = img_gpt_hdr_parse(sec, ss, &h);
	if (bad == IMG_GPT_MISSING)
		return no_room(d, err, "its protective MBR announces a GPT, but the primary GPT header is missing");
	if (bad == IMG_GPT_DAMAGED || h.my_lba != 1)
		return no_room(d, err, "the primary GPT header is damaged");
	uint64_t elba = h.entries_lba;
	uint32_t n = h.nentries, esz = h.entry_size, ecrc = h.entries_crc;
	if (bad == IMG_GPT_ENTRIES || elba < 2 || elba > IMG_ISD_OFFSET / ss)
		return no_room(d, err, "the primary GPT header's entry array is invalid or lies beyond 1 MiB");
	uint64_t eoff = elba * ss, elen = (uint64_t)n * esz;
	if (eoff + elen > IMG_ISD_OFFSET) {
		snprintf(why, sizeof(why), "the GPT entry array ends at byte %llu, inside the area",
			 (unsigned long long)(eoff + elen));
		return no_room(d, err, why);
	}
	uint8_t *ents = malloc(elen);
	if (!ents)
		return img_err_set(err, -ENOMEM, "out of memory");
	rc = img_dev_read(d, ents, elen, eoff, err);
	if (!rc && (uint32_t)crc32(0, ents, (uInt)elen) != ecrc)
		rc = no_room(d, err, "the GPT entry array fails its checksum");
	for (uint32_t i = 0; !rc && i < n; i++) {
		const uint8_t *e = ents + (size_t)i * esz;
		static const uint8_t unused[16];
		if (!memcmp(e, unused, 16))
			continue;
		uint64_t first = img_get64(e + 32), last = img_get64(e + 40);
		if (last < first) {
			snprintf(why, sizeof(why), "GPT entry %u ends before it starts", i + 1);
			rc = no_room(d, err, why);
		} else if (first < ISD_MIB / ss) {
			snprintf(why, sizeof(why), "partition %u starts at byte %llu (sector %llu), before 1 MiB",
				 i + 1, (unsigned long long)(first * ss), (unsigned long long)first);
			rc = no_room(d, err, why);
		}
	}
	free(ents);
	return rc;
}

/* A boot sector of a filesystem on the bare disk also ends in 55 AA. */
static int looks_like_fs(const uint8_t *s)
{
	return !memcmp(s + 3, "NTFS    ", 8) || !memcmp(s + 3, "EXFAT   ", 8) ||
	       !memcmp(s + 54, "FAT", 3) || !memcmp(s + 82, "FAT", 3);
}

static int mbr_place(const struct img_dev *d, const uint8_t *s, struct img_error *err)
{
	uint32_t ss = d->sector;
	uint64_t total = d->size / ss;
	char why[160];
	int used = 0;
	if (looks_like_fs(s))
		return no_room(d, err, "no partition table (a filesystem on the whole disk)");
	for (int i = 0; i < IMG_MBR_ENTRIES; i++) {
		struct img_mbr_entry e;
		img_mbr_get(s, i, &e);
		uint64_t start = e.start, len = e.len;
		if (e.type == 0 || len == 0)
			continue;
		if ((e.boot != 0 && e.boot != 0x80) || start + len > total)
			return no_room(d, err, "no partition table (sector 0 is not a valid MBR)");
		if (start * ss < ISD_MIB) {
			snprintf(why, sizeof(why), "partition %d starts at byte %llu (sector %llu), before 1 MiB",
				 i + 1, (unsigned long long)(start * ss), (unsigned long long)start);
			return no_room(d, err, why);
		}
		used++;
	}
	if (!used)
		return no_room(d, err, "no partition table (the MBR lists no partition)");
	return 0;
}

/* 0 when d's table proves the area free, -IMG_E_TABLE with the reason when
 * not, another negative code when d cannot be read. */
static int place(const struct img_dev *d, struct img_error *err)
{
	uint32_t ss = d->sector;
	if (ss < 512 || ss > 4096 || (ss & (ss - 1)))
		return no_room(d, err, "its sector size is not 512 to 4096 bytes");
	if (d->size < ISD_MIB + ss)
		return no_room(d, err, "it is too small");
	uint8_t *s = malloc(ss);
	if (!s)
		return img_err_set(err, -ENOMEM, "out of memory");
	int rc = img_dev_read(d, s, ss, 0, err);
	if (!rc && !img_mbr_signed(s))
		rc = no_room(d, err, "no partition table");
	if (!rc)
		rc = img_mbr_protective(s) ? gpt_place(d, s, err) : mbr_place(d, s, err);
	free(s);
	return rc;
}

/* ---- on an open disk -------------------------------------------------- */

int img_isd_present(const struct img_dev *d)
{
	uint8_t m[8];
	if (d->size < IMG_ISD_OFFSET + IMG_ISD_SIZE ||
	    img_dev_read(d, m, sizeof(m), IMG_ISD_OFFSET, NULL))
		return 0;
	return !memcmp(m, ISD_MAGIC, 8);
}

int img_isd_read_dev(const struct img_dev *d, struct img_isd *out,
		     struct img_error *err)
{
	char why[400];
	memset(out, 0, sizeof(*out));
	int rc = place(d, err);
	if (rc == -IMG_E_TABLE) {
		if (err)
			err->code = 0;
		return 0;
	}
	if (rc)
		return rc;
	uint8_t *a = malloc(IMG_ISD_SIZE);
	if (!a)
		return img_err_set(err, -ENOMEM, "out of memory");
	rc = img_dev_read(d, a, IMG_ISD_SIZE, IMG_ISD_OFFSET, err);
	if (!rc) {
		if (parse_area(a, out, why, sizeof(why)) == AREA_RECORD)
			rc = 1;
		else
			img_err_set(err, 0, "disk %s has no image-safe data: %s", d->path, why);
	}
	free(a);
	return rc;
}

int img_isd_write_dev(const struct img_dev *d, const struct img_isd *isd,
		      struct img_error *err)
{
	struct img_isd cur;
	char why[400];
	uint8_t *a = malloc(IMG_ISD_SIZE), *now = malloc(IMG_ISD_SIZE);
	int rc;
	if (!a || !now) {
		rc = img_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = encode(isd, a, err)) || (rc = place(d, err)) ||
	    (rc = img_dev_read(d, now, IMG_ISD_SIZE, IMG_ISD_OFFSET, err)))
		goto out;
	enum area st = parse_area(now, &cur, why, sizeof(why));
	if (st != AREA_ZERO && st != AREA_RECORD) {
		rc = img_err_set(err, -IMG_E_BUSY,
				 "disk %s: the image-safe data area (bytes %llu to %llu) is not free: %s; nothing was written",
				 d->path, IMG_ISD_OFFSET, IMG_ISD_OFFSET + IMG_ISD_SIZE - 1, why);
		goto out;
	}
	rc = img_dev_write(d, a, IMG_ISD_SIZE, IMG_ISD_OFFSET, err);
out:
	free(a);
	free(now);
	return rc;
}


int img_isd_restore_end(const struct img_dev *d, const struct img_isd *before,
			int found, const char *image_name,
			const struct img_callbacks *cb, struct img_error *err)
{
	struct img_isd rec = {0};
	struct img_error e = {0};
	if (before) {
		if (found > 0)
			rec = *before;
	} else if (image_name) {
		found = img_isd_read_dev(d, &rec, &e);
		if (found < 0) {
			img_say(cb, IMG_WARN, "image-safe data not updated: %s", e.msg);
			return 0;
		}
	}
	if (found <= 0 && !image_name)
		return 0;
	if (image_name) {
		/* Keep the end of a long name: it holds the file name. */
		size_t len = strlen(image_name);
		const char *p = image_name;
		if (len > IMG_ISD_IMAGE_MAX) {
			p += len - IMG_ISD_IMAGE_MAX;
			while ((*p & 0xc0) == 0x80)
				p++;
		}
		snprintf(rec.last_image, sizeof(rec.last_image), "%s", p);
		rec.last_time = (int64_t)time(NULL);
	}
	int rc = img_isd_write_dev(d, &rec, &e);
	if (!rc) {
		img_say(cb, IMG_DEBUG, "image-safe data on %s %s", d->path,
		     found > 0 ? "kept" : "created");
		return 0;
	}
	if (rc != -IMG_E_TABLE && rc != -IMG_E_BUSY && rc != -IMG_E_USAGE) {
		if (err)
			*err = e;
		return rc;
	}
	if (found > 0 && before) {
		char text[IMG_ISD_FORMAT_MAX];
		img_isd_format(&rec, text, sizeof(text));
		for (char *q = text; (q = strchr(q, '\n')); )
			*q = q[1] ? ';' : 0;
		img_say(cb, IMG_WARN, "the workstation's image-safe data could not be put back and is lost (%s): %s",
		     text, e.msg);
	} else {
		img_say(cb, IMG_WARN, "image-safe data not %s: %s",
		     found > 0 ? "updated" : "recorded", e.msg);
	}
	return 0;
}

/* ---- by path ------------------------------------------------------------ */

/* The disk an ISD call works on: disk, or the first fixed disk; *path is a
 * malloc'd copy the caller frees. */
static int pick(const char *disk, char **path, struct img_error *err)
{
	const char *one[1] = { disk };
	const char *const *disks = disk ? one : NULL;
	size_t n = disk ? 1 : 0;
	char **owned = NULL;
	int rc = img_disks_pick(&disks, &n, &owned, err);
	if (rc)
		return rc;
	*path = strdup(disks[0]);
	img_strv_free(owned, n);
	return *path ? 0 : img_err_set(err, -ENOMEM, "out of memory");
}

int img_isd_read(const char *disk, struct img_isd *out, struct img_error *err)
{
	struct img_dev d;
	char *path = NULL;
	if (!out)
		return img_err_set(err, -IMG_E_USAGE, "image-safe data: no record to read into");
	memset(out, 0, sizeof(*out));
	int rc = pick(disk, &path, err);
	if (rc)
		return rc;
	rc = img_dev_open(&d, path, 0, err);
	if (!rc) {
		rc = img_isd_read_dev(&d, out, err);
		img_dev_close(&d);
	}
	free(path);
	return rc;
}

int img_isd_write(const char *disk, const struct img_isd *isd,
		  struct img_error *err)
{
	struct img_dev d;
	char *path = NULL;
	uint8_t area[IMG_ISD_SIZE];
	if (!isd)
		return img_err_set(err, -IMG_E_USAGE, "image-safe data: no record to write");
	int rc = encode(isd, area, err); /* a bad record before any disk error */
	if (rc || (rc = pick(disk, &path, err)))
		return rc;
	rc = img_dev_open(&d, path, 0, err);
	if (rc)
		goto out;
	/* Not O_EXCL (img_dev_open's writable mode): see img.h. */
	int wfd = open(path, O_RDWR | O_CLOEXEC);
	if (wfd < 0) {
		rc = img_err_set(err, -errno, "cannot open disk %s for writing: %s", path,
				 strerror(errno));
	} else {
		struct img_dev w = d;
		w.fd = wfd;
		w.dfd = -1;
		rc = img_isd_write_dev(&w, isd, err);
		if (!rc && fsync(wfd) < 0)
			rc = img_err_set(err, -errno, "cannot flush disk %s: %s", path,
					 strerror(errno));
		if (close(wfd) < 0 && !rc)
			rc = img_err_set(err, -errno, "cannot close disk %s: %s", path,
					 strerror(errno));
	}
	img_dev_close(&d);
out:
	free(path);
	return rc;
}

/* ---- text ----------------------------------------------------------- */

int img_isd_format(const struct img_isd *isd, char *buf, size_t cap)
{
	static const char *const nets[] = { "(none)", "dhcp", "static" };
	char when[96] = "never";
	if (!buf || !cap)
		return -ENOSPC;
	buf[0] = 0;
	if (!isd)
		return -IMG_E_USAGE;
	if (isd->last_time > 0) {
		time_t t = (time_t)isd->last_time;
		struct tm tm;
		char day[48] = "?";
		if (gmtime_r(&t, &tm))
			strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(when, sizeof(when), "%s (%lld)", day, (long long)isd->last_time);
	}
#define TXT(f) (int)sizeof(isd->f), isd->f[0] ? isd->f : "(none)"
	int k = snprintf(buf, cap,
			 "Name: %.*s\nNetwork: %s\nIP address: %.*s\nNetmask: %.*s\n"
			 "Gateway: %.*s\nDNS servers: %.*s\nLast image: %.*s\n"
			 "Last imaged: %s\nPending work: %s\n",
			 TXT(name), nets[(unsigned)isd->net <= 2 ? isd->net : 0], TXT(ip),
			 TXT(mask), TXT(gateway), TXT(dns), TXT(last_image), when,
			 isd->pending ? "yes" : "no");
#undef TXT
	return k < 0 || (size_t)k >= cap ? -ENOSPC : 0;
}
