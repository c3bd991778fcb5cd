/* registry.c - probe a partition with libblkid and run its handler, or fall back to raw. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <blkid.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

/* blkid TYPE -> handler.  Types not listed are captured raw. */
static const struct {
	const char *type;
	const struct pf_ops *ops;
} pf_handlers[] = {
	{ "ext2", &pf_ext_ops },
	{ "ext3", &pf_ext_ops },
	{ "ext4", &pf_ext_ops },
	{ "ntfs", &pf_ntfs_ops },
	{ "vfat", &pf_fat_ops },
	{ "msdos", &pf_fat_ops },
	{ "swap", &pf_swap_ops },
	{ "xfs", &pf_xfs_ops },
	{ "exfat", &pf_exfat_ops },
	{ "btrfs", &pf_btrfs_ops },
	{ "f2fs", &pf_f2fs_ops },
};

/* blkid TYPE -> what a person should be told when it is captured raw:
 * volumes whose used blocks cannot be known (encrypted, members of an
 * array or a cache) and filesystems that have no handler yet.  Never
 * guessed at: these are captured raw whatever they hold. */
static const struct {
	const char *type;
	const char *why;
} pf_foreign[] = {
	{ "crypto_LUKS", "LUKS volume (encrypted; used blocks unknown)" },
	{ "BitLocker", "BitLocker volume (encrypted; used blocks unknown)" },
	{ "linux_raid_member", "Linux RAID (md) member (part of an array; used blocks unknown)" },
	{ "isw_raid_member", "Intel RAID member (part of an array; used blocks unknown)" },
	{ "ddf_raid_member", "DDF RAID member (part of an array; used blocks unknown)" },
	{ "bcache", "bcache device (a cache layer; used blocks unknown)" },
	{ "apfs", "APFS container (no handler; used blocks unknown)" },
	{ "hfsplus", "HFS+ volume (no handler; used blocks unknown)" },
	{ "hfs", "HFS volume (no handler; used blocks unknown)" },
	{ "LVM2_member", "LVM2 physical volume inside a logical volume (not read again)" },
};

/* Whether the sector looks like random bytes (the header of an encrypted
 * volume without a signature, such as VeraCrypt's): no run of zeros and
 * nearly every byte value present.  Only ever used to word a note. */
static int pf_looks_random(const struct pf_source *s)
{
	uint8_t b[512];
	unsigned seen[256] = { 0 }, distinct = 0, zero_run = 0, longest = 0;

	if (pf_read(s, b, sizeof(b), 0) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(b); i++) {
		distinct += !seen[b[i]]++;
		zero_run = b[i] ? 0 : zero_run + 1;
		if (zero_run > longest)
			longest = zero_run;
	}
	return distinct > 200 && longest < 4;
}

/* Copy a blkid value into a fixed field, truncating. */
static void pf_copy_value(blkid_probe pr, const char *name, char *dst,
			  size_t cap)
{
	const char *v = NULL;
	size_t len = 0;

	dst[0] = '\0';
	if (blkid_probe_lookup_value(pr, name, &v, &len) != 0 || !v)
		return;
	/* len counts the terminating NUL when there is one. */
	while (len && v[len - 1] == '\0')
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/* Run libblkid on the partition.  Returns 0 with r->fs (and label, uuid)
 * set, 1 when nothing was found (note says why), or -errno. */
static int pf_probe(const struct pf_source *s, struct pf_result *r,
		    char *note, size_t notecap)
{
	blkid_probe pr;
	int ret;
	/* several segments: libblkid reads the first (the superblocks that
	 * matter lie at the start of a volume) */
	uint64_t len = s->nseg ? s->seg[0].len : s->length;

	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, s->fd, (blkid_loff_t)s->offset,
				   (blkid_loff_t)len) != 0) {
		snprintf(note, notecap, "filesystem probing failed");
		ret = 1;
		goto out;
	}
	blkid_probe_enable_partitions(pr, 0);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL |
					  BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
	ret = blkid_do_safeprobe(pr);
	if (ret == 0) {
		pf_copy_value(pr, "TYPE", r->fs, sizeof(r->fs));
		pf_copy_value(pr, "LABEL", r->label, sizeof(r->label));
		pf_copy_value(pr, "UUID", r->uuid, sizeof(r->uuid));
		if (!r->fs[0]) {
			snprintf(note, notecap, "no filesystem found");
			ret = 1;
		}
	} else if (ret == 1) {
		snprintf(note, notecap, "no filesystem found");
	} else if (ret == -2) {
		snprintf(note, notecap,
			 "several filesystem signatures found, refusing to guess");
		ret = 1;
	} else {
		snprintf(note, notecap, "filesystem probing failed");
		ret = 1;
	}
out:
	blkid_free_probe(pr);
	return ret;
}

/* Check a handler's output against the contract in pf.h and sum it.
 * Returns 0 or -1 when the list is not sorted, disjoint, merged and in
 * range. */
static int pf_check_extents(const struct pf_source *s, struct pf_result *r)
{
	uint64_t end = 0, used = 0;

	if (r->next && !r->ext)
		return -1;
	for (size_t i = 0; i < r->next; i++) {
		const struct img_extent *x = &r->ext[i];

		if (x->len == 0 || x->start > s->length ||
		    x->len > s->length - x->start)
			return -1;
		if (i && x->start <= end)
			return -1;
		end = x->start + x->len;
		used += x->len;
	}
	r->used = used;
	return 0;
}

/* Replace r's extents by the whole partition. */
static int pf_make_raw(const struct pf_source *s, struct pf_result *r)
{
	free(r->ext);
	r->ext = NULL;
	r->next = 0;
	r->used = 0;
	r->unit = s->sector;
	if (s->length == 0)
		return 0;
	r->ext = malloc(sizeof(*r->ext));
	if (!r->ext)
		return -ENOMEM;
	r->ext[0].start = 0;
	r->ext[0].len = s->length;
	r->next = 1;
	r->used = s->length;
	return 0;
}

/* Whether the partition can be read at all: raw capture is pointless
 * otherwise.  Returns 0 or -errno. */
static int pf_check_readable(const struct pf_source *s)
{
	char buf[512];
	size_t n = s->length < sizeof(buf) ? (size_t)s->length : sizeof(buf);
	ssize_t got;

	if (n == 0)
		return 0;
	do
		got = pread(s->fd, buf, n, (off_t)s->offset);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if ((size_t)got != n)
		return -EIO;
	return 0;
}

static int pf_scan_in(const struct pf_source *s, struct pf_result *r, int *raw,
		      char *note, size_t notecap, struct img_error *err, int lvm);

/* The scan of a logical volume: anything but LVM2 again. */
static int pf_scan_lv(const struct pf_source *s, struct pf_result *r, int *raw,
		      char *note, size_t notecap, struct img_error *err)
{
	return pf_scan_in(s, r, raw, note, notecap, err, 0);
}

int pf_scan(const struct pf_source *s, struct pf_result *r, int *raw,
	    char *note, size_t notecap, struct img_error *err)
{
	return pf_scan_in(s, r, raw, note, notecap, err, 1);
}

/* Run what maps the filesystem blkid found in r->fs: its handler, or the
 * LVM2 reader (when lvm).  0 with r's extents checked, or 1 (raw) with
 * the reason in note. */
static int pf_dispatch(const struct pf_source *s, struct pf_result *r, char *note,
		       size_t notecap, int lvm)
{
	const struct pf_ops *ops = NULL;
	struct img_error herr = { 0 };
	int ret;

	for (size_t i = 0; i < IMG_ARRAY_SIZE(pf_handlers) && !ops; i++)
		if (strcmp(r->fs, pf_handlers[i].type) == 0)
			ops = pf_handlers[i].ops;
	if (!ops && !(lvm && !strcmp(r->fs, "LVM2_member"))) {
		snprintf(note, notecap, "filesystem '%s' has no handler", r->fs);
		for (size_t i = 0; i < IMG_ARRAY_SIZE(pf_foreign); i++)
			if (!strcmp(r->fs, pf_foreign[i].type))
				snprintf(note, notecap, "%s", pf_foreign[i].why);
		return 1;
	}
	ret = ops ? ops->used(s, r, &herr) : pf_lvm_used(s, r, pf_scan_lv, note, notecap, &herr);
	if (ret < 0) {
		if (herr.msg[0])
			snprintf(note, notecap, "%s", herr.msg);
		else
			snprintf(note, notecap, "%s: %s", r->fs, img_strerror(ret));
		r->ext = NULL;
		r->next = 0;
		return 1;
	}
	if (pf_check_extents(s, r) < 0) {
		free(r->ext);
		r->ext = NULL;
		r->next = 0;
		snprintf(note, notecap, "%s: handler returned a bad block list", r->fs);
		return 1;
	}
	return 0;
}

static int pf_scan_in(const struct pf_source *s, struct pf_result *r, int *raw,
		      char *note, size_t notecap, struct img_error *err, int lvm)
{
	char dummy[1];
	int ret;

	if (!note || notecap == 0) {
		note = dummy;
		notecap = sizeof(dummy);
	}
	note[0] = '\0';
	memset(r, 0, sizeof(*r));
	*raw = 0;
	if (!s || s->fd < 0 || s->sector == 0 ||
	    s->offset + s->length < s->offset)
		return img_err_set(err, -IMG_E_USAGE, "bad partition source");

	ret = pf_check_readable(s);
	if (ret < 0)
		return img_err_set(err, ret, "%s: cannot read partition at %llu: %s",
				   s->path ? s->path : "disk",
				   (unsigned long long)s->offset, strerror(-ret));

	/* blkid reads a length of 0 as "up to the end of the device". */
	if (s->length == 0) {
		snprintf(note, notecap, "empty partition");
		goto raw;
	}
	ret = pf_probe(s, r, note, notecap);
	if (ret < 0)
		return img_err_set(err, ret, "filesystem probing: %s",
				   strerror(-ret));
	if (ret > 0) {
		if (!strcmp(note, "no filesystem found") && pf_looks_random(s))
			snprintf(note, notecap, "no filesystem signature, and the first sector "
				 "looks random (an encrypted volume such as VeraCrypt?; "
				 "used blocks unknown)");
		goto raw;
	}

	if (pf_dispatch(s, r, note, notecap, lvm) == 0)
		return 0;

raw:
	if (!r->fs[0])
		snprintf(r->fs, sizeof(r->fs), "raw");
	*raw = 1;
	ret = pf_make_raw(s, r);
	if (ret < 0)
		return img_err_set(err, ret, "out of memory");
	return 0;
}
