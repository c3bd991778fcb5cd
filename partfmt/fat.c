/* fat.c - used bytes of FAT12/16/32 from the boot sector and the allocation table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

/* FAT16/32 tables are read in pieces of this size (a multiple of 8). */
#define PF_FAT_CHUNK (1u << 20)

/* Geometry from the boot sector, all checked against the partition. */
struct pf_fat {
	uint32_t bps;           /* bytes per sector */
	uint32_t spc;           /* sectors per cluster */
	uint32_t bits;          /* 12, 16 or 32 */
	uint64_t fat_off;       /* byte offset of the FAT in use */
	uint64_t data_off;      /* byte offset of cluster 2 */
	uint64_t clusters;      /* data clusters, numbered 2..clusters+1 */
	uint64_t cbytes;        /* bytes per cluster */
};

static int pf_is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Parse and check the BIOS parameter block; the cluster count decides the
 * FAT type as in Microsoft's FAT specification.  Returns 0 or -IMG_E_FS. */
static int pf_fat_parse(const struct pf_source *s, const uint8_t *bs,
			struct pf_fat *f, struct img_error *err)
{
	uint32_t bps = img_get16(bs + 11);
	uint32_t spc = bs[13];
	uint32_t rsvd = img_get16(bs + 14);
	uint32_t nfats = bs[16];
	uint32_t root_ents = img_get16(bs + 17);
	uint32_t tot16 = img_get16(bs + 19);
	uint32_t fatsz16 = img_get16(bs + 22);
	uint32_t tot32 = img_get32(bs + 32);
	uint32_t fatsz32 = img_get32(bs + 36);
	uint32_t ext_flags = img_get16(bs + 40);
	uint64_t fatsz, totsec, root_secs, meta, need, active = 0;

	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: bad bytes per sector %u", bps);
	if (!pf_is_pow2(spc) || spc > 128)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: bad sectors per cluster %u", spc);
	if (rsvd == 0)
		return img_err_set(err, -IMG_E_FS, "vfat: no reserved sectors");
	if (nfats < 1 || nfats > 4)
		return img_err_set(err, -IMG_E_FS, "vfat: bad FAT count %u",
				   nfats);
	fatsz = fatsz16 ? fatsz16 : fatsz32;
	totsec = tot16 ? tot16 : tot32;
	if (fatsz == 0 || totsec == 0)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: zero FAT size or sector count");
	if (totsec > s->length / bps)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: %llu sectors do not fit in the partition (%llu bytes)",
				   (unsigned long long)totsec,
				   (unsigned long long)s->length);
	root_secs = ((uint64_t)root_ents * 32 + bps - 1) / bps;
	meta = rsvd + nfats * fatsz + root_secs;
	if (meta >= totsec)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: metadata larger than the volume");

	f->bps = bps;
	f->spc = spc;
	f->clusters = (totsec - meta) / spc;
	if (f->clusters == 0)
		return img_err_set(err, -IMG_E_FS, "vfat: no data clusters");
	/* Microsoft decides the FAT type by cluster count alone, but small
	 * FAT32 volumes with fewer than 65525 clusters exist (mkfs.vfat -F 32
	 * makes them, Linux and UEFI firmware read them): a zero 16-bit FAT
	 * size can only be FAT32, as the Linux driver also decides. */
	if (fatsz16 != 0 && f->clusters < 4085) {
		f->bits = 12;
	} else if (fatsz16 != 0 && f->clusters < 65525) {
		f->bits = 16;
	} else {
		f->bits = 32;
		if (fatsz16 || root_ents || f->clusters > 0x0FFFFFF5)
			return img_err_set(err, -IMG_E_FS,
					   "vfat: inconsistent FAT32 boot sector");
		/* Bit 7: mirroring off, bits 0-3 name the one FAT in use. */
		if (ext_flags & 0x80)
			active = ext_flags & 0x0F;
		if (active >= nfats)
			return img_err_set(err, -IMG_E_FS,
					   "vfat: active FAT %llu of %u",
					   (unsigned long long)active, nfats);
	}
	if (f->bits != 32 && fatsz16 == 0)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: FAT%u without 16-bit FAT size", f->bits);
	need = ((f->clusters + 2) * f->bits + 7) / 8;
	if (need > fatsz * bps)
		return img_err_set(err, -IMG_E_FS,
				   "vfat: FAT too small for %llu clusters",
				   (unsigned long long)f->clusters);
	f->fat_off = ((uint64_t)rsvd + active * fatsz) * bps;
	f->data_off = meta * bps;
	f->cbytes = (uint64_t)spc * bps;
	return 0;
}

/* Run builder over cluster numbers: clusters [run, n) are in use. */
struct pf_fat_runs {
	const struct pf_fat *f;
	struct pf_extents *e;
	uint64_t run;           /* first cluster of the open run, 0 if none */
};

static int pf_fat_close_run(struct pf_fat_runs *w, uint64_t end)
{
	int ret = 0;

	if (w->run) {
		ret = pf_extents_add(w->e, w->f->data_off +
				     (w->run - 2) * w->f->cbytes,
				     (end - w->run) * w->f->cbytes);
		w->run = 0;
	}
	return ret;
}

static int pf_fat_entry(struct pf_fat_runs *w, uint64_t cl, uint32_t v,
			uint32_t bad)
{
	if (v != 0 && v != bad) {
		if (!w->run)
			w->run = cl;
		return 0;
	}
	return pf_fat_close_run(w, cl);
}

/* FAT12 tables are at most 6 KiB for the valid range: read in one go. */
static int pf_fat12_walk(const struct pf_source *s, struct pf_fat_runs *w)
{
	const struct pf_fat *f = w->f;
	uint64_t last = f->clusters + 1;
	size_t n = (size_t)(((last + 1) * 3 + 1) / 2);
	uint8_t *buf = malloc(n + 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	buf[n] = 0;
	ret = pf_read(s, buf, n, f->fat_off);
	for (uint64_t cl = 2; ret == 0 && cl <= last; cl++) {
		size_t o = (size_t)(cl * 3 / 2);
		uint32_t v;

		if (cl & 1)
			v = (buf[o] >> 4) | ((uint32_t)buf[o + 1] << 4);
		else
			v = buf[o] | ((uint32_t)(buf[o + 1] & 0x0F) << 8);
		ret = pf_fat_entry(w, cl, v, 0xFF7);
	}
	if (ret == 0)
		ret = pf_fat_close_run(w, last + 1);
	free(buf);
	return ret;
}

/* FAT16/32: bounded pieces; eight zero bytes outside a run are skipped at
 * once, so empty stretches cost one load per 2 or 4 entries. */
static int pf_fat1632_walk(const struct pf_source *s, struct pf_fat_runs *w)
{
	const struct pf_fat *f = w->f;
	uint32_t esz = f->bits / 8;
	uint32_t mask = f->bits == 32 ? 0x0FFFFFFF : 0xFFFF;
	uint32_t bad = f->bits == 32 ? 0x0FFFFFF7 : 0xFFF7;
	uint64_t total = f->clusters + 2;       /* entries incl. 0 and 1 */
	uint64_t per = PF_FAT_CHUNK / esz;
	uint8_t *buf = malloc(PF_FAT_CHUNK);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t base = 0; ret == 0 && base < total; base += per) {
		uint64_t cnt = total - base < per ? total - base : per;
		uint64_t i = base == 0 ? 2 : 0;

		ret = pf_read(s, buf, (size_t)(cnt * esz),
				  f->fat_off + base * esz);
		while (ret == 0 && i < cnt) {
			const uint8_t *p = buf + i * esz;
			uint32_t v;

			if (!w->run && cnt - i >= 8 / esz) {
				uint64_t q;

				memcpy(&q, p, sizeof(q));
				if (q == 0) {
					i += 8 / esz;
					continue;
				}
			}
			v = esz == 4 ? img_get32(p) : img_get16(p);
			ret = pf_fat_entry(w, base + i, v & mask, bad);
			i++;
		}
	}
	if (ret == 0)
		ret = pf_fat_close_run(w, total);
	free(buf);
	return ret;
}

/* Used = reserved sectors + all FATs + FAT12/16 root directory + every
 * cluster whose entry is neither free nor marked bad.  The dirty bits are
 * not consulted: allocation is recorded in the FAT before data is written,
 * so an unclean FAT still covers all live data. */
static int pf_fat_used(const struct pf_source *s, struct pf_result *r,
		       struct img_error *err)
{
	struct pf_extents e = { 0 };
	struct pf_fat f = { 0 };
	struct pf_fat_runs w = { .f = &f, .e = &e };
	uint8_t bs[512];
	int ret;

	if (s->length < sizeof(bs))
		return img_err_set(err, -IMG_E_FS, "vfat: partition too small");
	ret = pf_read(s, bs, sizeof(bs), 0);
	if (ret < 0)
		return img_err_set(err, ret, "vfat: cannot read boot sector: %s",
				   strerror(-ret));
	ret = pf_fat_parse(s, bs, &f, err);
	if (ret < 0)
		return ret;

	ret = pf_extents_add(&e, 0, f.data_off);
	if (ret == 0)
		ret = f.bits == 12 ? pf_fat12_walk(s, &w) : pf_fat1632_walk(s, &w);
	if (ret < 0) {
		free(e.v);
		return img_err_set(err, ret, "vfat: cannot read FAT: %s",
				   strerror(-ret));
	}
	snprintf(r->fs, sizeof(r->fs), "vfat");
	return pf_result_take(r, &e, (uint32_t)f.cbytes, 0);
}

const struct pf_ops pf_fat_ops = {
	.name = "vfat msdos",
	.used = pf_fat_used,
};
