/* mbr.c - the MBR entry reader (mbr.h). */
#include "base/bytes.h"
#include "mbr.h"

#define MBR_TABLE 446
#define MBR_ENTRY 16

void img_mbr_get(const uint8_t *s, int i, struct img_mbr_entry *e)
{
	const uint8_t *p = s + MBR_TABLE + MBR_ENTRY * i;
	e->boot = p[0];
	e->type = p[4];
	e->start = img_get32(p + 8);
	e->len = img_get32(p + 12);
}

int img_mbr_signed(const uint8_t *s)
{
	return s[510] == 0x55 && s[511] == 0xaa;
}

int img_mbr_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

int img_mbr_protective(const uint8_t *s)
{
	for (int i = 0; i < IMG_MBR_ENTRIES; i++)
		if (s[MBR_TABLE + MBR_ENTRY * i + 4] == 0xee)
			return 1;
	return 0;
}

void img_mbr_cover(uint8_t *s, uint64_t last)
{
	for (int i = 0; i < IMG_MBR_ENTRIES; i++) {
		uint8_t *p = s + MBR_TABLE + MBR_ENTRY * i;
		if (p[4] == 0xee)
			img_le32(p + 12, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	}
}
