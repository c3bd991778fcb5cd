/* disk.h - open disks (block devices or disk-image files). */
#ifndef IMG_DISK_H
#define IMG_DISK_H

#include <stdint.h>

#include "img.h"

struct img_dev {
	int fd;              /* owned: closed by img_dev_close */
	int dfd;             /* the same disk with O_DIRECT, or -1; owned */
	const char *path;    /* borrowed from the caller */
	uint64_t size;
	uint32_t sector;     /* logical sector size */
	int is_blk;
};

/* Open path read-only (writable == 0) or for writing.  A block device
 * opened for writing is opened O_EXCL, so a mounted or otherwise held
 * device fails with -IMG_E_BUSY. */
int img_dev_open(struct img_dev *d, const char *path, int writable,
		 struct img_error *err);
void img_dev_close(struct img_dev *d);

/* pread/pwrite all n bytes or fail with a message naming path and offset. */
int img_dev_read(const struct img_dev *d, void *buf, size_t n, uint64_t off,
		 struct img_error *err);
int img_dev_write(const struct img_dev *d, const void *buf, size_t n,
		  uint64_t off, struct img_error *err);

/* Bulk I/O that bypasses the page cache (through dfd) when the buffer,
 * length and offset are aligned to IMG_DIRECT_ALIGN, else, or when the
 * filesystem refuses, through the page cache.  On the machines we
 * measured, filling and dropping page-cache pages cost more CPU than
 * compressing the data; an imaging job never reads its bytes twice. */
#define IMG_DIRECT_ALIGN 4096
int img_dev_read_bulk(const struct img_dev *d, void *buf, size_t n, uint64_t off,
		      struct img_error *err);
int img_dev_write_bulk(const struct img_dev *d, const void *buf, size_t n,
		       uint64_t off, struct img_error *err);

/* fsync and, for block devices, ask the kernel to re-read the table. */
int img_dev_flush(const struct img_dev *d, int reread, struct img_error *err);

/* The disks a job works on: *disks and *n keep the caller's list when one was
 * given, else become the machine's fixed disks, which *owned holds (free
 * it with img_strv_free(*owned, *n) after use; NULL when nothing was
 * allocated).  Fails with -IMG_E_NODISK when there is no disk at all. */
int img_disks_pick(const char *const **disks, size_t *n, char ***owned,
		   struct img_error *err);

#endif
