/* table.c - partition tables: libparted for the layout, raw sectors for the
 * exact bytes (boot code, GUIDs, attributes), GPT backup relocation.
 *
 * libparted tells which table a disk has and which partitions it holds;
 * the sectors themselves are kept verbatim so that a restore reproduces
 * every GUID, name, attribute and the boot code byte for byte.  libparted
 * cannot set partition GUIDs, so on restore the captured sectors are
 * written back and only a GPT's backup copy is rebuilt when the target is
 * larger.
 */
#include <errno.h>
#include <parted/parted.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/bytes.h"
#include "format.h"
#include "gpt.h"
#include "mbr.h"
#include "internal.h"
#include "table.h"


static char parted_msg[256];

/* libparted reports problems through a global handler; keep the text for
 * our error and never let it print or ask. */
static PedExceptionOption parted_quiet(PedException *ex)
{
	snprintf(parted_msg, sizeof(parted_msg), "%s", ex->message);
	return PED_EXCEPTION_CANCEL;
}

static int add_raw(struct img_disk *d, uint64_t off, uint32_t len,
		   const struct img_dev *dev, struct img_error *err)
{
	struct img_rawsect *nr = realloc(d->raw, (d->nraw + 1) * sizeof(*nr));
	if (!nr)
		return img_err_set(err, -ENOMEM, "out of memory");
	d->raw = nr;
	uint8_t *buf = malloc(len);
	if (!buf)
		return img_err_set(err, -ENOMEM, "out of memory");
	int rc = img_dev_read(dev, buf, len, off, err);
	if (rc) {
		free(buf);
		return rc;
	}
	d->raw[d->nraw++] = (struct img_rawsect){ .offset = off, .len = len, .data = buf };
	return 0;
}

static struct img_part *add_part(struct img_layout *l, struct img_error *err)
{
	struct img_part *np = realloc(l->parts, (l->nparts + 1) * sizeof(*np));
	if (!np) {
		img_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	l->parts = np;
	struct img_part *p = &l->parts[l->nparts++];
	memset(p, 0, sizeof(*p));
	return p;
}

void img_table_drop(struct img_layout *l, size_t from)
{
	for (size_t i = from; i < l->nparts; i++)
		free(l->parts[i].ext);
	if (from < l->nparts)
		l->nparts = from;
}

static void guid_str(const uint8_t *g, char *out, size_t cap)
{
	snprintf(out, cap,
		 "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10],
		 g[11], g[12], g[13], g[14], g[15]);
}

/* Capture a GPT disk's sectors: protective MBR, both headers and both
 * entry arrays.  Fills type GUID and attributes of parts [first..]. */
static int gpt_capture(const struct img_dev *dev, struct img_layout *l,
		       size_t di, size_t first, struct img_error *err)
{
	struct img_disk *d = &l->disks[di];
	uint32_t ss = dev->sector;
	uint8_t *sec = malloc(ss);
	struct img_gpt_hdr h, b;
	int rc;
	if (!sec)
		return img_err_set(err, -ENOMEM, "out of memory");
	rc = img_dev_read(dev, sec, ss, ss, err);
	if (rc)
		goto out;
	if (img_gpt_hdr_parse(sec, ss, &h) || h.my_lba != 1 ||
	    h.entries_lba < 2 || h.alt_lba * ss >= dev->size) {
		rc = img_err_set(err, -IMG_E_TABLE,
				 "disk %s: primary GPT header is invalid", dev->path);
		goto out;
	}
	uint32_t elen = img_gpt_entries_len(&h, ss);
	if (elen > IMG_RAWSECT_MAX ||
	    (h.entries_lba + elen / ss) * ss > dev->size) {
		rc = img_err_set(err, -IMG_E_TABLE,
				 "disk %s: GPT entry array is too large", dev->path);
		goto out;
	}
	if ((rc = add_raw(d, 0, ss, dev, err)) ||
	    (rc = add_raw(d, ss, ss, dev, err)) ||
	    (rc = add_raw(d, h.entries_lba * ss, elen, dev, err)))
		goto out;
	/* The backup copy: captured when valid, rebuilt on restore if not. */
	rc = img_dev_read(dev, sec, ss, h.alt_lba * ss, err);
	if (rc)
		goto out;
	if (img_gpt_hdr_parse(sec, ss, &b) == 0 && b.my_lba == h.alt_lba &&
	    b.entries_lba * ss + elen <= dev->size) {
		if ((rc = add_raw(d, b.entries_lba * ss, elen, dev, err)) ||
		    (rc = add_raw(d, h.alt_lba * ss, ss, dev, err)))
			goto out;
	}
	const uint8_t *ents = d->raw[2].data;
	for (size_t i = first; i < l->nparts; i++) {
		struct img_part *p = &l->parts[i];
		if (p->kind != IMG_PK_DATA || p->table_number < 1 ||
		    (uint32_t)p->table_number > h.nentries)
			continue;
		const uint8_t *e = ents + (size_t)(p->table_number - 1) * h.entry_size;
		guid_str(e, p->type, sizeof(p->type));
		p->flags = img_get64(e + 48);
	}
out:
	free(sec);
	return rc;
}

/* Capture an MBR disk's sectors: sector 0 and every EBR of the chain.
 * Fills the type byte and boot flag of parts [first..]. */
static int mbr_capture(const struct img_dev *dev, struct img_layout *l,
		       size_t di, size_t first, struct img_error *err)
{
	struct img_disk *d = &l->disks[di];
	uint32_t ss = dev->sector;
	int rc = add_raw(d, 0, ss, dev, err);
	if (rc)
		return rc;
	const uint8_t *m = d->raw[0].data;
	uint8_t types[256] = {0}, boot[256] = {0};
	uint64_t ext_start = 0;
	struct img_mbr_entry e, link;
	for (int i = 0; i < IMG_MBR_ENTRIES; i++) {
		img_mbr_get(m, i, &e);
		types[i + 1] = e.type;
		boot[i + 1] = e.boot == 0x80;
		if (img_mbr_extended(e.type))
			ext_start = e.start;
	}
	/* Follow the EBR chain: each EBR holds one logical partition and a
	 * link to the next EBR, relative to the extended partition start. */
	uint64_t ebr = ext_start;
	for (int n = 5; ebr && n < 256; n++) {
		if (ebr * ss >= dev->size)
			return img_err_set(err, -IMG_E_TABLE,
					   "disk %s: extended boot record %d lies outside the disk",
					   dev->path, n);
		if ((rc = add_raw(d, ebr * ss, ss, dev, err)))
			return rc;
		const uint8_t *s = d->raw[d->nraw - 1].data;
		if (!img_mbr_signed(s))
			return img_err_set(err, -IMG_E_TABLE,
					   "disk %s: extended boot record at sector %llu has no signature",
					   dev->path, (unsigned long long)ebr);
		img_mbr_get(s, 0, &e);
		img_mbr_get(s, 1, &link);
		types[n] = e.type;
		boot[n] = e.boot == 0x80;
		if (!link.start || !img_mbr_extended(link.type))
			break;
		uint64_t nebr = ext_start + link.start;
		if (nebr <= ebr)
			return img_err_set(err, -IMG_E_TABLE,
					   "disk %s: extended boot records loop at sector %llu",
					   dev->path, (unsigned long long)ebr);
		ebr = nebr;
	}
	for (size_t i = first; i < l->nparts; i++) {
		struct img_part *p = &l->parts[i];
		if (p->table_number >= 1 && p->table_number < 256) {
			snprintf(p->type, sizeof(p->type), "0x%02x", types[p->table_number]);
			p->flags = boot[p->table_number];
		}
	}
	return 0;
}

/* Whether sector 0 is the boot sector of an exFAT or NTFS on the whole
 * disk (libparted, which knows neither, reads its signature as an MBR's). */
static int bare_boot_sector(const struct img_dev *dev)
{
	uint8_t s[512];
	struct img_error e;
	if (img_dev_read(dev, s, sizeof(s), 0, &e))
		return 0;
	return !memcmp(s + 3, "EXFAT   ", 8) || !memcmp(s + 3, "NTFS    ", 8);
}

/* Open dev in libparted and read its table, if any, into *disk (NULL for a
 * bare disk); sets d->table and d->model.  *pd and *disk are the caller's
 * to destroy, also on failure. */
static int table_probe(const struct img_dev *dev, struct img_disk *d, PedDevice **pd,
		       PedDisk **disk, struct img_error *err)
{
	ped_exception_set_handler(parted_quiet);
	parted_msg[0] = 0;
	*pd = ped_device_get(dev->path);
	if (!*pd)
		return img_err_set(err, -IMG_E_TABLE, "disk %s: libparted cannot open it: %s",
				   dev->path, parted_msg);
	snprintf(d->model, sizeof(d->model), "%s", (*pd)->model ? (*pd)->model : "");
	const PedDiskType *type = ped_disk_probe(*pd);
	if (type && !strcmp(type->name, "msdos") && bare_boot_sector(dev))
		type = NULL;   /* exFAT or NTFS on the bare disk: its 55 AA is no MBR */
	if (type && (!strcmp(type->name, "gpt") || !strcmp(type->name, "msdos"))) {
		*disk = ped_disk_new(*pd);
		if (!*disk)
			return img_err_set(err, -IMG_E_TABLE,
					   "disk %s: cannot read its %s partition table: %s",
					   dev->path, type->name, parted_msg);
		d->table = !strcmp(type->name, "gpt") ? IMG_TABLE_GPT : IMG_TABLE_MSDOS;
	} else if (type && strcmp(type->name, "loop") != 0) {
		/* "loop" is libparted's name for a filesystem on the bare disk. */
		return img_err_set(err, -IMG_E_TABLE,
				   "disk %s: %s partition tables are not supported (only msdos and gpt)",
				   dev->path, type->name);
	}
	return 0;
}

/* Append disk's partitions to l->parts[first..] in table-number order;
 * *lowest is the first partition's start, *maxno the highest number. */
static int table_parts(PedDisk *disk, struct img_layout *l, size_t di, size_t first,
		       int base, uint64_t *lowest, int *maxno, struct img_error *err)
{
	const struct img_disk *d = &l->disks[di];
	uint64_t ls = (uint64_t)disk->dev->sector_size;
	for (PedPartition *pp = ped_disk_next_partition(disk, NULL); pp;
	     pp = ped_disk_next_partition(disk, pp)) {
		if (pp->num < 1 || (pp->type & (PED_PARTITION_FREESPACE |
						PED_PARTITION_METADATA)))
			continue;
		struct img_part *p = add_part(l, err);
		if (!p)
			return -ENOMEM;
		p->table_number = pp->num;
		p->number = base + pp->num;
		p->disk = (int)di;
		p->start = (uint64_t)pp->geom.start * ls;
		p->length = (uint64_t)pp->geom.length * ls;
		p->kind = (pp->type & PED_PARTITION_EXTENDED) ? IMG_PK_EXTENDED
							      : IMG_PK_DATA;
		if (p->kind == IMG_PK_EXTENDED) {
			/* Only its EBRs matter, and they are table sectors. */
			p->capture = IMG_CAP_NONE;
		}
		if (d->table == IMG_TABLE_GPT) {
			const char *nm = ped_partition_get_name(pp);
			snprintf(p->name, sizeof(p->name), "%s", nm ? nm : "");
		}
		if (p->start < *lowest)
			*lowest = p->start;
		if (pp->num > *maxno)
			*maxno = pp->num;
	}
	for (size_t i = first + 1; i < l->nparts; i++)
		for (size_t j = i; j > first &&
		     l->parts[j - 1].table_number > l->parts[j].table_number; j--) {
			struct img_part t = l->parts[j];
			l->parts[j] = l->parts[j - 1];
			l->parts[j - 1] = t;
		}
	return 0;
}

/* The boot area: after the table sectors at the front, up to the first
 * partition (GRUB's core image, other boot loaders' stages), placed before
 * the partitions so that areas go in disk order. */
static int table_bootarea(const struct img_dev *dev, struct img_layout *l, size_t di,
			  size_t first, uint64_t lowest, struct img_error *err)
{
	const struct img_disk *d = &l->disks[di];
	uint64_t from = d->raw[0].len;
	if (d->table == IMG_TABLE_GPT)
		from = d->raw[2].offset + d->raw[2].len;
	if (lowest <= from || lowest == dev->size)
		return 0;
	struct img_part *p = add_part(l, err);
	if (!p)
		return -ENOMEM;
	p->kind = IMG_PK_BOOTAREA;
	p->disk = (int)di;
	p->start = from;
	p->length = lowest - from;
	snprintf(p->fs, sizeof(p->fs), "bootarea");
	p->capture = IMG_CAP_RAW;
	struct img_part ba = *p;
	memmove(&l->parts[first + 1], &l->parts[first],
		(l->nparts - 1 - first) * sizeof(*p));
	l->parts[first] = ba;
	return 0;
}

int img_table_scan(const struct img_dev *dev, struct img_layout *l, size_t di,
		   int *number, struct img_error *err)
{
	struct img_disk *d = &l->disks[di];
	PedDevice *pd = NULL;
	PedDisk *disk = NULL;
	size_t first = l->nparts;
	int rc = 0, base = *number, maxno = 0;

	snprintf(d->path, sizeof(d->path), "%s", dev->path);
	d->size = dev->size;
	d->sector = dev->sector;
	d->table = IMG_TABLE_NONE;
	if ((rc = table_probe(dev, d, &pd, &disk, err)))
		goto out;
	if (disk) {
		uint64_t lowest = dev->size;
		uint64_t ls = (uint64_t)pd->sector_size;
		if ((rc = table_parts(disk, l, di, first, base, &lowest, &maxno, err)))
			goto out;
		if (ls != dev->sector) {
			rc = img_err_set(err, -IMG_E_TABLE,
					 "disk %s: libparted sees %llu-byte sectors, the disk has %u",
					 dev->path, (unsigned long long)ls, dev->sector);
			goto out;
		}
		rc = d->table == IMG_TABLE_GPT ? gpt_capture(dev, l, di, first, err)
					       : mbr_capture(dev, l, di, first, err);
		if (!rc)
			rc = table_bootarea(dev, l, di, first, lowest, err);
		if (rc)
			goto out;
	} else {
		/* No table: the whole disk is one area (a superfloppy filesystem
		 * or raw data). */
		struct img_part *p = add_part(l, err);
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		p->table_number = 1;
		p->number = base + 1;
		p->disk = (int)di;
		p->start = 0;
		p->length = dev->size;
		p->kind = IMG_PK_DATA;
		maxno = 1;
	}
	*number = base + maxno;
out:
	if (disk)
		ped_disk_destroy(disk);
	if (pd)
		ped_device_destroy(pd);
	if (rc)
		img_table_drop(l, first);
	return rc;
}

/* ---- restore --------------------------------------------------------- */

static uint64_t disk_need(const struct img_disk *d, const struct img_layout *l,
			  size_t di)
{
	uint64_t need = 0;
	for (size_t i = 0; i < l->nparts; i++) {
		const struct img_part *p = &l->parts[i];
		if ((size_t)p->disk == di && p->start + p->length > need)
			need = p->start + p->length;
	}
	if (d->table == IMG_TABLE_GPT && d->nraw >= 3)
		need += d->raw[2].len + d->sector; /* backup entries + header */
	for (size_t k = 0; d->table != IMG_TABLE_GPT && k < d->nraw; k++)
		if (d->raw[k].offset + d->raw[k].len > need)
			need = d->raw[k].offset + d->raw[k].len;
	return need;
}

int img_table_check(const struct img_disk *d, const struct img_layout *l,
		    size_t di, const struct img_dev *dev, struct img_error *err)
{
	if (d->sector != dev->sector)
		return img_err_set(err, -IMG_E_SECTOR,
				   "image disk %zu has %u-byte sectors but %s has %u-byte sectors; restore onto a disk with %u-byte sectors",
				   di + 1, d->sector, dev->path, dev->sector, d->sector);
	uint64_t need = disk_need(d, l, di);
	if (dev->size < need)
		return img_err_set(err, -IMG_E_TOOSMALL,
				   "image disk %zu needs %llu bytes but %s has only %llu; use a larger disk or restore single partitions with -ap",
				   di + 1, (unsigned long long)need, dev->path,
				   (unsigned long long)dev->size);
	if (d->table == IMG_TABLE_GPT && d->nraw < 3)
		return img_err_set(err, -IMG_E_CORRUPT,
				   "image disk %zu: GPT without its table sectors", di + 1);
	return 0;
}

static void gpt_fix_crc(uint8_t *hdr, uint32_t size)
{
	img_le32(hdr + 16, 0);
	img_le32(hdr + 16, (uint32_t)crc32(0, hdr, size));
}

/* Rebuild a GPT for a disk of another size: the primary header's backup
 * pointer and last usable LBA, the protective MBR's size, and a backup
 * header and entry array at the new end. */
static int gpt_write_moved(const struct img_disk *d, const struct img_dev *dev,
			   struct img_error *err)
{
	uint32_t ss = d->sector;
	const struct img_rawsect *pmbr = &d->raw[0], *ph = &d->raw[1], *pe = &d->raw[2];
	struct img_gpt_hdr h;
	int rc;
	if (img_gpt_hdr_parse(ph->data, ss, &h))
		return img_err_set(err, -IMG_E_CORRUPT,
				   "image disk: its primary GPT header is invalid");
	uint64_t last = dev->size / ss - 1;
	uint64_t esec = pe->len / ss;
	uint8_t *mbr = malloc(ss), *hdr = malloc(ss), *bak = malloc(ss);
	if (!mbr || !hdr || !bak) {
		rc = img_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(mbr, pmbr->data, ss);
	img_mbr_cover(mbr, last);
	memcpy(hdr, ph->data, ss);
	img_le64(hdr + 32, last);
	img_le64(hdr + 48, last - esec - 1);
	gpt_fix_crc(hdr, h.size);
	memcpy(bak, hdr, ss);
	img_le64(bak + 24, last);
	img_le64(bak + 32, 1);
	img_le64(bak + 72, last - esec);
	gpt_fix_crc(bak, h.size);
	if ((rc = img_dev_write(dev, mbr, ss, 0, err)) ||
	    (rc = img_dev_write(dev, hdr, ss, ss, err)) ||
	    (rc = img_dev_write(dev, pe->data, pe->len, pe->offset, err)) ||
	    (rc = img_dev_write(dev, pe->data, pe->len, (last - esec) * ss, err)) ||
	    (rc = img_dev_write(dev, bak, ss, last * ss, err)))
		goto out;
out:
	free(mbr);
	free(hdr);
	free(bak);
	return rc;
}

int img_table_write(const struct img_disk *d, const struct img_dev *dev,
		    struct img_error *err)
{
	if (d->table == IMG_TABLE_GPT && (dev->size != d->size || d->nraw < 5))
		return gpt_write_moved(d, dev, err);
	for (size_t k = 0; k < d->nraw; k++) {
		int rc = img_dev_write(dev, d->raw[k].data, d->raw[k].len,
				       d->raw[k].offset, err);
		if (rc)
			return rc;
	}
	return 0;
}
