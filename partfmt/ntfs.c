/* ntfs.c - used clusters of NTFS from $Bitmap (libntfs-3g), plus the backup boot sector. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <linux/fs.h>

/* libntfs-3g headers rely on the system headers above being included. */
#include <ntfs-3g/types.h>
#include <ntfs-3g/bitmap.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/volume.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logfile.h>
#include <ntfs-3g/logging.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

/* $Bitmap is read in pieces of this size (a multiple of 8). */
#define PF_NTFS_CHUNK (1u << 20)

/* The partition as an ntfs-3g device: bytes [off, off+len) of fd, read
 * only.  The fd belongs to the caller and is never closed here. */
struct pf_ntfs_dev {
	int fd;
	uint64_t off, len;
	uint32_t sector;
	int64_t pos;
};

static struct pf_ntfs_dev *pf_ntfs_priv(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int pf_ntfs_open(struct ntfs_device *dev, int flags)
{
	if (NDevOpen(dev)) {
		errno = EBUSY;
		return -1;
	}
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	pf_ntfs_priv(dev)->pos = 0;
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int pf_ntfs_close(struct ntfs_device *dev)
{
	if (!NDevOpen(dev)) {
		errno = EBADF;
		return -1;
	}
	NDevClearOpen(dev);
	return 0;
}

static s64 pf_ntfs_seek(struct ntfs_device *dev, s64 offset, int whence)
{
	struct pf_ntfs_dev *p = pf_ntfs_priv(dev);
	s64 base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = p->pos;
		break;
	case SEEK_END:
		base = (s64)p->len;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (offset < -base || (offset > 0 && base > INT64_MAX - offset)) {
		errno = EINVAL;
		return -1;
	}
	p->pos = base + offset;
	return p->pos;
}

/* Reads past the partition end are short, like on a file. */
static s64 pf_ntfs_pread(struct ntfs_device *dev, void *buf, s64 count,
			 s64 offset)
{
	struct pf_ntfs_dev *p = pf_ntfs_priv(dev);
	uint8_t *b = buf;
	s64 done = 0;

	if (count < 0 || offset < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)offset >= p->len)
		return 0;
	if ((uint64_t)count > p->len - (uint64_t)offset)
		count = (s64)(p->len - (uint64_t)offset);
	while (done < count) {
		ssize_t got = pread(p->fd, b + done, (size_t)(count - done),
				    (off_t)(p->off + (uint64_t)offset +
					    (uint64_t)done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return done ? done : -1;
		if (got == 0)
			break;
		done += got;
	}
	return done;
}

static s64 pf_ntfs_read(struct ntfs_device *dev, void *buf, s64 count)
{
	struct pf_ntfs_dev *p = pf_ntfs_priv(dev);
	s64 got = pf_ntfs_pread(dev, buf, count, p->pos);

	if (got > 0)
		p->pos += got;
	return got;
}

static s64 pf_ntfs_write(struct ntfs_device *dev, const void *buf, s64 count)
{
	(void)dev, (void)buf, (void)count;
	errno = EROFS;
	return -1;
}

static s64 pf_ntfs_pwrite(struct ntfs_device *dev, const void *buf,
			  s64 count, s64 offset)
{
	(void)dev, (void)buf, (void)count, (void)offset;
	errno = EROFS;
	return -1;
}

static int pf_ntfs_sync(struct ntfs_device *dev)
{
	(void)dev;
	return 0;
}

static int pf_ntfs_stat(struct ntfs_device *dev, struct stat *st)
{
	struct pf_ntfs_dev *p = pf_ntfs_priv(dev);

	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0400;
	st->st_size = (off_t)p->len;
	st->st_blksize = 4096;
	return 0;
}

static int pf_ntfs_ioctl(struct ntfs_device *dev, unsigned long request,
			 void *argp)
{
	struct pf_ntfs_dev *p = pf_ntfs_priv(dev);

	switch (request) {
	case BLKGETSIZE64:
		*(uint64_t *)argp = p->len;
		return 0;
	case BLKGETSIZE:
		*(unsigned long *)argp = (unsigned long)(p->len / 512);
		return 0;
	case BLKSSZGET:
		*(int *)argp = (int)p->sector;
		return 0;
	case BLKBSZSET:
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

/* Not const: ntfs_device_alloc() takes a mutable pointer.  Never changed. */
static struct ntfs_device_operations pf_ntfs_devops = {
	.open = pf_ntfs_open,
	.close = pf_ntfs_close,
	.seek = pf_ntfs_seek,
	.read = pf_ntfs_read,
	.write = pf_ntfs_write,
	.pread = pf_ntfs_pread,
	.pwrite = pf_ntfs_pwrite,
	.sync = pf_ntfs_sync,
	.stat = pf_ntfs_stat,
	.ioctl = pf_ntfs_ioctl,
};

/* Refuse volumes whose $Bitmap may not describe the data: dirty flag,
 * unclean $LogFile (crash or Windows fast startup), hibernation.
 * ntfs-3g checks the last two only for read-write mounts, so do it here.
 * Returns 0 or -IMG_E_FS. */
static int pf_ntfs_check_state(ntfs_volume *vol, struct img_error *err)
{
	RESTART_PAGE_HEADER *rp = NULL;
	ntfs_inode *ni;
	ntfs_attr *na = NULL;
	int clean = 0;

	if (vol->flags & VOLUME_IS_DIRTY)
		return img_err_set(err, -IMG_E_FS,
				   "ntfs volume is marked dirty (Windows not shut down cleanly? run chkdsk)");
	if (ntfs_volume_check_hiberfile(vol, 0) < 0) {
		if (errno == EPERM)
			return img_err_set(err, -IMG_E_FS,
					   "ntfs volume is hibernated (Windows hibernation or fast startup)");
		return img_err_set(err, -IMG_E_FS,
				   "ntfs: cannot check hiberfil.sys: %s",
				   strerror(errno));
	}
	ni = ntfs_inode_open(vol, FILE_LogFile);
	if (ni)
		na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na && ntfs_check_logfile(na, &rp) && ntfs_is_logfile_clean(na, rp))
		clean = 1;
	free(rp);
	if (na)
		ntfs_attr_close(na);
	if (ni)
		ntfs_inode_close(ni);
	if (!clean)
		return img_err_set(err, -IMG_E_FS,
				   "ntfs $LogFile is not clean (Windows fast startup or crash? boot Windows and shut down fully)");
	return 0;
}

/* Run builder over cluster numbers: clusters [run, n) are in use. */
struct pf_ntfs_runs {
	struct pf_extents *e;
	uint64_t csize;
	int open;
	uint64_t run;
};

static int pf_ntfs_mark(struct pf_ntfs_runs *w, uint64_t lcn, int used)
{
	if (used && !w->open) {
		w->open = 1;
		w->run = lcn;
	} else if (!used && w->open) {
		w->open = 0;
		return pf_extents_add(w->e, w->run * w->csize,
				      (lcn - w->run) * w->csize);
	}
	return 0;
}

/* Walk $Bitmap, nr_clusters bits, least significant bit first.  Runs of
 * 64 equal bits are taken whole. */
static int pf_ntfs_walk(ntfs_volume *vol, struct pf_extents *e,
			struct img_error *err)
{
	struct pf_ntfs_runs w = { .e = e, .csize = vol->cluster_size };
	uint64_t nr = (uint64_t)vol->nr_clusters;
	uint64_t nbytes = (nr + 7) / 8;
	uint8_t *buf;
	int ret = 0;

	if ((uint64_t)vol->lcnbmp_na->data_size < nbytes)
		return img_err_set(err, -IMG_E_FS,
				   "ntfs: $Bitmap shorter than the volume");
	buf = malloc(PF_NTFS_CHUNK);
	if (!buf)
		return img_err_set(err, -ENOMEM, "out of memory");
	for (uint64_t pos = 0; ret == 0 && pos < nbytes; pos += PF_NTFS_CHUNK) {
		size_t n = nbytes - pos < PF_NTFS_CHUNK ?
			   (size_t)(nbytes - pos) : PF_NTFS_CHUNK;
		s64 got = ntfs_attr_pread(vol->lcnbmp_na, (s64)pos, (s64)n, buf);
		size_t i = 0;

		if (got != (s64)n) {
			ret = img_err_set(err, -IMG_E_FS,
					  "ntfs: cannot read $Bitmap: %s",
					  got < 0 ? strerror(errno) : "short read");
			break;
		}
		while (ret == 0 && i < n) {
			uint64_t lcn = (pos + i) * 8;

			if (i + 8 <= n && lcn + 64 <= nr) {
				uint64_t q;

				memcpy(&q, buf + i, sizeof(q));
				if (q == 0 || q == UINT64_MAX) {
					ret = pf_ntfs_mark(&w, lcn, q != 0);
					i += 8;
					continue;
				}
			}
			for (unsigned bit = 0; ret == 0 && bit < 8 &&
			     lcn + bit < nr; bit++)
				ret = pf_ntfs_mark(&w, lcn + bit,
						   (buf[i] >> bit) & 1);
			i++;
		}
	}
	if (ret == 0)
		ret = pf_ntfs_mark(&w, nr, 0);
	if (ret == -ENOMEM)
		ret = img_err_set(err, ret, "ntfs: cannot build the block map: %s", img_strerror(ret));
	free(buf);
	return ret;
}

/* The backup boot sector sits right after the volume's last sector, which
 * normally is the partition's last sector; it is outside $Bitmap.  Both
 * places are kept.  Returns 0 or a negative code. */
static int pf_ntfs_backup_boot(const struct pf_source *s, struct pf_extents *e,
			       struct img_error *err)
{
	uint8_t bs[512];
	uint64_t bps, total, at;
	ssize_t got;
	int ret = 0;

	do
		got = pread(s->fd, bs, sizeof(bs), (off_t)s->offset);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(bs))
		return img_err_set(err, -IMG_E_FS, "ntfs: cannot read boot sector");
	bps = img_get16(bs + 11);
	total = img_get64(bs + 40);
	if (bps >= 256 && bps <= 4096 && total < s->length / bps) {
		at = total * bps;
		if (at + bps <= s->length)
			ret = pf_extents_add(e, at, bps);
	}
	if (ret == 0 && s->length >= s->sector)
		ret = pf_extents_add(e, s->length - s->sector, s->sector);
	if (ret < 0)
		return img_err_set(err, ret, "ntfs: cannot build the block map: %s", img_strerror(ret));
	return 0;
}

/* Bytes of $Boot rounded to clusters, within the volume. */
static uint64_t pf_ntfs_boot_len(const ntfs_volume *vol)
{
	uint64_t cs = vol->cluster_size;
	uint64_t len = (8192 + cs - 1) / cs * cs;
	uint64_t vlen = (uint64_t)vol->nr_clusters * cs;

	return len < vlen ? len : vlen;
}

static int pf_ntfs_used(const struct pf_source *s, struct pf_result *r,
			struct img_error *err)
{
	struct pf_ntfs_dev priv = {
		.fd = s->fd, .off = s->offset, .len = s->length,
		.sector = s->sector,
	};
	struct pf_extents e = { 0 };
	struct ntfs_device *dev;

	if (s->nseg > 1)
		return img_err_set(err, -IMG_E_FS, "ntfs spans several LVM segments "
				   "(libntfs-3g reads one range here)");
	ntfs_volume *vol = NULL;
	int ret;

	/* Library messages go to stderr by default; the engine never prints.
	 * Process-wide, and always the same value. */
	ntfs_log_set_handler(ntfs_log_handler_null);

	dev = ntfs_device_alloc(s->path ? s->path : "partition", 0,
				&pf_ntfs_devops, &priv);
	if (!dev)
		return img_err_set(err, -ENOMEM, "out of memory");
	vol = ntfs_device_mount(dev, NTFS_MNT_RDONLY);
	if (!vol) {
		ret = img_err_set(err, -IMG_E_FS, "ntfs: cannot open volume (corrupt or unsupported?): %s",
				  strerror(errno));
		goto out;
	}
	ret = pf_ntfs_check_state(vol, err);
	if (ret < 0)
		goto out;
	if (vol->cluster_size == 0 || vol->nr_clusters <= 0 ||
	    (uint64_t)vol->nr_clusters > s->length / vol->cluster_size) {
		ret = img_err_set(err, -IMG_E_FS,
				  "ntfs: %lld clusters of %u bytes do not fit in the partition (%llu bytes)",
				  (long long)vol->nr_clusters, vol->cluster_size,
				  (unsigned long long)s->length);
		goto out;
	}
	/* $Boot (8 KiB at cluster 0) is in $Bitmap too; keep it regardless. */
	ret = pf_extents_add(&e, 0, pf_ntfs_boot_len(vol));
	if (ret < 0) {
		ret = img_err_set(err, ret, "ntfs: cannot build the block map: %s", img_strerror(ret));
		goto out;
	}
	ret = pf_ntfs_walk(vol, &e, err);
	if (ret == 0)
		ret = pf_ntfs_backup_boot(s, &e, err);
	if (ret < 0)
		goto out;

	r->unit = vol->cluster_size;
	r->ext = e.v;
	r->next = e.n;
	e.v = NULL;
out:
	free(e.v);
	if (vol) {
		/* Frees dev as well. */
		ntfs_umount(vol, FALSE);
	} else {
		/* A failed mount closes the device but leaves it allocated. */
		if (NDevOpen(dev))
			dev->d_ops->close(dev);
		ntfs_device_free(dev);
	}
	return ret;
}

const struct pf_ops pf_ntfs_ops = {
	.name = "ntfs",
	.used = pf_ntfs_used,
};
