/* mcwire.c - the multicast packets' layouts (man/img-protocol.7,
 * MULTICAST SESSIONS): encode and decode only, no I/O.
 *
 * Every field is little-endian (base/bytes.h).  Encoders write into a
 * fixed struct mc_pk that every message fits; decoders read through an
 * img_rbuf, which turns a read past the end into a bad record, so each
 * decoder checks once, at its end, that the body held what it read.
 */
#include <string.h>

#include "base/clock.h"
#include "mcast_int.h"

void mc_put_hdr(uint8_t *p, const struct mc_hdr *h)
{
	memcpy(p, MC_MAGIC, 4);
	p[4] = MC_VERSION;
	p[5] = h->type;
	img_le16(p + 6, h->flags);
	img_le32(p + 8, h->sid);
	img_le32(p + 12, h->run);
	img_le64(p + 16, h->seq);
	img_le32(p + 24, h->stamp);
}

int mc_get_hdr(const uint8_t *p, size_t n, struct mc_hdr *h)
{
	if (n < MC_HDR || memcmp(p, MC_MAGIC, 4) || p[4] != MC_VERSION ||
	    p[5] == 0 || p[5] >= MC_TYPE_END || img_get16(p + 6))
		return -1;
	h->type = p[5];
	h->flags = 0;
	h->sid = img_get32(p + 8);
	h->run = img_get32(p + 12);
	h->seq = img_get64(p + 16);
	h->stamp = img_get32(p + 24);
	return 0;
}

int mc_dec_packet(const uint8_t *p, size_t n, uint32_t sid, struct mc_hdr *h,
		  struct img_rbuf *r)
{
	if (mc_get_hdr(p, n, h) || h->sid != sid)
		return -1;
	*r = (struct img_rbuf){ p + MC_HDR, n - MC_HDR, 0, 0 };
	return 0;
}

/* ---- building ----------------------------------------------------------- */

void mc_pk_init(struct mc_pk *k, uint8_t type, uint32_t sid, uint32_t run,
		uint64_t seq)
{
	struct mc_hdr h = { .type = type, .sid = sid, .run = run, .seq = seq,
			    .stamp = img_now_ms() };
	mc_put_hdr(k->b, &h);
	k->n = MC_HDR;
}

static void pk_put(struct mc_pk *k, const void *p, size_t n)
{
	if (n && n <= sizeof(k->b) - k->n) {
		memcpy(k->b + k->n, p, n);
		k->n += n;
	}
}
static void pk8(struct mc_pk *k, uint8_t v) { pk_put(k, &v, 1); }
static void pk16(struct mc_pk *k, uint16_t v) { uint8_t b[2]; img_le16(b, v); pk_put(k, b, 2); }
static void pk32(struct mc_pk *k, uint32_t v) { uint8_t b[4]; img_le32(b, v); pk_put(k, b, 4); }
static void pk64(struct mc_pk *k, uint64_t v) { uint8_t b[8]; img_le64(b, v); pk_put(k, b, 8); }
/* A string: u16 length and at most max bytes, no terminator. */
static void pkstr(struct mc_pk *k, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	pk16(k, (uint16_t)n);
	pk_put(k, s, n);
}

void mc_enc_announce(struct mc_pk *k, const struct mc_announce *a)
{
	pk8(k, (uint8_t)a->state);
	pk8(k, 0);
	pk16(k, (uint16_t)a->registered);
	pk16(k, (uint16_t)a->port);
	pk16(k, (uint16_t)a->flags);
	pk64(k, a->sent);
	pk64(k, a->total);
	pk64(k, a->bytes);
	pkstr(k, a->name, PROTO_MAX_SESSION);
	pkstr(k, a->path, 512);
	pkstr(k, a->why, 150);
}

void mc_enc_join(struct mc_pk *k, uint32_t nonce, const char *host)
{
	pk32(k, nonce);
	pkstr(k, host, 63);
}

void mc_enc_reply(struct mc_pk *k, uint32_t nonce, uint16_t id, uint16_t npeers,
		  const char *text)
{
	pk32(k, nonce);
	pk16(k, id);
	pk16(k, npeers);
	pkstr(k, text, 300);
}

void mc_enc_status(struct mc_pk *k, const struct mc_status *s)
{
	pk16(k, s->id);
	pk16(k, s->flags);
	pk64(k, s->next);
	pk64(k, s->limit);
	pk64(k, s->rx);
	pk64(k, s->lost);
	pk32(k, s->echo);
	pk32(k, s->held);
	pk16(k, 0);                /* nr: mc_enc_status_end */
}

void mc_enc_range(struct mc_pk *k, uint32_t off, uint32_t n)
{
	pk32(k, off);
	pk32(k, n);
}

void mc_enc_status_end(struct mc_pk *k, uint16_t nr)
{
	/* nr ends the fixed part: after the header, 2 + 2 + 4 * 8 + 2 * 4
	 * bytes */
	img_le16(k->b + MC_HDR + 44, nr);
}

void mc_enc_result(struct mc_pk *k, uint16_t id, int32_t code, uint64_t bytes,
		   const char *text)
{
	pk16(k, id);
	pk32(k, (uint32_t)code);
	pk64(k, bytes);
	pkstr(k, text, 150);
}

void mc_enc_leave(struct mc_pk *k, uint16_t id)
{
	pk16(k, id);
}

size_t mc_enc_data(uint8_t *dst, const struct mc_hdr *h, const void *payload,
		   size_t n)
{
	if (n > MC_PAYLOAD)
		n = MC_PAYLOAD;
	mc_put_hdr(dst, h);
	memcpy(dst + MC_HDR, payload, n);
	return MC_HDR + n;
}

/* ---- reading ------------------------------------------------------------ */

int mc_dec_announce(struct img_rbuf *r, struct mc_announce *a)
{
	a->state = img_rd8(r);
	img_rd8(r);
	a->registered = img_rd16(r);
	a->port = img_rd16(r);
	a->flags = img_rd16(r);
	a->sent = img_rd64(r);
	a->total = img_rd64(r);
	a->bytes = img_rd64(r);
	img_rdstr(r, a->name, sizeof(a->name));
	img_rdstr(r, a->path, 512);
	img_rdstr(r, a->why, sizeof(a->why));
	return r->bad || a->state < MC_ST_WAITING || a->state > MC_ST_ABORTED ? -1 : 0;
}

int mc_dec_join(struct img_rbuf *r, uint32_t *nonce, char *host, size_t cap)
{
	*nonce = img_rd32(r);
	img_rdstr(r, host, cap);
	return r->bad ? -1 : 0;
}

int mc_dec_reply(struct img_rbuf *r, struct mc_reply *o, int whole)
{
	o->nonce = img_rd32(r);
	o->id = img_rd16(r);
	o->npeers = 0;
	o->text[0] = 0;
	if (whole) {
		o->npeers = img_rd16(r);
		img_rdstr(r, o->text, sizeof(o->text));
	}
	return r->bad ? -1 : 0;
}

int mc_dec_id(struct img_rbuf *r, uint16_t *id)
{
	*id = img_rd16(r);
	return r->bad ? -1 : 0;
}

int mc_dec_status(struct img_rbuf *r, struct mc_status *s)
{
	s->flags = img_rd16(r);
	s->next = img_rd64(r);
	s->limit = img_rd64(r);
	s->rx = img_rd64(r);
	s->lost = img_rd64(r);
	s->echo = img_rd32(r);
	s->held = img_rd32(r);
	s->nr = img_rd16(r);
	return r->bad || s->nr > MC_RANGES ? -1 : 0;
}

int mc_dec_range(struct img_rbuf *r, uint32_t *off, uint32_t *n)
{
	*off = img_rd32(r);
	*n = img_rd32(r);
	return r->bad ? -1 : 0;
}

int mc_dec_result(struct img_rbuf *r, int32_t *code, uint64_t *bytes, char *text,
		  size_t cap)
{
	*code = (int32_t)img_rd32(r);
	*bytes = img_rd64(r);
	img_rdstr(r, text, cap);
	return r->bad ? -1 : 0;
}
