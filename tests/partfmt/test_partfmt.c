/* test_partfmt.c - pf_scan() on real filesystems made by mkfs at a non-zero offset in a disk file.
 *
 * usage: test_partfmt [MKFIXTURE_SCRIPT] [CASE...]
 * For each case, mkfixture.sh builds a filesystem and prints what
 * independent tools say about it; the filesystem is put at 1 MiB into a
 * disk file between random bytes; pf_scan() must agree with the tools,
 * return a well-formed extent list, and cover every non-zero sector.
 * Exit 0 on success, 1 on a failure, 77 when a tool is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/layout.h>
#include <ntfs-3g/volume.h>
#include <ntfs-3g/logging.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define DISK_PAD (1024 * 1024)   /* random bytes before and after the fs */
#define SKIP 77

static const char *const all_cases[] = {
	"ext4", "ext3", "ext2-1k", "ext4-recover", "ext4-errors",
	"ext4-unclean", "ext4-corrupt", "ext4-trunc", "ntfs", "ntfs-dirty", "ntfs-corrupt", "ntfs-hiber",
	"vfat12", "vfat16", "vfat32", "vfat-bad", "vfat-trunc", "swap",
	"swap-16k", "minix", "garbage", "zero",
};

struct expect {
	char fs[32], label[80], uuid[80], note[80], prep[32];
	int raw;
	long long used, length, notused;
};

static int failures;

static void fail(const char *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(const char *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s: ", c);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static void setstr(char *dst, size_t cap, const char *v)
{
	snprintf(dst, cap, "%s", v);
}

/* Run the fixture script; returns 0, SKIP, or -1. */
static int fixture(const char *script, const char *c, const char *dir,
		   struct expect *x)
{
	char cmd[4096], line[512];
	FILE *p;
	int st;

	memset(x, 0, sizeof(*x));
	x->used = x->length = x->notused = -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' '%s'", script, c, dir);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *v = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "fs"))
			setstr(x->fs, sizeof(x->fs), v);
		else if (!strcmp(line, "label"))
			setstr(x->label, sizeof(x->label), v);
		else if (!strcmp(line, "uuid"))
			setstr(x->uuid, sizeof(x->uuid), v);
		else if (!strcmp(line, "note"))
			setstr(x->note, sizeof(x->note), v);
		else if (!strcmp(line, "prep"))
			setstr(x->prep, sizeof(x->prep), v);
		else if (!strcmp(line, "raw"))
			x->raw = atoi(v);
		else if (!strcmp(line, "used"))
			x->used = atoll(v);
		else if (!strcmp(line, "length"))
			x->length = atoll(v);
		else if (!strcmp(line, "notused"))
			x->notused = atoll(v);
	}
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	if (WEXITSTATUS(st) == SKIP)
		return SKIP;
	return WEXITSTATUS(st) == 0 && x->fs[0] ? 0 : -1;
}

/* Mark a clean NTFS volume dirty through libntfs-3g, as Windows does on a
 * crash.  Returns 0 or -1. */
static int ntfs_make_dirty(const char *path)
{
	ntfs_volume *vol;
	int ret;

	ntfs_log_set_handler(ntfs_log_handler_null);
	vol = ntfs_mount(path, NTFS_MNT_NONE);
	if (!vol)
		return -1;
	ret = ntfs_volume_write_flags(vol, vol->flags | VOLUME_IS_DIRTY);
	if (ntfs_umount(vol, FALSE) < 0)
		ret = -1;
	return ret;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* disk = DISK_PAD random bytes, the first len bytes of fs, DISK_PAD
 * random bytes.  Returns 0 or -1. */
static int make_disk(const char *fspath, const char *disk, uint64_t len)
{
	static char buf[1 << 16];
	int in, out, rnd, ret = -1;

	in = open(fspath, O_RDONLY);
	out = open(disk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rnd = open("/dev/urandom", O_RDONLY);
	if (in < 0 || out < 0 || rnd < 0)
		goto out;
	for (int pass = 0; pass < 3; pass++) {
		uint64_t left = pass == 1 ? len : DISK_PAD;
		int from = pass == 1 ? in : rnd;

		while (left) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			ssize_t got = read(from, buf, n);

			if (got <= 0 || write_all(out, buf, (size_t)got) < 0)
				goto out;
			left -= (uint64_t)got;
		}
	}
	ret = fsync(out);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rnd >= 0)
		close(rnd);
	return ret;
}

static int covered(const struct pf_result *r, uint64_t off)
{
	size_t lo = 0, hi = r->next;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct img_extent *x = &r->ext[mid];

		if (off < x->start)
			hi = mid;
		else if (off >= x->start + x->len)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* The extent list contract from pf.h. */
static void check_shape(const char *c, const struct pf_source *s,
			const struct pf_result *r)
{
	uint64_t sum = 0;

	if (r->next == 0 || !r->ext) {
		fail(c, "no extents");
		return;
	}
	for (size_t i = 0; i < r->next; i++) {
		const struct img_extent *x = &r->ext[i];

		if (x->len == 0)
			fail(c, "extent %zu is empty", i);
		if (x->start > s->length || x->len > s->length - x->start)
			fail(c, "extent %zu [%llu,+%llu) outside %llu", i,
			     (unsigned long long)x->start,
			     (unsigned long long)x->len,
			     (unsigned long long)s->length);
		if (i && x->start <= r->ext[i - 1].start + r->ext[i - 1].len)
			fail(c, "extent %zu not sorted, disjoint and merged", i);
		sum += x->len;
	}
	if (sum != r->used)
		fail(c, "used %llu != sum of extents %llu",
		     (unsigned long long)r->used, (unsigned long long)sum);
	if (r->unit == 0)
		fail(c, "unit is 0");
}

/* Every sector holding a non-zero byte must be captured: the fixtures
 * start as all-zero files, so anything mkfs or a copy wrote is live. */
static void check_nonzero(const char *c, const struct pf_source *s,
			  const struct pf_result *r)
{
	static unsigned char buf[1 << 16];
	uint64_t missed = 0, first = 0;

	for (uint64_t pos = 0; pos < s->length; pos += sizeof(buf)) {
		size_t n = s->length - pos < sizeof(buf) ?
			   (size_t)(s->length - pos) : sizeof(buf);

		if (pread(s->fd, buf, n, (off_t)(s->offset + pos)) != (ssize_t)n) {
			fail(c, "read disk at %llu", (unsigned long long)pos);
			return;
		}
		for (size_t o = 0; o < n; o += 512) {
			size_t m = n - o < 512 ? n - o : 512;
			int nz = 0;

			for (size_t k = 0; k < m && !nz; k++)
				nz = buf[o + k] != 0;
			if (nz && !(covered(r, pos + o) &&
				    covered(r, pos + o + m - 1))) {
				if (!missed)
					first = pos + o;
				missed++;
			}
		}
	}
	if (missed)
		fail(c, "%llu non-zero sectors not captured, first at byte %llu",
		     (unsigned long long)missed, (unsigned long long)first);
}

static int run_case(const char *script, const char *dir, const char *c)
{
	char fspath[4096], disk[4096], note[160];
	struct pf_result r;
	struct img_error err = { 0 };
	struct pf_source s;
	struct expect x;
	struct stat st;
	int raw = -1, ret, fd, before = failures;

	ret = fixture(script, c, dir, &x);
	if (ret == SKIP) {
		printf("SKIP %s (tool or feature missing)\n", c);
		return SKIP;
	}
	if (ret < 0) {
		fail(c, "fixture script failed");
		return 1;
	}
	snprintf(fspath, sizeof(fspath), "%s/%s.fs", dir, c);
	snprintf(disk, sizeof(disk), "%s/%s.disk", dir, c);
	if (!strcmp(x.prep, "ntfs-dirty") && ntfs_make_dirty(fspath) < 0) {
		fail(c, "could not mark the NTFS volume dirty");
		return 1;
	}
	if (stat(fspath, &st) < 0) {
		fail(c, "no fixture file");
		return 1;
	}
	s.length = x.length >= 0 ? (uint64_t)x.length : (uint64_t)st.st_size;
	if (make_disk(fspath, disk, s.length) < 0) {
		fail(c, "cannot build disk file");
		return 1;
	}
	fd = open(disk, O_RDONLY);
	if (fd < 0) {
		fail(c, "open disk");
		return 1;
	}
	s.fd = fd;
	s.path = disk;
	s.offset = DISK_PAD;
	s.sector = 512;

	ret = pf_scan(&s, &r, &raw, note, sizeof(note), &err);
	if (ret != 0) {
		fail(c, "pf_scan returned %d: %s", ret, err.msg);
		close(fd);
		return 1;
	}
	if (strcmp(r.fs, x.fs))
		fail(c, "fs '%s', want '%s'", r.fs, x.fs);
	if (x.label[0] && strcmp(r.label, x.label))
		fail(c, "label '%s', want '%s'", r.label, x.label);
	if (x.uuid[0] && strcmp(r.uuid, x.uuid))
		fail(c, "uuid '%s', want '%s'", r.uuid, x.uuid);
	if (raw != x.raw)
		fail(c, "raw %d, want %d (note: %s)", raw, x.raw, note);
	check_shape(c, &s, &r);
	if (raw) {
		if (!note[0])
			fail(c, "raw without a note");
		if (x.note[0] && !strstr(note, x.note))
			fail(c, "note '%s' lacks '%s'", note, x.note);
		if (r.next != 1 || r.ext[0].start != 0 ||
		    r.ext[0].len != s.length)
			fail(c, "raw capture is not the whole partition");
	} else {
		if (note[0])
			fail(c, "note '%s' on success", note);
		if (r.used >= s.length)
			fail(c, "everything captured (%llu of %llu)",
			     (unsigned long long)r.used,
			     (unsigned long long)s.length);
		if (x.used >= 0 && r.used != (uint64_t)x.used)
			fail(c, "used %llu bytes, independent tool says %lld",
			     (unsigned long long)r.used, x.used);
		if (!strcmp(x.fs, "ntfs") &&
		    !covered(&r, s.length - s.sector))
			fail(c, "backup boot sector (last sector) not captured");
		if (x.notused >= 0 && r.next && covered(&r, (uint64_t)x.notused))
			fail(c, "byte %lld (bad cluster) captured", x.notused);
	}
	if (r.next)
		check_nonzero(c, &s, &r);
	if (failures == before)
		printf("ok   %-13s fs=%-5s raw=%d used=%llu/%llu extents=%zu unit=%u%s%s\n",
		       c, r.fs, raw, (unsigned long long)r.used,
		       (unsigned long long)s.length, r.next, r.unit,
		       note[0] ? " note: " : "", note);
	free(r.ext);
	close(fd);
	unlink(disk);
	return failures == before ? 0 : 1;
}

/* pf_extents_add() and pf_scan()'s argument and empty-partition paths. */
static void check_api(const char *dir)
{
	struct pf_extents e = { 0 };
	struct pf_result r;
	struct pf_source s = { .sector = 512 };
	struct img_error err = { 0 };
	char path[4096], note[160];
	int raw, ret, fd;

	if (pf_extents_add(&e, 0, 512) || pf_extents_add(&e, 512, 512) ||
	    pf_extents_add(&e, 1000, 100) || pf_extents_add(&e, 4096, 0) ||
	    e.n != 1 || e.v[0].start != 0 || e.v[0].len != 1100)
		fail("api", "adjacent or overlapping extents not merged");
	for (uint64_t i = 0; i < 1000; i++)
		if (pf_extents_add(&e, 8192 + i * 4096, 1024))
			fail("api", "pf_extents_add failed at %llu",
			     (unsigned long long)i);
	if (e.n != 1001 || e.cap < e.n || e.v[1000].start != 8192 + 999 * 4096)
		fail("api", "growth lost extents (n=%zu)", e.n);
	if (pf_extents_add(&e, 10, 1) != -EINVAL || e.n != 1001)
		fail("api", "descending extent accepted");
	free(e.v);

	s.fd = -1;
	if (pf_scan(&s, &r, &raw, note, sizeof(note), &err) != -IMG_E_USAGE ||
	    err.code != -IMG_E_USAGE || !err.msg[0])
		fail("api", "bad source not refused");

	snprintf(path, sizeof(path), "%s/empty.disk", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
		fail("api", "cannot make %s", path);
	} else {
		s.fd = fd;
		s.path = path;
		s.offset = 4096;
		s.length = 0;
		ret = pf_scan(&s, &r, &raw, note, sizeof(note), &err);
		if (ret || !raw || r.next || r.used || !note[0])
			fail("api", "empty partition: ret %d raw %d next %zu",
			     ret, raw, r.next);
		free(r.ext);
	}
	if (fd >= 0)
		close(fd);
	if (!failures)
		printf("ok   api\n");
}

static int rm_rf(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/test_partfmt.XXXXXX";
	const char *script = argc > 1 ? argv[1] : "tests/partfmt/mkfixture.sh";
	const char *const *cases = all_cases;
	size_t ncases = IMG_ARRAY_SIZE(all_cases);
	int skipped = 0, ran = 0;

	if (access(script, R_OK) != 0) {
		fprintf(stderr, "test_partfmt: fixture script %s not found\n",
			script);
		return SKIP;
	}
	if (argc > 2) {
		cases = (const char *const *)argv + 2;
		ncases = (size_t)argc - 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	check_api(dir);
	for (size_t i = 0; i < ncases; i++) {
		int ret = run_case(script, dir, cases[i]);

		if (ret == SKIP)
			skipped++;
		else
			ran++;
	}
	rm_rf(dir);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	if (!ran) {
		fprintf(stderr, "test_partfmt: every case skipped\n");
		return SKIP;
	}
	printf("%d case(s) passed, %d skipped\n", ran, skipped);
	return 0;
}
