/* mbr.h - the MBR label's one entry reader, shared by the table code
 * (table.c: capture, the EBR chain, the protective entry of a moved GPT)
 * and the image-safe-data code (isd.c: is the area before 1 MiB free).
 * An MBR or EBR sector holds four 16-byte entries at byte 446 and the
 * signature 55 AA at byte 510; every field is read explicitly
 * little-endian. */
#ifndef IMG_MBR_H
#define IMG_MBR_H

#include <stdint.h>

#define IMG_MBR_ENTRIES 4

struct img_mbr_entry {
	uint8_t boot;         /* 0x80 active, 0 not; anything else is invalid */
	uint8_t type;         /* 0: unused */
	uint32_t start, len;  /* in sectors; an EBR's are relative */
};

/* Entry i (0..3) of the sector s. */
void img_mbr_get(const uint8_t *s, int i, struct img_mbr_entry *e);
/* 1 when s ends in the 55 AA signature. */
int img_mbr_signed(const uint8_t *s);
/* 1 for the types of an extended partition (05, 0F, 85). */
int img_mbr_extended(uint8_t type);
/* 1 when an entry of s is GPT's protective one (type EE). */
int img_mbr_protective(const uint8_t *s);
/* Make the protective entry of s cover the disk up to sector last (capped
 * at 2^32 - 1, as the UEFI specification says). */
void img_mbr_cover(uint8_t *s, uint64_t last);

#endif
