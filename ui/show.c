/* show.c - disks and partitions as img -dump and img -imginfo list them. */
#include <stdio.h>
#include <time.h>

#include "ui.h"

static const char *table_name(enum img_table t)
{
	return t == IMG_TABLE_GPT ? "gpt" : t == IMG_TABLE_MSDOS ? "msdos" : "none";
}

static const char *cap_name(enum img_capture c)
{
	switch (c) {
	case IMG_CAP_FS: return "used blocks";
	case IMG_CAP_RAW: return "raw";
	case IMG_CAP_EXCLUDED: return "excluded";
	default: return "-";
	}
}

void ui_show_layout(FILE *f, const struct img_layout *l, int image)
{
	char a[32], b[32];
	if (image) {
		time_t t = (time_t)l->created;
		char when[64];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
		fprintf(f, "Created: %s by %s on %s\n", when, l->tool,
			l->host[0] ? l->host : "(unknown host)");
		fprintf(f, "Compression: %s level %d, %u KiB chunks\n",
			l->codec == IMG_CODEC_DEFLATE ? "deflate" : "zstd", l->level,
			l->chunk / 1024);
	}
	for (size_t di = 0; di < l->ndisks; di++) {
		const struct img_disk *d = &l->disks[di];
		fprintf(f, "Disk %zu: %s  %s  %u-byte sectors  table %s%s%s\n", di + 1,
			d->path, ui_size(d->size, a, sizeof(a)), d->sector,
			table_name(d->table), d->model[0] ? "  " : "", d->model);
		fprintf(f, "  %-4s %12s %10s  %-36s %-8s %-16s %10s  %s\n", "No",
			"Start", "Size", "Type", "FS", "Label", "Used", "Capture");
		for (size_t i = 0; i < l->nparts; i++) {
			const struct img_part *p = &l->parts[i];
			if ((size_t)p->disk != di)
				continue;
			if (p->kind == IMG_PK_BOOTAREA) {
				fprintf(f, "  %-4s %12llu %10s  %-36s %-8s %-16s %10s  %s\n",
					"boot", (unsigned long long)(p->start / d->sector),
					ui_size(p->length, a, sizeof(a)), "(boot loader area)",
					"-", "-", ui_size(p->used, b, sizeof(b)),
					cap_name(p->capture));
				continue;
			}
			fprintf(f, "  %-4d %12llu %10s  %-36s %-8s %-16s %10s  %s%s%s\n",
				p->number, (unsigned long long)(p->start / d->sector),
				ui_size(p->length, a, sizeof(a)),
				p->kind == IMG_PK_EXTENDED ? "extended" : p->type,
				p->fs[0] ? p->fs : "-", p->label[0] ? p->label : "-",
				p->kind == IMG_PK_EXTENDED ? "-" : ui_size(p->used, b, sizeof(b)),
				cap_name(p->capture), p->note[0] ? ": " : "", p->note);
		}
	}
}
