/* gpt.c - the GPT header parser (gpt.h). */
#include <string.h>
#include <zlib.h>

#include "base/bytes.h"
#include "gpt.h"

enum img_gpt_bad img_gpt_hdr_parse(const uint8_t *s, uint32_t sector,
				   struct img_gpt_hdr *h)
{
	uint8_t tmp[4096];
	memset(h, 0, sizeof(*h));
	if (memcmp(s, "EFI PART", 8) != 0)
		return IMG_GPT_MISSING;
	h->size = img_get32(s + 12);
	if (h->size < IMG_GPT_HDR_MIN || h->size > sector || h->size > sizeof(tmp))
		return IMG_GPT_MISSING;
	memcpy(tmp, s, h->size);
	memset(tmp + 16, 0, 4);
	if ((uint32_t)crc32(0, tmp, h->size) != img_get32(s + 16))
		return IMG_GPT_DAMAGED;
	h->my_lba = img_get64(s + 24);
	h->alt_lba = img_get64(s + 32);
	h->first_usable = img_get64(s + 40);
	h->last_usable = img_get64(s + 48);
	h->entries_lba = img_get64(s + 72);
	h->nentries = img_get32(s + 80);
	h->entry_size = img_get32(s + 84);
	h->entries_crc = img_get32(s + 88);
	if (h->entry_size < 128 || h->entry_size > 4096 || h->entry_size % 8 ||
	    h->nentries == 0 || h->nentries > 4096)
		return IMG_GPT_ENTRIES;
	return IMG_GPT_OK;
}

uint32_t img_gpt_entries_len(const struct img_gpt_hdr *h, uint32_t sector)
{
	uint64_t n = (uint64_t)h->nentries * h->entry_size;
	return (uint32_t)((n + sector - 1) / sector * sector);
}
