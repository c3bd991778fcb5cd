/* pf.h - filesystem handlers: which bytes of a partition are in use.
 *
 * One handler per filesystem behind one ops table; pf_scan() probes the
 * partition with libblkid, picks the handler and falls back to raw capture
 * (every byte) when the filesystem is unknown, dirty or unreadable.
 * partfmt knows filesystems only: nothing about images or networks.
 * All functions are thread-compatible (no shared state).
 */
#ifndef PF_H
#define PF_H

#include "img.h"

/* One piece of a volume made of several ranges of the fd (an LVM2
 * logical volume of several segments): volume bytes [at, at+len) lie at
 * fd offset off. */
struct pf_seg {
	uint64_t at, off, len;
};

/* A partition to look at: bytes [offset, offset+length) of the open fd,
 * or, when nseg > 0, the volume the segments make (offset is then the
 * first segment's; they cover [0, length) in order). */
struct pf_source {
	int fd;              /* read-only; not closed by partfmt */
	const char *path;    /* disk path, for messages and libraries */
	uint64_t offset;     /* partition start in bytes */
	uint64_t length;     /* partition length in bytes */
	uint32_t sector;     /* logical sector size */
	const struct pf_seg *seg;
	size_t nseg;         /* 0: contiguous */
};

/* What a handler found.  ext is malloc'd and owned by the caller after a
 * successful return (free() it); on error the handler frees what it made. */
struct pf_result {
	char fs[16];          /* handler name, e.g. "ext4", "ntfs", "vfat" */
	char label[64];
	char uuid[48];
	uint32_t unit;        /* filesystem block (cluster) size in bytes */
	struct img_extent *ext; /* sorted, disjoint, merged, within length */
	size_t next;          /* number of extents in ext */
	uint64_t used;        /* sum of ext lengths */
};

struct pf_ops {
	const char *name;     /* blkid TYPE values it handles, e.g. "ext4" */
	/* Fill r->ext with the used byte ranges.  Returns 0, or a negative
	 * code (-IMG_E_FS for dirty or unreadable) with err->msg saying why. */
	int (*used)(const struct pf_source *s, struct pf_result *r,
		    struct img_error *err);
};

/* Probe with libblkid and run the matching handler.  Never fails for a
 * readable partition: on an unknown, dirty or unreadable filesystem it
 * returns raw capture (r->fs "raw" or the detected name, whole range) and
 * puts the reason in note (empty when the handler succeeded).
 * *raw is set to 1 when the result is raw capture.
 * r is overwritten; r->used is the sum of the extents.  Returns 0, or a
 * negative code only when the partition's first sector cannot be read
 * (or on bad arguments / out of memory), with err set.
 * ext handler note: libext2fs opens s->path itself (with offset=), the
 * other handlers and libblkid read through s->fd.  The first call sets
 * process-wide library state once: the com_err hook (silenced) and the
 * libntfs-3g log handler (null), so that the engine never prints. */
int pf_scan(const struct pf_source *s, struct pf_result *r, int *raw,
	    char *note, size_t notecap, struct img_error *err);

/* pf_scan's signature: how the LVM2 reader scans each logical volume
 * without calling the registry that lists it. */
typedef int (*pf_scan_fn)(const struct pf_source *s, struct pf_result *r, int *raw,
			  char *note, size_t notecap, struct img_error *err);

/* Extent list helpers shared by handlers. */
struct pf_extents {
	struct img_extent *v;
	size_t n, cap;
};
/* Append [start, start+len), merging with the last extent when adjacent.
 * Extents must be added in ascending order.  Returns 0 or -ENOMEM.
 * A range overlapping the last extent is merged into it too; a start below
 * the last extent's start returns -EINVAL.  Zero length is a no-op.  The
 * array grows by doubling; on error e is unchanged and still owns v. */
int pf_extents_add(struct pf_extents *e, uint64_t start, uint64_t len);
/* Append [start, start+len) in any order (no merging); pf_extents_settle
 * sorts and merges afterwards.  Returns 0 or -ENOMEM. */
int pf_extents_push(struct pf_extents *e, uint64_t start, uint64_t len);
/* Sort e and merge overlapping and adjacent ranges, in place. */
void pf_extents_settle(struct pf_extents *e);
/* A handler's last step: on ret < 0 free e and return ret; else hand e
 * to r with the unit and return 0. */
int pf_result_take(struct pf_result *r, struct pf_extents *e, uint32_t unit, int ret);

/* Read exactly n bytes at partition offset off (inside the partition),
 * through the segments if any.  Returns 0, -EIO for a short read or a
 * range outside, or -errno.  libext2fs reads a source of several segments
 * through it too (ext.c's I/O manager); libntfs-3g refuses one, libblkid
 * probes its first segment. */
int pf_read(const struct pf_source *s, void *buf, size_t n, uint64_t off);

/* An LVM2 physical volume (lvm.c): the label, metadata areas and each
 * logical volume's used blocks through scan (which must not read LVM2
 * again); note says what each LV was mapped as.  Returns 0 or a negative
 * code with err set (then the PV is captured raw). */
int pf_lvm_used(const struct pf_source *s, struct pf_result *r, pf_scan_fn scan,
		char *note, size_t notecap, struct img_error *err);

/* Handlers, one per file. */
extern const struct pf_ops pf_ext_ops;   /* ext2, ext3, ext4 (libext2fs) */
extern const struct pf_ops pf_ntfs_ops;  /* ntfs (libntfs-3g) */
extern const struct pf_ops pf_fat_ops;   /* vfat: FAT12/16/32 (own FAT walk) */
extern const struct pf_ops pf_swap_ops;  /* swap: header page only */
extern const struct pf_ops pf_btrfs_ops; /* btrfs, one device: the extent tree's allocations */
extern const struct pf_ops pf_exfat_ops;
extern const struct pf_ops pf_f2fs_ops;  /* f2fs: metadata area, SIT-valid main blocks */ /* exfat: boot regions, FATs, bitmap clusters */
extern const struct pf_ops pf_xfs_ops;   /* xfs v4/v5: all but the AGF free extents */

#endif
