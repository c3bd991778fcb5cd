/* f2fs.c - F2FS: the metadata area (superblocks, checkpoint packs, SIT,
 * NAT, SSA) whole, and in the main area the blocks the segment
 * information table marks valid.
 *
 * The layout read here, little-endian throughout: the superblock at byte
 * 1024 gives the areas' block addresses; of the two checkpoint packs the
 * valid one (CRC, and its last block carrying the same version) with the
 * higher version is current; it says for each SIT block which of its two
 * copies is current, and its cold-data summary holds the SIT journal,
 * whose entries are newer than the SIT blocks.  A SIT entry's bitmap
 * (most significant bit first) marks the valid blocks of one segment.  A
 * filesystem not cleanly unmounted (its writes since the checkpoint would
 * be rolled forward from blocks the SIT does not mark), with an error
 * recorded, on several devices, or with any structure that does not check
 * out is refused: pf_scan then captures it raw with the reason. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define F2FS_MAGIC 0xf2f52010u
#define F2FS_BLK 4096u
#define F2FS_SIT_ENTRY 74u          /* vblocks u16, valid map[64], mtime u64 */
#define F2FS_SIT_PER_BLOCK 55u      /* F2FS_BLK / F2FS_SIT_ENTRY */
#define F2FS_JOURNAL 507u           /* bytes of a summary's journal */
#define F2FS_SUM_ENTRIES 3584u      /* 512 summary entries of 7 bytes */
#define CP_UMOUNT 0x1u
#define CP_COMPACT_SUM 0x4u
#define CP_ERROR 0x8u
#define CP_LARGE_NAT_BITMAP 0x400u

struct f2fs {
	uint32_t blocks_per_seg;
	uint64_t main_blk, sit_blk, cp_blk;
	uint32_t segs_main, segs_sit;
	uint32_t cp_payload;
	uint8_t cp[F2FS_BLK];           /* the current checkpoint block */
	uint64_t cp_start;              /* its pack's first block */
};

/* The superblock at 1024 (its copy at 4096 + 1024 is not needed when it
 * checks out). */
static int f2fs_super(const struct pf_source *s, struct f2fs *f, struct img_error *err)
{
	uint8_t sb[3072];
	if (pf_read(s, sb, sizeof(sb), 1024) < 0 || img_get32(sb) != F2FS_MAGIC)
		return img_err_set(err, -IMG_E_FS, "f2fs: no superblock");
	uint32_t log_sector = img_get32(sb + 8), log_spb = img_get32(sb + 12);
	uint32_t log_block = img_get32(sb + 16), log_bps = img_get32(sb + 20);
	uint64_t block_count = img_get64(sb + 36);
	f->segs_sit = img_get32(sb + 56);
	f->segs_main = img_get32(sb + 68);
	f->cp_blk = img_get32(sb + 76);
	f->sit_blk = img_get32(sb + 80);
	f->main_blk = img_get32(sb + 92);
	f->cp_payload = img_get32(sb + 1664);
	if (log_block != 12 || log_bps != 9 || log_sector < 9 || log_sector > 12 ||
	    log_sector + log_spb != 12)
		return img_err_set(err, -IMG_E_FS, "f2fs: block size 2^%u or segment 2^%u blocks is not supported",
				   log_block, log_bps);
	f->blocks_per_seg = 1u << log_bps;
	if (block_count > s->length / F2FS_BLK)
		return img_err_set(err, -IMG_E_FS,
				   "f2fs: the filesystem (%llu blocks) is larger than its partition",
				   (unsigned long long)block_count);
	if (!f->segs_sit || f->segs_sit % 2 || f->cp_blk < 2 || f->sit_blk <= f->cp_blk ||
	    f->main_blk <= f->sit_blk || f->cp_payload > f->blocks_per_seg ||
	    f->main_blk + (uint64_t)f->segs_main * f->blocks_per_seg > block_count ||
	    (uint64_t)f->segs_sit / 2 * f->blocks_per_seg * F2FS_SIT_PER_BLOCK < f->segs_main)
		return img_err_set(err, -IMG_E_FS, "f2fs: the superblock's layout is not valid");
	if (sb[2201])   /* devs[0].path: a filesystem on several devices */
		return img_err_set(err, -IMG_E_FS, "f2fs: spans several devices; captured raw");
	return 0;
}

/* The checkpoint version of the pack at start when it checks out, else 0. */
static uint64_t f2fs_pack(const struct pf_source *s, uint64_t start, uint8_t *cp)
{
	uint8_t last[F2FS_BLK];
	if (pf_read(s, cp, F2FS_BLK, start * F2FS_BLK) < 0)
		return 0;
	uint32_t csum_at = img_get32(cp + 164), total = img_get32(cp + 136);
	if (csum_at < 192 || csum_at > F2FS_BLK - 4 || total < 2 || total > 512)
		return 0;
	/* f2fs's CRC is crc32_le seeded with its magic, no final inversion */
	uint32_t crc = ~(uint32_t)crc32(~F2FS_MAGIC & 0xffffffffu, cp, csum_at);
	if (crc != img_get32(cp + csum_at) ||
	    pf_read(s, last, F2FS_BLK, (start + total - 1) * F2FS_BLK) < 0 ||
	    img_get64(last) != img_get64(cp))
		return 0;
	return img_get64(cp);
}

/* Pick the current checkpoint and check its flags. */
static int f2fs_checkpoint(const struct pf_source *s, struct f2fs *f, struct img_error *err)
{
	uint8_t other[F2FS_BLK];
	uint64_t v1 = f2fs_pack(s, f->cp_blk, f->cp);
	uint64_t v2 = f2fs_pack(s, f->cp_blk + f->blocks_per_seg, other);
	if (!v1 && !v2)
		return img_err_set(err, -IMG_E_FS, "f2fs: no valid checkpoint");
	f->cp_start = f->cp_blk;
	if (v2 > v1) {
		memcpy(f->cp, other, F2FS_BLK);
		f->cp_start = f->cp_blk + f->blocks_per_seg;
	}
	uint32_t flags = img_get32(f->cp + 132);
	if (flags & CP_ERROR)
		return img_err_set(err, -IMG_E_FS, "f2fs: an error is recorded; run fsck.f2fs");
	if (!(flags & CP_UMOUNT))
		return img_err_set(err, -IMG_E_FS,
				   "f2fs: not cleanly unmounted (writes since the checkpoint "
				   "would be rolled forward); mount and unmount it first");
	return 0;
}

/* Whether the SIT block i is read from its second copy: bit i of the
 * checkpoint's SIT version bitmap, where its flags and payload put it. */
static int f2fs_sit_second(const struct f2fs *f, const uint8_t *cp2, uint32_t i)
{
	uint32_t flags = img_get32(f->cp + 132), bytes = img_get32(f->cp + 156);
	const uint8_t *blk = f->cp;
	uint64_t at = 192;  /* sit_nat_version_bitmap */
	if (flags & CP_LARGE_NAT_BITMAP)
		at += 4 + (uint64_t)img_get32(f->cp + 160);
	else if (f->cp_payload) {
		blk = cp2;
		at = 0;
	}
	at += i / 8;
	if (i / 8 >= bytes || at >= F2FS_BLK)
		return 0;
	return (blk[at] >> (7 - i % 8)) & 1;
}

/* Mark the valid blocks of segment seg from its SIT entry e. */
static int f2fs_segment(const struct f2fs *f, uint32_t seg, const uint8_t *e, struct pf_extents *x)
{
	const uint8_t *map = e + 2;
	uint64_t base = (f->main_blk + (uint64_t)seg * f->blocks_per_seg) * F2FS_BLK;
	for (uint32_t b = 0; b < f->blocks_per_seg; b++)
		if ((map[b / 8] >> (7 - b % 8)) & 1) {
			int ret = pf_extents_add(x, base + (uint64_t)b * F2FS_BLK, F2FS_BLK);
			if (ret)
				return ret;
		}
	return 0;
}

/* The SIT journal's entries (segment number, entry), newest state. */
static int f2fs_journal(const struct pf_source *s, const struct f2fs *f, uint8_t *j,
			struct img_error *err)
{
	uint32_t flags = img_get32(f->cp + 132), start = img_get32(f->cp + 140);
	uint64_t blk = f->cp_start + start + (flags & CP_COMPACT_SUM ? 0 : 2);
	uint8_t b[F2FS_BLK];
	if (start < 1 || start >= img_get32(f->cp + 136) || pf_read(s, b, sizeof(b), blk * F2FS_BLK) < 0)
		return img_err_set(err, -IMG_E_FS, "f2fs: cannot read the SIT journal");
	memcpy(j, b + (flags & CP_COMPACT_SUM ? F2FS_JOURNAL : F2FS_SUM_ENTRIES), F2FS_JOURNAL);
	if (img_get16(j) > (F2FS_JOURNAL - 2) / (4 + F2FS_SIT_ENTRY))
		return img_err_set(err, -IMG_E_FS, "f2fs: the SIT journal is not valid");
	return 0;
}

/* Every main-area segment from its current SIT block, unless the journal
 * holds a newer entry for it. */
static int f2fs_main(const struct pf_source *s, const struct f2fs *f, struct pf_extents *x,
		     struct img_error *err)
{
	uint8_t j[F2FS_JOURNAL], cp2[F2FS_BLK], blk[F2FS_BLK];
	int ret = f2fs_journal(s, f, j, err);
	if (ret)
		return ret;
	if (f->cp_payload && pf_read(s, cp2, sizeof(cp2), (f->cp_start + 1) * F2FS_BLK) < 0)
		return img_err_set(err, -IMG_E_FS, "f2fs: cannot read the SIT bitmap");
	uint32_t nj = img_get16(j), per_copy = f->segs_sit / 2 * f->blocks_per_seg;
	for (uint32_t i = 0; !ret && i * F2FS_SIT_PER_BLOCK < f->segs_main; i++) {
		uint64_t at = f->sit_blk + i + (f2fs_sit_second(f, cp2, i) ? per_copy : 0);
		if (pf_read(s, blk, sizeof(blk), at * F2FS_BLK) < 0)
			return img_err_set(err, -IMG_E_FS, "f2fs: cannot read SIT block %u", i);
		for (uint32_t k = 0; !ret && k < F2FS_SIT_PER_BLOCK; k++) {
			uint32_t seg = i * F2FS_SIT_PER_BLOCK + k;
			const uint8_t *e = blk + k * F2FS_SIT_ENTRY;
			if (seg >= f->segs_main)
				break;
			for (uint32_t n = 0; n < nj; n++)
				if (img_get32(j + 2 + n * (4 + F2FS_SIT_ENTRY)) == seg)
					e = j + 2 + n * (4 + F2FS_SIT_ENTRY) + 4;
			ret = f2fs_segment(f, seg, e, x);
		}
	}
	return ret ? img_err_set(err, ret, "out of memory") : 0;
}

static int pf_f2fs_used(const struct pf_source *s, struct pf_result *r,
			struct img_error *err)
{
	struct f2fs *f = calloc(1, sizeof(*f));
	struct pf_extents x = { 0 };
	int ret = f ? f2fs_super(s, f, err) : img_err_set(err, -ENOMEM, "out of memory");

	if (!ret)
		ret = f2fs_checkpoint(s, f, err);
	if (!ret && pf_extents_add(&x, 0, f->main_blk * F2FS_BLK))
		ret = img_err_set(err, -ENOMEM, "out of memory");
	if (!ret)
		ret = f2fs_main(s, f, &x, err);
	free(f);
	return pf_result_take(r, &x, F2FS_BLK, ret);
}

const struct pf_ops pf_f2fs_ops = {
	.name = "f2fs",
	.used = pf_f2fs_used,
};
