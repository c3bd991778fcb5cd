/* internal.h - declarations shared inside the engine (src/ only).
 * Nothing outside src/ includes it: other rooms use img.h and base/. */
#ifndef IMG_INTERNAL_H
#define IMG_INTERNAL_H

#include "base/bytes.h"
#include "base/clock.h"
#include "base/err.h"
#include "img.h"

/* Format a message and hand it to cb's message callback (cb may be NULL). */
#define img_say(cb, level, ...) \
	do { \
		const struct img_callbacks *say_cb_ = (cb); \
		if (say_cb_) \
			img_msgf(say_cb_->message, say_cb_->ctx, (level), __VA_ARGS__); \
	} while (0)


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
