/* test_session.c - multicast session names map to fixed 231.x.y.z groups
 * (man/img-protocol.7, SESSION NAMES).  The expected groups were computed
 * independently (Python hashlib); a change here breaks every room that
 * mixes old and new devices. */
#include <stdio.h>
#include <string.h>

#include "img.h"
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
	if (fails) {
		printf("test_session: %d of %d checks failed\n", fails, checks);
		return 1;
	}
	printf("test_session: %d checks passed\n", checks);
	return 0;
}
