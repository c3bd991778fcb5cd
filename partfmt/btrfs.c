/* btrfs.c - btrfs on one device: the first MiB (boot area and primary
 * superblock), the superblock mirrors inside the partition, and every
 * range the extent tree records as allocated (data extents and tree
 * blocks), each mapped through the chunk tree to every copy it has on the
 * device (single, DUP, RAID1/1C3/1C4 profiles).
 *
 * The layout read here, little-endian throughout: the superblock at
 * 64 KiB holds the system chunks (sys_chunk_array) that map the chunk
 * tree; the chunk tree maps every logical range to device offsets; the
 * root tree names the extent tree; the extent tree's EXTENT_ITEM and
 * METADATA_ITEM keys are the allocated ranges.  Refused, so that pf_scan
 * captures the partition raw with the reason: several devices, a striped
 * or parity profile, a log tree (writes fsync'd but not committed), or
 * any structure that does not check out. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define BTRFS_SB_OFF 0x10000ull
#define BTRFS_SB_LEN 4096u
#define BTRFS_MAGIC "_BHRfS_M"
#define BTRFS_HDR 101u           /* tree block header */
#define BTRFS_KEY 17u
#define BTRFS_ITEM 25u           /* key, data offset, data size */
#define BTRFS_PTR 33u            /* key, block pointer, generation */
#define BTRFS_MAX_LEVEL 8
#define BTRFS_CHUNK_ITEM 228
#define BTRFS_ROOT_ITEM 132
#define BTRFS_EXTENT_ITEM 168
#define BTRFS_METADATA_ITEM 169
#define BTRFS_EXTENT_TREE 2ull
#define BTRFS_MAX_STRIPES 4
#define BTRFS_RESERVED (1ull << 20)  /* kept whole: boot area, superblock */
/* Block group profile bits: one copy per stripe is fine, striping or
 * parity is not (one device). */
#define BTRFS_BG_STRIPED (8ull | 64 | 128 | 256)  /* RAID0, RAID10, RAID5, RAID6 */
#define BTRFS_INCOMPAT_METADATA_UUID (1ull << 10)

struct chunk {
	uint64_t logical, len;
	unsigned nstripes;
	uint64_t phys[BTRFS_MAX_STRIPES];
};

struct btrfs {
	const struct pf_source *s;
	uint8_t fsid[16];        /* what tree block headers carry */
	uint32_t nodesize;
	uint64_t total;          /* the device's bytes (dev_item) */
	struct chunk *ch;        /* sorted by logical */
	size_t nch, capch;
	uint64_t budget;         /* tree blocks left to read: ends a hostile DAG */
	struct pf_extents out;   /* allocated device ranges, unsorted */
	uint8_t *blk[BTRFS_MAX_LEVEL + 1];  /* one block buffer per level */
};

/* The array v (n used of *cap elements of size bytes) with room for one
 * more: v itself, or moved; NULL when out of memory (v is still valid). */
static void *grow(void *v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : 64;
	void *nv = nc < *cap || nc > SIZE_MAX / size ? NULL : realloc(v, nc * size);
	if (nv)
		*cap = nc;
	return nv;
}

static int pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

/* Parse one chunk item (at p, n bytes) for logical start into the map. */
static int chunk_add(struct btrfs *b, uint64_t logical, const uint8_t *p, size_t n,
		     struct img_error *err)
{
	if (n < 48)
		return img_err_set(err, -IMG_E_FS, "btrfs: a chunk item is truncated");
	uint64_t len = img_get64(p), type = img_get64(p + 24);
	unsigned ns = img_get16(p + 44);
	if (!len || logical + len < logical || ns < 1 || ns > BTRFS_MAX_STRIPES ||
	    n < 48 + 32ull * ns)
		return img_err_set(err, -IMG_E_FS, "btrfs: chunk at %llu is not valid",
				   (unsigned long long)logical);
	if (type & BTRFS_BG_STRIPED)
		return img_err_set(err, -IMG_E_FS,
				   "btrfs: chunk at %llu is striped or has parity (RAID0/10/5/6); "
				   "captured raw", (unsigned long long)logical);
	for (size_t i = 0; i < b->nch; i++)
		if (b->ch[i].logical == logical)
			return 0;  /* the system chunks come twice */
	struct chunk *nch = grow(b->ch, b->nch, &b->capch, sizeof(*b->ch));
	if (!nch)
		return img_err_set(err, -ENOMEM, "out of memory");
	b->ch = nch;
	size_t at = b->nch;
	while (at && b->ch[at - 1].logical > logical) {
		b->ch[at] = b->ch[at - 1];
		at--;
	}
	struct chunk *c = &b->ch[at];
	c->logical = logical;
	c->len = len;
	c->nstripes = ns;
	for (unsigned i = 0; i < ns; i++) {
		c->phys[i] = img_get64(p + 48 + 32 * i + 8);
		if (c->phys[i] > b->total || len > b->total - c->phys[i])
			return img_err_set(err, -IMG_E_FS, "btrfs: chunk at %llu lies outside the device",
					   (unsigned long long)logical);
	}
	b->nch++;
	return 0;
}

/* The chunk holding logical, or NULL. */
static const struct chunk *chunk_of(const struct btrfs *b, uint64_t logical)
{
	size_t lo = 0, hi = b->nch;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->ch[mid].logical <= logical)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct chunk *c = &b->ch[lo - 1];
	return logical - c->logical < c->len ? c : NULL;
}

/* Record every copy of the logical range [l, l+len) on the device. */
static int btrfs_alloc(struct btrfs *b, uint64_t l, uint64_t len, struct img_error *err)
{
	while (len) {
		const struct chunk *c = chunk_of(b, l);
		if (!c)
			return img_err_set(err, -IMG_E_FS,
					   "btrfs: allocated range at %llu has no chunk",
					   (unsigned long long)l);
		uint64_t in = l - c->logical, k = c->len - in < len ? c->len - in : len;
		for (unsigned i = 0; i < c->nstripes; i++) {
			if (pf_extents_push(&b->out, c->phys[i] + in, k))
				return img_err_set(err, -ENOMEM, "out of memory");
		}
		l += k;
		len -= k;
	}
	return 0;
}

/* Read the tree block at logical l, expected at level lv, into buf. */
static int btrfs_block(struct btrfs *b, uint64_t l, unsigned lv, uint8_t *buf,
		       struct img_error *err)
{
	const struct chunk *c = chunk_of(b, l);
	if (!b->budget--)
		return img_err_set(err, -IMG_E_FS, "btrfs: more tree blocks than the device holds");
	if (!c || c->len - (l - c->logical) < b->nodesize ||
	    pf_read(b->s, buf, b->nodesize, c->phys[0] + (l - c->logical)) < 0)
		return img_err_set(err, -IMG_E_FS, "btrfs: cannot read the tree block at %llu",
				   (unsigned long long)l);
	if (img_get64(buf + 48) != l || memcmp(buf + 32, b->fsid, 16) || buf[100] != lv)
		return img_err_set(err, -IMG_E_FS, "btrfs: the tree block at %llu is not valid",
				   (unsigned long long)l);
	return 0;
}

/* What a walk does with each leaf item: key, its data and size. */
typedef int (*leaf_fn)(struct btrfs *b, const uint8_t *key, const uint8_t *data,
		       uint32_t size, void *ctx, struct img_error *err);

/* Visit every leaf item of the tree rooted at logical l, level lv. */
static int btrfs_walk(struct btrfs *b, uint64_t l, unsigned lv, leaf_fn fn, void *ctx,
		      struct img_error *err)
{
	if (lv > BTRFS_MAX_LEVEL)
		return img_err_set(err, -IMG_E_FS, "btrfs: tree level %u is not valid", lv);
	uint8_t *buf = b->blk[lv];
	int ret = btrfs_block(b, l, lv, buf, err);
	if (ret)
		return ret;
	uint32_t n = img_get32(buf + 96), room = b->nodesize - BTRFS_HDR;
	if (n > room / (lv ? BTRFS_PTR : BTRFS_ITEM))
		return img_err_set(err, -IMG_E_FS, "btrfs: the tree block at %llu lists too many items",
				   (unsigned long long)l);
	for (uint32_t i = 0; !ret && i < n; i++) {
		if (lv) {
			const uint8_t *p = buf + BTRFS_HDR + i * BTRFS_PTR;
			/* children read into the lower levels' buffers */
			ret = btrfs_walk(b, img_get64(p + BTRFS_KEY), lv - 1, fn, ctx, err);
			continue;
		}
		const uint8_t *it = buf + BTRFS_HDR + i * BTRFS_ITEM;
		uint32_t off = img_get32(it + BTRFS_KEY), size = img_get32(it + BTRFS_KEY + 4);
		if (off > room || size > room - off)
			return img_err_set(err, -IMG_E_FS, "btrfs: an item of the leaf at %llu lies outside it",
					   (unsigned long long)l);
		ret = fn(b, it, buf + BTRFS_HDR + off, size, ctx, err);
	}
	return ret;
}

static int on_chunk(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t size,
		    void *ctx, struct img_error *err)
{
	return key[8] == BTRFS_CHUNK_ITEM ? chunk_add(b, img_get64(key + 9), data, size, err) : 0;
}

/* The extent tree's root (bytenr and level) from its ROOT_ITEM. */
static int on_root(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t size,
		   void *ctx, struct img_error *err)
{
	uint64_t *root = ctx;
	if (key[8] != BTRFS_ROOT_ITEM || img_get64(key) != BTRFS_EXTENT_TREE)
		return 0;
	if (size < 239)
		return img_err_set(err, -IMG_E_FS, "btrfs: the extent tree's root item is truncated");
	root[0] = img_get64(data + 176);
	root[1] = data[238];
	return 0;
}

static int on_extent(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t size,
		     void *ctx, struct img_error *err)
{
	uint64_t start = img_get64(key), off = img_get64(key + 9);
	if (key[8] == BTRFS_EXTENT_ITEM)
		return btrfs_alloc(b, start, off, err);
	if (key[8] == BTRFS_METADATA_ITEM)
		return btrfs_alloc(b, start, b->nodesize, err);
	return 0;
}

/* Check the superblock and read its system chunks. */
static int btrfs_super(struct btrfs *b, uint8_t *sb, struct img_error *err)
{
	const struct pf_source *s = b->s;
	if (s->length < BTRFS_RESERVED || pf_read(s, sb, BTRFS_SB_LEN, BTRFS_SB_OFF) < 0 ||
	    memcmp(sb + 0x40, BTRFS_MAGIC, 8) || img_get64(sb + 0x30) != BTRFS_SB_OFF)
		return img_err_set(err, -IMG_E_FS, "btrfs: no valid superblock at 64 KiB");
	uint32_t sectorsize = img_get32(sb + 0x90), arr = img_get32(sb + 0xa0);
	b->nodesize = img_get32(sb + 0x94);
	b->total = img_get64(sb + 0xd1);
	if (!pow2_in(sectorsize, 4096, 65536) || !pow2_in(b->nodesize, sectorsize, 65536) ||
	    arr > 2048)
		return img_err_set(err, -IMG_E_FS, "btrfs: sector size %u or node size %u is not valid",
				   sectorsize, b->nodesize);
	if (img_get64(sb + 0x88) != 1)
		return img_err_set(err, -IMG_E_FS,
				   "btrfs: spans %llu devices (one of them cannot be imaged alone); captured raw",
				   (unsigned long long)img_get64(sb + 0x88));
	if (img_get64(sb + 0x60))
		return img_err_set(err, -IMG_E_FS,
				   "btrfs: has a log tree (fsync'd writes not yet committed); "
				   "mount and unmount it to capture its used blocks");
	if (b->total > s->length || b->total < BTRFS_RESERVED)
		return img_err_set(err, -IMG_E_FS,
				   "btrfs: the device (%llu bytes) is larger than its partition",
				   (unsigned long long)b->total);
	memcpy(b->fsid, sb + ((img_get64(sb + 0xbc) & BTRFS_INCOMPAT_METADATA_UUID) ? 0x23b : 0x20), 16);
	for (uint32_t at = 0; at < arr;) {
		const uint8_t *k = sb + 0x32b + at;
		if (arr - at < BTRFS_KEY + 48 || k[8] != BTRFS_CHUNK_ITEM)
			return img_err_set(err, -IMG_E_FS, "btrfs: the superblock's system chunks are not valid");
		uint32_t len = 48 + 32 * img_get16(k + BTRFS_KEY + 44);
		int ret = chunk_add(b, img_get64(k + 9), k + BTRFS_KEY, arr - at - BTRFS_KEY, err);
		if (ret)
			return ret;
		at += BTRFS_KEY + len;
	}
	if (!b->nch)
		return img_err_set(err, -IMG_E_FS, "btrfs: the superblock lists no system chunk");
	return 0;
}

/* The first MiB, the superblock mirrors inside the device, and the
 * allocated ranges, sorted and merged in b->out. */
static int btrfs_extents(struct btrfs *b)
{
	static const uint64_t mirrors[] = { 64ull << 20, 256ull << 30 };
	int ret = pf_extents_push(&b->out, 0, BTRFS_RESERVED);
	for (size_t i = 0; !ret && i < IMG_ARRAY_SIZE(mirrors); i++)
		if (mirrors[i] + BTRFS_SB_LEN <= b->total)
			ret = pf_extents_push(&b->out, mirrors[i], BTRFS_SB_LEN);
	pf_extents_settle(&b->out);
	return ret;
}

static int pf_btrfs_used(const struct pf_source *s, struct pf_result *r,
			 struct img_error *err)
{
	struct btrfs b = { .s = s };
	uint8_t *sb = malloc(BTRFS_SB_LEN);
	uint64_t root[2] = { 0, 0 };
	int ret = sb ? btrfs_super(&b, sb, err) : img_err_set(err, -ENOMEM, "out of memory");

	for (unsigned i = 0; !ret && i <= BTRFS_MAX_LEVEL; i++)
		if (!(b.blk[i] = malloc(b.nodesize)))
			ret = img_err_set(err, -ENOMEM, "out of memory");
	b.budget = b.total / (b.nodesize ? b.nodesize : 1);
	if (!ret)
		ret = btrfs_walk(&b, img_get64(sb + 0x58), sb[0xc7], on_chunk, NULL, err);
	if (!ret)
		ret = btrfs_walk(&b, img_get64(sb + 0x50), sb[0xc6], on_root, root, err);
	if (!ret && !root[0])
		ret = img_err_set(err, -IMG_E_FS, "btrfs: the root tree names no extent tree");
	if (!ret)
		ret = btrfs_walk(&b, root[0], (unsigned)root[1], on_extent, NULL, err);
	if (!ret && (ret = btrfs_extents(&b)) < 0)
		img_err_set(err, ret, "out of memory");
	for (unsigned i = 0; i <= BTRFS_MAX_LEVEL; i++)
		free(b.blk[i]);
	free(b.ch);
	free(sb);
	return pf_result_take(r, &b.out, b.nodesize, ret);
}

const struct pf_ops pf_btrfs_ops = {
	.name = "btrfs",
	.used = pf_btrfs_used,
};
