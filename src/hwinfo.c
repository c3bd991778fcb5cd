/* hwinfo.c - the machine's hardware, for img -info and the server. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "internal.h"

struct out {
	char *p;
	size_t cap, len;
};

static void add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->len >= o->cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

/* First line of a small text file, trimmed; "" when unreadable. */
static void read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)cap, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

int img_hwinfo(char *buf, size_t cap, struct img_error *err)
{
	struct out o = { buf, cap, 0 };
	char v[256], p[512];
	static const char *const dmi[][2] = {
		{ "Vendor", "sys_vendor" }, { "Product", "product_name" },
		{ "Serial", "product_serial" }, { "UUID", "product_uuid" },
		{ "BIOS", "bios_version" },
	};
	if (cap == 0)
		return img_err_set(err, -IMG_E_USAGE, "no room for the report");
	buf[0] = 0;
	if (gethostname(v, sizeof(v)) == 0) {
		v[sizeof(v) - 1] = 0;
		add(&o, "Hostname: %s\n", v);
	}
	for (size_t i = 0; i < IMG_ARRAY_SIZE(dmi); i++) {
		snprintf(p, sizeof(p), "/sys/class/dmi/id/%s", dmi[i][1]);
		read_line(p, v, sizeof(v));
		add(&o, "%s: %s\n", dmi[i][0], v[0] ? v : "(unknown)");
	}
	FILE *f = fopen("/proc/cpuinfo", "re");
	int cpus = 0;
	char model[256] = "";
	while (f && fgets(v, sizeof(v), f)) {
		if (!strncmp(v, "processor", 9))
			cpus++;
		if (!model[0] && !strncmp(v, "model name", 10)) {
			char *c = strchr(v, ':');
			if (c)
				snprintf(model, sizeof(model), "%s", c + 2);
			model[strcspn(model, "\n")] = 0;
		}
	}
	if (f)
		fclose(f);
	add(&o, "CPU: %s (%d logical)\n", model[0] ? model : "(unknown)", cpus);
	f = fopen("/proc/meminfo", "re");
	if (f && fgets(v, sizeof(v), f)) {
		unsigned long long kb = 0;
		if (sscanf(v, "MemTotal: %llu kB", &kb) == 1)
			add(&o, "Memory: %llu MiB\n", kb / 1024);
	}
	if (f)
		fclose(f);

	char **disks = NULL;
	size_t nd = 0;
	if (img_disks_default(&disks, &nd, NULL) == 0) {
		for (size_t i = 0; i < nd; i++) {
			const char *name = disks[i] + 5;
			unsigned long long sectors = 0;
			snprintf(p, sizeof(p), "/sys/block/%s/size", name);
			read_line(p, v, sizeof(v));
			sscanf(v, "%llu", &sectors);
			snprintf(p, sizeof(p), "/sys/block/%s/device/model", name);
			read_line(p, v, sizeof(v));
			add(&o, "Disk: %s %llu MB %s\n", disks[i], sectors * 512 / 1000000, v);
		}
		if (nd == 0)
			add(&o, "Disk: (none)\n");
		img_strv_free(disks, nd);
	}
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "lo"))
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/address", e->d_name);
		read_line(p, v, sizeof(v));
		char st[32];
		snprintf(p, sizeof(p), "/sys/class/net/%s/operstate", e->d_name);
		read_line(p, st, sizeof(st));
		add(&o, "NIC: %s %s %s\n", e->d_name, v, st);
	}
	if (d)
		closedir(d);
	return 0;
}

int img_identity(struct img_identity *id, const char *const *disks,
		 size_t ndisks, struct img_error *err)
{
	char p[512], v[256];
	memset(id, 0, sizeof(*id));
	read_line("/sys/class/dmi/id/product_serial", id->serial, sizeof(id->serial));
	read_line("/sys/class/dmi/id/product_name", id->product, sizeof(id->product));
	if (gethostname(id->hostname, sizeof(id->hostname) - 1) < 0)
		id->hostname[0] = 0;
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	while (d && (e = readdir(d)) && id->nmacs < IMG_ARRAY_SIZE(id->macs)) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "lo"))
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/address", e->d_name);
		read_line(p, v, sizeof(v));
		if (strlen(v) != 17 || !strcmp(v, "00:00:00:00:00:00"))
			continue;
		snprintf(id->macs[id->nmacs++], sizeof(id->macs[0]), "%s", v);
	}
	if (d)
		closedir(d);
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	while (f && fgets(v, sizeof(v), f))
		if (sscanf(v, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	id->mem = kb * 1024;
	char **def = NULL;
	size_t n = ndisks;
	int rc = img_disks_pick(&disks, &n, &def, err);
	if (rc)
		return rc;
	snprintf(id->disk, sizeof(id->disk), "%s", disks[0]);
	struct img_dev dev;
	if (!img_dev_open(&dev, disks[0], 0, NULL)) {
		id->disk_bytes = dev.size;
		img_dev_close(&dev);
	}
	img_strv_free(def, n);
	return 0;
}
