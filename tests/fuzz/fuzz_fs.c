/* fuzz_fs.c - the filesystem handlers' parsers (partfmt/) against hostile
 * partitions.
 *
 * An input describes a sparse partition:
 *   "PFZ1", the handler (one byte: 0 xfs, 1 vfat, 2 swap, 3 exfat, 4 btrfs, 5 f2fs, 9 an LVM2 PV),
 *   the
 *   partition length in 4 KiB units (u32 LE), then runs until the end: offset in
 *   bytes (u32 LE), length (u16 LE), that many bytes.
 * It is laid out in a memfd (holes read as zeros) and the handler runs on
 * it.  The property: the handler returns (no crash, hang or read outside
 * the partition), and when it accepts, its extents are sorted, disjoint,
 * non-empty and inside the partition.
 *
 * Built two ways: with clang -fsanitize=fuzzer -DIMG_LIBFUZZER it is a
 * libFuzzer target (tests/fuzz/libfuzz.sh); built by meson it replays the
 * files it is given, and with -mutate N also N damaged copies of each
 * (bytes of its runs, data or offsets, flipped deterministically), so that a corpus of real
 * filesystems made by their own mkfs is a regression test.  Files named
 * ok-* must be accepted as they are.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/bytes.h"
#include "pf.h"

static const struct pf_ops *const handlers[] = { &pf_xfs_ops, &pf_fat_ops, &pf_swap_ops,
						 &pf_exfat_ops, &pf_btrfs_ops, &pf_f2fs_ops };

#define MAX_PART (1ull << 36)   /* 64 GiB of holes at most */
#define LVM_ID 9                /* handler byte of an LVM2 PV (pf_lvm_used) */

/* The scan pf_lvm_used runs on each LV: the whole LV, raw. */
static int lv_raw(const struct pf_source *s, struct pf_result *r, int *raw, char *note,
		  size_t notecap, struct img_error *err)
{
	memset(r, 0, sizeof(*r));
	*raw = 1;
	snprintf(note, notecap, "fuzz");
	snprintf(r->fs, sizeof(r->fs), "raw");
	if (!s->length)
		return 0;
	if (!(r->ext = malloc(sizeof(*r->ext))))
		return -1;
	r->ext[0] = (struct img_extent){ 0, s->length };
	r->next = 1;
	return 0;
}

/* Lay the input out in a memfd; returns the fd or -1 (malformed). */
static int layout(const uint8_t *d, size_t n, const struct pf_ops **ops, uint64_t *len)
{
	if (n < 9 || memcmp(d, "PFZ1", 4) || (d[4] >= IMG_ARRAY_SIZE(handlers) && d[4] != LVM_ID))
		return -1;
	*ops = d[4] == LVM_ID ? NULL : handlers[d[4]];
	*len = (uint64_t)img_get32(d + 5) * 4096;
	if (!*len || *len > MAX_PART)
		return -1;
	int fd = memfd_create("fuzz_fs", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)*len) < 0) {
		perror("memfd");
		exit(2);
	}
	for (size_t at = 9; at + 6 <= n;) {
		uint64_t off = img_get32(d + at);
		size_t k = img_get16(d + at + 4);
		at += 6;
		if (k > n - at)
			k = n - at;
		if (off + k <= *len && pwrite(fd, d + at, k, (off_t)off) != (ssize_t)k) {
			perror("pwrite");
			exit(2);
		}
		at += k;
	}
	return fd;
}

/* 0 accepted, 1 refused, -1 malformed input.  Aborts on a broken
 * contract. */
static int run(const uint8_t *d, size_t n, char *why, size_t cap)
{
	const struct pf_ops *ops;
	uint64_t len;
	int fd = layout(d, n, &ops, &len);
	if (fd < 0)
		return -1;
	struct pf_source s = { .fd = fd, .path = "fuzz", .offset = 0, .length = len,
			       .sector = 512 };
	struct pf_result r;
	struct img_error e = { 0 };
	memset(&r, 0, sizeof(r));
	char note[160];
	int rc = ops ? ops->used(&s, &r, &e) : pf_lvm_used(&s, &r, lv_raw, note, sizeof(note), &e);
	const char *name = ops ? ops->name : "lvm";
	close(fd);
	snprintf(why, cap, "%.200s", rc ? e.msg : "");
	if (rc) {
		free(r.ext);
		return 1;
	}
	uint64_t end = 0;
	for (size_t i = 0; i < r.next; i++) {
		const struct img_extent *x = &r.ext[i];
		if (!x->len || x->start > len || x->len > len - x->start || (i && x->start <= end)) {
			fprintf(stderr, "%s: extent %zu (%llu+%llu) breaks the contract\n", name,
				i, (unsigned long long)x->start, (unsigned long long)x->len);
			abort();
		}
		end = x->start + x->len;
	}
	free(r.ext);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	run(data, size, why, sizeof(why));
	return 0;
}

#ifndef IMG_LIBFUZZER
/* Damage copy k of input d: flip a few bytes inside its runs' data,
 * chosen by a generator seeded with k (the same damage every run). */
static void damage(uint8_t *d, size_t n, unsigned k)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (k + 1);
	int flips = 1 + (int)(k % 4);
	for (int i = 0; i < flips && n > 9; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t at = 9 + (size_t)(x % (n - 9));
		d[at] ^= (uint8_t)(1u << ((x >> 32) % 8));
		if ((x >> 40) % 5 == 0)
			d[at] = (uint8_t)(x >> 48);  /* sometimes a whole new byte */
	}
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	uint8_t *buf = malloc(16u << 20);
	*n = fread(buf, 1, 16u << 20, f);
	fclose(f);
	return buf;
}

/* fuzz_fs [-mutate N] FILE... */
int main(int argc, char **argv)
{
	unsigned mutate = 0;
	int first = 1, bad = 0;
	if (argc > 2 && !strcmp(argv[1], "-mutate")) {
		mutate = (unsigned)strtoul(argv[2], NULL, 10);
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		size_t n;
		uint8_t *buf = slurp(argv[i], &n);
		const char *base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		char why[256];
		int rc = run(buf, n, why, sizeof(why));
		int want_ok = !strncmp(base, "ok-", 3);
		if (rc < 0 || (rc == 0) != want_ok) {
			fprintf(stderr, "FAIL %s: %s %s\n", base,
				rc < 0 ? "malformed" : rc ? "refused:" : "accepted", why);
			bad++;
		} else {
			printf("ok %s: %s%s\n", base, rc ? "refused: " : "accepted", why);
		}
		unsigned acc = 0;
		uint8_t *copy = malloc(n);
		for (unsigned k = 0; k < mutate; k++) {
			memcpy(copy, buf, n);
			damage(copy, n, k);
			acc += run(copy, n, why, sizeof(why)) == 0;
		}
		if (mutate)
			printf("ok %s: %u damaged copies ran, %u accepted (contract held)\n", base,
			       mutate, acc);
		free(copy);
		free(buf);
	}
	printf("%d inputs, %d wrong\n", argc - first, bad);
	return bad ? 1 : 0;
}
#endif
