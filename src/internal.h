/* internal.h - declarations shared inside the engine (src/ and partfmt/).
 * Not for front ends: they include img.h only. */
#ifndef IMG_INTERNAL_H
#define IMG_INTERNAL_H

#include "img.h"

#define IMG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Set err (if not NULL) to code with a formatted message; returns the
 * negative code, so callers can write: return img_err_set(err, -EIO, ...). */
int img_err_set(struct img_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));


/* What img -auto tells the server about this workstation. */
struct img_identity {
	char macs[8][18];     /* "aa:bb:cc:dd:ee:ff", lower case */
	size_t nmacs;
	char serial[128];
	char product[128];
	char hostname[64];
	char disk[256];       /* first disk */
	uint64_t disk_bytes;
	uint64_t mem;
};
/* Gather it from sysfs, /proc and the first of the disks (NULL: the
 * machine's fixed disks). */
int img_identity(struct img_identity *id, const char *const *disks,
		 size_t ndisks, struct img_error *err);

#endif
