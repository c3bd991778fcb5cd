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

#endif
