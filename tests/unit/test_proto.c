/* test_proto.c - the protocol's framing (proto/frame.c) against
 * man/img-protocol.7: headers and attribute lists, hostile ones refused
 * with the right code and a message naming the problem, valid ones decoded
 * to the right values; the builder's limits; status names; HOST[:PORT];
 * the authentication proof; key files; and connections over a socketpair
 * (send and receive, PING answered, peers that close or stall).
 *
 * Frames here are written byte by byte, not with proto_out, wherever the
 * point is what is on the wire.  No network is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img.h"
#include "proto.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* rc is code and e holds a message containing every one of the words. */
#define CHECK_ERR(rc, e, want, ...) do { \
	const char *w_[] = { __VA_ARGS__ }; \
	int ok_ = (rc) == (want) && (e).code == (want) && (e).msg[0]; \
	for (size_t i_ = 0; ok_ && i_ < sizeof(w_) / sizeof(w_[0]); i_++) \
		ok_ = strstr((e).msg, w_[i_]) != NULL; \
	CHECK(ok_, "got %d (%s) '%s', want %d (%s) naming %s", (rc), \
	      img_strerror(rc), (e).msg, (want), img_strerror(want), w_[0]); \
} while (0)

/* ---- frames by hand ---------------------------------------------------- */

struct wire {
	uint8_t *b;
	size_t n, cap;
};

static void w_bytes(struct wire *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 64;
		w->b = realloc(w->b, w->cap);
		if (!w->b)
			abort();
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_le(struct wire *w, uint64_t v, int n)
{
	uint8_t b[8];
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, (size_t)n);
}

static void w_hdr(struct wire *w, uint32_t len, uint16_t type, uint16_t flags)
{
	w_le(w, len, 4);
	w_le(w, type, 2);
	w_le(w, flags, 2);
}

static void w_attr(struct wire *w, uint16_t tag, const void *v, uint16_t n)
{
	w_le(w, tag, 2);
	w_le(w, n, 2);
	w_bytes(w, v, n);
}

static void w_str(struct wire *w, uint16_t tag, const char *s)
{
	w_attr(w, tag, s, (uint16_t)strlen(s));
}

/* A frame of type around the attribute list in body. */
static struct wire frame(uint16_t type, const struct wire *body)
{
	struct wire f = { 0 };
	w_hdr(&f, (uint32_t)body->n, type, 0);
	if (body->n)
		w_bytes(&f, body->b, body->n);
	return f;
}

/* Decode one whole frame as proto_recv does, from a copy of exactly the
 * payload's size (freed by the caller through *copy). */
static int decode(const struct wire *f, struct proto_msg *m, uint8_t **copy,
		  struct img_error *e)
{
	*copy = NULL;
	if (f->n < PROTO_HDR)
		abort();
	int rc = proto_parse_header(f->b, &m->type, &m->len, e);
	if (rc)
		return rc;
	if (f->n - PROTO_HDR != m->len)
		abort();
	*copy = malloc(m->len ? m->len : 1);
	if (!*copy)
		abort();
	memcpy(*copy, f->b + PROTO_HDR, m->len);
	m->payload = *copy;
	m->nattr = 0;
	return m->type == PROTO_DATA ? 0 : proto_parse_attrs(m, e);
}

static int parse_hdr(uint32_t len, uint16_t type, uint16_t flags, uint16_t *t,
		     uint32_t *l, struct img_error *e)
{
	struct wire w = { 0 };
	w_hdr(&w, len, type, flags);
	memset(e, 0, sizeof(*e));
	int rc = proto_parse_header(w.b, t, l, e);
	free(w.b);
	return rc;
}

/* ---- headers ------------------------------------------------------------ */

static void test_header(void)
{
	struct img_error e;
	uint16_t t;
	uint32_t l;
	int rc;

	rc = parse_hdr(PROTO_MAX_PAYLOAD + 1, PROTO_DATA, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "1048577", "maximum");
	rc = parse_hdr(0xffffffffu, PROTO_HELLO, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "4294967295", "maximum");
	rc = parse_hdr(PROTO_MAX_PAYLOAD, PROTO_DATA, 0, &t, &l, &e);
	CHECK(rc == 0 && t == PROTO_DATA && l == PROTO_MAX_PAYLOAD,
	      "DATA of exactly 1 MiB: %d %s", rc, e.msg);

	rc = parse_hdr(PROTO_MAX_CTRL + 1, PROTO_HELLO, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "65537", "type 1");
	rc = parse_hdr(PROTO_MAX_CTRL, PROTO_STATUS, 0, &t, &l, &e);
	CHECK(rc == 0 && t == PROTO_STATUS && l == PROTO_MAX_CTRL,
	      "control message of exactly 64 KiB: %d %s", rc, e.msg);
	rc = parse_hdr(PROTO_MAX_CTRL + 1, PROTO_DATA, 0, &t, &l, &e);
	CHECK(rc == 0 && l == PROTO_MAX_CTRL + 1, "DATA over 64 KiB: %d %s", rc, e.msg);

	rc = parse_hdr(4, PROTO_HELLO, 0x0001, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "reserved flags", "0x0001");
	rc = parse_hdr(0, PROTO_DATA, 0x8000, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "reserved flags", "0x8000");

	rc = parse_hdr(0, 0, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "unknown message type 0");
	rc = parse_hdr(4, 99, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "unknown message type 99");
	rc = parse_hdr(0, PROTO_TYPE_END, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "unknown message type 20");
	rc = parse_hdr(0, 0xffff, 0, &t, &l, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "unknown message type 65535");

	for (uint16_t type = PROTO_HELLO; type < PROTO_TYPE_END; type++) {
		rc = parse_hdr(0, type, 0, &t, &l, &e);
		CHECK(rc == 0 && t == type && l == 0, "empty frame of type %u: %d %s",
		      type, rc, e.msg);
	}
}

/* ---- attribute lists and values ----------------------------------------- */

static void test_attrs(void)
{
	struct img_error e = { 0 };
	struct proto_msg m;
	struct wire body = { 0 }, f;
	uint8_t *copy;
	char s[64];
	uint32_t v32;
	uint64_t v64;
	uint8_t b32[32];
	int rc;

	/* An attribute claiming more than the payload holds. */
	w_le(&body, PT_PATH, 2);
	w_le(&body, 10, 2);
	w_bytes(&body, "abcd", 4);
	f = frame(PROTO_PUT, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 10", "claims 10 bytes, 4 left");
	free(copy), free(f.b), body.n = 0;

	/* One byte past the end. */
	w_le(&body, PT_PATH, 2);
	w_le(&body, 5, 2);
	w_bytes(&body, "abcd", 4);
	f = frame(PROTO_PUT, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 10", "claims 5 bytes, 4 left");
	free(copy), free(f.b), body.n = 0;

	/* The same at the end of a list, length 0xffff. */
	w_attr(&body, PT_AUTO, "\1\0\0\0", 4);
	w_le(&body, PT_PATH, 2);
	w_le(&body, 0xffff, 2);
	f = frame(PROTO_PUT, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 10 at byte 8", "65535");
	free(copy), free(f.b), body.n = 0;

	/* An attribute header cut after 2 of its 4 bytes. */
	w_attr(&body, PT_VERSION, "\1\0\0\0", 4);
	w_bytes(&body, "\3\0", 2);
	f = frame(PROTO_HELLO, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute header cut at byte 8");
	free(copy), free(f.b), body.n = 0;

	w_bytes(&body, "\x08", 1);
	f = frame(PROTO_STATUS, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute header cut at byte 0");
	free(copy), free(f.b), body.n = 0;

	/* 64 attributes are allowed, 65 are not. */
	for (int i = 0; i < 65; i++) {
		if (i == 64) {
			f = frame(PROTO_AUTOREQ, &body);
			rc = decode(&f, &m, &copy, &e);
			CHECK(rc == 0 && m.nattr == 64, "64 attributes: %d %s", rc, e.msg);
			free(copy), free(f.b);
		}
		snprintf(s, sizeof(s), "02:00:00:00:00:%02x", i);
		w_str(&body, PT_MAC, s);
	}
	f = frame(PROTO_AUTOREQ, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "more than 64 attributes");
	CHECK(m.nattr <= PROTO_MAX_ATTRS, "nattr %u after refusal", m.nattr);
	free(copy), free(f.b), body.n = 0;

	/* A string with a NUL: the list decodes, the string is refused. */
	w_attr(&body, PT_VERSION, "\1\0\0\0", 4);
	w_attr(&body, PT_CLIENT, "ws\0" "17", 5);
	f = frame(PROTO_HELLO, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.nattr == 2, "HELLO with a NUL in client: %d %s", rc, e.msg);
	rc = proto_get_str(&m, PT_CLIENT, s, sizeof(s), &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 3", "NUL");
	rc = proto_get_str(&m, PT_CLIENT, s, sizeof(s), NULL);
	CHECK(rc == -IMG_E_PROTO, "without an error struct: %d", rc);
	/* A string longer than the caller's buffer. */
	rc = proto_get_str(&m, PT_VERSION, s, 4, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "attribute 1", "4 bytes, at most 3");
	free(copy), free(f.b), body.n = 0;

	/* Numbers and fixed-size bytes of the wrong size. */
	w_attr(&body, PT_VERSION, "\1\0\0", 3);
	w_attr(&body, PT_BYTES, "\0\0\1\0", 4);
	w_attr(&body, PT_NONCE, "0123456789012345678901234567890", 31);
	f = frame(PROTO_HELLO, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.nattr == 3, "decoding short numbers: %d %s", rc, e.msg);
	v32 = 77;
	rc = proto_get_u32(&m, PT_VERSION, &v32, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 1", "3 bytes, expected 4");
	CHECK(v32 == 77, "u32 written on failure: %u", v32);
	rc = proto_get_u64(&m, PT_BYTES, &v64, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 11", "4 bytes, expected 8");
	rc = proto_get_bytes(&m, PT_NONCE, b32, sizeof(b32), &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute 5", "31 bytes, expected 32");
	free(copy), free(f.b), body.n = 0;

	/* An empty payload: a valid frame without attributes, everything
	 * absent (refusing a HELLO without version is the server's part). */
	f = frame(PROTO_HELLO, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.nattr == 0 && m.len == 0, "empty HELLO: %d %s", rc, e.msg);
	CHECK(proto_get_u32(&m, PT_VERSION, &v32, &e) == 0, "version in an empty HELLO");
	CHECK(proto_get_str(&m, PT_CLIENT, s, sizeof(s), &e) == 0, "client in an empty HELLO");
	free(copy), free(f.b);

	/* DATA is not an attribute list: NULs and odd lengths are payload. */
	w_bytes(&body, "\0\0\xff\xff\1", 5);
	f = frame(PROTO_DATA, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.type == PROTO_DATA && m.len == 5 && m.nattr == 0 &&
	      !memcmp(m.payload, "\0\0\xff\xff\1", 5), "DATA: %d %s", rc, e.msg);
	free(copy), free(f.b), body.n = 0;
	free(body.b);
}

static void test_values(void)
{
	struct img_error e = { 0 };
	struct proto_msg m;
	struct wire body = { 0 }, f;
	uint8_t *copy, nonce[32], got[32];
	char s[PROTO_MAX_PATH + 1];
	uint32_t v32;
	uint64_t v64;
	int rc;

	/* END {bytes} written out: little-endian on the wire. */
	static const uint8_t end[] = { 12, 0, 0, 0, 8, 0, 0, 0, 11, 0, 8, 0,
				       0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	f.b = malloc(sizeof(end));
	memcpy(f.b, end, sizeof(end));
	f.n = sizeof(end);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.type == PROTO_END && m.nattr == 1, "END: %d %s", rc, e.msg);
	rc = proto_get_u64(&m, PT_BYTES, &v64, &e);
	CHECK(rc == 1 && v64 == 0x0102030405060708ull, "END bytes %d %llx", rc,
	      (unsigned long long)v64);
	CHECK(proto_get_u32(&m, PT_BYTES, &v32, &e) == -IMG_E_PROTO, "u64 read as u32");
	free(copy), free(f.b);

	/* WELCOME, with an unknown tag and a repeated non-list attribute. */
	for (int i = 0; i < 32; i++)
		nonce[i] = (uint8_t)(0x40 + i);
	w_attr(&body, PT_VERSION, "\1\0\0\0", 4);
	w_attr(&body, 25, "later", 5);
	w_attr(&body, PT_CAPS, "\7\0\0\0", 4);
	w_str(&body, PT_SERVER, "imgsrv");
	w_attr(&body, PT_NONCE, nonce, 32);
	w_attr(&body, PT_VERSION, "\x09\0\0\0", 4);
	f = frame(PROTO_WELCOME, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.type == PROTO_WELCOME && m.nattr == 6, "WELCOME: %d %s",
	      rc, e.msg);
	CHECK(proto_get_u32(&m, PT_VERSION, &v32, &e) == 1 && v32 == 1,
	      "version %u (the first counts)", v32);
	CHECK(proto_get_u32(&m, PT_CAPS, &v32, &e) == 1 && v32 == 7, "caps %u", v32);
	CHECK(proto_get_str(&m, PT_SERVER, s, sizeof(s), &e) == 1 &&
	      !strcmp(s, "imgsrv"), "server '%s'", s);
	CHECK(proto_get_str(&m, PT_SERVER, s, 7, &e) == 1 && !strcmp(s, "imgsrv"),
	      "server in a buffer of exactly 7");
	CHECK(proto_get_bytes(&m, PT_NONCE, got, 32, &e) == 1 && !memcmp(got, nonce, 32),
	      "nonce");
	CHECK(proto_get_str(&m, PT_CLIENT, s, sizeof(s), &e) == 0, "absent client");
	free(copy), free(f.b), body.n = 0;

	/* Repeated MACs, an empty string, a path of exactly the maximum. */
	w_str(&body, PT_MAC, "52:54:00:12:34:56");
	w_str(&body, PT_HOSTNAME, "");
	w_str(&body, PT_MAC, "52:54:00:12:34:57");
	w_str(&body, PT_MAC, "02:00:00:00:00:01");
	char longpath[PROTO_MAX_PATH + 2];
	memset(longpath, 'p', PROTO_MAX_PATH);
	longpath[PROTO_MAX_PATH] = 0;
	w_str(&body, PT_PATH, longpath);
	f = frame(PROTO_AUTOREQ, &body);
	rc = decode(&f, &m, &copy, &e);
	CHECK(rc == 0 && m.nattr == 5, "AUTO: %d %s", rc, e.msg);
	static const char *const macs[] = { "52:54:00:12:34:56", "52:54:00:12:34:57",
					    "02:00:00:00:00:01" };
	for (unsigned i = 0; i < 3; i++)
		CHECK(proto_get_str_n(&m, PT_MAC, i, s, sizeof(s), &e) == 1 &&
		      !strcmp(s, macs[i]), "mac %u '%s'", i, s);
	CHECK(proto_get_str_n(&m, PT_MAC, 3, s, sizeof(s), &e) == 0, "a fourth mac");
	CHECK(proto_get_str(&m, PT_HOSTNAME, s, 1, &e) == 1 && s[0] == 0,
	      "empty hostname in a 1-byte buffer");
	CHECK(proto_get_str(&m, PT_PATH, s, PROTO_MAX_PATH + 1, &e) == 1 &&
	      strlen(s) == PROTO_MAX_PATH, "path of %d bytes", PROTO_MAX_PATH);
	rc = proto_get_str(&m, PT_PATH, s, PROTO_MAX_PATH, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "attribute 10", "1024 bytes");
	free(copy), free(f.b), body.n = 0;
	free(body.b);
}

/* proto_out: what it writes, and its limits. */
static void test_builder(void)
{
	struct proto_out *o = malloc(sizeof(*o));
	struct img_error e;
	struct proto_msg m;
	uint32_t v32;
	uint64_t v64;
	char s[32];
	if (!o)
		abort();

	proto_out_init(o, PROTO_HELLO);
	proto_put_u32(o, PT_VERSION, PROTO_VERSION);
	proto_put_u64(o, PT_DISK, 0xfedcba9876543210ull);
	proto_put_str(o, PT_CLIENT, "ws-017");
	proto_put_str(o, PT_SERIAL, NULL);   /* no-op */
	static const uint8_t want[] = { 1, 0, 4, 0, 1, 0, 0, 0,
					16, 0, 8, 0, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
					3, 0, 6, 0, 'w', 's', '-', '0', '1', '7' };
	CHECK(!o->overflow && o->nattr == 3 && o->len == PROTO_HDR + sizeof(want) &&
	      !memcmp(o->buf + PROTO_HDR, want, sizeof(want)) &&
	      !memcmp(o->buf + 4, "\1\0\0\0", 4), "HELLO as built");
	m = (struct proto_msg){ .type = PROTO_HELLO, .len = (uint32_t)(o->len - PROTO_HDR),
				.payload = o->buf + PROTO_HDR };
	CHECK(proto_parse_attrs(&m, &e) == 0 && m.nattr == 3, "built HELLO decodes");
	CHECK(proto_get_u32(&m, PT_VERSION, &v32, &e) == 1 && v32 == 1, "version");
	CHECK(proto_get_u64(&m, PT_DISK, &v64, &e) == 1 && v64 == 0xfedcba9876543210ull,
	      "disk");
	CHECK(proto_get_str(&m, PT_CLIENT, s, sizeof(s), &e) == 1 && !strcmp(s, "ws-017"),
	      "client");

	/* The 65th attribute, a value over 0xffff bytes, a message over 64 KiB:
	 * each sets overflow, and proto_send refuses to send it. */
	proto_out_init(o, PROTO_AUTOREQ);
	for (int i = 0; i < PROTO_MAX_ATTRS; i++)
		proto_put_str(o, PT_MAC, "x");
	CHECK(!o->overflow && o->nattr == 64, "64 attributes fit");
	proto_put_str(o, PT_MAC, "x");
	CHECK(o->overflow && o->nattr == 64, "65th attribute: overflow");

	uint8_t *big = calloc(1, 0x10000);
	if (!big)
		abort();
	proto_out_init(o, PROTO_STATUS);
	proto_put_bytes(o, PT_TEXT, big, 0x10000);
	CHECK(o->overflow && o->len == PROTO_HDR, "a value of 65536 bytes: overflow");
	proto_out_init(o, PROTO_STATUS);
	proto_put_bytes(o, PT_TEXT, big, PROTO_MAX_CTRL - 4);
	CHECK(!o->overflow && o->len == PROTO_HDR + PROTO_MAX_CTRL,
	      "a message of exactly 64 KiB");
	proto_put_bytes(o, PT_TEXT, big, 0);
	CHECK(o->overflow, "a message over 64 KiB: overflow");

	int sv[2];
	struct proto_conn c;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	CHECK(proto_conn_init(&c, sv[0], 1000, &e) == 0, "conn for overflow");
	int rc = proto_send(&c, o, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "message type 4", "65536");
	proto_conn_close(&c);
	close(sv[1]);
	free(big);
	free(o);
}

/* ---- status names, addresses, proofs, keys ------------------------------- */

static void test_status(void)
{
	for (uint32_t c = 0; c < PS_END; c++) {
		const char *n = proto_status_name(c);
		CHECK(n && n[0] && strcmp(n, "unknown status"), "status %u named '%s'",
		      c, n ? n : "(null)");
		CHECK(c == 0 ? proto_status_errcode(c) == 0 : proto_status_errcode(c) < 0,
		      "status %u maps to %d", c, proto_status_errcode(c));
	}
	CHECK(PS_END == 20, "status codes end at %d", PS_END);
	CHECK(!strcmp(proto_status_name(20), "unknown status"), "status 20");
	CHECK(!strcmp(proto_status_name(0xffffffffu), "unknown status"), "status 2^32-1");
	CHECK(proto_status_of(0) == PS_OK && proto_status_of(-IMG_E_PROTO) == PS_PROTOCOL &&
	      proto_status_of(-ENOSPC) == PS_NOSPACE, "proto_status_of");
}

static void test_hostport(void)
{
	static const struct { const char *in, *host; int port; } good[] = {
		{ "198.18.0.1", "198.18.0.1", 998 },
		{ "198.18.0.1:999", "198.18.0.1", 999 },
		{ "[::1]:5", "::1", 5 },
		{ "[::1]", "::1", 998 },
		{ "host", "host", 998 },
		{ "h:65535", "h", 65535 },
		{ "fe80::1", "fe80::1", 998 },
	};
	static const char *const bad[] = { "", ":5", "h:0", "h:70000", "h:x", "h:",
					   "[::1", "[::1]x", "[]:5", "[::1]:0" };
	char host[256];
	int port;
	struct img_error e;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&e, 0, sizeof(e));
		port = -1;
		int rc = proto_parse_hostport(good[i].in, host, sizeof(host), &port, 998, &e);
		CHECK(rc == 0 && !strcmp(host, good[i].host) && port == good[i].port,
		      "'%s': %d host '%s' port %d (%s)", good[i].in, rc, rc ? "" : host,
		      port, e.msg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		int rc = proto_parse_hostport(bad[i], host, sizeof(host), &port, 998, &e);
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
		CHECK_ERR(rc, e, -IMG_E_USAGE, quoted, "HOST[:PORT]");
	}
	/* A host longer than the caller's buffer. */
	int rc = proto_parse_hostport("abcdefgh:1", host, 8, &port, 998, &e);
	CHECK(rc == -IMG_E_USAGE, "host over hcap: %d", rc);
	rc = proto_parse_hostport("abcdefg:1", host, 8, &port, 998, &e);
	CHECK(rc == 0 && !strcmp(host, "abcdefg") && port == 1, "host of hcap - 1: %d", rc);
}

static void unhex(const char *h, uint8_t *out)
{
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			abort();
		out[i] = (uint8_t)v;
	}
}

static void test_proof(void)
{
	const uint8_t *key = (const uint8_t *)"0123456789abcdef";
	uint8_t a[PROTO_NONCE], b[PROTO_NONCE], p1[32], p2[32], want[32];
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));

	/* Known answers (Python: hmac.new(key, label + a + b, sha256)). */
	unhex("5b1ff084de3d94ee4fd3955872a44c44abd1242a2ec61973f5ebe230e0a9a280", want);
	CHECK(proto_proof(key, 16, PROTO_LABEL_CLIENT, a, b, p1) == 0 &&
	      !memcmp(p1, want, 32), "client proof differs from HMAC-SHA256");
	unhex("69666308d69fc067a391288cc43e02066667492cce3eb71b27aefcbbc4e23bf1", want);
	CHECK(proto_proof(key, 16, PROTO_LABEL_SERVER, b, a, p1) == 0 &&
	      !memcmp(p1, want, 32), "server proof differs from HMAC-SHA256");

	CHECK(proto_proof(key, 16, PROTO_LABEL_CLIENT, a, b, p1) == 0 &&
	      proto_proof(key, 16, PROTO_LABEL_CLIENT, a, b, p2) == 0 &&
	      !memcmp(p1, p2, 32), "proof not deterministic");
	const uint8_t *key2 = (const uint8_t *)"0123456789abcdeF";
	CHECK(proto_proof(key2, 16, PROTO_LABEL_CLIENT, a, b, p2) == 0 &&
	      memcmp(p1, p2, 32), "a different key gives the same proof");
	CHECK(proto_proof(key, 15, PROTO_LABEL_CLIENT, a, b, p2) == 0 &&
	      memcmp(p1, p2, 32), "a shorter key gives the same proof");
	CHECK(proto_proof(key, 16, PROTO_LABEL_SERVER, a, b, p2) == 0 &&
	      memcmp(p1, p2, 32), "the server label gives the client proof");
	CHECK(proto_proof(key, 16, PROTO_LABEL_CLIENT, b, a, p2) == 0 &&
	      memcmp(p1, p2, 32), "swapped nonces give the same proof");
	char label[80];
	memset(label, 'l', 65);
	label[65] = 0;
	CHECK(proto_proof(key, 16, label, a, b, p2) == -IMG_E_USAGE, "label of 65 bytes");
}

static void test_keyload(void)
{
	char path[] = "/tmp/img-proto-key-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	uint8_t *key = NULL;
	size_t len = 0;
	struct img_error e;

	CHECK(write(fd, "0123456789abcde\n", 16) == 16, "write key");
	int rc = proto_key_load(path, &key, &len, &e);
	CHECK_ERR(rc, e, -IMG_E_AUTH, path, "16 to 4096 bytes");
	CHECK(write(fd, "F\r\n", 3) == 3, "write key");
	rc = proto_key_load(path, &key, &len, &e);
	CHECK(rc == 0 && len == 17 && !memcmp(key, "0123456789abcde\nF", 17),
	      "key of 17 bytes and a line end: %d len %zu", rc, len);
	free(key);
	close(fd);
	unlink(path);
	rc = proto_key_load(path, &key, &len, &e);
	CHECK_ERR(rc, e, -ENOENT, path);
}

/* ---- connections over a socketpair --------------------------------------- */

static void pair(struct proto_conn *a, struct proto_conn *b, int timeout_ms)
{
	int sv[2];
	struct img_error e;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	CHECK(proto_conn_init(a, sv[0], timeout_ms, &e) == 0 && a->peer[0],
	      "proto_conn_init on an AF_UNIX socket: %s", e.msg);
	CHECK(proto_conn_init(b, sv[1], timeout_ms, &e) == 0 && b->peer[0],
	      "proto_conn_init on an AF_UNIX socket: %s", e.msg);
}

/* Write raw bytes to a's socket, then close a (a peer that stops). */
static void raw_then_close(struct proto_conn *a, const void *p, size_t n)
{
	if (n && write(a->fd, p, n) != (ssize_t)n)
		abort();
	proto_conn_close(a);
}

static void test_conn(void)
{
	struct proto_conn a, b;
	struct proto_msg m;
	struct img_error e = { 0 };
	struct proto_out *o = malloc(sizeof(*o));
	char s[PROTO_MAX_TEXT + 1];
	uint32_t v32;
	uint64_t v64;
	int rc;
	if (!o)
		abort();

	pair(&a, &b, 5000);
	CHECK(proto_pending(&b) == 0, "nothing pending on a fresh connection");

	proto_out_init(o, PROTO_HELLO);
	proto_put_u32(o, PT_VERSION, 1);
	proto_put_str(o, PT_CLIENT, "ws-017");
	rc = proto_send(&a, o, &e);
	CHECK(rc == 0, "send HELLO: %s", e.msg);
	CHECK(proto_pending(&b) == 1, "HELLO pending");
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_HELLO && m.nattr == 2, "recv HELLO: %d %s", rc,
	      e.msg);
	CHECK(proto_get_u32(&m, PT_VERSION, &v32, &e) == 1 && v32 == 1 &&
	      proto_get_str(&m, PT_CLIENT, s, sizeof(s), &e) == 1 && !strcmp(s, "ws-017"),
	      "HELLO values");

	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	rc = proto_send_data(&a, data, sizeof(data), &e);
	CHECK(rc == 0, "send DATA: %s", e.msg);
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_DATA && m.len == sizeof(data) && m.nattr == 0 &&
	      !memcmp(m.payload, data, sizeof(data)), "recv DATA: %d %s", rc, e.msg);

	/* STATUS with text over the limit: sent cut to PROTO_MAX_TEXT. */
	char *text = malloc(70001);
	if (!text)
		abort();
	memset(text, 't', 70000);
	text[70000] = 0;
	rc = proto_send_status(&a, PS_BADPATH, text, &e);
	CHECK(rc == 0, "send STATUS: %s", e.msg);
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_STATUS, "recv STATUS: %d %s", rc, e.msg);
	CHECK(proto_get_u32(&m, PT_CODE, &v32, &e) == 1 && v32 == PS_BADPATH, "code %u", v32);
	CHECK(proto_get_str(&m, PT_TEXT, s, sizeof(s), &e) == 1 &&
	      strlen(s) == PROTO_MAX_TEXT, "text of %zu bytes", strlen(s));
	free(text);

	/* PING is answered with PONG and skipped by the receiver. */
	CHECK(proto_send_empty(&a, PROTO_PING, &e) == 0, "send PING");
	proto_out_init(o, PROTO_END);
	proto_put_u64(o, PT_BYTES, 1000);
	CHECK(proto_send(&a, o, &e) == 0, "send END");
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_END && proto_get_u64(&m, PT_BYTES, &v64, &e) == 1 &&
	      v64 == 1000, "PING not skipped: got type %u rc %d %s", m.type, rc, e.msg);
	CHECK(proto_pending(&a) == 1, "no PONG came back");
	rc = proto_recv(&a, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_PONG && m.len == 0, "PONG: type %u rc %d %s",
	      m.type, rc, e.msg);

	/* A peer that closes between frames. */
	CHECK(proto_send_empty(&a, PROTO_BYE, &e) == 0, "send BYE");
	raw_then_close(&a, NULL, 0);
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_BYE, "BYE before close: %d %s", rc, e.msg);
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_CLOSED, "closed the connection");
	proto_conn_close(&b);

	/* A peer that closes inside a payload. */
	static const uint8_t cut[] = { 20, 0, 0, 0, PROTO_PUT, 0, 0, 0, 10, 0, 16, 0, 'l' };
	pair(&a, &b, 5000);
	raw_then_close(&a, cut, sizeof(cut));
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "closed the connection", "5 of 20 bytes");
	proto_conn_close(&b);

	/* ... inside a header. */
	pair(&a, &b, 5000);
	raw_then_close(&a, cut, 3);
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "inside a frame header");
	proto_conn_close(&b);

	/* ... before sending anything. */
	pair(&a, &b, 5000);
	raw_then_close(&a, NULL, 0);
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_CLOSED, "closed the connection");
	/* Sending to a peer that is gone: no SIGPIPE, a closed connection. */
	rc = proto_send_empty(&b, PROTO_BYE, &e);
	CHECK_ERR(rc, e, -IMG_E_CLOSED, "connection lost");
	proto_conn_close(&b);

	/* A hostile header is refused before any payload is read. */
	static const uint8_t huge[] = { 0, 0, 0x20, 0, PROTO_DATA, 0, 0, 0 };
	pair(&a, &b, 5000);
	raw_then_close(&a, huge, sizeof(huge));
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_LIMIT, "2097152", "maximum");
	proto_conn_close(&b);

	/* A malformed PING is an error, not answered. */
	static const uint8_t badping[] = { 2, 0, 0, 0, PROTO_PING, 0, 0, 0, 1, 0 };
	pair(&a, &b, 5000);
	if (write(a.fd, badping, sizeof(badping)) != (ssize_t)sizeof(badping))
		abort();
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "attribute header cut");
	CHECK(proto_pending(&a) == 0, "a malformed PING was answered");
	proto_conn_close(&a);
	proto_conn_close(&b);

	/* A peer that sends nothing: the receive times out. */
	pair(&a, &b, 200);
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -ETIMEDOUT, "no progress");
	proto_conn_close(&a);
	proto_conn_close(&b);

	/* A DATA frame of the largest size, from another process (it does not
	 * fit the socket buffer). */
	pair(&a, &b, 5000);
	uint8_t *big = malloc(PROTO_MAX_PAYLOAD);
	if (!big)
		abort();
	for (size_t i = 0; i < PROTO_MAX_PAYLOAD; i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	pid_t pid = fork();
	if (pid == 0) {
		int r = proto_send_data(&a, big, PROTO_MAX_PAYLOAD, NULL);
		_exit(r == 0 ? 0 : 1);
	}
	proto_conn_close(&a);
	rc = proto_recv(&b, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_DATA && m.len == PROTO_MAX_PAYLOAD &&
	      !memcmp(m.payload, big, PROTO_MAX_PAYLOAD), "1 MiB DATA: %d %s", rc, e.msg);
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0, "sender of 1 MiB DATA failed");
	rc = proto_recv(&b, &m, &e);
	CHECK_ERR(rc, e, -IMG_E_CLOSED, "closed the connection");
	CHECK(proto_send_data(&b, big, PROTO_MAX_PAYLOAD + 1, &e) == -IMG_E_LIMIT,
	      "DATA over 1 MiB sent");
	proto_conn_close(&b);
	free(big);
	free(o);
}

/* ---- proto_client_get and proto_client_result over a socketpair ---------- */

/* Queue the server's STATUS on srv (read by the client's next receive). */
static void srv_status(struct proto_conn *srv, uint32_t code, const char *text,
		       uint64_t bytes, int with_offset, uint64_t offset)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		abort();
	proto_out_init(o, PROTO_STATUS);
	proto_put_u32(o, PT_CODE, code);
	if (text)
		proto_put_str(o, PT_TEXT, text);
	proto_put_u64(o, PT_BYTES, bytes);
	if (with_offset)
		proto_put_u64(o, PT_OFFSET, offset);
	CHECK(proto_send(srv, o, NULL) == 0, "queue a STATUS");
	free(o);
}

static void test_get(void)
{
	struct proto_client cl;
	struct proto_conn srv;
	struct proto_msg m;
	struct img_error e = { 0 };
	char path[64], mac[32];
	uint64_t bytes, v64;
	uint32_t v32;
	int rc;

	/* the whole image: no offset attribute on the wire */
	memset(&cl, 0, sizeof(cl));
	snprintf(cl.addr, sizeof(cl.addr), "test-server");
	pair(&cl.c, &srv, 2000);
	srv_status(&srv, PS_OK, NULL, 1000, 0, 0);
	bytes = 0;
	rc = proto_client_get(&cl, "lab/a.img", "52:54:00:12:34:56", 0, &bytes, &e);
	CHECK(rc == 0 && bytes == 1000, "GET: %d %s, %llu bytes", rc, e.msg,
	      (unsigned long long)bytes);
	rc = proto_recv(&srv, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_GET, "the server reads GET: %d %s", rc, e.msg);
	CHECK(proto_get_str(&m, PT_PATH, path, sizeof(path), NULL) == 1 &&
	      !strcmp(path, "lab/a.img"), "GET names the path");
	CHECK(proto_get_str(&m, PT_MAC, mac, sizeof(mac), NULL) == 1 &&
	      !strcmp(mac, "52:54:00:12:34:56"), "GET names the MAC");
	CHECK(proto_get_u64(&m, PT_OFFSET, &v64, NULL) == 0, "no offset for offset 0");
	CHECK(proto_get_u32(&m, PT_AUTO, &v32, NULL) == 0, "no auto outside automatic mode");

	/* from an offset, echoed: accepted; automatic mode says so */
	cl.automatic = 1;
	srv_status(&srv, PS_OK, NULL, 600, 1, 400);
	rc = proto_client_get(&cl, "lab/a.img", NULL, 400, &bytes, &e);
	CHECK(rc == 0 && bytes == 600, "GET from 400: %d %s, %llu bytes", rc, e.msg,
	      (unsigned long long)bytes);
	rc = proto_recv(&srv, &m, &e);
	CHECK(rc == 0 && proto_get_u64(&m, PT_OFFSET, &v64, NULL) == 1 && v64 == 400,
	      "GET carries offset 400");
	CHECK(proto_get_u32(&m, PT_AUTO, &v32, NULL) == 1 && v32 == 1, "GET carries auto 1");
	CHECK(proto_get_str(&m, PT_MAC, mac, sizeof(mac), NULL) == 0, "no MAC when none given");

	/* a server that predates offsets answers without the echo: refused */
	srv_status(&srv, PS_OK, NULL, 1000, 0, 0);
	rc = proto_client_get(&cl, "lab/a.img", NULL, 400, &bytes, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "cannot send 'lab/a.img' from byte 400", "predates");
	(void)proto_recv(&srv, &m, NULL);
	srv_status(&srv, PS_OK, NULL, 1000, 1, 401);
	rc = proto_client_get(&cl, "lab/a.img", NULL, 400, &bytes, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "from byte 400");
	(void)proto_recv(&srv, &m, NULL);

	/* the server's refusal, with its reason */
	srv_status(&srv, PS_BADARG, "offset 5000 is past the end", 0, 0, 0);
	rc = proto_client_get(&cl, "lab/a.img", NULL, 5000, &bytes, &e);
	CHECK_ERR(rc, e, -IMG_E_REFUSED, "test-server", "bad argument", "past the end");
	(void)proto_recv(&srv, &m, NULL);
	srv_status(&srv, PS_NOTFOUND, "no image 'lab/b.img'", 0, 0, 0);
	rc = proto_client_get(&cl, "lab/b.img", NULL, 0, &bytes, &e);
	CHECK_ERR(rc, e, -IMG_E_NOTFOUND, "not found", "no image 'lab/b.img'");
	(void)proto_recv(&srv, &m, NULL);

	/* anything but STATUS where the answer is due */
	CHECK(proto_send_empty(&srv, PROTO_END, NULL) == 0, "queue END");
	rc = proto_client_get(&cl, "lab/a.img", NULL, 0, &bytes, &e);
	CHECK_ERR(rc, e, -IMG_E_PROTO, "answered GET with message type 8");
	(void)proto_recv(&srv, &m, NULL);

	/* RESULT: the outcome, with the reason only on failure */
	srv_status(&srv, PS_OK, NULL, 0, 0, 0);
	proto_client_result(&cl, 0, "ignored");
	rc = proto_recv(&srv, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_RESULT &&
	      proto_get_u32(&m, PT_CODE, &v32, NULL) == 1 && v32 == PS_OK &&
	      proto_get_str(&m, PT_TEXT, path, sizeof(path), NULL) == 0,
	      "RESULT ok without text: %d %s", rc, e.msg);
	srv_status(&srv, PS_OK, NULL, 0, 0, 0);
	proto_client_result(&cl, -IMG_E_DIGEST, "chunk 3: digest");
	rc = proto_recv(&srv, &m, &e);
	CHECK(rc == 0 && m.type == PROTO_RESULT &&
	      proto_get_u32(&m, PT_CODE, &v32, NULL) == 1 && v32 == PS_CORRUPT &&
	      proto_get_str(&m, PT_TEXT, path, sizeof(path), NULL) == 1 &&
	      !strcmp(path, "chunk 3: digest"), "RESULT failed with its reason");
	proto_conn_close(&srv);
	/* a peer gone: best effort, no hang, no crash */
	proto_client_result(&cl, 0, NULL);
	proto_conn_close(&cl.c);
}

int main(void)
{
	test_header();
	test_attrs();
	test_values();
	test_builder();
	test_status();
	test_hostport();
	test_proof();
	test_keyload();
	test_conn();
	test_get();
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
