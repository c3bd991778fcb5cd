/* test_image.c - whole images through the engine: capture a disk file,
 * restore it, and prove that every damaged byte and every truncation of
 * the image is refused by img_restore (verify and restore), with the
 * target left untouched when the damage is in the header.
 *
 * The disk is a plain file without a partition table (one raw area) with
 * compressible, random and all-zero regions, so all codecs appear.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "memsrc.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static char dir[] = "/tmp/img-test-XXXXXX";

/* A path in the test directory; the same name gives the same string,
 * which lives until the end of the run. */
static char *path(const char *name)
{
	static char pool[16][256];
	static size_t n;
	char want[256];
	snprintf(want, sizeof(want), "%s/%s", dir, name);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(pool[i], want))
			return pool[i];
	if (n == 16)
		abort();
	memcpy(pool[n], want, sizeof(want));
	return pool[n++];
}

static uint8_t *slurp(const char *p, size_t *n)
{
	struct stat st;
	int fd = open(p, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	uint8_t *b = malloc((size_t)st.st_size + 1);
	*n = (size_t)st.st_size;
	if (b && read(fd, b, *n) != (ssize_t)*n) {
		free(b);
		b = NULL;
	}
	close(fd);
	return b;
}

static void spit(const char *p, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* 6 MiB disk: text, random, zeros, text again (last window partial). */
	size_t dn = 6 * 1024 * 1024 + 512 * 3;
	uint8_t *disk = calloc(1, dn);
	uint32_t x = 12345;
	for (size_t i = 0; i < dn; i++) {
		x = x * 1103515245 + 12345;
		if (i < 2u << 20)
			disk[i] = "the quick brown fox "[i % 20];
		else if (i < 3u << 20)
			disk[i] = (uint8_t)(x >> 16);
		else if (i >= 5u << 20)
			disk[i] = (uint8_t)('a' + (x >> 16) % 4);
	}
	spit(path("disk"), disk, dn);

	const char *src[] = { path("disk") };
	struct img_make_opts mo = { .disks = src, .ndisks = 1, .level = 1,
				    .codec = IMG_CODEC_ZSTD, .threads = 2 };
	struct img_error e = {0};
	struct img_stats st;
	int rc = img_make_file(&mo, path("image"), NULL, &st, &e);
	CHECK(rc == 0, "make: %s", e.msg);
	CHECK(access(path("image.partial"), F_OK) != 0, "partial file left behind");
	CHECK(st.raw_bytes == dn && st.chunks == 7, "raw %llu chunks %llu",
	      (unsigned long long)st.raw_bytes, (unsigned long long)st.chunks);

	/* Restore onto a file of the same size filled with garbage. */
	uint8_t *junk = malloc(dn);
	memset(junk, 0x5a, dn);
	spit(path("target"), junk, dn);
	const char *dst[] = { path("target") };
	struct img_restore_opts ro = { .disks = dst, .ndisks = 1, .threads = 2 };
	rc = img_restore_file(&ro, path("image"), NULL, &st, &e);
	CHECK(rc == 0, "restore: %s", e.msg);
	size_t tn;
	uint8_t *back = slurp(path("target"), &tn);
	CHECK(back && tn == dn && memcmp(back, disk, dn) == 0,
	      "restored disk differs from the source");
	free(back);

	/* A smaller target is refused before anything is written. */
	spit(path("small"), junk, dn / 2);
	const char *sm[] = { path("small") };
	ro.disks = sm;
	rc = img_restore_file(&ro, path("image"), NULL, NULL, &e);
	CHECK(rc == -IMG_E_TOOSMALL && strstr(e.msg, "larger"), "small target: %d %s",
	      rc, e.msg);
	back = slurp(path("small"), &tn);
	CHECK(back && tn == dn / 2 && back[0] == 0x5a && back[tn - 1] == 0x5a,
	      "small target was written");
	free(back);

	/* Level 0 stores, deflate round trips. */
	mo.level = 0;
	CHECK(img_make_file(&mo, path("stored"), NULL, &st, &e) == 0 &&
	      st.stored_bytes > 4u << 20, "stored image: %s", e.msg);
	mo.level = 9;
	mo.codec = IMG_CODEC_DEFLATE;
	CHECK(img_make_file(&mo, path("deflate"), NULL, &st, &e) == 0, "deflate: %s", e.msg);
	ro.disks = dst;
	CHECK(img_restore_file(&ro, path("deflate"), NULL, NULL, &e) == 0, "deflate restore: %s",
	      e.msg);

	/* A failing capture leaves an existing image of that name untouched. */
	size_t gn;
	uint8_t *good = slurp(path("image"), &gn);
	const char *missing[] = { path("no-such-disk") };
	mo.disks = missing;
	rc = img_make_file(&mo, path("image"), NULL, NULL, &e);
	CHECK(rc != 0 && strstr(e.msg, "no-such-disk"), "missing disk: %s", e.msg);
	size_t gn2;
	uint8_t *good2 = slurp(path("image"), &gn2);
	CHECK(good2 && gn2 == gn && memcmp(good, good2, gn) == 0,
	      "failed capture damaged the existing image");
	free(good2);

	/* Every truncation is refused. */
	CHECK(verify_mem(good, gn, NULL, &e) == 0, "good image: %s", e.msg);
	int accepted = 0;
	for (size_t n = 0; n < gn; n += n < 1024 ? 1 : 997)
		if (verify_mem(good, n, NULL, &e) == 0)
			accepted++;
	CHECK(accepted == 0, "%d truncated images accepted", accepted);
	CHECK(verify_mem(good, gn - 1, NULL, &e) == -IMG_E_TRUNCATED, "cut at end: %s", e.msg);

	/* A flipped bit is refused, or (a bit the codec ignores, such as an
	 * unused zstd frame-header flag) the restored disk is still exact:
	 * every byte of the first 1 KiB (file header, header record, first
	 * chunk's metadata) and of the last 256 bytes (index, trailer), and
	 * every 4099th byte elsewhere. */
	uint8_t *bad = malloc(gn);
	int wrong = 0, refused = 0, harmless = 0;
	for (size_t i = 0; i < gn; i += (i < 1024 || i > gn - 256) ? 1 : 4099) {
		memcpy(bad, good, gn);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		if (verify_mem(bad, gn, NULL, &e) != 0) {
			refused++;
			continue;
		}
		struct mem m = { bad, gn, 0 };
		struct img_source s = { mem_read, &m };
		spit(path("target"), junk, dn);
		ro.disks = dst;
		if (img_restore(&ro, &s, NULL, NULL, &e) != 0) {
			wrong++;
			fprintf(stderr, "flip at %zu: verify passed, restore failed: %s\n", i, e.msg);
			continue;
		}
		back = slurp(path("target"), &tn);
		if (!back || tn != dn || memcmp(back, disk, dn)) {
			wrong++;
			fprintf(stderr, "flip at %zu accepted and restored wrong data\n", i);
		} else {
			harmless++;
		}
		free(back);
	}
	CHECK(wrong == 0 && refused > 1000 && harmless < refused / 20,
	      "flips: %d refused, %d harmless, %d wrong", refused, harmless, wrong);

	/* Trailing garbage is refused. */
	uint8_t *longer = malloc(gn + 1);
	memcpy(longer, good, gn);
	longer[gn] = 0;
	CHECK(verify_mem(longer, gn + 1, NULL, &e) == -IMG_E_CORRUPT, "trailing: %s", e.msg);

	/* A damaged chunk on restore: error names the chunk. */
	memcpy(bad, good, gn);
	bad[gn / 2] ^= 0xff;
	spit(path("bad"), bad, gn);
	rc = img_restore_file(&ro, path("bad"), NULL, NULL, &e);
	CHECK(rc != 0 && strstr(e.msg, "chunk") && strstr(e.msg, "incomplete"),
	      "damaged restore: %s", e.msg);

	free(longer);
	free(bad);
	free(good);
	free(junk);
	free(disk);
	const char *names[] = { "disk", "image", "target", "small", "stored", "deflate", "bad" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path(names[i]));
	rmdir(dir);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
