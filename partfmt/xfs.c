/* xfs.c - XFS, v4 and v5 (CRC): every block except the free extents that
 * each allocation group's by-block free-space B+tree (the AGF's bno tree)
 * lists.  Superblocks, AG headers, the free lists, inodes, directories,
 * data and the internal log are kept.
 *
 * XFS stores every field big-endian.  The layout read here: the primary
 * superblock at byte 0; allocation group N starts at block N * agblocks
 * and holds its superblock copy in sector 0 and the AGF in sector 1; the
 * bno tree's blocks are AG-relative.  A filesystem whose log does not end
 * in an unmount record (mounted, or crashed) is refused, as is one with
 * an external log or a realtime section: pf_scan then captures it raw
 * with the reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define XFS_SB_MAGIC 0x58465342u   /* "XFSB" */
#define XFS_AGF_MAGIC 0x58414746u  /* "XAGF" */
#define XFS_ABTB_MAGIC 0x41425442u /* "ABTB": bno tree block, v4 */
#define XFS_AB3B_MAGIC 0x41423342u /* "AB3B": bno tree block, v5 */
#define XFS_NULLAGBLOCK 0xffffffffu
#define XFS_BTREE_MAXLEVELS 9
#define XLOG_MAGIC 0xfeedbabeu
#define XLOG_BB 512u               /* the log's basic block */
#define XLOG_HEADER_CYCLE 32768u   /* bytes of record one header block covers */
#define XLOG_UNMOUNT_TRANS 0x20    /* op header flag of the unmount record */
#define XLOG_SEARCH_BBS 1024u      /* how far back a record header may be */

struct xfs_geo {
	uint32_t bs;          /* block size */
	uint64_t dblocks;     /* blocks in the data section */
	uint32_t agblocks, agcount;
	uint32_t sectsize;
	uint8_t agblklog;
	int v5;
	uint64_t logstart;    /* first log block (a filesystem block number) */
	uint32_t logblocks;
};

static int xfs_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Parse and check the primary superblock. */
static int xfs_super(const struct pf_source *s, struct xfs_geo *g,
		     struct img_error *err)
{
	uint8_t sb[512];
	int ret = pf_read(s, sb, sizeof(sb), 0);

	if (ret < 0)
		return img_err_set(err, -IMG_E_FS, "xfs: cannot read the superblock");
	if (img_getbe32(sb) != XFS_SB_MAGIC)
		return img_err_set(err, -IMG_E_FS, "xfs: no superblock magic");
	g->bs = img_getbe32(sb + 4);
	g->dblocks = img_getbe64(sb + 8);
	g->logstart = img_getbe64(sb + 48);
	g->agblocks = img_getbe32(sb + 84);
	g->agcount = img_getbe32(sb + 88);
	g->logblocks = img_getbe32(sb + 96);
	g->sectsize = img_getbe16(sb + 102);
	g->agblklog = sb[124];
	unsigned version = img_getbe16(sb + 100) & 0xf;
	g->v5 = version == 5;
	if (version != 4 && version != 5)
		return img_err_set(err, -IMG_E_FS, "xfs: superblock version %u is not 4 or 5",
				   version);
	if (!xfs_pow2(g->bs) || g->bs < 512 || g->bs > 65536 || !xfs_pow2(g->sectsize) ||
	    g->sectsize < 512 || g->sectsize > g->bs)
		return img_err_set(err, -IMG_E_FS, "xfs: block size %u or sector size %u is not valid",
				   g->bs, g->sectsize);
	if (g->agcount == 0 || g->agblocks < 16 || g->agblklog > 31 ||
	    (1ull << g->agblklog) < g->agblocks || (1ull << g->agblklog) / 2 >= g->agblocks ||
	    g->dblocks > (uint64_t)g->agcount * g->agblocks ||
	    g->dblocks <= (uint64_t)(g->agcount - 1) * g->agblocks)
		return img_err_set(err, -IMG_E_FS, "xfs: allocation group geometry is not valid");
	if (g->dblocks > s->length / g->bs)
		return img_err_set(err, -IMG_E_FS,
				   "xfs: the filesystem (%llu blocks of %u) is larger than its partition",
				   (unsigned long long)g->dblocks, g->bs);
	if (sb[126])
		return img_err_set(err, -IMG_E_FS, "xfs: mkfs did not finish (sb_inprogress)");
	if (img_getbe64(sb + 16))
		return img_err_set(err, -IMG_E_FS,
				   "xfs: has a realtime section (on another device); captured raw");
	if (!g->logstart)
		return img_err_set(err, -IMG_E_FS,
				   "xfs: external log (on another device); its state cannot be checked");
	return 0;
}

/* The byte offset of filesystem block fsb (AG number in the high bits). */
static int xfs_fsb_byte(const struct xfs_geo *g, uint64_t fsb, uint64_t *byte)
{
	uint64_t agno = fsb >> g->agblklog;
	uint64_t agbno = fsb & ((1ull << g->agblklog) - 1);

	if (agno >= g->agcount || agbno >= g->agblocks)
		return -1;
	*byte = (agno * g->agblocks + agbno) * g->bs;
	return 0;
}

/* The cycle number of log basic block i: stamped in the first word of a
 * data block, in h_cycle (the second word) of a record header. */
static int xlog_cycle(const struct pf_source *s, uint64_t log, uint64_t i, uint32_t *c)
{
	uint8_t w[8];

	if (pf_read(s, w, sizeof(w), log + i * XLOG_BB) < 0)
		return -1;
	*c = img_getbe32(w) == XLOG_MAGIC ? img_getbe32(w + 4) : img_getbe32(w);
	return 0;
}

/* The head of the log: the first basic block whose cycle differs from
 * block 0's (the newest cycle starts at block 0), or nbb. */
static int xlog_head(const struct pf_source *s, uint64_t log, uint64_t nbb,
		     uint64_t *head)
{
	uint32_t c0, c;
	uint64_t lo = 0, hi = nbb - 1;

	if (xlog_cycle(s, log, 0, &c0) || xlog_cycle(s, log, hi, &c) || c0 == 0)
		return -1;
	if (c == c0) {
		*head = nbb;
		return 0;
	}
	while (hi - lo > 1) {  /* cycle(lo) == c0, cycle(hi) != c0 */
		uint64_t mid = lo + (hi - lo) / 2;
		if (xlog_cycle(s, log, mid, &c))
			return -1;
		if (c == c0)
			lo = mid;
		else
			hi = mid;
	}
	*head = hi;
	return 0;
}

/* 1 when the last log record before the head is an unmount record (the
 * filesystem was unmounted cleanly), 0 when not, -1 when the log cannot
 * be read. */
static int xlog_clean(const struct pf_source *s, const struct xfs_geo *g)
{
	uint64_t log, head, nbb = (uint64_t)g->logblocks * g->bs / XLOG_BB;
	uint8_t h[XLOG_BB], op[16];

	if (nbb < 2 || xfs_fsb_byte(g, g->logstart, &log) ||
	    log / g->bs + g->logblocks > g->dblocks || xlog_head(s, log, nbb, &head))
		return -1;
	for (uint64_t back = 1; back <= XLOG_SEARCH_BBS && back <= nbb; back++) {
		uint64_t hb = (head + nbb - back) % nbb;
		if (pf_read(s, h, sizeof(h), log + hb * XLOG_BB) < 0)
			return -1;
		if (img_getbe32(h) != XLOG_MAGIC)
			continue;
		uint32_t len = img_getbe32(h + 12), size = img_getbe32(h + 320);
		uint32_t hbbs = 1;
		if (img_getbe32(h + 8) == 2 && size > XLOG_HEADER_CYCLE)
			hbbs = (size + XLOG_HEADER_CYCLE - 1) / XLOG_HEADER_CYCLE;
		if (len > 256u << 10 || hbbs > 8 ||
		    (hb + hbbs + (len + XLOG_BB - 1) / XLOG_BB) % nbb != head % nbb)
			return 0;  /* the newest record does not end at the head */
		if (!len || (int32_t)img_getbe32(h + 40) < 1 ||
		    pf_read(s, op, sizeof(op), log + (hb + hbbs) % nbb * XLOG_BB) < 0)
			return 0;
		return (op[9] & XLOG_UNMOUNT_TRANS) != 0;
	}
	return -1;
}

/* Where a leaf's records go: its AG, and the walk's running state. */
struct xfs_leaf {
	uint32_t agno, len;       /* the AG and its length in blocks */
	uint64_t agbyte;          /* its first byte */
	uint64_t *prev_end, *nfree;
};

/* The n (start, count) records at rec: each inside the AG, after the one
 * before; added to fr as absolute byte ranges. */
static int xfs_leaf_recs(const struct xfs_geo *g, struct xfs_leaf *lf, const uint8_t *rec,
			 uint32_t n, struct pf_extents *fr, struct img_error *err)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t st = img_getbe32(rec + i * 8), cnt = img_getbe32(rec + i * 8 + 4);
		if (!cnt || st < *lf->prev_end || st >= lf->len || cnt > lf->len - st)
			return img_err_set(err, -IMG_E_FS, "xfs: free extent %u+%u of AG %u is not valid",
					   st, cnt, lf->agno);
		*lf->prev_end = (uint64_t)st + cnt;
		*lf->nfree += cnt;
		int ret = pf_extents_add(fr, lf->agbyte + (uint64_t)st * g->bs, (uint64_t)cnt * g->bs);
		if (ret < 0)
			return img_err_set(err, ret, "out of memory");
	}
	return 0;
}

/* Walk one bno tree level by level down its leftmost edge, then along
 * the leaves by their right siblings, adding each free extent (absolute
 * bytes, ascending) to fr. */
static int xfs_ag_free(const struct pf_source *s, const struct xfs_geo *g,
		       uint32_t agno, uint8_t *blk, struct pf_extents *fr,
		       struct img_error *err)
{
	uint64_t agbyte = (uint64_t)agno * g->agblocks * g->bs;
	uint8_t agf[64];
	int ret = pf_read(s, agf, sizeof(agf), agbyte + g->sectsize);

	if (ret < 0)
		return img_err_set(err, -IMG_E_FS, "xfs: cannot read the AGF of AG %u", agno);
	uint64_t want = agno + 1 < g->agcount ? g->agblocks :
			g->dblocks - (uint64_t)agno * g->agblocks;
	uint32_t len = img_getbe32(agf + 12), bno = img_getbe32(agf + 16);
	uint32_t level = img_getbe32(agf + 28), freeblks = img_getbe32(agf + 52);
	if (img_getbe32(agf) != XFS_AGF_MAGIC || img_getbe32(agf + 8) != agno ||
	    len != want || bno == 0 || bno >= len || level < 1 || level > XFS_BTREE_MAXLEVELS)
		return img_err_set(err, -IMG_E_FS, "xfs: the AGF of AG %u is not valid", agno);
	uint32_t magic = g->v5 ? XFS_AB3B_MAGIC : XFS_ABTB_MAGIC;
	uint32_t hdr = g->v5 ? 56 : 16, maxrecs = (g->bs - hdr) / 8, maxptrs = (g->bs - hdr) / 12;
	uint64_t prev_end = 0, nfree = 0, leaves = 0;
	for (uint32_t lv = level; lv-- > 0;) {
		for (;;) {
			if (pf_read(s, blk, g->bs, agbyte + (uint64_t)bno * g->bs) < 0 ||
			    img_getbe32(blk) != magic || img_getbe16(blk + 4) != lv)
				return img_err_set(err, -IMG_E_FS,
						   "xfs: free-space tree block %u of AG %u is not valid",
						   bno, agno);
			uint32_t n = img_getbe16(blk + 6), right = img_getbe32(blk + 12);
			if (lv > 0) {  /* a node: down its first pointer */
				bno = n && n <= maxptrs ? img_getbe32(blk + hdr + maxptrs * 8) : 0;
				if (!bno || bno >= len)
					return img_err_set(err, -IMG_E_FS,
							   "xfs: free-space tree node %u of AG %u is not valid",
							   bno, agno);
				break;
			}
			/* Only a lone root leaf may be empty: each leaf of a chain
			 * must move prev_end on, so a sibling loop ends. */
			if (n > maxrecs || ++leaves > len ||
			    (n == 0 && (level > 1 || right != XFS_NULLAGBLOCK)))
				return img_err_set(err, -IMG_E_FS,
						   "xfs: free-space tree leaf %u of AG %u is not valid",
						   bno, agno);
			struct xfs_leaf lf = { agno, len, agbyte, &prev_end, &nfree };
			if ((ret = xfs_leaf_recs(g, &lf, blk + hdr, n, fr, err)))
				return ret;
			if (right == XFS_NULLAGBLOCK)
				break;
			if (right >= len)
				return img_err_set(err, -IMG_E_FS,
						   "xfs: free-space tree leaf %u of AG %u links outside it",
						   bno, agno);
			bno = right;
		}
	}
	if (nfree != freeblks)
		return img_err_set(err, -IMG_E_FS,
				   "xfs: AG %u: the free-space tree lists %llu free blocks, its AGF %u",
				   agno, (unsigned long long)nfree, freeblks);
	return 0;
}

/* Used = the data section less the free extents. */
static int xfs_complement(const struct pf_extents *fr, uint64_t total,
			  struct pf_extents *used)
{
	uint64_t at = 0;
	int ret;

	for (size_t i = 0; i < fr->n; i++) {
		if ((ret = pf_extents_add(used, at, fr->v[i].start - at)) < 0)
			return ret;
		at = fr->v[i].start + fr->v[i].len;
	}
	return pf_extents_add(used, at, total - at);
}

static int pf_xfs_used(const struct pf_source *s, struct pf_result *r,
		       struct img_error *err)
{
	struct xfs_geo g = { 0 };
	struct pf_extents fr = { 0 }, used = { 0 };
	int ret = xfs_super(s, &g, err);

	if (ret < 0)
		return ret;
	int clean = xlog_clean(s, &g);
	if (clean < 0)
		return img_err_set(err, -IMG_E_FS, "xfs: its log cannot be read");
	if (!clean)
		return img_err_set(err, -IMG_E_FS,
				   "xfs: the log is dirty (mounted, or not cleanly unmounted); "
				   "mount and unmount it, or run xfs_repair, to capture its used blocks");
	uint8_t *blk = malloc(g.bs);
	if (!blk)
		return img_err_set(err, -ENOMEM, "out of memory");
	for (uint32_t ag = 0; !ret && ag < g.agcount; ag++)
		ret = xfs_ag_free(s, &g, ag, blk, &fr, err);
	free(blk);
	if (!ret && (ret = xfs_complement(&fr, g.dblocks * g.bs, &used)) < 0)
		img_err_set(err, ret, "out of memory");
	free(fr.v);
	return pf_result_take(r, &used, g.bs, ret);
}

const struct pf_ops pf_xfs_ops = {
	.name = "xfs",
	.used = pf_xfs_used,
};
