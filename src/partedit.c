/* partedit.c - create, delete and mark active partitions (the menu's
 * Partitions screen), through libparted.  Only msdos and GPT tables; the
 * table is written with ped_disk_commit, which also tells the kernel about
 * the change for a block device.  Nothing here formats a partition. */
#include <errno.h>
#include <parted/parted.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static char pe_msg[256];

/* libparted reports through a global handler: keep the text for our error,
 * never let it print or ask. */
static PedExceptionOption pe_quiet(PedException *ex)
{
	snprintf(pe_msg, sizeof(pe_msg), "%s", ex->message);
	return PED_EXCEPTION_CANCEL;
}

struct pe {
	PedDevice *dev;
	PedDisk *disk;
};

static void pe_close(struct pe *p)
{
	if (p->disk)
		ped_disk_destroy(p->disk);
	if (p->dev)
		ped_device_destroy(p->dev);
	p->disk = NULL;
	p->dev = NULL;
}

static int pe_open(struct pe *p, const char *path, struct img_error *err)
{
	memset(p, 0, sizeof(*p));
	if (!path || !*path)
		return img_err_set(err, -IMG_E_USAGE, "no disk named");
	ped_exception_set_handler(pe_quiet);
	pe_msg[0] = 0;
	p->dev = ped_device_get(path);
	if (!p->dev)
		return img_err_set(err, -IMG_E_NOTFOUND, "disk %s: cannot open it: %s", path,
				   pe_msg[0] ? pe_msg : strerror(errno));
	const PedDiskType *t = ped_disk_probe(p->dev);
	if (!t || (strcmp(t->name, "msdos") && strcmp(t->name, "gpt"))) {
		pe_close(p);
		return img_err_set(err, -IMG_E_TABLE,
				   "disk %s: no msdos or gpt partition table to edit", path);
	}
	p->disk = ped_disk_new(p->dev);
	if (!p->disk) {
		pe_close(p);
		return img_err_set(err, -IMG_E_TABLE, "disk %s: cannot read its partition table: %s",
				   path, pe_msg);
	}
	/* MiB alignment, not cylinders: else an msdos disk's last partial
	 * cylinder counts as metadata and its space cannot be used. */
	if (ped_disk_is_flag_available(p->disk, PED_DISK_CYLINDER_ALIGNMENT))
		ped_disk_set_flag(p->disk, PED_DISK_CYLINDER_ALIGNMENT, 0);
	return 0;
}

static int pe_commit(struct pe *p, const char *path, const char *what,
		     struct img_error *err)
{
	pe_msg[0] = 0;
	if (!ped_disk_commit_to_dev(p->disk))
		return img_err_set(err, -EIO, "disk %s: writing the table after %s failed: %s",
				   path, what, pe_msg);
	if (p->dev->type != PED_DEVICE_FILE && !ped_disk_commit_to_os(p->disk))
		return img_err_set(err, -IMG_E_BUSY,
				   "disk %s: %s was written, but the kernel was not told (a partition is in use?): %s",
				   path, what, pe_msg);
	return 0;
}

static PedPartition *pe_find(struct pe *p, const char *path, int number,
			     struct img_error *err)
{
	PedPartition *pp = number > 0 ? ped_disk_get_partition(p->disk, number) : NULL;
	if (!pp)
		img_err_set(err, -IMG_E_NOTFOUND, "disk %s has no partition %d", path, number);
	return pp;
}

int img_part_create(const char *disk, uint64_t size, const char *type, int *number,
		    struct img_error *err)
{
	struct pe p;
	const char *fsname = !type || !strcmp(type, "linux") ? "ext2" :
			     !strcmp(type, "swap") ? "linux-swap" :
			     !strcmp(type, "fat32") ? "fat32" :
			     !strcmp(type, "ntfs") ? "ntfs" : NULL;
	if (!fsname)
		return img_err_set(err, -IMG_E_USAGE,
				   "partition type %s: use linux, swap, fat32 or ntfs", type);
	int rc = pe_open(&p, disk, err);
	if (rc)
		return rc;
	long long ss = p.dev->sector_size;
	PedSector mib = (1024 * 1024) / ss;
	PedSector want = size ? (PedSector)((size + (uint64_t)ss - 1) / (uint64_t)ss) : 0;
	PedSector start = 0, end = -1;
	/* The first free region that holds it, starting on a MiB boundary. */
	for (PedPartition *pp = ped_disk_next_partition(p.disk, NULL); pp;
	     pp = ped_disk_next_partition(p.disk, pp)) {
		if (!(pp->type & PED_PARTITION_FREESPACE) || (pp->type & PED_PARTITION_LOGICAL))
			continue;
		PedSector s = (pp->geom.start + mib - 1) / mib * mib;
		PedSector e = pp->geom.end;
		if (s > e || e - s + 1 < (want ? want : mib))
			continue;
		start = s;
		end = want ? s + want - 1 : e;
		break;
	}
	if (end < 0) {
		char a[32];
		snprintf(a, sizeof(a), "%llu", (unsigned long long)size);
		rc = img_err_set(err, -IMG_E_TOOSMALL,
				 "disk %s: no free region holds a new partition of %s bytes",
				 disk, size ? a : "1 MiB or more");
		goto out;
	}
	pe_msg[0] = 0;
	PedPartition *np = ped_partition_new(p.disk, PED_PARTITION_NORMAL,
					     ped_file_system_type_get(fsname), start, end);
	PedConstraint *c = np ? ped_constraint_exact(&np->geom) : NULL;
	if (!np || !c || !ped_disk_add_partition(p.disk, np, c)) {
		rc = img_err_set(err, -IMG_E_TABLE,
				 "disk %s: cannot add a partition at sectors %lld-%lld: %s", disk,
				 (long long)start, (long long)end,
				 pe_msg[0] ? pe_msg : "the table has no free slot");
		if (c)
			ped_constraint_destroy(c);
		if (np)
			ped_partition_destroy(np);
		goto out;
	}
	ped_constraint_destroy(c);
	if (!strcmp(fsname, "ntfs") && ped_partition_is_flag_available(np, PED_PARTITION_MSFT_DATA))
		ped_partition_set_flag(np, PED_PARTITION_MSFT_DATA, 1);
	if (number)
		*number = np->num;
	char what[64];
	snprintf(what, sizeof(what), "adding partition %d", np->num);
	rc = pe_commit(&p, disk, what, err);
out:
	pe_close(&p);
	return rc;
}

int img_part_delete(const char *disk, int number, struct img_error *err)
{
	struct pe p;
	int rc = pe_open(&p, disk, err);
	if (rc)
		return rc;
	PedPartition *pp = pe_find(&p, disk, number, err);
	if (!pp) {
		rc = -IMG_E_NOTFOUND;
		goto out;
	}
	if (ped_partition_is_busy(pp)) {
		rc = img_err_set(err, -IMG_E_BUSY,
				 "disk %s: partition %d is in use (mounted?); nothing was changed",
				 disk, number);
		goto out;
	}
	pe_msg[0] = 0;
	if (!ped_disk_delete_partition(p.disk, pp)) {
		rc = img_err_set(err, -IMG_E_TABLE, "disk %s: cannot delete partition %d: %s",
				 disk, number, pe_msg);
		goto out;
	}
	char what[64];
	snprintf(what, sizeof(what), "deleting partition %d", number);
	rc = pe_commit(&p, disk, what, err);
out:
	pe_close(&p);
	return rc;
}

int img_part_set_active(const char *disk, int number, struct img_error *err)
{
	struct pe p;
	int rc = pe_open(&p, disk, err);
	if (rc)
		return rc;
	PedPartition *pp = pe_find(&p, disk, number, err);
	if (!pp) {
		rc = -IMG_E_NOTFOUND;
		goto out;
	}
	/* msdos: the boot flag; GPT: the legacy BIOS bootable attribute. */
	PedPartitionFlag f = strcmp(p.disk->type->name, "gpt") ? PED_PARTITION_BOOT
							     : PED_PARTITION_LEGACY_BOOT;
	if (!ped_partition_is_flag_available(pp, f)) {
		rc = img_err_set(err, -IMG_E_USAGE,
				 "disk %s: partition %d cannot be made active (an extended partition?)",
				 disk, number);
		goto out;
	}
	for (PedPartition *q = ped_disk_next_partition(p.disk, NULL); q;
	     q = ped_disk_next_partition(p.disk, q))
		if (q->num > 0 && q != pp && ped_partition_is_flag_available(q, f) &&
		    ped_partition_get_flag(q, f))
			ped_partition_set_flag(q, f, 0);
	pe_msg[0] = 0;
	if (!ped_partition_set_flag(pp, f, 1)) {
		rc = img_err_set(err, -IMG_E_TABLE, "disk %s: cannot make partition %d active: %s",
				 disk, number, pe_msg);
		goto out;
	}
	char what[64];
	snprintf(what, sizeof(what), "making partition %d active", number);
	rc = pe_commit(&p, disk, what, err);
out:
	pe_close(&p);
	return rc;
}
