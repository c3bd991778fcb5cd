/* exfat.c - exFAT: the boot regions (main and backup), the FAT(s), and
 * every cluster the allocation bitmap marks in use.
 *
 * The layout read here, little-endian throughout (Microsoft's exFAT
 * specification): the boot sector at sector 0 gives the FAT's and the
 * cluster heap's offsets in sectors, the cluster count and the root
 * directory's first cluster; cluster N >= 2 lies at the heap offset plus
 * N - 2 clusters.  The root directory (followed through the first FAT)
 * holds the allocation bitmap's entry (type 0x81), one per FAT; bit i of
 * a bitmap is cluster i + 2.  Everything before the cluster heap is kept;
 * a volume marked dirty is refused (pf_scan captures it raw with the
 * reason). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define EXFAT_ENTRY 32
#define EXFAT_BITMAP 0x81        /* allocation bitmap directory entry */
#define EXFAT_EOC 0xffffffffu    /* end of a cluster chain */
#define EXFAT_MAX_BITMAPS 2
#define EXFAT_DIRTY 0x0002       /* VolumeFlags: VolumeDirty */

struct exfat {
	uint32_t ss;             /* bytes per sector */
	uint64_t cs;             /* bytes per cluster */
	uint64_t fat_off;        /* byte offset of the first FAT */
	uint64_t fat_len;        /* bytes of one FAT */
	uint64_t heap;           /* byte offset of cluster 2 */
	uint32_t clusters;       /* ClusterCount */
	uint32_t root;           /* first cluster of the root directory */
};

static int exfat_boot(const struct pf_source *s, struct exfat *x, struct img_error *err)
{
	uint8_t b[512];
	static const uint8_t zero[53];

	if (pf_read(s, b, sizeof(b), 0) < 0)
		return img_err_set(err, -IMG_E_FS, "exfat: cannot read the boot sector");
	if (memcmp(b + 3, "EXFAT   ", 8) || memcmp(b + 11, zero, sizeof(zero)) ||
	    b[510] != 0x55 || b[511] != 0xaa)
		return img_err_set(err, -IMG_E_FS, "exfat: not an exFAT boot sector");
	unsigned bps = b[108], spc = b[109];
	if (bps < 9 || bps > 12 || spc > 25 - bps)
		return img_err_set(err, -IMG_E_FS, "exfat: sector size 2^%u or cluster 2^%u sectors is not valid",
				   bps, spc);
	if (img_get16(b + 106) & EXFAT_DIRTY)
		return img_err_set(err, -IMG_E_FS,
				   "exfat: the volume is marked dirty (not cleanly removed); "
				   "run fsck.exfat to capture its used blocks");
	x->ss = 1u << bps;
	x->cs = (uint64_t)x->ss << spc;
	uint64_t vol = img_get64(b + 72);
	uint32_t fat_off = img_get32(b + 80), fat_len = img_get32(b + 84);
	uint32_t heap = img_get32(b + 88), nfats = b[110];
	x->clusters = img_get32(b + 92);
	x->root = img_get32(b + 96);
	x->fat_off = (uint64_t)fat_off * x->ss;
	x->fat_len = (uint64_t)fat_len * x->ss;
	x->heap = (uint64_t)heap * x->ss;
	if (nfats < 1 || nfats > 2 || fat_off < 24 || !x->clusters || x->clusters > 0xfffffff5u ||
	    (uint64_t)fat_len * x->ss < ((uint64_t)x->clusters + 2) * 4 ||
	    (uint64_t)fat_off + (uint64_t)fat_len * nfats > heap ||
	    (uint64_t)heap + ((uint64_t)x->clusters << spc) > vol ||
	    x->root < 2 || x->root >= x->clusters + 2)
		return img_err_set(err, -IMG_E_FS, "exfat: the boot sector's geometry is not valid");
	if (vol > s->length / x->ss)
		return img_err_set(err, -IMG_E_FS,
				   "exfat: the volume (%llu sectors) is larger than its partition",
				   (unsigned long long)vol);
	return 0;
}

/* The FAT entry of cluster cl (the next cluster of its chain). */
static int exfat_next(const struct pf_source *s, const struct exfat *x, uint32_t cl,
		      uint32_t *next)
{
	uint8_t b[4];
	if (pf_read(s, b, sizeof(b), x->fat_off + (uint64_t)cl * 4) < 0)
		return -1;
	*next = img_get32(b);
	return 0;
}

/* The allocation bitmaps' entries in the root directory: first clusters
 * and lengths.  Returns how many (1 or 2), or a negative code. */
static int exfat_bitmaps(const struct pf_source *s, const struct exfat *x,
			 uint32_t *first, uint64_t *len, struct img_error *err)
{
	uint8_t *c = malloc(x->cs);
	int found = 0, end = 0;
	uint32_t cl = x->root;

	if (!c)
		return img_err_set(err, -ENOMEM, "out of memory");
	/* A chain longer than the volume has a loop. */
	for (uint64_t hops = 0; !end && hops <= x->clusters; hops++) {
		if (cl < 2 || cl >= x->clusters + 2 ||
		    pf_read(s, c, x->cs, x->heap + (uint64_t)(cl - 2) * x->cs) < 0) {
			free(c);
			return img_err_set(err, -IMG_E_FS, "exfat: root directory cluster %u is not valid", cl);
		}
		for (uint64_t at = 0; at < x->cs && !end; at += EXFAT_ENTRY) {
			const uint8_t *e = c + at;
			if (e[0] == 0x00)
				end = 1;
			else if (e[0] == EXFAT_BITMAP && found < EXFAT_MAX_BITMAPS) {
				first[found] = img_get32(e + 20);
				len[found++] = img_get64(e + 24);
			}
		}
		if (!end && exfat_next(s, x, cl, &cl) < 0) {
			free(c);
			return img_err_set(err, -IMG_E_FS, "exfat: cannot read the FAT");
		}
		end |= cl == EXFAT_EOC;
	}
	free(c);
	if (!end)
		return img_err_set(err, -IMG_E_FS, "exfat: the root directory's cluster chain loops");
	if (!found)
		return img_err_set(err, -IMG_E_FS, "exfat: no allocation bitmap in the root directory");
	return found;
}

/* OR the bitmap at cluster first (len bytes, contiguous: exFAT keeps it
 * so) into map. */
static int exfat_read_bitmap(const struct pf_source *s, const struct exfat *x, uint32_t first,
			     uint64_t len, uint8_t *map, struct img_error *err)
{
	uint64_t need = ((uint64_t)x->clusters + 7) / 8;
	if (len < need || first < 2 || first >= x->clusters + 2 ||
	    (uint64_t)(first - 2) * x->cs + need > (uint64_t)x->clusters * x->cs)
		return img_err_set(err, -IMG_E_FS, "exfat: the allocation bitmap entry is not valid");
	uint8_t *b = malloc(need);
	if (!b)
		return img_err_set(err, -ENOMEM, "out of memory");
	int ret = pf_read(s, b, need, x->heap + (uint64_t)(first - 2) * x->cs);
	for (uint64_t i = 0; !ret && i < need; i++)
		map[i] |= b[i];
	free(b);
	return ret < 0 ? img_err_set(err, -IMG_E_FS, "exfat: cannot read the allocation bitmap") : 0;
}

static int exfat_extents(const struct exfat *x, const uint8_t *map, struct pf_extents *e)
{
	int ret = pf_extents_add(e, 0, x->heap);
	for (uint32_t i = 0; !ret && i < x->clusters; i++)
		if (map[i / 8] & (1u << (i % 8)))
			ret = pf_extents_add(e, x->heap + (uint64_t)i * x->cs, x->cs);
	return ret;
}

static int pf_exfat_used(const struct pf_source *s, struct pf_result *r,
			 struct img_error *err)
{
	struct exfat x = { 0 };
	struct pf_extents e = { 0 };
	uint32_t first[EXFAT_MAX_BITMAPS];
	uint64_t len[EXFAT_MAX_BITMAPS];
	uint8_t *map = NULL;
	int ret = exfat_boot(s, &x, err);

	int n = ret ? ret : exfat_bitmaps(s, &x, first, len, err);
	if (n < 0)
		ret = n;
	if (!ret && !(map = calloc(((size_t)x.clusters + 7) / 8, 1)))
		ret = img_err_set(err, -ENOMEM, "out of memory");
	for (int i = 0; !ret && i < n; i++)
		ret = exfat_read_bitmap(s, &x, first[i], len[i], map, err);
	if (!ret && (ret = exfat_extents(&x, map, &e)) < 0)
		img_err_set(err, ret, "out of memory");
	free(map);
	return pf_result_take(r, &e, (uint32_t)x.cs, ret);
}

const struct pf_ops pf_exfat_ops = {
	.name = "exfat",
	.used = pf_exfat_used,
};
