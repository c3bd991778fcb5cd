/* frame.c - frames, attributes and connections of the imgserv protocol
 * (man/img-protocol.7).  Every byte received is untrusted: lengths are
 * checked against the frame and the limits before use. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/bytes.h"
#include "base/err.h"
#include "proto.h"

static const char *const status_names[] = {
	[PS_OK] = "ok", [PS_PROTOCOL] = "protocol error",
	[PS_VERSION] = "no common protocol version",
	[PS_TOOLARGE] = "message too large",
	[PS_AUTHREQ] = "site key required", [PS_AUTHFAIL] = "wrong site key",
	[PS_NOKEY] = "server has no site key", [PS_BADPATH] = "bad image path",
	[PS_NOTFOUND] = "not found", [PS_BUSY] = "busy",
	[PS_NOSPACE] = "server store full", [PS_CORRUPT] = "image failed its checks",
	[PS_IO] = "server I/O error", [PS_REFERRED] = "image is on another server",
	[PS_LIMIT] = "too many clients", [PS_ABORTED] = "aborted by the client",
	[PS_TIMEOUT] = "timed out", [PS_INTERNAL] = "server internal error",
	[PS_UNKNOWN] = "unknown request", [PS_BADARG] = "bad argument",
};

const char *proto_status_name(uint32_t code)
{
	return code < PS_END ? status_names[code] : "unknown status";
}

int proto_status_errcode(uint32_t code)
{
	switch (code) {
	case PS_OK: return 0;
	case PS_PROTOCOL: case PS_VERSION: case PS_TOOLARGE: case PS_UNKNOWN:
		return -IMG_E_PROTO;
	case PS_AUTHREQ: case PS_AUTHFAIL: case PS_NOKEY: return -IMG_E_AUTH;
	case PS_NOTFOUND: return -IMG_E_NOTFOUND;
	case PS_NOSPACE: return -ENOSPC;
	case PS_CORRUPT: return -IMG_E_CORRUPT;
	case PS_IO: return -EIO;
	case PS_REFERRED: return -IMG_E_REFERRED;
	case PS_TIMEOUT: return -ETIMEDOUT;
	default: return -IMG_E_REFUSED;
	}
}

uint32_t proto_status_of(int rc)
{
	switch (rc) {
	case 0: return PS_OK;
	case -ENOSPC: case -EDQUOT: case -EFBIG: return PS_NOSPACE;
	case -ETIMEDOUT: case -EAGAIN: return PS_TIMEOUT;
	case -ENOENT: case -IMG_E_NOTFOUND: return PS_NOTFOUND;
	case -IMG_E_FORMAT: case -IMG_E_VERSION: case -IMG_E_CORRUPT:
	case -IMG_E_TRUNCATED: case -IMG_E_DIGEST: case -IMG_E_LIMIT:
		return PS_CORRUPT;
	case -IMG_E_PROTO: return PS_PROTOCOL;
	case -IMG_E_CLOSED: case -IMG_E_CANCELLED: return PS_ABORTED;
	case -IMG_E_AUTH: return PS_AUTHFAIL;
	case -IMG_E_REFERRED: return PS_REFERRED;
	case -ENOMEM: return PS_INTERNAL;
	default: return PS_IO;
	}
}

int proto_parse_header(const uint8_t hdr[PROTO_HDR], uint16_t *type,
		       uint32_t *len, struct img_error *err)
{
	uint32_t n = img_get32(hdr);
	uint16_t t = img_get16(hdr + 4), flags = img_get16(hdr + 6);
	if (n > PROTO_MAX_PAYLOAD)
		return img_err_set(err, -IMG_E_LIMIT,
				   "frame of %u bytes is over the %u-byte maximum",
				   n, PROTO_MAX_PAYLOAD);
	if (flags)
		return img_err_set(err, -IMG_E_PROTO,
				   "frame of type %u has reserved flags 0x%04x set",
				   t, flags);
	if (t == 0 || t >= PROTO_TYPE_END)
		return img_err_set(err, -IMG_E_PROTO, "unknown message type %u", t);
	if (t != PROTO_DATA && n > PROTO_MAX_CTRL)
		return img_err_set(err, -IMG_E_LIMIT,
				   "message of type %u has %u bytes, over the %u-byte maximum",
				   t, n, PROTO_MAX_CTRL);
	*type = t;
	*len = n;
	return 0;
}

int proto_parse_attrs(struct proto_msg *m, struct img_error *err)
{
	uint32_t off = 0;
	m->nattr = 0;
	while (off < m->len) {
		if (m->len - off < 4)
			return img_err_set(err, -IMG_E_PROTO,
					   "message type %u: attribute header cut at byte %u",
					   m->type, off);
		uint16_t tag = img_get16(m->payload + off);
		uint16_t n = img_get16(m->payload + off + 2);
		if (n > m->len - off - 4)
			return img_err_set(err, -IMG_E_PROTO,
					   "message type %u: attribute %u at byte %u claims %u bytes, %u left",
					   m->type, tag, off, n, m->len - off - 4);
		if (m->nattr == PROTO_MAX_ATTRS)
			return img_err_set(err, -IMG_E_LIMIT,
					   "message type %u has more than %d attributes",
					   m->type, PROTO_MAX_ATTRS);
		m->attr[m->nattr++] = (struct proto_attr){ tag, n, m->payload + off + 4 };
		off += 4 + n;
	}
	return 0;
}

static const struct proto_attr *find(const struct proto_msg *m, uint16_t tag,
				     unsigned idx)
{
	for (unsigned i = 0; i < m->nattr; i++)
		if (m->attr[i].tag == tag && idx-- == 0)
			return &m->attr[i];
	return NULL;
}

int proto_get_str_n(const struct proto_msg *m, uint16_t tag, unsigned idx,
		    char *buf, size_t cap, struct img_error *err)
{
	const struct proto_attr *a = find(m, tag, idx);
	if (!a)
		return 0;
	if (a->len >= cap)
		return img_err_set(err, -IMG_E_LIMIT,
				   "attribute %u: %u bytes, at most %zu allowed",
				   tag, a->len, cap - 1);
	if (memchr(a->val, 0, a->len))
		return img_err_set(err, -IMG_E_PROTO,
				   "attribute %u: string holds a NUL byte", tag);
	memcpy(buf, a->val, a->len);
	buf[a->len] = 0;
	return 1;
}

int proto_get_str(const struct proto_msg *m, uint16_t tag, char *buf,
		  size_t cap, struct img_error *err)
{
	return proto_get_str_n(m, tag, 0, buf, cap, err);
}

int proto_get_bytes(const struct proto_msg *m, uint16_t tag, uint8_t *buf,
		    size_t len, struct img_error *err)
{
	const struct proto_attr *a = find(m, tag, 0);
	if (!a)
		return 0;
	if (a->len != len)
		return img_err_set(err, -IMG_E_PROTO,
				   "attribute %u: %u bytes, expected %zu", tag,
				   a->len, len);
	memcpy(buf, a->val, len);
	return 1;
}

int proto_get_u32(const struct proto_msg *m, uint16_t tag, uint32_t *v,
		  struct img_error *err)
{
	uint8_t b[4];
	int rc = proto_get_bytes(m, tag, b, 4, err);
	if (rc == 1)
		*v = img_get32(b);
	return rc;
}

int proto_get_u64(const struct proto_msg *m, uint16_t tag, uint64_t *v,
		  struct img_error *err)
{
	uint8_t b[8];
	int rc = proto_get_bytes(m, tag, b, 8, err);
	if (rc == 1)
		*v = img_get64(b);
	return rc;
}

/* ---- building --------------------------------------------------------- */

void proto_out_init(struct proto_out *o, uint16_t type)
{
	o->len = PROTO_HDR;
	o->nattr = 0;
	o->overflow = 0;
	img_le16(o->buf + 4, type);
	img_le16(o->buf + 6, 0);
}

void proto_put_bytes(struct proto_out *o, uint16_t tag, const void *p, size_t n)
{
	if (o->overflow || n > 0xffff || o->nattr == PROTO_MAX_ATTRS ||
	    o->len + 4 + n > sizeof(o->buf)) {
		o->overflow = 1;
		return;
	}
	img_le16(o->buf + o->len, tag);
	img_le16(o->buf + o->len + 2, (uint16_t)n);
	if (n)
		memcpy(o->buf + o->len + 4, p, n);
	o->len += 4 + n;
	o->nattr++;
}

void proto_put_str(struct proto_out *o, uint16_t tag, const char *s)
{
	if (s)
		proto_put_bytes(o, tag, s, strlen(s));
}

void proto_put_u32(struct proto_out *o, uint16_t tag, uint32_t v)
{
	uint8_t b[4];
	img_le32(b, v);
	proto_put_bytes(o, tag, b, 4);
}

void proto_put_u64(struct proto_out *o, uint16_t tag, uint64_t v)
{
	uint8_t b[8];
	img_le64(b, v);
	proto_put_bytes(o, tag, b, 8);
}

/* ---- connections ------------------------------------------------------ */

int proto_conn_init(struct proto_conn *c, int fd, int timeout_ms,
		    struct img_error *err)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 120000;
	c->rx = malloc(PROTO_MAX_PAYLOAD);
	if (!c->rx) {
		close(fd);
		c->fd = -1;
		return img_err_set(err, -ENOMEM, "out of memory");
	}
	int one = 1, idle = 30, intvl = 10, cnt = 6;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[64] = "?", p[16] = "?";
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl))
		(void)getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p,
				  sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(c->peer, sizeof(c->peer), "%s:%s", h, p);
	return 0;
}

void proto_conn_close(struct proto_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->rx);
	c->rx = NULL;
}

static int io_error(struct proto_conn *c, int e, const char *what,
		    struct img_error *err)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return img_err_set(err, -ETIMEDOUT,
				   "%s %s: no progress for %d s", what, c->peer,
				   c->timeout_ms / 1000);
	if (e == EPIPE || e == ECONNRESET)
		return img_err_set(err, -IMG_E_CLOSED, "%s %s: connection lost (%s)",
				   what, c->peer, strerror(e));
	return img_err_set(err, -e, "%s %s: %s", what, c->peer, strerror(e));
}

static int send_iov(struct proto_conn *c, struct iovec *iov, int n,
		    struct img_error *err)
{
	while (n > 0) {
		ssize_t w = sendmsg(c->fd, &(struct msghdr){ .msg_iov = iov,
					    .msg_iovlen = (size_t)n },
				    MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return io_error(c, errno, "sending to", err);
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int proto_send(struct proto_conn *c, struct proto_out *o, struct img_error *err)
{
	if (o->overflow)
		return img_err_set(err, -IMG_E_LIMIT,
				   "message type %u to %s would exceed %u bytes",
				   img_get16(o->buf + 4), c->peer, PROTO_MAX_CTRL);
	img_le32(o->buf, (uint32_t)(o->len - PROTO_HDR));
	struct iovec iov = { o->buf, o->len };
	return send_iov(c, &iov, 1, err);
}

int proto_send_data(struct proto_conn *c, const void *p, size_t n,
		    struct img_error *err)
{
	uint8_t hdr[PROTO_HDR];
	if (n > PROTO_MAX_PAYLOAD)
		return img_err_set(err, -IMG_E_LIMIT, "DATA frame too large");
	img_le32(hdr, (uint32_t)n);
	img_le16(hdr + 4, PROTO_DATA);
	img_le16(hdr + 6, 0);
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, n } };
	return send_iov(c, iov, 2, err);
}

int proto_send_empty(struct proto_conn *c, uint16_t type, struct img_error *err)
{
	uint8_t hdr[PROTO_HDR];
	img_le32(hdr, 0);
	img_le16(hdr + 4, type);
	img_le16(hdr + 6, 0);
	struct iovec iov = { hdr, sizeof(hdr) };
	return send_iov(c, &iov, 1, err);
}

int proto_send_status(struct proto_conn *c, uint32_t code, const char *text,
		      struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_STATUS);
	proto_put_u32(o, PT_CODE, code);
	if (text) {
		size_t n = strlen(text);
		proto_put_bytes(o, PT_TEXT, text, n > PROTO_MAX_TEXT ? PROTO_MAX_TEXT : n);
	}
	int rc = proto_send(c, o, err);
	free(o);
	return rc;
}

/* Read exactly n bytes.  *got tells how many arrived before an error. */
static int recv_all(struct proto_conn *c, uint8_t *p, size_t n, size_t *got,
		    struct img_error *err)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = recv(c->fd, p + *got, n - *got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return io_error(c, errno, "receiving from", err);
		}
		if (r == 0)
			return img_err_set(err, -IMG_E_CLOSED,
					   "%s closed the connection", c->peer);
		*got += (size_t)r;
	}
	return 0;
}

int proto_recv(struct proto_conn *c, struct proto_msg *m, struct img_error *err)
{
	for (;;) {
		uint8_t hdr[PROTO_HDR];
		size_t got;
		int rc = recv_all(c, hdr, sizeof(hdr), &got, err);
		if (rc) {
			if (rc == -IMG_E_CLOSED && got)
				return img_err_set(err, -IMG_E_PROTO,
						   "%s closed the connection inside a frame header",
						   c->peer);
			return rc;
		}
		rc = proto_parse_header(hdr, &m->type, &m->len, err);
		if (rc)
			return rc;
		rc = recv_all(c, c->rx, m->len, &got, err);
		if (rc == -IMG_E_CLOSED)
			return img_err_set(err, -IMG_E_PROTO,
					   "%s closed the connection after %zu of %u bytes of a frame",
					   c->peer, got, m->len);
		if (rc)
			return rc;
		m->payload = c->rx;
		m->nattr = 0;
		if (m->type == PROTO_DATA)
			return 0;
		rc = proto_parse_attrs(m, err);
		if (rc)
			return rc;
		if (m->type != PROTO_PING)
			return 0;
		rc = proto_send_empty(c, PROTO_PONG, err);
		if (rc)
			return rc;
	}
}

int proto_pending(struct proto_conn *c)
{
	struct pollfd p = { c->fd, POLLIN, 0 };
	int n = poll(&p, 1, 0);
	if (n < 0)
		return -errno;
	return n > 0 ? 1 : 0;
}

/* ---- authentication --------------------------------------------------- */

int proto_proof(const uint8_t *key, size_t keylen, const char *label,
		const uint8_t a[PROTO_NONCE], const uint8_t b[PROTO_NONCE],
		uint8_t out[32])
{
	uint8_t msg[64 + 2 * PROTO_NONCE];
	size_t l = strlen(label);
	if (l > 64)
		return -IMG_E_USAGE;
	memcpy(msg, label, l);
	memcpy(msg + l, a, PROTO_NONCE);
	memcpy(msg + l + PROTO_NONCE, b, PROTO_NONCE);
	unsigned int olen = 32;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, l + 2 * PROTO_NONCE, out,
		  &olen) || olen != 32)
		return -IMG_E_CODEC;
	return 0;
}

int proto_key_load(const char *path, uint8_t **key, size_t *len,
		   struct img_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return img_err_set(err, -errno, "cannot read site key %s: %s", path,
				   strerror(errno));
	uint8_t *b = malloc(4097);
	ssize_t n = b ? read(fd, b, 4097) : -1;
	int e = errno;
	close(fd);
	if (!b)
		return img_err_set(err, -ENOMEM, "out of memory");
	if (n < 0) {
		free(b);
		return img_err_set(err, -e, "cannot read site key %s: %s", path,
				   strerror(e));
	}
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	if (n < 16 || n > 4096) {
		free(b);
		return img_err_set(err, -IMG_E_AUTH,
				   "site key %s must hold 16 to 4096 bytes (make one with: "
				   "head -c 32 /dev/urandom | base64 > %s; chmod 600 %s)",
				   path, path, path);
	}
	*key = b;
	*len = (size_t)n;
	return 0;
}

/* ---- addresses -------------------------------------------------------- */

int proto_parse_hostport(const char *s, char *host, size_t hcap, int *port,
			 int dport, struct img_error *err)
{
	const char *p = NULL, *h = s, *he;
	if (*s == '[') {
		he = strchr(s, ']');
		if (!he)
			goto bad;
		h = s + 1;
		if (he[1] == ':')
			p = he + 2;
		else if (he[1])
			goto bad;
	} else {
		he = strchr(s, ':');
		if (he && strchr(he + 1, ':'))
			he = NULL;   /* a bare IPv6 address */
		if (he)
			p = he + 1;
		else
			he = s + strlen(s);
	}
	if (he == h || (size_t)(he - h) >= hcap)
		goto bad;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = 0;
	*port = dport;
	if (p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (!*p || *end || v < 1 || v > 65535)
			goto bad;
		*port = (int)v;
	}
	return 0;
bad:
	return img_err_set(err, -IMG_E_USAGE,
			   "'%s' is not HOST[:PORT] (e.g. 198.18.0.1 or imgsrv:998)", s);
}

int proto_connect(const char *host, int port, int timeout_ms,
		  struct img_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	int g = getaddrinfo(host, ps, &hints, &res);
	if (g)
		return img_err_set(err, -EHOSTUNREACH, "cannot resolve %s: %s", host,
				   gai_strerror(g));
	int fd = -1, e = EHOSTUNREACH;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			e = errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd pf = { fd, POLLOUT, 0 };
		int n = poll(&pf, 1, timeout_ms);
		socklen_t sl = sizeof(e);
		e = 0;
		if (n <= 0)
			e = n == 0 ? ETIMEDOUT : errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
			e = errno;
		if (!e) {
			int fl = fcntl(fd, F_GETFL);
			(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return img_err_set(err, -e, "cannot connect to imaging server %s port %d: %s%s",
				   host, port, strerror(e),
				   e == ECONNREFUSED ? " (is imgserv running there?)" : "");
	return fd;
}
