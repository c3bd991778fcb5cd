/* table.h - partition tables: capture and restore. */
#ifndef IMG_TABLE_H
#define IMG_TABLE_H

#include "disk.h"
#include "img.h"

/* Read dev's partition table (libparted for the layout, the raw sectors
 * for the bytes) into l->disks[di] and append its areas to l->parts:
 * partitions and extended containers numbered from *number on, and the
 * boot area between the table and the first partition.  A disk with no
 * table becomes one raw area.  Filesystem fields are left empty. */
int img_table_scan(const struct img_dev *dev, struct img_layout *l, size_t di,
		   int *number, struct img_error *err);

/* Free l->parts[from..] and drop them (used when a scan fails midway). */
void img_table_drop(struct img_layout *l, size_t from);

/* Check that image disk d fits dev: same sector size, large enough for
 * every partition (and a GPT's backup at the end). */
int img_table_check(const struct img_disk *d, const struct img_layout *l,
		    size_t di, const struct img_dev *dev, struct img_error *err);

/* Write image disk d's table sectors onto dev, moving a GPT's backup
 * header and entries to the end of a larger disk. */
int img_table_write(const struct img_disk *d, const struct img_dev *dev,
		    struct img_error *err);


#endif
