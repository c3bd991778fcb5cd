/* client.c - the client side of the imgserv protocol: handshake,
 * authentication, and the image stream as an img_sink / img_source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/err.h"
#include "proto.h"

int proto_client_open(struct proto_client *cl, const char *hostport,
		      int timeout_ms, struct img_error *err)
{
	char host[256];
	int port, rc;
	memset(cl, 0, sizeof(*cl));
	cl->c.fd = -1;
	snprintf(cl->addr, sizeof(cl->addr), "%s", hostport);
	rc = proto_parse_hostport(hostport, host, sizeof(host), &port, PROTO_PORT, err);
	if (rc)
		return rc;
	int fd = proto_connect(host, port, timeout_ms, err);
	if (fd < 0)
		return fd;
	rc = proto_conn_init(&cl->c, fd, timeout_ms, err);
	if (rc)
		return rc;
	snprintf(cl->c.peer, sizeof(cl->c.peer), "imaging server %s", hostport);

	struct proto_out *o = malloc(sizeof(*o));
	if (!o) {
		rc = img_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	char me[256] = "";
	(void)gethostname(me, sizeof(me) - 1);
	proto_out_init(o, PROTO_HELLO);
	proto_put_u32(o, PT_VERSION, PROTO_VERSION);
	proto_put_u32(o, PT_CAPS, PROTO_CAP_AUTH | PROTO_CAP_AUTO | PROTO_CAP_TOKEN);
	proto_put_str(o, PT_CLIENT, me);
	rc = proto_send(&cl->c, o, err);
	free(o);
	if (rc)
		goto fail;
	struct proto_msg m;
	rc = proto_recv(&cl->c, &m, err);
	if (rc)
		goto fail;
	if (m.type == PROTO_STATUS) {
		char text[512] = "";
		uint32_t code = PS_PROTOCOL;
		(void)proto_get_u32(&m, PT_CODE, &code, NULL);
		(void)proto_get_str(&m, PT_TEXT, text, sizeof(text), NULL);
		rc = img_err_set(err, proto_status_errcode(code) ? proto_status_errcode(code)
				 : -IMG_E_PROTO,
				 "imaging server %s refused the connection: %s%s%s",
				 hostport, proto_status_name(code), *text ? ": " : "", text);
		goto fail;
	}
	uint32_t ver = 0;
	if (m.type != PROTO_WELCOME ||
	    proto_get_u32(&m, PT_VERSION, &ver, err) != 1 ||
	    proto_get_bytes(&m, PT_NONCE, cl->nonce, PROTO_NONCE, err) != 1) {
		rc = img_err_set(err, -IMG_E_PROTO,
				 "%s did not answer as an imaging server (message type %u)",
				 hostport, m.type);
		goto fail;
	}
	if (ver != PROTO_VERSION) {
		rc = img_err_set(err, -IMG_E_PROTO,
				 "imaging server %s speaks protocol version %u, we speak %d",
				 hostport, ver, PROTO_VERSION);
		goto fail;
	}
	(void)proto_get_u32(&m, PT_CAPS, &cl->caps, NULL);
	if (proto_get_str(&m, PT_SERVER, cl->server, sizeof(cl->server), NULL) != 1)
		snprintf(cl->server, sizeof(cl->server), "%s", hostport);
	return 0;
fail:
	proto_conn_close(&cl->c);
	return rc;
}

void proto_client_close(struct proto_client *cl)
{
	if (cl->c.fd >= 0)
		(void)proto_send_empty(&cl->c, PROTO_BYE, NULL);
	proto_conn_close(&cl->c);
}

/* The STATUS in m as 0 or an engine error with the server's text. */
static int status_of(struct proto_client *cl, const struct proto_msg *m,
		     char *text, size_t cap, uint64_t *bytes,
		     struct img_error *err)
{
	uint32_t code;
	char t[1024] = "";
	if (proto_get_u32(m, PT_CODE, &code, err) != 1)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s sent a STATUS without a code",
				   cl->addr);
	(void)proto_get_str(m, PT_TEXT, t, sizeof(t), NULL);
	if (text)
		snprintf(text, cap, "%s", t);
	if (bytes)
		(void)proto_get_u64(m, PT_BYTES, bytes, NULL);
	if (code == PS_OK)
		return 0;
	return img_err_set(err, proto_status_errcode(code),
			   "imaging server %s: %s%s%s", cl->addr,
			   proto_status_name(code), *t ? ": " : "", t);
}

int proto_client_status(struct proto_client *cl, char *text, size_t cap,
			uint64_t *bytes, struct img_error *err)
{
	struct proto_msg m;
	int rc = proto_recv(&cl->c, &m, err);
	if (rc)
		return rc;
	if (m.type != PROTO_STATUS)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s sent message type %u where a status was due",
				   cl->addr, m.type);
	return status_of(cl, &m, text, cap, bytes, err);
}

int proto_client_auth(struct proto_client *cl, const uint8_t *key,
		      size_t keylen, struct img_error *err)
{
	uint8_t cn[PROTO_NONCE], proof[32], want[32], got[32];
	if (RAND_bytes(cn, sizeof(cn)) != 1)
		return img_err_set(err, -IMG_E_CODEC, "no random numbers for the key proof");
	int rc = proto_proof(key, keylen, PROTO_LABEL_CLIENT, cl->nonce, cn, proof);
	if (rc)
		return img_err_set(err, rc, "cannot compute the key proof");
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_AUTH);
	proto_put_bytes(o, PT_CNONCE, cn, sizeof(cn));
	proto_put_bytes(o, PT_PROOF, proof, sizeof(proof));
	rc = proto_send(&cl->c, o, err);
	free(o);
	if (rc)
		return rc;
	struct proto_msg m;
	rc = proto_recv(&cl->c, &m, err);
	if (rc)
		return rc;
	if (m.type != PROTO_STATUS)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s answered AUTH with message type %u",
				   cl->addr, m.type);
	rc = status_of(cl, &m, NULL, 0, NULL, err);
	if (rc)
		return rc;
	if (proto_get_bytes(&m, PT_PROOF, got, sizeof(got), err) != 1 ||
	    proto_proof(key, keylen, PROTO_LABEL_SERVER, cn, cl->nonce, want) ||
	    CRYPTO_memcmp(got, want, sizeof(want)))
		return img_err_set(err, -IMG_E_AUTH,
				   "imaging server %s could not prove it holds the site key; "
				   "not sending anything to it", cl->addr);
	return 0;
}

int proto_client_connect(struct proto_client *cl, const char *hostport,
			 const char *keyfile, int timeout_ms,
			 struct img_error *err)
{
	int rc = proto_client_open(cl, hostport, timeout_ms, err);
	if (rc || !keyfile)
		return rc;
	uint8_t *key;
	size_t len;
	rc = proto_key_load(keyfile, &key, &len, err);
	if (!rc) {
		rc = proto_client_auth(cl, key, len, err);
		memset(key, 0, len);
		free(key);
	}
	if (rc)
		proto_conn_close(&cl->c);
	return rc;
}

int proto_client_get(struct proto_client *cl, const char *path,
		     const char *mac, uint64_t offset, uint64_t *bytes,
		     struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_GET);
	proto_put_str(o, PT_PATH, path);
	if (cl->automatic)
		proto_put_u32(o, PT_AUTO, 1);
	if (mac && *mac)
		proto_put_str(o, PT_MAC, mac);
	if (offset)
		proto_put_u64(o, PT_OFFSET, offset);
	int rc = proto_send(&cl->c, o, err);
	free(o);
	if (rc)
		return rc;
	struct proto_msg m;
	rc = proto_recv(&cl->c, &m, err);
	if (rc)
		return rc;
	if (m.type != PROTO_STATUS)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s answered GET with message type %u",
				   cl->addr, m.type);
	uint64_t n = 0, at = 0;
	rc = status_of(cl, &m, NULL, 0, &n, err);
	if (rc)
		return rc;
	/* An older server ignores the offset attribute and would send the
	 * image from its start: only an echoed offset proves otherwise. */
	if (offset && (proto_get_u64(&m, PT_OFFSET, &at, NULL) != 1 || at != offset))
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s cannot send '%s' from byte %llu "
				   "(it predates GET with an offset)", cl->addr, path,
				   (unsigned long long)offset);
	if (bytes)
		*bytes = n;
	return 0;
}

void proto_client_result(struct proto_client *cl, int rc, const char *text)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return;
	proto_out_init(o, PROTO_RESULT);
	proto_put_u32(o, PT_CODE, proto_status_of(rc));
	if (rc && text)
		proto_put_str(o, PT_TEXT, text);
	if (!proto_send(&cl->c, o, NULL))
		(void)proto_client_status(cl, NULL, 0, NULL, NULL);
	free(o);
}

/* ---- upload ----------------------------------------------------------- */

int proto_upload_begin(struct proto_upload *u, struct proto_client *cl,
		       struct img_error *err)
{
	memset(u, 0, sizeof(*u));
	u->cl = cl;
	u->buf = malloc(PROTO_DATA_CHUNK);
	if (!u->buf)
		return img_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* The server may answer before the stream ends (it refused or failed the
 * upload): read its STATUS so the user learns why. */
static int early_status(struct proto_upload *u)
{
	int p = proto_pending(&u->cl->c);
	if (p <= 0)
		return p;
	int rc = proto_client_status(u->cl, NULL, 0, NULL, &u->err);
	return rc ? rc : img_err_set(&u->err, -IMG_E_PROTO,
				     "imaging server %s accepted the upload before it ended",
				     u->cl->addr);
}

static int flush(struct proto_upload *u)
{
	int rc = early_status(u);
	if (rc)
		return rc;
	if (!u->len)
		return 0;
	rc = proto_send_data(&u->cl->c, u->buf, u->len, &u->err);
	if (rc) {
		/* A failed send may hide the server's reason: look for it. */
		struct img_error e2 = {0};
		if (proto_client_status(u->cl, NULL, 0, NULL, &e2) < 0 &&
		    e2.code != -IMG_E_CLOSED && e2.code != -IMG_E_PROTO &&
		    e2.code != -ETIMEDOUT) {
			u->err = e2;
			rc = e2.code;
		}
		return rc;
	}
	u->total += u->len;
	u->len = 0;
	return 0;
}

int proto_upload_write(void *ctx, const void *buf, size_t len)
{
	struct proto_upload *u = ctx;
	const uint8_t *p = buf;
	while (len) {
		size_t k = PROTO_DATA_CHUNK - u->len;
		if (k > len)
			k = len;
		memcpy(u->buf + u->len, p, k);
		u->len += k;
		p += k;
		len -= k;
		if (u->len == PROTO_DATA_CHUNK) {
			int rc = flush(u);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int proto_upload_finish(struct proto_upload *u, struct img_error *err)
{
	int rc = flush(u);
	free(u->buf);
	u->buf = NULL;
	if (rc) {
		*err = u->err;
		return rc;
	}
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_END);
	proto_put_u64(o, PT_BYTES, u->total);
	rc = proto_send(&u->cl->c, o, err);
	free(o);
	if (rc)
		return rc;
	uint64_t stored = 0;
	rc = proto_client_status(u->cl, NULL, 0, &stored, err);
	if (rc)
		return rc;
	if (stored != u->total)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s stored %llu bytes, we sent %llu",
				   u->cl->addr, (unsigned long long)stored,
				   (unsigned long long)u->total);
	return 0;
}

void proto_upload_abort(struct proto_upload *u, const char *why)
{
	struct proto_out *o = malloc(sizeof(*o));
	free(u->buf);
	u->buf = NULL;
	if (!o)
		return;
	proto_out_init(o, PROTO_ABORT);
	proto_put_u32(o, PT_CODE, PS_ABORTED);
	proto_put_str(o, PT_TEXT, why);
	(void)proto_send(&u->cl->c, o, NULL);
	free(o);
}

/* ---- download --------------------------------------------------------- */

/* A STATUS inside the image: the server stopped it, with its reason. */
static int download_other(void *ctx, const struct proto_msg *m, struct img_error *err)
{
	struct proto_download *d = ctx;
	if (m->type != PROTO_STATUS)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s sent message type %u inside the image",
				   d->cl->addr, m->type);
	int rc = status_of(d->cl, m, NULL, 0, NULL, err);
	return rc ? rc : img_err_set(err, -IMG_E_PROTO,
				     "imaging server %s stopped the image early",
				     d->cl->addr);
}

ssize_t proto_download_read(void *ctx, void *buf, size_t len)
{
	struct proto_download *d = ctx;
	if (!d->s.c) {
		d->s.c = &d->cl->c;
		d->s.peer = d->cl->addr;
		d->s.on_other = download_other;
		d->s.ctx = d;
	}
	ssize_t n = proto_stream_read(&d->s, buf, len);
	if (n < 0)
		d->err = d->s.err;
	return n;
}
