/* serve.c - imgserv's protocol server (man/img-protocol.7): one thread per
 * connection, so a slow client holds up nobody else; uploads are checked
 * record by record by the engine's own verifier as they arrive. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/clock.h"
#include "base/err.h"
#include "srv.h"

#define TOKEN_LIFE 3600.0

/* One client connection. */
struct conn {
	struct srv *s;
	struct proto_conn c;
	uint8_t nonce[PROTO_NONCE];
	int authed;
	uint32_t addr;           /* IPv4 source, host order, 0 if not IPv4 */
	char client[128];
};

/* ---- request log ------------------------------------------------------ */

struct req {
	struct srv_logrec rec;
	char mac[18];
	char path[PROTO_MAX_PATH + 1];
	char error[600];
};

static void req_begin(struct conn *cn, struct req *r, const char *type)
{
	memset(r, 0, sizeof(*r));
	r->rec.source = cn->c.peer;
	r->rec.mac = r->mac;
	r->rec.type = type;
	r->rec.path = r->path;
	r->rec.start = img_wall();
	r->rec.result = "running";
	r->rec.error = r->error;
}

/* Write the record (begin and end at once: one durable append per
 * request, plus the completion update). */
static void req_end(struct conn *cn, struct req *r, const char *result,
		    const char *error)
{
	snprintf(r->error, sizeof(r->error), "%.*s", (int)sizeof(r->error) - 1, error ? error : "");
	r->rec.result = result;
	srv_log_request(cn->s, &r->rec);
}

/* ---- helpers ---------------------------------------------------------- */

static int send_status(struct conn *cn, uint32_t code, const char *text)
{
	return proto_send_status(&cn->c, code, text, NULL);
}

/* After a failed stream: tell the client, stop reading its stream (we
 * discard the rest until it closes or the timeout passes), close. */
static void fail_stream(struct conn *cn, uint32_t code, const char *text)
{
	(void)send_status(cn, code, text);
	(void)shutdown(cn->c.fd, SHUT_WR);
	double end = img_now() + cn->c.timeout_ms / 1000.0;
	while (img_now() < end) {
		ssize_t n = recv(cn->c.fd, cn->c.rx, PROTO_MAX_PAYLOAD, 0);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
	}
}

int srv_mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return 0;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !strchr("0123456789abcdefABCDEF", m[i]))
			return 0;
	return 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/* Writes need the site key (or a token); say how to get there. */
static uint32_t write_denied(struct conn *cn, const char **why)
{
	if (!cn->s->key) {
		*why = "this server has no site key, so it accepts no writes; set key=FILE "
		       "in imgserv.conf (or imgserv -key=FILE) and give clients the same "
		       "file with img -key=FILE";
		return PS_NOKEY;
	}
	if (!cn->authed) {
		*why = "storing images and changing server state need the site key: "
		       "img -key=FILE";
		return PS_AUTHREQ;
	}
	return PS_OK;
}

static int token_take(struct srv *s, const uint8_t *t, const char *path)
{
	int ok = 0;
	double n = img_now();
	pthread_mutex_lock(&s->tok_lock);
	for (int i = 0; i < s->ntokens; i++) {
		struct srv_token *k = &s->tokens[i];
		if (k->expires > n && !CRYPTO_memcmp(k->t, t, PROTO_NONCE) &&
		    !strcmp(k->path, path)) {
			k->expires = 0;
			ok = 1;
			break;
		}
	}
	pthread_mutex_unlock(&s->tok_lock);
	return ok;
}

static int token_new(struct srv *s, const char *path, uint8_t t[PROTO_NONCE])
{
	if (RAND_bytes(t, PROTO_NONCE) != 1)
		return -1;
	double n = img_now();
	pthread_mutex_lock(&s->tok_lock);
	int slot = -1;
	for (int i = 0; i < s->ntokens && slot < 0; i++)
		if (s->tokens[i].expires <= n)
			slot = i;
	if (slot < 0)
		slot = s->ntokens < SRV_MAX_TOKENS ? s->ntokens++ : 0;
	memcpy(s->tokens[slot].t, t, PROTO_NONCE);
	snprintf(s->tokens[slot].path, sizeof(s->tokens[slot].path), "%s", path);
	s->tokens[slot].expires = n + TOKEN_LIFE;
	pthread_mutex_unlock(&s->tok_lock);
	return 0;
}

/* Common checks for PUT and GET: path and referral. */
static uint32_t check_path(struct conn *cn, const char *path, char *why,
			   size_t cap)
{
	struct img_error e = {0};
	if (srv_path_check(path, &e)) {
		snprintf(why, cap, "%s", e.msg);
		return PS_BADPATH;
	}
	pthread_rwlock_rdlock(&cn->s->lock);
	const struct srv_refer *r = srv_refer_match(&cn->s->conf, path);
	if (r)
		snprintf(why, cap, "image '%.300s' is on imaging server %.200s; this server "
			 "refers clients there only in automatic mode (img -auto); ask "
			 "that server directly", path, r->server);
	pthread_rwlock_unlock(&cn->s->lock);
	return r ? PS_REFERRED : PS_OK;
}

/* ---- upload ----------------------------------------------------------- */

struct upsrc {
	struct conn *cn;
	struct srv_upload *u;
	struct proto_stream s;
	uint32_t code;           /* status for the client when reading failed */
};

/* Each DATA frame goes to the temporary file as it arrives. */
static int upsrc_data(void *ctx, const struct proto_msg *m, struct img_error *err)
{
	struct upsrc *x = ctx;
	int rc = srv_upload_write(x->u, m->payload, m->len, err);
	if (rc)
		x->code = proto_status_of(rc);
	return rc;
}

static int upsrc_other(void *ctx, const struct proto_msg *m, struct img_error *err)
{
	struct upsrc *x = ctx;
	if (m->type != PROTO_ABORT)
		return img_err_set(err, -IMG_E_PROTO, "message type %u inside an image stream",
				   m->type);
	char t[512] = "";
	(void)proto_get_str(m, PT_TEXT, t, sizeof(t), NULL);
	x->code = PS_ABORTED;
	return img_err_set(err, -IMG_E_CANCELLED, "the client gave up: %s",
			   t[0] ? t : "no reason given");
}

static ssize_t upsrc_read(void *ctx, void *buf, size_t len)
{
	struct upsrc *x = ctx;
	ssize_t n = proto_stream_read(&x->s, buf, len);
	if (n < 0 && !x->code)
		x->code = n == -IMG_E_CLOSED ? PS_ABORTED : n == -IMG_E_LIMIT ? PS_TOOLARGE :
			  n == -IMG_E_PROTO ? PS_PROTOCOL : proto_status_of((int)n);
	return n;
}

/* PUT's request checks: a well-formed message, a path this client may
 * write, the site key or a token from img -auto.  0 to go on; else the
 * client has its STATUS, the request its record, *ret do_put's answer. */
static int put_allowed(struct conn *cn, const struct proto_msg *m, struct req *r,
		       int *ret)
{
	struct srv *s = cn->s;
	char why[700] = "";
	const char *w = NULL;
	uint8_t tok[PROTO_NONCE];
	uint32_t automatic = 0, code;
	*ret = 0;
	if (proto_get_str(m, PT_PATH, r->path, sizeof(r->path), NULL) != 1 ||
	    proto_get_str(m, PT_MAC, r->mac, sizeof(r->mac), NULL) < 0 ||
	    proto_get_u32(m, PT_AUTO, &automatic, NULL) < 0) {
		send_status(cn, PS_PROTOCOL, "PUT needs a path");
		req_end(cn, r, "failed", "malformed PUT");
		*ret = -1;
		return -1;
	}
	int has_tok = proto_get_bytes(m, PT_TOKEN, tok, sizeof(tok), NULL) == 1;
	if ((code = check_path(cn, r->path, why, sizeof(why)))) {
		send_status(cn, code, why);
		req_end(cn, r, "denied", why);
		return -1;
	}
	pthread_rwlock_rdlock(&s->lock);
	code = has_tok && token_take(s, tok, r->path) ? PS_OK : write_denied(cn, &w);
	pthread_rwlock_unlock(&s->lock);
	if (code) {
		send_status(cn, code, w);
		req_end(cn, r, "denied", w);
		return -1;
	}
	return 0;
}

/* Receive the image into up, verified record by record as it arrives, and
 * commit it.  On failure the upload is discarded, the client told why
 * (the stream drained unless it gave up) and the record ended. */
static int put_receive(struct conn *cn, struct req *r, struct srv_upload *up)
{
	struct img_error e = {0};
	struct upsrc x = { .cn = cn, .u = up,
			   .s = { .c = &cn->c, .peer = "the client", .on_data = upsrc_data,
				  .on_other = upsrc_other } };
	x.s.ctx = &x;
	struct img_source src = { upsrc_read, &x };
	struct img_restore_opts vo = { .threads = 1, .verify_only = 1 };
	struct img_stats st;
	atomic_fetch_add(&cn->s->st.transfers, 1);
	/* Success means the engine checked the trailer and then read the
	 * source to its end: upsrc_read returns 0 only at a matching END. */
	int rc = img_restore(&vo, &src, NULL, &st, &e);
	if (!rc)
		rc = srv_upload_commit(up, &e);
	r->rec.bytes = up->bytes;
	atomic_fetch_sub(&cn->s->st.transfers, 1);
	if (!rc)
		return 0;
	srv_upload_discard(up);
	const struct img_error *why = x.s.err.code ? &x.s.err : &e;
	uint32_t code = x.code ? x.code : proto_status_of(rc);
	char t[700];
	snprintf(t, sizeof(t), "upload of '%.200s' failed: %.380s; the server keeps its "
		 "previous image of that name, if any", r->path, why->msg);
	if (code == PS_ABORTED || x.code == PS_TIMEOUT)
		(void)send_status(cn, code, t);
	else
		fail_stream(cn, code, t);
	req_end(cn, r, "failed", why->msg);
	return rc;
}

static int do_put(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	int ret;
	req_begin(cn, &r, "put");
	atomic_fetch_add(&s->st.requests, 1);
	if (put_allowed(cn, m, &r, &ret))
		return ret;
	struct srv_upload up;
	struct img_error e = {0};
	int rc = srv_upload_open(&up, s->storefd, r.path, &e);
	if (rc) {
		uint32_t code = rc == -IMG_E_USAGE ? PS_BADPATH : proto_status_of(rc);
		send_status(cn, code, e.msg);
		req_end(cn, &r, "failed", e.msg);
		return 0;
	}
	if (send_status(cn, PS_OK, NULL)) {
		srv_upload_discard(&up);
		req_end(cn, &r, "failed", "connection lost");
		return -1;
	}
	if (put_receive(cn, &r, &up))
		return -1;
	atomic_fetch_add(&s->st.received, 1);
	struct proto_out *o = malloc(sizeof(*o));
	if (o) {
		proto_out_init(o, PROTO_STATUS);
		proto_put_u32(o, PT_CODE, PS_OK);
		proto_put_u64(o, PT_BYTES, up.bytes);
		(void)proto_send(&cn->c, o, NULL);
		free(o);
	}
	req_end(cn, &r, "ok", NULL);
	return 0;
}

/* ---- download --------------------------------------------------------- */

/* GET's request checks: a well-formed message, a path this client may
 * read, the site key where restores need it.  0 to go on; else the client
 * has its STATUS and the request its record, and *ret is do_get's answer. */
static int get_allowed(struct conn *cn, const struct proto_msg *m, struct req *r,
		       uint64_t *offset, int *ret)
{
	struct srv *s = cn->s;
	char why[700] = "";
	const char *w = NULL;
	uint32_t code;
	*ret = 0;
	if (proto_get_str(m, PT_PATH, r->path, sizeof(r->path), NULL) != 1 ||
	    proto_get_str(m, PT_MAC, r->mac, sizeof(r->mac), NULL) < 0 ||
	    proto_get_u64(m, PT_OFFSET, offset, NULL) < 0) {
		send_status(cn, PS_PROTOCOL, "GET needs a path (and an offset, if any, "
			    "of 8 bytes)");
		req_end(cn, r, "failed", "malformed GET");
		*ret = -1;
		return -1;
	}
	if ((code = check_path(cn, r->path, why, sizeof(why)))) {
		send_status(cn, code, why);
		req_end(cn, r, "denied", why);
		return -1;
	}
	pthread_rwlock_rdlock(&s->lock);
	code = s->conf.restore_keyed ? write_denied(cn, &w) : PS_OK;
	if (code == PS_NOKEY)
		w = "this server requires the site key for restores (restore=key) but has "
		    "no key configured; set key= in imgserv.conf";
	else if (code)
		w = "restores from this server need the site key: img -key=FILE";
	pthread_rwlock_unlock(&s->lock);
	if (code) {
		send_status(cn, code, w);
		req_end(cn, r, "denied", w);
		return -1;
	}
	return 0;
}

/* Open the stored image positioned at offset; its size in *size.  A
 * negative answer means the client has its STATUS and the request its
 * record. */
static int get_open(struct conn *cn, struct req *r, uint64_t offset, off_t *size)
{
	struct img_error e = {0};
	char why[700];
	int fd = srv_store_open(cn->s->storefd, r->path, &e);
	if (fd < 0) {
		uint32_t code = fd == -IMG_E_USAGE ? PS_BADPATH : proto_status_of(fd);
		send_status(cn, code, e.msg);
		req_end(cn, r, code == PS_NOTFOUND ? "failed" : "denied", e.msg);
		return -1;
	}
	*size = lseek(fd, 0, SEEK_END);
	if (*size < 0 || (uint64_t)*size < offset ||
	    lseek(fd, (off_t)offset, SEEK_SET) < 0) {
		snprintf(why, sizeof(why), "offset %llu is past the end of image '%.300s' "
			 "(%lld bytes)", (unsigned long long)offset, r->path,
			 (long long)*size);
		close(fd);
		send_status(cn, PS_BADARG, why);
		req_end(cn, r, "failed", why);
		return -1;
	}
	return fd;
}

/* STATUS ok with the size, the image from fd as DATA frames, END with the
 * count.  Closes fd.  0 or a negative code with e set; *total is what was
 * sent. */
static int get_send(struct conn *cn, int fd, uint64_t size, uint64_t offset,
		    uint64_t *total, struct img_error *e)
{
	struct proto_out *o = malloc(sizeof(*o));
	uint8_t *buf = malloc(PROTO_DATA_CHUNK);
	int rc = img_err_set(e, -ENOMEM, "out of memory");
	if (o && buf) {
		proto_out_init(o, PROTO_STATUS);
		proto_put_u32(o, PT_CODE, PS_OK);
		proto_put_u64(o, PT_BYTES, size - offset);
		if (offset)
			proto_put_u64(o, PT_OFFSET, offset);
		rc = proto_send(&cn->c, o, e);
	}
	*total = 0;
	while (!rc) {
		ssize_t n = read(fd, buf, PROTO_DATA_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = img_err_set(e, -errno, "reading the image: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = proto_send_data(&cn->c, buf, (size_t)n, e);
		*total += (uint64_t)n;
	}
	close(fd);
	free(buf);
	if (!rc) {
		proto_out_init(o, PROTO_END);
		proto_put_u64(o, PT_BYTES, *total);
		rc = proto_send(&cn->c, o, e);
	}
	free(o);
	return rc;
}

/* The client's verdict on what it restored ends the request's record. */
static int get_result(struct conn *cn, struct req *r)
{
	struct img_error e = {0};
	struct proto_msg res;
	int rc = proto_recv(&cn->c, &res, &e);
	if (rc || res.type != PROTO_RESULT) {
		req_end(cn, r, "failed", rc ? e.msg : "no RESULT from the client");
		return -1;
	}
	uint32_t rcode = PS_PROTOCOL;
	char text[512] = "";
	(void)proto_get_u32(&res, PT_CODE, &rcode, NULL);
	(void)proto_get_str(&res, PT_TEXT, text, sizeof(text), NULL);
	(void)send_status(cn, PS_OK, NULL);
	req_end(cn, r, rcode == PS_OK ? "ok" : "failed",
		rcode == PS_OK ? NULL : text[0] ? text : proto_status_name(rcode));
	return 0;
}

static int do_get(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	struct img_error e = {0};
	uint64_t offset = 0, total = 0;
	off_t size = 0;
	int ret;
	req_begin(cn, &r, "get");
	atomic_fetch_add(&s->st.requests, 1);
	if (get_allowed(cn, m, &r, &offset, &ret))
		return ret;
	int fd = get_open(cn, &r, offset, &size);
	if (fd < 0)
		return 0;
	atomic_fetch_add(&s->st.transfers, 1);
	int rc = get_send(cn, fd, (uint64_t)size, offset, &total, &e);
	r.rec.bytes = total;
	atomic_fetch_sub(&s->st.transfers, 1);
	if (rc) {
		if (rc != -IMG_E_CLOSED && rc != -ETIMEDOUT)
			(void)send_status(cn, proto_status_of(rc), e.msg);
		req_end(cn, &r, "failed", e.msg[0] ? e.msg : "sending failed");
		return -1;
	}
	atomic_fetch_add(&s->st.sent, 1);
	return get_result(cn, &r);
}

/* ---- automatic imaging ------------------------------------------------ */

/* The workstation's identity from an AUTO message (up to 8 MACs, lower
 * case); hw (PROTO_MAX_TEXT + 1 bytes) gets its hardware report.  0 or -1
 * for a malformed message. */
static int auto_ident(const struct proto_msg *m, struct srv_ident *id, char *hw)
{
	int bad = 0;
	for (int i = 0; !bad && i < 8; i++) {
		int g = proto_get_str_n(m, PT_MAC, (unsigned)i, id->macs[id->nmacs],
					sizeof(id->macs[0]), NULL);
		if (g == 0)
			break;
		if (g < 0 || !srv_mac_ok(id->macs[id->nmacs]))
			bad = 1;
		else
			lower(id->macs[id->nmacs++]);
	}
	if (bad || !id->nmacs ||
	    proto_get_str(m, PT_SERIAL, id->serial, sizeof(id->serial), NULL) < 0 ||
	    proto_get_str(m, PT_PRODUCT, id->product, sizeof(id->product), NULL) < 0 ||
	    proto_get_str(m, PT_HOSTNAME, id->hostname, sizeof(id->hostname), NULL) < 0 ||
	    proto_get_str(m, PT_LASTIMAGE, id->lastimage, sizeof(id->lastimage), NULL) < 0 ||
	    proto_get_u64(m, PT_DISK, &id->disk, NULL) < 0 ||
	    proto_get_u64(m, PT_MEM, &id->mem, NULL) < 0 ||
	    proto_get_str(m, PT_HWINFO, hw, PROTO_MAX_TEXT + 1, NULL) < 0)
		return -1;
	return 0;
}

/* Send the WORK answer for w (with an upload token for make work here). */
static int auto_send_work(struct conn *cn, const struct srv_work *w)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return -ENOMEM;
	proto_out_init(o, PROTO_WORK);
	proto_put_str(o, PT_ACTION, w->action);
	proto_put_str(o, PT_MAC, w->mac);   /* the MAC the work is for */
	if (!strcmp(w->action, "session"))
		proto_put_str(o, PT_SESSION, w->arg);
	else if (w->arg[0])
		proto_put_str(o, PT_PATH, w->arg);
	if (w->server[0])
		proto_put_str(o, PT_SERVER, w->server);
	if (w->name[0])
		proto_put_str(o, PT_HOSTNAME, w->name);
	uint8_t tok[PROTO_NONCE];
	if (!w->server[0] && !strcmp(w->action, "make") && !token_new(cn->s, w->arg, tok))
		proto_put_bytes(o, PT_TOKEN, tok, sizeof(tok));
	int rc = proto_send(&cn->c, o, NULL);
	free(o);
	return rc;
}

static int do_auto(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	struct srv_ident id;
	struct img_error e = {0};
	char *hw = malloc(PROTO_MAX_TEXT + 1);
	req_begin(cn, &r, "auto");
	atomic_fetch_add(&s->st.requests, 1);
	memset(&id, 0, sizeof(id));
	id.addr = cn->addr;
	if (!hw || auto_ident(m, &id, hw)) {
		send_status(cn, PS_BADARG, "AUTO needs at least one MAC (aa:bb:cc:dd:ee:ff) "
			    "and well-formed identity attributes");
		req_end(cn, &r, "failed", "malformed AUTO");
		free(hw);
		return -1;
	}
	struct srv_station st = {
		.mac = id.macs[0], .hostname = id.hostname, .serial = id.serial,
		.product = id.product, .hwinfo = hw, .disk_bytes = id.disk,
		.mem_bytes = id.mem, .address = cn->c.peer,
	};
	if (srv_station_seen(s->state, &st, &e))
		srv_say(LOG_ERR, "state: %s", e.msg);
	free(hw);

	struct srv_work w;
	srv_decide(s, &id, &w);
	snprintf(r.mac, sizeof(r.mac), "%s", w.mac);
	int rc = auto_send_work(cn, &w);
	if (rc == -ENOMEM) {
		req_end(cn, &r, "failed", "out of memory");
		return -1;
	}
	snprintf(r.path, sizeof(r.path), "%s", w.arg);
	char what[400];
	snprintf(what, sizeof(what), "work: %s%s%s (%s)", w.action,
		 w.server[0] ? " on " : "", w.server, w.src);
	if (w.server[0]) {
		atomic_fetch_add(&s->st.referrals, 1);
		req_end(cn, &r, "referred", what);
	} else {
		req_end(cn, &r, rc ? "failed" : "ok", what);
	}
	return rc ? -1 : 0;
}

static int do_report(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	struct img_error e = {0};
	char action[16] = "", text[512] = "", server[300] = "";
	uint32_t code = PS_PROTOCOL;
	req_begin(cn, &r, "report");
	if (proto_get_str(m, PT_ACTION, action, sizeof(action), NULL) < 0 ||
	    proto_get_str(m, PT_PATH, r.path, sizeof(r.path), NULL) < 0 ||
	    proto_get_str(m, PT_MAC, r.mac, sizeof(r.mac), NULL) != 1 ||
	    !srv_mac_ok(r.mac) ||
	    proto_get_str(m, PT_TEXT, text, sizeof(text), NULL) < 0 ||
	    proto_get_str(m, PT_SERVER, server, sizeof(server), NULL) < 0 ||
	    proto_get_u32(m, PT_CODE, &code, NULL) != 1 ||
	    proto_get_u64(m, PT_BYTES, &r.rec.bytes, NULL) < 0) {
		send_status(cn, PS_BADARG, "REPORT needs action, mac and code");
		req_end(cn, &r, "failed", "malformed REPORT");
		return -1;
	}
	lower(r.mac);
	if (code == PS_OK) {
		char pa[16], parg[PROTO_MAX_PATH + 1];
		if (srv_work_get(s->state, r.mac, pa, sizeof(pa), parg, sizeof(parg), &e) == 1 &&
		    !strcmp(pa, action) && (!strcmp(parg, r.path)))
			(void)srv_work_clear(s->state, r.mac, &e);
		char img[PROTO_MAX_PATH + 1];
		if (!strcmp(action, "restore") || !strcmp(action, "make"))
			(void)srv_station_image(s->state, r.mac, r.path, img_wall(), &e);
		else if (!strcmp(action, "session") &&
			 srv_session_path(s, r.path, img, sizeof(img)))
			(void)srv_station_image(s->state, r.mac, img, img_wall(), &e);
	}
	(void)send_status(cn, PS_OK, NULL);
	char t[700];
	snprintf(t, sizeof(t), "%s%s%.200s%s%.400s", action, server[0] ? " on " : "", server,
		 code ? ": " : "", code ? text : "");
	req_end(cn, &r, code == PS_OK ? "ok" : "failed", t);
	return 0;
}

static int do_workset(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	struct img_error e = {0};
	char action[16] = "", arg[PROTO_MAX_PATH + 1] = "";
	const char *w = NULL;
	req_begin(cn, &r, "work");
	pthread_rwlock_rdlock(&s->lock);
	uint32_t code = write_denied(cn, &w);
	pthread_rwlock_unlock(&s->lock);
	if (proto_get_str(m, PT_ACTION, action, sizeof(action), NULL) != 1 ||
	    proto_get_str(m, PT_MAC, r.mac, sizeof(r.mac), NULL) < 0 ||
	    proto_get_str(m, PT_ARG, arg, sizeof(arg), NULL) < 0) {
		send_status(cn, PS_BADARG, "WORKSET needs an action");
		req_end(cn, &r, "failed", "malformed WORKSET");
		return -1;
	}
	snprintf(r.path, sizeof(r.path), "%s", arg);
	if (code) {
		send_status(cn, code, w);
		req_end(cn, &r, "denied", w);
		return 0;
	}
	if (!strcmp(action, "list")) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		int rc = f ? srv_work_list(s->state, f, &e) : -ENOMEM;
		if (f)
			fclose(f);
		if (rc)
			send_status(cn, PS_INTERNAL, e.msg);
		else
			send_status(cn, PS_OK, buf);
		free(buf);
		req_end(cn, &r, rc ? "failed" : "ok", rc ? e.msg : NULL);
		return 0;
	}
	if (!srv_mac_ok(r.mac)) {
		send_status(cn, PS_BADARG, "a MAC address looks like 52:54:00:12:34:56");
		req_end(cn, &r, "failed", "bad MAC");
		return 0;
	}
	lower(r.mac);
	int rc;
	if (!strcmp(action, "clear")) {
		rc = srv_work_clear(s->state, r.mac, &e);
	} else {
		if ((!strcmp(action, "restore") || !strcmp(action, "make")) &&
		    srv_path_check(arg, &e)) {
			send_status(cn, PS_BADPATH, e.msg);
			req_end(cn, &r, "failed", e.msg);
			return 0;
		}
		if (!strcmp(action, "session") && !arg[0]) {
			send_status(cn, PS_BADARG, "session work needs a session name");
			req_end(cn, &r, "failed", "no session name");
			return 0;
		}
		rc = srv_work_set(s->state, r.mac, action, arg, &e);
	}
	send_status(cn, rc == -IMG_E_USAGE ? PS_BADARG : rc ? PS_INTERNAL : PS_OK,
		    rc ? e.msg : NULL);
	req_end(cn, &r, rc ? "failed" : "ok", rc ? e.msg : action);
	return 0;
}

/* ---- multicast sessions ------------------------------------------------- */

/* SESSION: start (keyed), list (open), delete (keyed). */
/* SESSION delete: stop and unlist the session, answer and log. */
static int session_delete(struct conn *cn, struct req *r, const char *name)
{
	struct img_error e = {0};
	char text[600] = "", why[700];
	int rc = srv_session_delete(cn->s, name, text, sizeof(text), &e);
	if (!r->path[0])
		snprintf(r->path, sizeof(r->path), "%s", name);
	uint32_t code = rc == -IMG_E_NOTFOUND ? PS_NOTFOUND : rc ? PS_INTERNAL : PS_OK;
	send_status(cn, code, rc ? e.msg : text);
	snprintf(why, sizeof(why), "delete session %s%s%s", name, rc ? ": " : "",
		 rc ? e.msg : "");
	req_end(cn, r, rc ? "failed" : "ok", why);
	return 0;
}

/* SESSION start: an allowed image path, then the session thread, which
 * logs itself from start to end; a refusal is answered and logged here. */
static int session_start(struct conn *cn, struct req *r, const char *name,
			 const char *iface, uint32_t clients, uint32_t timeout_ms,
			 uint32_t throttle)
{
	struct img_error e = {0};
	char text[600] = "", why[700];
	uint32_t code;
	if (!r->path[0]) {
		send_status(cn, PS_BADARG, "starting a session needs the image path");
		req_end(cn, r, "failed", "session start without a path");
		return 0;
	}
	if ((code = check_path(cn, r->path, why, sizeof(why)))) {
		send_status(cn, code, why);
		req_end(cn, r, "denied", why);
		return 0;
	}
	struct srv_session_req rq = {
		.name = name, .path = r->path, .iface = iface, .clients = clients,
		.timeout_min = timeout_ms / 60000.0, .throttle_ms = throttle,
		.source = cn->c.peer,
	};
	int rc = srv_session_start(cn->s, &rq, text, sizeof(text), &e);
	if (!rc)
		return send_status(cn, PS_OK, text) ? -1 : 0;
	switch (rc) {
	case -IMG_E_USAGE: code = PS_BADARG; break;
	case -IMG_E_BUSY: code = PS_BUSY; break;
	case -IMG_E_LIMIT: code = PS_LIMIT; break;
	default: code = proto_status_of(rc); break;
	}
	snprintf(why, sizeof(why), "cannot start session '%s': %s", name, e.msg);
	send_status(cn, code, why);
	req_end(cn, r, code == PS_BUSY || code == PS_BADARG ? "denied" : "failed", why);
	return 0;
}

static int do_session(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	struct req r;
	char action[16] = "", name[PROTO_MAX_SESSION + 1] = "", iface[32] = "",
	     why[700] = "";
	uint32_t clients = 0, timeout_ms = 0, throttle = 0, code;
	const char *w = NULL;
	req_begin(cn, &r, "session");
	if (proto_get_str(m, PT_ACTION, action, sizeof(action), NULL) != 1 ||
	    proto_get_str(m, PT_SESSION, name, sizeof(name), NULL) < 0 ||
	    proto_get_str(m, PT_PATH, r.path, sizeof(r.path), NULL) < 0 ||
	    proto_get_u32(m, PT_CLIENTS, &clients, NULL) < 0 ||
	    proto_get_u32(m, PT_TIMEOUT, &timeout_ms, NULL) < 0 ||
	    proto_get_u32(m, PT_THROTTLE, &throttle, NULL) < 0 ||
	    proto_get_str(m, PT_IFACE, iface, sizeof(iface), NULL) < 0) {
		send_status(cn, PS_BADARG, "SESSION needs an action and well-formed "
			    "session, path, clients, timeout, throttle and iface attributes");
		req_end(cn, &r, "failed", "malformed SESSION");
		return -1;
	}
	if (!strcmp(action, "list")) {
		char *buf = malloc(PROTO_MAX_TEXT + 1);
		if (!buf)
			return send_status(cn, PS_INTERNAL, "out of memory") ? -1 : 0;
		srv_session_text(s, buf, PROTO_MAX_TEXT + 1, 1);
		int rc = send_status(cn, PS_OK, buf);
		free(buf);
		return rc ? -1 : 0;
	}
	atomic_fetch_add(&s->st.requests, 1);
	if (strcmp(action, "start") && strcmp(action, "delete")) {
		snprintf(why, sizeof(why), "unknown session action '%.16s' (start, list, "
			 "delete)", action);
		send_status(cn, PS_BADARG, why);
		req_end(cn, &r, "failed", why);
		return 0;
	}
	pthread_rwlock_rdlock(&s->lock);
	code = write_denied(cn, &w);
	pthread_rwlock_unlock(&s->lock);
	if (code) {
		if (code == PS_AUTHREQ)
			w = "starting and deleting multicast sessions need the site key: "
			    "imgserv -session ... -key=FILE";
		send_status(cn, code, w);
		req_end(cn, &r, "denied", w);
		return 0;
	}
	if (!strcmp(action, "delete"))
		return session_delete(cn, &r, name);
	return session_start(cn, &r, name, iface, clients, timeout_ms, throttle);
}

void srv_stats_text(struct srv *s, char *buf, size_t cap)
{
	size_t n;
	snprintf(buf, cap,
		 "Server: %s\n"
		 "Uptime: %.0f s\n"
		 "Update Requests: %llu\n"
		 "Images Sent: %llu\n"
		 "Images Received: %llu\n"
		 "Client Referrals: %llu\n"
		 "Active Transfers: %d\n"
		 "Active Connections: %d\n",
		 s->conf.name, img_wall() - s->started,
		 (unsigned long long)atomic_load(&s->st.requests),
		 (unsigned long long)atomic_load(&s->st.sent),
		 (unsigned long long)atomic_load(&s->st.received),
		 (unsigned long long)atomic_load(&s->st.referrals),
		 atomic_load(&s->st.transfers), atomic_load(&s->st.clients));
	n = strlen(buf);
	if (n + 1 < cap)
		srv_session_text(s, buf + n, cap - n, 0);
}

/* ---- the conversation ------------------------------------------------- */

static int do_auth(struct conn *cn, const struct proto_msg *m)
{
	struct srv *s = cn->s;
	uint8_t cnonce[PROTO_NONCE], proof[32], want[32];
	if (proto_get_bytes(m, PT_CNONCE, cnonce, sizeof(cnonce), NULL) != 1 ||
	    proto_get_bytes(m, PT_PROOF, proof, sizeof(proof), NULL) != 1) {
		send_status(cn, PS_PROTOCOL, "AUTH needs a 32-byte cnonce and proof");
		return -1;
	}
	pthread_rwlock_rdlock(&s->lock);
	int rc = 0;
	uint32_t code = PS_OK;
	const char *why = NULL;
	if (!s->key) {
		code = PS_NOKEY;
		why = "this server has no site key configured: set key=FILE in imgserv.conf "
		      "(or imgserv -key=FILE)";
	} else if (proto_proof(s->key, s->keylen, PROTO_LABEL_CLIENT, cn->nonce,
			       cnonce, want) ||
		   CRYPTO_memcmp(want, proof, sizeof(want))) {
		code = PS_AUTHFAIL;
		why = "the proof does not match this server's site key; check img -key=FILE";
	} else {
		rc = proto_proof(s->key, s->keylen, PROTO_LABEL_SERVER, cnonce,
				 cn->nonce, want);
	}
	pthread_rwlock_unlock(&s->lock);
	if (code || rc) {
		struct req r;
		req_begin(cn, &r, "auth");
		atomic_fetch_add(&s->st.requests, 1);
		send_status(cn, code ? code : PS_INTERNAL, why);
		req_end(cn, &r, "denied", why);
		return code == PS_NOKEY ? 0 : -1;
	}
	cn->authed = 1;
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return -1;
	proto_out_init(o, PROTO_STATUS);
	proto_put_u32(o, PT_CODE, PS_OK);
	proto_put_bytes(o, PT_PROOF, want, sizeof(want));
	rc = proto_send(&cn->c, o, NULL);
	free(o);
	return rc ? -1 : 0;
}

static int handshake(struct conn *cn)
{
	struct proto_msg m;
	struct img_error e = {0};
	uint32_t ver = 0;
	if (proto_recv(&cn->c, &m, &e)) {
		if (e.code != -IMG_E_CLOSED)
			send_status(cn, e.code == -IMG_E_LIMIT ? PS_TOOLARGE : PS_PROTOCOL, e.msg);
		return -1;
	}
	if (m.type != PROTO_HELLO || proto_get_u32(&m, PT_VERSION, &ver, NULL) != 1) {
		send_status(cn, PS_PROTOCOL, "the first message must be HELLO with a version");
		return -1;
	}
	if (ver < 1) {
		send_status(cn, PS_VERSION, "this server speaks protocol version 1");
		return -1;
	}
	(void)proto_get_str(&m, PT_CLIENT, cn->client, sizeof(cn->client), NULL);
	if (RAND_bytes(cn->nonce, sizeof(cn->nonce)) != 1)
		return -1;
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return -1;
	proto_out_init(o, PROTO_WELCOME);
	proto_put_u32(o, PT_VERSION, PROTO_VERSION);
	proto_put_u32(o, PT_CAPS, PROTO_CAP_AUTH | PROTO_CAP_AUTO | PROTO_CAP_TOKEN);
	pthread_rwlock_rdlock(&cn->s->lock);
	proto_put_str(o, PT_SERVER, cn->s->conf.name);
	pthread_rwlock_unlock(&cn->s->lock);
	proto_put_bytes(o, PT_NONCE, cn->nonce, sizeof(cn->nonce));
	int rc = proto_send(&cn->c, o, NULL);
	free(o);
	return rc ? -1 : 0;
}

static void converse(struct conn *cn)
{
	struct proto_msg m;
	struct img_error e = {0};
	if (handshake(cn))
		return;
	for (;;) {
		int rc = proto_recv(&cn->c, &m, &e);
		if (rc) {
			if (rc != -IMG_E_CLOSED) {
				srv_say(LOG_WARNING, "%s: %s", cn->c.peer, e.msg);
				if (rc != -ETIMEDOUT)
					send_status(cn, rc == -IMG_E_LIMIT ? PS_TOOLARGE
						    : PS_PROTOCOL, e.msg);
			}
			return;
		}
		switch (m.type) {
		case PROTO_AUTH: rc = do_auth(cn, &m); break;
		case PROTO_PUT: rc = do_put(cn, &m); break;
		case PROTO_GET: rc = do_get(cn, &m); break;
		case PROTO_AUTOREQ: rc = do_auto(cn, &m); break;
		case PROTO_REPORT: rc = do_report(cn, &m); break;
		case PROTO_WORKSET: rc = do_workset(cn, &m); break;
		case PROTO_SESSION: rc = do_session(cn, &m); break;
		case PROTO_STATS: {
			char *buf = malloc(PROTO_MAX_TEXT + 1);
			if (!buf)
				return;
			srv_stats_text(cn->s, buf, PROTO_MAX_TEXT + 1);
			rc = send_status(cn, PS_OK, buf);
			free(buf);
			break;
		}
		case PROTO_BYE:
		case PROTO_PONG:
			if (m.type == PROTO_BYE)
				return;
			continue;
		default:
			snprintf(e.msg, sizeof(e.msg), "message type %u is not a request",
				 m.type);
			srv_say(LOG_WARNING, "%s: %s", cn->c.peer, e.msg);
			send_status(cn, PS_UNKNOWN, e.msg);
			return;
		}
		if (rc)
			return;
	}
}

static void *conn_main(void *arg)
{
	struct conn *cn = arg;
	struct srv *s = cn->s;
	int n = atomic_fetch_add(&s->st.clients, 1) + 1;
	pthread_rwlock_rdlock(&s->lock);
	int max = s->conf.max_clients;
	pthread_rwlock_unlock(&s->lock);
	if (n > max) {
		char t[160];
		snprintf(t, sizeof(t), "this server serves at most %d clients at once; "
			 "try again in a minute", max);
		send_status(cn, PS_LIMIT, t);
		srv_say(LOG_WARNING, "%s: refused, %d clients already", cn->c.peer, max);
	} else {
		converse(cn);
	}
	proto_conn_close(&cn->c);
	atomic_fetch_sub(&s->st.clients, 1);
	free(cn);
	return NULL;
}

int srv_listen(struct srv *s, struct img_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE,
				  .ai_family = s->conf.address[0] ? AF_UNSPEC : AF_INET6 };
	struct addrinfo *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", s->conf.port);
	int g = getaddrinfo(s->conf.address[0] ? s->conf.address : NULL, port, &hints, &res);
	if (g && !s->conf.address[0]) {
		hints.ai_family = AF_INET;
		g = getaddrinfo(NULL, port, &hints, &res);
	}
	if (g)
		return img_err_set(err, -EINVAL, "cannot use address '%s': %s",
				   s->conf.address, gai_strerror(g));
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0, rc = 0;
	if (fd < 0) {
		rc = img_err_set(err, -errno, "socket: %s", strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6 && !s->conf.address[0])
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		rc = img_err_set(err, -errno, "cannot listen on %s port %d: %s%s",
				 s->conf.address[0] ? s->conf.address : "all addresses",
				 s->conf.port, strerror(errno),
				 errno == EADDRINUSE ? " (is another imgserv running?)" : "");
		close(fd);
		goto out;
	}
	s->listenfd = fd;
out:
	freeaddrinfo(res);
	return rc;
}

int srv_run(struct srv *s)
{
	while (!atomic_load(&s->stop)) {
		struct pollfd p = { s->listenfd, POLLIN, 0 };
		int n = poll(&p, 1, 500);
		if (n <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(s->listenfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct conn *cn = calloc(1, sizeof(*cn));
		pthread_rwlock_rdlock(&s->lock);
		int tmo = s->conf.timeout * 1000;
		pthread_rwlock_unlock(&s->lock);
		if (!cn || proto_conn_init(&cn->c, fd, tmo, NULL)) {
			free(cn);
			continue;
		}
		cn->s = s;
		if (ss.ss_family == AF_INET) {
			cn->addr = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
		} else if (ss.ss_family == AF_INET6) {
			const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
			static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
			if (!memcmp(a, v4, 12)) {
				cn->addr = (uint32_t)a[12] << 24 | a[13] << 16 | a[14] << 8 | a[15];
				snprintf(cn->c.peer, sizeof(cn->c.peer), "%u.%u.%u.%u:%u", a[12],
					 a[13], a[14], a[15],
					 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
			}
		}
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 1 << 20);
		if (pthread_create(&t, &at, conn_main, cn)) {
			proto_conn_close(&cn->c);
			free(cn);
		}
		pthread_attr_destroy(&at);
	}
	return 0;
}
