/* scan.h - scanning disks into a layout (internal). */
#ifndef IMG_SCAN_H
#define IMG_SCAN_H

#include "img.h"

/* img_scan with partitions to leave out (-x): they keep their table entry
 * and get IMG_CAP_EXCLUDED with no extents. */
int img_scan_ex(const char *const *disks, size_t ndisks, const int *exclude,
		size_t nexclude, struct img_layout **out,
		const struct img_callbacks *cb, struct img_error *err);

#endif
