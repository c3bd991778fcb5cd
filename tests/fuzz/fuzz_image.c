/* fuzz_image.c - the image reader against arbitrary bytes.
 *
 * Built two ways: with clang -fsanitize=fuzzer,address it is a libFuzzer
 * target (see tests/fuzz/README); built normally (meson) it replays every
 * file named on the command line, so the corpus runs as an ordinary
 * regression test.  The property: img_restore in verify mode returns
 * (never crashes, hangs or reads out of bounds), and it accepts an input
 * only if it is a complete, consistent image.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "memsrc.h"

/* Returns img_restore's result: 0 accepted, negative refused. */
static int check(const uint8_t *data, size_t size, struct img_error *e)
{
	size_t used = 0;
	int rc = verify_mem(data, size, &used, e);
	if (rc == 0 && used != size)
		abort(); /* accepted without reading everything */
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_error e;
	check(data, size, &e);
	return 0;
}

#ifndef IMG_LIBFUZZER
/* Replay: FILE... each prefixed "ok:" must be accepted, every other file
 * refused. */
int main(int argc, char **argv)
{
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		uint8_t *buf = malloc(64u << 20);
		size_t n = fread(buf, 1, 64u << 20, f);
		fclose(f);
		struct img_error e = {0};
		int rc = check(buf, n, &e);
		const char *base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		int want_ok = strncmp(base, "ok-", 3) == 0;
		if ((rc == 0) != want_ok) {
			fprintf(stderr, "FAIL %s: %s (%s)\n", base,
				rc ? "refused" : "accepted", rc ? e.msg : "");
			bad++;
		} else {
			printf("ok %s: %s%s\n", base, rc ? "refused: " : "accepted",
			       rc ? e.msg : "");
		}
		free(buf);
	}
	printf("%d inputs, %d wrong\n", argc - 1, bad);
	return bad ? 1 : 0;
}
#endif
