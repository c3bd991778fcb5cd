/* test_session.c - multicast session names map to fixed 231.x.y.z groups
 * (man/img-protocol.7, SESSION NAMES).  The expected groups were computed
 * independently (Python hashlib); a change here breaks every room that
 * mixes old and new devices. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "img.h"
#include "mcast.h"
#include "proto.h"

static int fails, checks;

static void expect(int ok, const char *what)
{
	checks++;
	if (!ok) {
		fails++;
		printf("FAIL - %s\n", what);
	}
}

int main(void)
{
	static const char *const known[][2] = {
		{ "lab1", "231.104.208.160" },
		{ "LAB1", "231.104.208.160" },
		{ "room-204", "231.237.53.144" },
		{ "a", "231.202.151.129" },
		{ "Z.9_x", "231.106.181.45" },
	};
	char g[16], what[200];
	struct img_error e;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		memset(&e, 0, sizeof(e));
		int rc = proto_session_group(known[i][0], g, &e);
		snprintf(what, sizeof(what), "session '%s' -> %s (got %s, rc %d)",
			 known[i][0], known[i][1], rc ? "-" : g, rc);
		expect(rc == 0 && !strcmp(g, known[i][1]), what);
	}
	static const char *const bad[] = { "", "two words", "lab/1", "ümlaut", "semi;colon",
		"x12345678901234567890123456789012345678901234567890123456789012345" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		int rc = proto_session_group(bad[i], g, &e);
		snprintf(what, sizeof(what), "session name '%.40s' refused with a message (rc %d: %.60s)",
			 bad[i], rc, e.msg);
		expect(rc == -IMG_E_USAGE && e.msg[0], what);
	}
	char max[PROTO_MAX_SESSION + 1];
	memset(max, 'q', PROTO_MAX_SESSION);
	max[PROTO_MAX_SESSION] = 0;
	expect(proto_session_group(max, g, NULL) == 0 && !strncmp(g, "231.", 4),
	       "a 64-character name is accepted");

	/* the session id every packet carries: bytes 3..6 of the same hash */
	expect(mc_session_id("lab1") == 1145093439u && mc_session_id("LAB1") == 1145093439u,
	       "session id of lab1 is 1145093439, case-blind");
	expect(mc_session_id("room-204") == 3624770925u, "session id of room-204");

	/* packet headers: round trip, and every malformed one refused */
	uint8_t p[MC_DGRAM];
	struct mc_hdr h = { .type = MC_DATA, .sid = 0x01020304, .run = 0xa0b0c0d0,
			    .seq = 0x1122334455667788ULL, .stamp = 77 }, o;
	mc_put_hdr(p, &h);
	expect(!memcmp(p, "IMGM\x01\x05\x00\x00\x04\x03\x02\x01", 12),
	       "header bytes: magic, version, type, flags, session id little-endian");
	expect(mc_get_hdr(p, MC_HDR, &o) == 0 && o.type == MC_DATA && o.sid == h.sid &&
	       o.run == h.run && o.seq == h.seq && o.stamp == 77, "header round trip");
	expect(mc_get_hdr(p, MC_HDR - 1, &o) == -1, "short packet refused");
	uint8_t q[MC_HDR];
	static const struct { int at; uint8_t v; const char *what; } bad_hdr[] = {
		{ 0, 'X', "bad magic" }, { 4, 2, "unknown version" }, { 5, 0, "type 0" },
		{ 5, MC_TYPE_END, "unknown type" }, { 6, 1, "reserved flags" },
		{ 7, 0x80, "reserved flags (high byte)" },
	};
	for (size_t i = 0; i < sizeof(bad_hdr) / sizeof(bad_hdr[0]); i++) {
		memcpy(q, p, MC_HDR);
		q[bad_hdr[i].at] = bad_hdr[i].v;
		snprintf(what, sizeof(what), "header with %s refused", bad_hdr[i].what);
		expect(mc_get_hdr(q, MC_HDR, &o) == -1, what);
	}
	expect(MC_PAYLOAD + MC_HDR + 28 <= 1500, "a packet fits a 1500-byte MTU with IP and UDP");

	if (fails) {
		printf("test_session: %d of %d checks failed\n", fails, checks);
		return 1;
	}
	printf("test_session: %d checks passed\n", checks);
	return 0;
}
