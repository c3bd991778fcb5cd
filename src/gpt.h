/* gpt.h - the GPT label's one header parser, shared by the table code
 * (table.c: capture and moving the backup) and the image-safe-data code
 * (isd.c: is the area before 1 MiB free).  Every field is read explicitly
 * little-endian from the sector; nothing is cast. */
#ifndef IMG_GPT_H
#define IMG_GPT_H

#include <stdint.h>

#define IMG_GPT_HDR_MIN 92    /* bytes of a revision 1.0 header */

struct img_gpt_hdr {
	uint32_t size;        /* header bytes covered by its CRC */
	uint64_t my_lba, alt_lba, first_usable, last_usable, entries_lba;
	uint32_t nentries, entry_size, entries_crc;
};

/* What is wrong with a sector that should hold a GPT header. */
enum img_gpt_bad {
	IMG_GPT_OK = 0,
	IMG_GPT_MISSING = 1,  /* no "EFI PART" signature, or an impossible size */
	IMG_GPT_DAMAGED = 2,  /* the header's CRC does not match */
	IMG_GPT_ENTRIES = 3,  /* the entry array's count or entry size is invalid */
};

/* Parse and check the header in s (sector bytes, sector <= 4096); the
 * entries are not read.  Returns IMG_GPT_OK with *h filled, or what is
 * wrong (h partly filled). */
enum img_gpt_bad img_gpt_hdr_parse(const uint8_t *s, uint32_t sector,
				   struct img_gpt_hdr *h);

/* Bytes of h's entry array, rounded up to whole sectors. */
uint32_t img_gpt_entries_len(const struct img_gpt_hdr *h, uint32_t sector);

#endif
