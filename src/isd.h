/* isd.h - image-safe data inside the engine: the hooks capture and
 * restore use on disks they already hold open (img_isd_read/_write open
 * the disk themselves, which a restore holding it O_EXCL cannot do). */
#ifndef IMG_ISD_H
#define IMG_ISD_H

#include "disk.h"
#include "img.h"

/* 1 when the area on d begins with the record magic (a valid or a damaged
 * record), else 0, also when d is too small or cannot be read.  Capture
 * blanks such an area in the image: a record belongs to its machine. */
int img_isd_present(const struct img_dev *d);

/* img_isd_read and img_isd_write on an open disk; write needs d->fd
 * writable and does not flush. */
int img_isd_read_dev(const struct img_dev *d, struct img_isd *out,
		     struct img_error *err);
int img_isd_write_dev(const struct img_dev *d, const struct img_isd *isd,
		      struct img_error *err);

/* The end of a successful restore onto d, the first target disk, before
 * the flush.  before: the record read from d before the restore wrote
 * anything (whole-disk restore), found its img_isd_read_dev result; NULL
 * when the restore left the area alone (-ap), and the record is read now.
 * The record found is written back, with image_name (when not NULL) as
 * last image at the current time; with no record and an image_name a
 * fresh record is made.  When the area cannot take it (table, other data)
 * a warning goes through cb and 0 is returned: the restore itself
 * succeeded.  Returns a negative code only when writing d fails. */
int img_isd_restore_end(const struct img_dev *d, const struct img_isd *before,
			int found, const char *image_name,
			const struct img_callbacks *cb, struct img_error *err);

#endif
