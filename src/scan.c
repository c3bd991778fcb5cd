/* scan.c - what a set of disks holds: tables, partitions, used bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "internal.h"
#include "pf.h"
#include "scan.h"
#include "table.h"


static int whole(struct img_part *p, struct img_error *err)
{
	free(p->ext);
	p->ext = NULL;
	p->next = 0;
	p->used = 0;
	if (!p->length)
		return 0;
	p->ext = malloc(sizeof(*p->ext));
	if (!p->ext)
		return img_err_set(err, -ENOMEM, "out of memory");
	p->ext[0] = (struct img_extent){ 0, p->length };
	p->next = 1;
	p->used = p->length;
	return 0;
}

/* A handler's extents must be sorted, disjoint, sector-aligned and inside
 * the partition: anything else is a handler bug, and raw capture is the
 * safe answer. */
static int extents_ok(const struct img_part *p, uint32_t sector)
{
	uint64_t end = 0, sum = 0;
	for (size_t i = 0; i < p->next; i++) {
		const struct img_extent *e = &p->ext[i];
		if (!e->len || e->start < end || e->start > p->length ||
		    e->len > p->length - e->start || e->start % sector ||
		    e->len % sector)
			return 0;
		end = e->start + e->len;
		sum += e->len;
	}
	return sum == p->used;
}

static int scan_part(const struct img_dev *dev, struct img_part *p,
		     const struct img_callbacks *cb, struct img_error *err)
{
	struct pf_source s = { .fd = dev->fd, .path = dev->path,
			       .offset = p->start, .length = p->length,
			       .sector = dev->sector };
	struct pf_result r;
	char note[sizeof(p->note)] = "";
	int raw = 0;
	memset(&r, 0, sizeof(r));
	int rc = pf_scan(&s, &r, &raw, note, sizeof(note), err);
	if (rc)
		return rc;
	snprintf(p->fs, sizeof(p->fs), "%s", r.fs);
	snprintf(p->label, sizeof(p->label), "%s", r.label);
	snprintf(p->uuid, sizeof(p->uuid), "%s", r.uuid);
	p->unit = r.unit ? r.unit : dev->sector;
	free(p->ext);
	p->ext = r.ext;
	p->next = r.next;
	p->used = r.used;
	p->capture = raw ? IMG_CAP_RAW : IMG_CAP_FS;
	if (!extents_ok(p, dev->sector)) {
		snprintf(note, sizeof(note), "%s handler returned a bad block map", p->fs);
		p->capture = IMG_CAP_RAW;
		raw = 1;
		if ((rc = whole(p, err)))
			return rc;
	}
	snprintf(p->note, sizeof(p->note), "%s", note);
	if (raw)
		img_say(cb, IMG_WARN, "partition %d (%s): captured raw: %s", p->number,
		    p->fs[0] ? p->fs : "unknown", note[0] ? note : "no filesystem");
	return 0;
}

int img_scan_ex(const char *const *disks, size_t ndisks, const int *exclude,
		size_t nexclude, struct img_layout **out,
		const struct img_callbacks *cb, struct img_error *err)
{
	int rc = 0, number = 0;
	struct img_layout *l = calloc(1, sizeof(*l));
	if (!l)
		return img_err_set(err, -ENOMEM, "out of memory");
	if (ndisks == 0) {
		rc = img_err_set(err, -IMG_E_NODISK, "no disk to work on");
		goto out;
	}
	l->disks = calloc(ndisks, sizeof(*l->disks));
	if (!l->disks) {
		rc = img_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t di = 0; di < ndisks; di++) {
		struct img_dev dev;
		rc = img_dev_open(&dev, disks[di], 0, err);
		if (rc)
			goto out;
		l->ndisks++;
		size_t first = l->nparts;
		rc = img_table_scan(&dev, l, di, &number, err);
		for (size_t i = first; rc == 0 && i < l->nparts; i++) {
			struct img_part *p = &l->parts[i];
			int excluded = 0;
			for (size_t k = 0; k < nexclude; k++)
				excluded |= p->number && exclude[k] == p->number;
			if (p->kind == IMG_PK_BOOTAREA) {
				p->unit = dev.sector;
				rc = whole(p, err);
			} else if (p->kind == IMG_PK_DATA && excluded) {
				p->capture = IMG_CAP_EXCLUDED;
				snprintf(p->note, sizeof(p->note), "excluded with -x");
			} else if (p->kind == IMG_PK_DATA) {
				rc = scan_part(&dev, p, cb, err);
			}
		}
		img_dev_close(&dev);
		if (rc)
			goto out;
	}
	for (size_t k = 0; k < nexclude; k++) {
		int found = 0;
		for (size_t i = 0; i < l->nparts; i++)
			found |= l->parts[i].kind == IMG_PK_DATA &&
				 l->parts[i].number == exclude[k];
		if (!found) {
			rc = img_err_set(err, -IMG_E_NOTFOUND,
					 "-x=%d: there is no partition %d (see img -dump)",
					 exclude[k], exclude[k]);
			goto out;
		}
	}
out:
	if (rc)
		img_layout_free(l);
	else
		*out = l;
	return rc;
}

int img_scan(const char *const *disks, size_t ndisks, struct img_layout **out,
	     const struct img_callbacks *cb, struct img_error *err)
{
	char **owned = NULL;
	int rc = img_disks_pick(&disks, &ndisks, &owned, err);
	if (rc)
		return rc;
	rc = img_scan_ex(disks, ndisks, NULL, 0, out, cb, err);
	img_strv_free(owned, ndisks);
	return rc;
}
