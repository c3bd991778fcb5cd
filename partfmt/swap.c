/* swap.c - Linux swap: only the header page (signature, UUID, label) is kept. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define PF_SWAP_DEFAULT_PAGE 4096u

/* The header page ends with the 10-byte magic; its position tells the page
 * size the swap area was made with.  Returns that size, or 4096 when no
 * magic is found at a known page size (blkid found one anyway). */
static uint32_t pf_swap_pagesize(const struct pf_source *s)
{
	static const uint32_t sizes[] = { 4096, 8192, 16384, 32768, 65536 };
	char magic[10];

	for (size_t i = 0; i < IMG_ARRAY_SIZE(sizes); i++) {
		if (sizes[i] > s->length)
			break;
		if (pf_read(s, magic, sizeof(magic), sizes[i] - sizeof(magic)) < 0)
			break;
		if (memcmp(magic, "SWAPSPACE2", 10) == 0 ||
		    memcmp(magic, "SWAP-SPACE", 10) == 0)
			return sizes[i];
	}
	return PF_SWAP_DEFAULT_PAGE;
}

static int pf_swap_used(const struct pf_source *s, struct pf_result *r,
			struct img_error *err)
{
	struct pf_extents e = { 0 };
	uint64_t page = pf_swap_pagesize(s);
	int ret;

	if (page > s->length)
		page = s->length;
	ret = pf_extents_add(&e, 0, page);
	if (ret < 0)
		return img_err_set(err, ret, "out of memory");
	return pf_result_take(r, &e, (uint32_t)(page ? page : PF_SWAP_DEFAULT_PAGE), 0);
}

const struct pf_ops pf_swap_ops = {
	.name = "swap",
	.used = pf_swap_used,
};
