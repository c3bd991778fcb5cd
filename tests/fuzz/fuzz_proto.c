/* fuzz_proto.c - the protocol decoder (proto/frame.c) against arbitrary
 * bytes.
 *
 * The input is what one peer sends down a connection: a stream of frames
 * (man/img-protocol.7).  It is decoded the way a server reads it: 8 header
 * bytes through proto_parse_header, the payload, and for every message but
 * DATA proto_parse_attrs; the first refusal ends the stream, as it ends the
 * connection.  Every decoded message then goes through every getter (tags
 * 0..30, several capacities) and is re-encoded with proto_out and decoded
 * again.  Nothing touches the network.
 *
 * Each result is compared with an independent model of the wire format
 * written here from the man page; any disagreement, and any broken
 * invariant (a string not NUL-terminated inside its buffer, more than
 * PROTO_MAX_ATTRS attributes, an attribute outside its payload, an error
 * without a message), calls abort() so that libFuzzer records the input.
 * Payloads are copied into buffers of exactly their size, so that an
 * over-read is caught by AddressSanitizer also in the replay build.
 *
 * Built two ways: with clang -fsanitize=fuzzer -DIMG_LIBFUZZER it is a
 * libFuzzer target (tests/fuzz/README); built by meson it replays the
 * files and directories named on the command line (the test
 * fuzz_proto_corpus): inputs named ok-* must be accepted, all others
 * refused.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "img.h"
#include "proto.h"

#define REQUIRE(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_proto.c:%d: invariant broken: %s\n", __LINE__, #cond); \
	abort(); } } while (0)

#define MAX_TAG 30   /* getters are tried for tags 0..MAX_TAG */

/* The model's own little-endian reads: the test does not borrow the
 * decoder's helpers. */
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void refuse(struct img_error *why, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct img_error *why, int code, const char *fmt, ...)
{
	va_list ap;
	why->code = code;
	va_start(ap, fmt);
	vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
	va_end(ap);
}

static void reset(struct img_error *e)
{
	e->code = 0;
	memset(e->msg, 0, sizeof(e->msg));
}

/* A call that failed with rc must have said so in e. */
static void check_error(int rc, const struct img_error *e)
{
	REQUIRE(rc < 0);
	REQUIRE(e->code == rc);
	REQUIRE(e->msg[0] != 0);
	REQUIRE(memchr(e->msg, 0, sizeof(e->msg)) != NULL);
}

/* ---- the model ---------------------------------------------------------- */

/* What a header must give: 0, or the code it must be refused with. */
static int model_header(const uint8_t *h)
{
	uint32_t n = rd32(h);
	uint16_t t = rd16(h + 4), flags = rd16(h + 6);
	if (n > PROTO_MAX_PAYLOAD)
		return -IMG_E_LIMIT;
	if (flags || t == 0 || t >= PROTO_TYPE_END)
		return -IMG_E_PROTO;
	if (t != PROTO_DATA && n > PROTO_MAX_CTRL)
		return -IMG_E_LIMIT;
	return 0;
}

/* What an attribute list must give, walking it in order: the first
 * attribute whose header is cut or whose value overruns the payload is a
 * protocol error, the 65th well-formed one a limit. */
static int model_attrs(const uint8_t *p, uint32_t len, unsigned *nattr)
{
	uint32_t off = 0;
	*nattr = 0;
	while (off < len) {
		if (len - off < 4 || rd16(p + off + 2) > len - off - 4)
			return -IMG_E_PROTO;
		if (*nattr == PROTO_MAX_ATTRS)
			return -IMG_E_LIMIT;
		++*nattr;
		off += 4 + rd16(p + off + 2);
	}
	return 0;
}

/* The idx-th attribute with tag, from the decoded list (checked against
 * the raw payload by check_attrs before any use). */
static const struct proto_attr *nth(const struct proto_msg *m, uint16_t tag,
				    unsigned idx)
{
	for (unsigned i = 0; i < m->nattr; i++)
		if (m->attr[i].tag == tag && idx-- == 0)
			return &m->attr[i];
	return NULL;
}

/* ---- invariants of one decoded message ---------------------------------- */

/* The attributes tile the payload exactly, in order, each inside it. */
static void check_attrs(const struct proto_msg *m)
{
	REQUIRE(m->nattr <= PROTO_MAX_ATTRS);
	uint32_t off = 0;
	for (unsigned i = 0; i < m->nattr; i++) {
		const struct proto_attr *a = &m->attr[i];
		REQUIRE(off <= m->len && m->len - off >= 4);
		REQUIRE(a->tag == rd16(m->payload + off));
		REQUIRE(a->len == rd16(m->payload + off + 2));
		REQUIRE(a->val == m->payload + off + 4);
		REQUIRE(a->val >= m->payload &&
			a->len <= m->len - (uint32_t)(a->val - m->payload));
		off += 4 + a->len;
	}
	REQUIRE(off == m->len);
}

/* Capacities the string getters are tried with, and one buffer of exactly
 * each size (a write past cap is then an ASan report). */
static const size_t caps[] = { 0, 1, 2, 8, 18, 64, PROTO_MAX_PATH + 1,
			       PROTO_MAX_CTRL + 1 };
#define NCAPS (sizeof(caps) / sizeof(caps[0]))
static char *capbuf[NCAPS];

static void check_str(const struct proto_msg *m, uint16_t tag, unsigned idx,
		      size_t ci)
{
	const struct proto_attr *a = nth(m, tag, idx);
	size_t cap = caps[ci];
	char *buf = capbuf[ci];
	struct img_error e;
	reset(&e);
	int rc = proto_get_str_n(m, tag, idx, buf, cap, &e);
	if (!a) {
		REQUIRE(rc == 0);
	} else if (a->len >= cap || memchr(a->val, 0, a->len)) {
		check_error(rc, &e);
		int nul = memchr(a->val, 0, a->len) != NULL;
		REQUIRE((a->len >= cap && rc == -IMG_E_LIMIT) ||
			(nul && rc == -IMG_E_PROTO));
	} else {
		REQUIRE(rc == 1);
		REQUIRE(a->len < cap);
		REQUIRE(memchr(buf, 0, cap) == buf + a->len);
		REQUIRE(memcmp(buf, a->val, a->len) == 0);
	}
	if (idx == 0) {
		struct img_error e2;
		reset(&e2);
		int rc2 = proto_get_str(m, tag, buf, cap, &e2);
		REQUIRE(rc2 == rc);
		if (rc2 < 0)
			check_error(rc2, &e2);
	}
}

static void check_fixed(const struct proto_msg *m, uint16_t tag)
{
	const struct proto_attr *a = nth(m, tag, 0);
	struct img_error e;
	int rc;

	reset(&e);
	uint32_t v32 = 0xdeadbeef;
	rc = proto_get_u32(m, tag, &v32, &e);
	if (!a)
		REQUIRE(rc == 0 && v32 == 0xdeadbeef);
	else if (a->len != 4)
		REQUIRE(rc == -IMG_E_PROTO && v32 == 0xdeadbeef);
	else
		REQUIRE(rc == 1 && v32 == rd32(a->val));
	if (rc < 0)
		check_error(rc, &e);

	reset(&e);
	uint64_t v64 = 0x0badc0de0badc0deull;
	rc = proto_get_u64(m, tag, &v64, &e);
	if (!a)
		REQUIRE(rc == 0 && v64 == 0x0badc0de0badc0deull);
	else if (a->len != 8)
		REQUIRE(rc == -IMG_E_PROTO && v64 == 0x0badc0de0badc0deull);
	else
		REQUIRE(rc == 1 && v64 == rd64(a->val));
	if (rc < 0)
		check_error(rc, &e);

	reset(&e);
	uint8_t *b = malloc(32);
	REQUIRE(b != NULL);
	rc = proto_get_bytes(m, tag, b, 32, &e);
	if (!a)
		REQUIRE(rc == 0);
	else if (a->len != 32)
		REQUIRE(rc == -IMG_E_PROTO);
	else
		REQUIRE(rc == 1 && memcmp(b, a->val, 32) == 0);
	if (rc < 0)
		check_error(rc, &e);
	free(b);
}

static void check_getters(const struct proto_msg *m)
{
	for (uint16_t tag = 0; tag <= MAX_TAG; tag++) {
		for (unsigned idx = 0; idx < 4; idx++)
			for (size_t ci = 0; ci < NCAPS; ci++)
				check_str(m, tag, idx, ci);
		check_fixed(m, tag);
	}
}

/* Re-encode m's attributes (raw, and typed where the length allows) and
 * decode the result: the same bytes and the same attributes must come
 * back. */
static void check_roundtrip(const struct proto_msg *m)
{
	static struct proto_out raw, typed;
	struct img_error e;

	proto_out_init(&raw, m->type);
	proto_out_init(&typed, m->type);
	for (unsigned i = 0; i < m->nattr; i++) {
		const struct proto_attr *a = &m->attr[i];
		proto_put_bytes(&raw, a->tag, a->val, a->len);
		if (a->len == 4)
			proto_put_u32(&typed, a->tag, rd32(a->val));
		else if (a->len == 8)
			proto_put_u64(&typed, a->tag, rd64(a->val));
		else
			proto_put_bytes(&typed, a->tag, a->val, a->len);
	}
	REQUIRE(!raw.overflow && !typed.overflow);
	REQUIRE(raw.nattr == m->nattr && typed.nattr == m->nattr);
	REQUIRE(raw.len == PROTO_HDR + (size_t)m->len && typed.len == raw.len);
	REQUIRE(memcmp(raw.buf + PROTO_HDR, m->payload, m->len) == 0);
	/* Bytes 0..3, the length, are filled in only by proto_send. */
	REQUIRE(memcmp(typed.buf + 4, raw.buf + 4, raw.len - 4) == 0);

	/* The length field as proto_send fills it in. */
	wr32(raw.buf, (uint32_t)(raw.len - PROTO_HDR));
	uint16_t type = 0;
	uint32_t len = 0;
	reset(&e);
	REQUIRE(proto_parse_header(raw.buf, &type, &len, &e) == 0);
	REQUIRE(type == m->type && len == m->len);

	struct proto_msg r = { .type = type, .len = len };
	uint8_t *copy = malloc(len ? len : 1);
	REQUIRE(copy != NULL);
	memcpy(copy, raw.buf + PROTO_HDR, len);
	r.payload = copy;
	reset(&e);
	REQUIRE(proto_parse_attrs(&r, &e) == 0);
	check_attrs(&r);
	REQUIRE(r.nattr == m->nattr);
	for (unsigned i = 0; i < r.nattr; i++) {
		REQUIRE(r.attr[i].tag == m->attr[i].tag);
		REQUIRE(r.attr[i].len == m->attr[i].len);
		REQUIRE(memcmp(r.attr[i].val, m->attr[i].val, r.attr[i].len) == 0);
	}
	free(copy);
}

/* ---- what a receiver accepts ---------------------------------------------- */

/* Value kinds and longest strings per tag (man/img-protocol.7). */
#define LAST_TAG PT_IFACE   /* the highest known tag */
enum kind { K_ANY, K_U32, K_U64, K_B32, K_STR };
static const struct { enum kind kind; size_t max; } tagdef[LAST_TAG + 1] = {
	[PT_VERSION] = { K_U32, 0 }, [PT_CAPS] = { K_U32, 0 },
	[PT_CLIENT] = { K_STR, PROTO_MAX_CTRL }, [PT_SERVER] = { K_STR, PROTO_MAX_CTRL },
	[PT_NONCE] = { K_B32, 0 }, [PT_CNONCE] = { K_B32, 0 }, [PT_PROOF] = { K_B32, 0 },
	[PT_CODE] = { K_U32, 0 }, [PT_TEXT] = { K_STR, PROTO_MAX_TEXT },
	[PT_PATH] = { K_STR, PROTO_MAX_PATH }, [PT_BYTES] = { K_U64, 0 },
	[PT_MAC] = { K_STR, PROTO_MAX_CTRL }, [PT_SERIAL] = { K_STR, PROTO_MAX_CTRL },
	[PT_PRODUCT] = { K_STR, PROTO_MAX_CTRL }, [PT_HOSTNAME] = { K_STR, PROTO_MAX_CTRL },
	[PT_DISK] = { K_U64, 0 }, [PT_MEM] = { K_U64, 0 },
	[PT_HWINFO] = { K_STR, PROTO_MAX_TEXT }, [PT_ACTION] = { K_STR, PROTO_MAX_CTRL },
	[PT_ARG] = { K_STR, PROTO_MAX_PATH }, [PT_SESSION] = { K_STR, PROTO_MAX_CTRL },
	[PT_TOKEN] = { K_B32, 0 }, [PT_AUTO] = { K_U32, 0 },
	[PT_LASTIMAGE] = { K_STR, PROTO_MAX_PATH }, [PT_OFFSET] = { K_U64, 0 },
	[PT_CLIENTS] = { K_U32, 0 }, [PT_TIMEOUT] = { K_U32, 0 },
	[PT_THROTTLE] = { K_U32, 0 }, [PT_IFACE] = { K_STR, 31 },
};

/* Attributes a message is refused without: what the server
 * (server/serve.c) and the client (proto/client.c) insist on. */
#define BIT(t) (1u << (t))
static const uint32_t required[PROTO_TYPE_END] = {
	[PROTO_HELLO] = BIT(PT_VERSION),
	[PROTO_WELCOME] = BIT(PT_VERSION) | BIT(PT_NONCE),
	[PROTO_AUTH] = BIT(PT_CNONCE) | BIT(PT_PROOF),
	[PROTO_STATUS] = BIT(PT_CODE),
	[PROTO_PUT] = BIT(PT_PATH), [PROTO_GET] = BIT(PT_PATH),
	[PROTO_END] = BIT(PT_BYTES),
	[PROTO_ABORT] = BIT(PT_CODE), [PROTO_RESULT] = BIT(PT_CODE),
	[PROTO_WORK] = BIT(PT_ACTION),
	[PROTO_REPORT] = BIT(PT_CODE) | BIT(PT_MAC),
	[PROTO_WORKSET] = BIT(PT_ACTION), [PROTO_SESSION] = BIT(PT_ACTION),
};

/* 0 if every known attribute of m holds a well-formed value (for a
 * repeatable MAC every occurrence, else the first, which is the one that
 * counts) and none required is missing; else the refusal, in why. */
static int usable(const struct proto_msg *m, struct img_error *why)
{
	static char *sbuf;
	if (!sbuf && !(sbuf = malloc(PROTO_MAX_CTRL + 1)))
		abort();
	for (uint16_t tag = 1; tag <= LAST_TAG; tag++) {
		struct img_error e;
		reset(&e);
		int rc = 0;
		uint32_t v32;
		uint64_t v64;
		uint8_t b[32];
		switch (tagdef[tag].kind) {
		case K_U32: rc = proto_get_u32(m, tag, &v32, &e); break;
		case K_U64: rc = proto_get_u64(m, tag, &v64, &e); break;
		case K_B32: rc = proto_get_bytes(m, tag, b, sizeof(b), &e); break;
		case K_STR:
			for (unsigned i = 0;; i++) {
				int r = proto_get_str_n(m, tag, i, sbuf,
							tagdef[tag].max + 1, &e);
				if (r < 0 || (r == 0 && i == 0))
					rc = r;
				else if (r == 1)
					rc = 1;
				if (r <= 0 || tag != PT_MAC)
					break;
			}
			break;
		case K_ANY: break;
		}
		if (rc < 0) {
			check_error(rc, &e);
			*why = e;
			return rc;
		}
		if (rc == 0 && (required[m->type] & BIT(tag))) {
			refuse(why, -IMG_E_PROTO,
			       "message type %u without attribute %u", m->type, tag);
			return why->code;
		}
	}
	return 0;
}

/* ---- the stream ------------------------------------------------------------ */

/* Decode one frame at data (size bytes left).  Returns 0 and sets *used,
 * or the refusal with its message in why. */
static int decode_frame(const uint8_t *data, size_t size, size_t *used,
			struct img_error *why)
{
	struct img_error e;
	struct proto_msg m;
	int rc;

	if (size < PROTO_HDR) {
		refuse(why, -IMG_E_PROTO, "stream ends inside a frame header (%zu of 8 bytes)",
		       size);
		return why->code;
	}
	reset(&e);
	rc = proto_parse_header(data, &m.type, &m.len, &e);
	REQUIRE(rc == model_header(data));
	if (rc) {
		check_error(rc, &e);
		*why = e;
		return rc;
	}
	REQUIRE(m.type == rd16(data + 4) && m.len == rd32(data));
	REQUIRE(m.len <= PROTO_MAX_PAYLOAD);
	REQUIRE(m.type == PROTO_DATA || m.len <= PROTO_MAX_CTRL);
	if (size - PROTO_HDR < m.len) {
		refuse(why, -IMG_E_PROTO, "stream ends after %zu of %u bytes of a frame",
		       size - PROTO_HDR, m.len);
		return why->code;
	}

	uint8_t *payload = malloc(m.len ? m.len : 1);
	REQUIRE(payload != NULL);
	memcpy(payload, data + PROTO_HDR, m.len);
	m.payload = payload;
	m.nattr = 0;
	if (m.type != PROTO_DATA) {
		unsigned want_n;
		int want = model_attrs(payload, m.len, &want_n);
		reset(&e);
		rc = proto_parse_attrs(&m, &e);
		REQUIRE(rc == want);
		REQUIRE(m.nattr <= PROTO_MAX_ATTRS);
		if (rc) {
			check_error(rc, &e);
			*why = e;
			goto out;
		}
		REQUIRE(m.nattr == want_n);
		check_attrs(&m);
		check_roundtrip(&m);
	}
	check_getters(&m);
	rc = usable(&m, why);
	*used = PROTO_HDR + m.len;
out:
	free(payload);
	return rc;
}

/* Decode a whole stream.  Returns 0 if every frame is accepted and the
 * stream ends on a frame boundary, else the first refusal. */
static int decode_stream(const uint8_t *data, size_t size, unsigned *frames,
			 struct img_error *why)
{
	if (!capbuf[0])
		for (size_t i = 0; i < NCAPS; i++)
			if (!(capbuf[i] = malloc(caps[i] ? caps[i] : 1)))
				abort();
	*frames = 0;
	for (size_t off = 0; off < size;) {
		size_t used = 0;
		int rc = decode_frame(data + off, size - off, &used, why);
		if (rc)
			return rc;
		off += used;
		++*frames;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_error why;
	unsigned frames;
	decode_stream(data, size, &frames, &why);
	return 0;
}

#ifndef IMG_LIBFUZZER
/* ---- replay --------------------------------------------------------------- */

static int inputs, wrong;
static unsigned long total_frames;

/* Read path into a buffer of exactly its size (NULL on error, reported). */
static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *b = NULL;
	if (!f || fstat(fileno(f), &st) || st.st_size > (64 << 20)) {
		fprintf(stderr, "%s: cannot read (or over 64 MiB)\n", path);
		goto out;
	}
	*n = (size_t)st.st_size;
	b = malloc(*n ? *n : 1);
	if (!b || fread(b, 1, *n, f) != *n) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(b);
		b = NULL;
	}
out:
	if (f)
		fclose(f);
	return b;
}

static void replay_file(const char *path)
{
	size_t n = 0;
	uint8_t *buf = slurp(path, &n);
	inputs++;
	if (!buf) {
		wrong++;
		return;
	}
	struct img_error why = { 0, "" };
	unsigned frames = 0;
	int rc = decode_stream(buf, n, &frames, &why);
	free(buf);
	total_frames += frames;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	int want_ok = strncmp(base, "ok-", 3) == 0;
	if ((rc == 0) != want_ok) {
		fprintf(stderr, "FAIL %s: %s after %u frames%s%s\n", base,
			rc ? "refused" : "accepted", frames, rc ? ": " : "",
			rc ? why.msg : "");
		wrong++;
	} else if (rc) {
		printf("ok %s: refused after %u frames (%s): %s\n", base, frames,
		       img_strerror(rc), why.msg);
	} else {
		printf("ok %s: accepted, %u frames\n", base, frames);
	}
}

static int regular(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Replay: each argument is a file or a directory of files. */
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			replay_file(argv[i]);
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[i], &ents, regular, alphasort);
		if (n < 0) {
			perror(argv[i]);
			return 1;
		}
		for (int k = 0; k < n; k++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], ents[k]->d_name);
			replay_file(p);
			free(ents[k]);
		}
		free(ents);
	}
	for (size_t i = 0; i < NCAPS; i++)
		free(capbuf[i]);
	printf("%d inputs, %lu frames decoded, %d wrong\n", inputs, total_frames,
	       wrong);
	if (!inputs)
		fprintf(stderr, "no inputs: give corpus files or directories\n");
	return wrong || !inputs ? 1 : 0;
}
#endif
