/* disk.c - disks: open, size, sector size, I/O, and the default list. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "internal.h"

/* A disk-image file has no sector size of its own: a GPT header at 4096
 * and none at 512 means 4096-byte sectors; anything else is 512. */
static uint32_t file_sector(int fd)
{
	char a[8], b[8];
	if (pread(fd, a, 8, 512) == 8 && memcmp(a, "EFI PART", 8) == 0)
		return 512;
	if (pread(fd, b, 8, 4096) == 8 && memcmp(b, "EFI PART", 8) == 0)
		return 4096;
	return 512;
}

int img_dev_open(struct img_dev *d, const char *path, int writable,
		 struct img_error *err)
{
	struct stat st;
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->dfd = -1;
	d->path = path;
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return img_err_set(err, -errno, "cannot open disk %s: %s%s", path,
				   strerror(errno),
				   errno == ENOENT ? " (check -disk=)" : "");
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return img_err_set(err, -e, "cannot stat disk %s: %s", path, strerror(e));
	}
	if (S_ISBLK(st.st_mode)) {
		int ss = 0;
		if (writable) {
			/* O_EXCL on a block device fails while it or one of its
			 * partitions is mounted or claimed. */
			int x = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
			if (x < 0) {
				int e = errno;
				close(fd);
				if (e == EBUSY)
					return img_err_set(err, -IMG_E_BUSY,
							   "disk %s is in use (mounted, or held by another program); unmount it and try again",
							   path);
				return img_err_set(err, -e, "cannot open disk %s: %s",
						   path, strerror(e));
			}
			close(fd);
			fd = x;
		}
		if (ioctl(fd, BLKGETSIZE64, &d->size) < 0 ||
		    ioctl(fd, BLKSSZGET, &ss) < 0) {
			int e = errno;
			close(fd);
			return img_err_set(err, -e, "cannot read the size of disk %s: %s",
					   path, strerror(e));
		}
		d->sector = (uint32_t)ss;
		d->is_blk = 1;
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
		d->sector = file_sector(fd);
		d->size -= d->size % d->sector;
	} else {
		close(fd);
		return img_err_set(err, -IMG_E_USAGE,
				   "%s is neither a block device nor a disk-image file",
				   path);
	}
	d->fd = fd;
	/* A second descriptor for bulk I/O without the page cache; none when
	 * the filesystem has no O_DIRECT (tmpfs), which is fine. */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	d->dfd = open(self, (writable ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	return 0;
}

void img_dev_close(struct img_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->dfd >= 0)
		close(d->dfd);
	d->fd = -1;
	d->dfd = -1;
}

static int direct_ok(const struct img_dev *d, const void *buf, size_t n,
		     uint64_t off)
{
	return d->dfd >= 0 && ((uintptr_t)buf | n | off) % IMG_DIRECT_ALIGN == 0;
}

/* Move as much of [off, off+n) as O_DIRECT allows and return the bytes
 * done; *eno (when not NULL) is the errno that stopped it, 0 when none
 * did.  Whatever
 * stops it (a refused alignment, the end of the disk, an I/O error) is
 * left to the page-cache path, which finishes the transfer or reports the
 * error with the disk and offset, but for a write the device failed:
 * see img_dev_write_bulk. */
static size_t direct_io(const struct img_dev *d, uint8_t *p, size_t n,
			uint64_t off, int wr, int *eno)
{
	size_t done = 0;
	int dummy;
	if (!eno)
		eno = &dummy;
	*eno = 0;
	while (done < n) {
		ssize_t r = wr ? pwrite(d->dfd, p + done, n - done, (off_t)(off + done))
			       : pread(d->dfd, p + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			*eno = errno;
		if (r <= 0)
			break;
		done += (size_t)r;
		if ((size_t)r % IMG_DIRECT_ALIGN)
			break; /* short: the rest is no longer aligned */
	}
	return done;
}

int img_dev_read_bulk(const struct img_dev *d, void *buf, size_t n, uint64_t off,
		      struct img_error *err)
{
	size_t k = direct_ok(d, buf, n, off) ? direct_io(d, buf, n, off, 0, NULL) : 0;
	return k == n ? 0 : img_dev_read(d, (uint8_t *)buf + k, n - k, off + k, err);
}

/* A direct write the device fails (EIO, ENOSPC, ...) is reported at its
 * offset: retried through the page cache it would be accepted there and
 * fail only at the flush, which cannot say where.  EINVAL is O_DIRECT
 * refusing the request, and the page cache takes it over. */
int img_dev_write_bulk(const struct img_dev *d, const void *buf, size_t n,
		       uint64_t off, struct img_error *err)
{
	int eno = 0;
	size_t k = direct_ok(d, buf, n, off) ? direct_io(d, (void *)buf, n, off, 1, &eno) : 0;
	if (k < n && eno && eno != EINVAL)
		return img_err_set(err, -eno, "cannot write disk %s at offset %llu: %s",
				   d->path, (unsigned long long)(off + k), strerror(eno));
	return k == n ? 0 : img_dev_write(d, (const uint8_t *)buf + k, n - k,
					  off + k, err);
}

int img_dev_read(const struct img_dev *d, void *buf, size_t n, uint64_t off,
		 struct img_error *err)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = pread(d->fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return img_err_set(err, r < 0 ? -errno : -EIO,
					   "cannot read disk %s at offset %llu: %s",
					   d->path, (unsigned long long)off,
					   r < 0 ? strerror(errno) : "unexpected end of disk");
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int img_dev_write(const struct img_dev *d, const void *buf, size_t n,
		  uint64_t off, struct img_error *err)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t r = pwrite(d->fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return img_err_set(err, r < 0 ? -errno : -EIO,
					   "cannot write disk %s at offset %llu: %s",
					   d->path, (unsigned long long)off,
					   r < 0 ? strerror(errno) : "no progress");
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int img_dev_flush(const struct img_dev *d, int reread, struct img_error *err)
{
	if (d->dfd >= 0 && fsync(d->dfd) < 0)
		return img_err_set(err, -errno, "cannot flush disk %s: %s", d->path,
				   strerror(errno));
	if (fsync(d->fd) < 0)
		return img_err_set(err, -errno, "cannot flush disk %s: %s", d->path,
				   strerror(errno));
	if (d->is_blk && reread)
		(void)ioctl(d->fd, BLKRRPART); /* best effort: a loop without -P refuses */
	return 0;
}

static int sysfs_int(const char *dev, const char *attr, long long *v)
{
	char p[320], b[64];
	snprintf(p, sizeof(p), "/sys/block/%s/%s", dev, attr);
	FILE *f = fopen(p, "re");
	if (!f)
		return -1;
	int ok = fgets(b, sizeof(b), f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	*v = strtoll(b, NULL, 10);
	return 0;
}

/* A disk attached through USB is external, whatever its removable flag
 * says (USB hard disks and SSDs report 0): it is where a technician keeps
 * images, not part of the machine.  Its sysfs device path runs through a
 * usbN bus. */
static int on_usb(const char *dev)
{
	char p[320], real[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/block/%s", dev);
	if (!realpath(p, real))
		return 0;
	return strstr(real, "/usb") != NULL;
}

void img_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int img_disks_default(char ***paths, size_t *n, struct img_error *err)
{
	static const char *const skip[] = { "loop", "ram", "zram", "sr", "fd",
					    "dm-", "md", "nbd" };
	DIR *dir = opendir("/sys/block");
	char **v = NULL;
	size_t k = 0;
	*paths = NULL;
	*n = 0;
	if (!dir)
		return img_err_set(err, -errno, "cannot list /sys/block: %s",
				   strerror(errno));
	struct dirent *e;
	while ((e = readdir(dir))) {
		long long rem = 0, size = 0;
		int bad = e->d_name[0] == '.';
		for (size_t i = 0; !bad && i < IMG_ARRAY_SIZE(skip); i++)
			bad = strncmp(e->d_name, skip[i], strlen(skip[i])) == 0;
		/* eMMC boot and RPMB areas are not disks to image. */
		bad |= !strncmp(e->d_name, "mmcblk", 6) &&
		       (strstr(e->d_name, "boot") || strstr(e->d_name, "rpmb"));
		if (bad || sysfs_int(e->d_name, "size", &size) < 0 || size == 0)
			continue;
		if ((sysfs_int(e->d_name, "removable", &rem) == 0 && rem) ||
		    on_usb(e->d_name))
			continue;
		char **nv = realloc(v, (k + 1) * sizeof(*v));
		if (!nv)
			goto nomem;
		v = nv;
		size_t len = strlen(e->d_name) + 6;
		v[k] = malloc(len);
		if (!v[k])
			goto nomem;
		snprintf(v[k], len, "/dev/%s", e->d_name);
		k++;
	}
	closedir(dir);
	/* sysfs order is arbitrary: sort by name so sda comes before sdb. */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*paths = v;
	*n = k;
	return 0;
nomem:
	closedir(dir);
	img_strv_free(v, k);
	return img_err_set(err, -ENOMEM, "out of memory");
}

int img_disks_pick(const char *const **disks, size_t *n, char ***owned,
		   struct img_error *err)
{
	*owned = NULL;
	if (!*disks) {
		int rc = img_disks_default(owned, n, err);
		if (rc)
			return rc;
		*disks = (const char *const *)*owned;
	}
	if (*n == 0)
		return img_err_set(err, -IMG_E_NODISK,
				   "no disk to work on: this machine has no fixed disk; name one with -disk=PATH");
	return 0;
}
