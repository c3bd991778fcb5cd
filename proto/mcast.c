/* mcast.c - the multicast session transport (man/img-protocol.7,
 * MULTICAST SESSIONS).
 *
 * The master cuts the stream into numbered packets of MC_PAYLOAD bytes and
 * multicasts them to the session's group, paced by a token bucket.  Every
 * receiver reports, by unicast and at a bounded rate, how far it has the
 * stream without gaps, how far it can accept, how many packets it got and
 * lost, and which packets it misses; the master merges those reports and
 * multicasts each missing packet once per round trip, however many
 * receivers asked.  The master keeps the last MC_WINDOW packets and never
 * runs further ahead of the slowest receiver it waits for, so memory is
 * fixed on both sides.  Rate: the master speeds up while the receivers
 * lose little and slows to what they receive when most of them lose much;
 * a receiver that alone cannot keep up, or falls silent, is dropped after
 * drop_s seconds and the rest go on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/err.h"
#include "mcast.h"
#include "proto.h"

#define MC_MAGIC "IMGM"
#define MC_VERSION 1
#define MC_BATCH 64
#define MC_RANGES 160             /* missing ranges per STATUS */
#define MC_RATE0 (8e6)            /* bytes/s to begin with */
#define MC_RATEMIN (256e3)
#define MC_RATEMAX (400e6)
#define MC_CONGESTED 0.10         /* loss share that means "too fast" */
#define MC_QUEUE_HIGH 0.080       /* s of queueing delay that mean "slower" */
#define MC_QUEUE_LOW 0.040        /* s below which the rate may grow */
#define MC_QUEUE_PROBE 0.015      /* s that end the first climb: the path is full */
#define MC_SLOW_SHARE 0.6         /* of the typical rate: "far below the others" */
#define MC_SILENT_MASTER 20.0     /* s without a packet: the master is gone */


static uint32_t rand32(void)
{
	uint32_t v = 0;
	while (getrandom(&v, sizeof(v), 0) != sizeof(v) || v == 0)
		;
	return v;
}

/* ---- wire ------------------------------------------------------------- */

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

/* A packet being built: fixed buffer, writes past the end are dropped
 * (and never happen: every message is sized below MC_DGRAM). */
struct pk {
	uint8_t b[MC_DGRAM];
	size_t n;
};

static void pk_init(struct pk *k, uint8_t type, uint32_t sid, uint32_t run,
		    uint64_t seq)
{
	struct mc_hdr h = { .type = type, .sid = sid, .run = run, .seq = seq,
			    .stamp = img_now_ms() };
	mc_put_hdr(k->b, &h);
	k->n = MC_HDR;
}
static void pk_put(struct pk *k, const void *p, size_t n)
{
	if (n && n <= sizeof(k->b) - k->n) {
		memcpy(k->b + k->n, p, n);
		k->n += n;
	}
}
static void pk8(struct pk *k, uint8_t v) { pk_put(k, &v, 1); }
static void pk16(struct pk *k, uint16_t v) { uint8_t b[2]; img_le16(b, v); pk_put(k, b, 2); }
static void pk32(struct pk *k, uint32_t v) { uint8_t b[4]; img_le32(b, v); pk_put(k, b, 4); }
static void pk64(struct pk *k, uint64_t v) { uint8_t b[8]; img_le64(b, v); pk_put(k, b, 8); }
static void pkstr(struct pk *k, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	pk16(k, (uint16_t)n);
	pk_put(k, s, n);
}

static int pk_send(int fd, const struct pk *k, const struct sockaddr_in *to)
{
	ssize_t r = sendto(fd, k->b, k->n, 0, (const struct sockaddr *)to, sizeof(*to));
	return r == (ssize_t)k->n ? 0 : -1;
}

static void addr_str(const struct sockaddr_in *a, char *buf, size_t cap)
{
	inet_ntop(AF_INET, &a->sin_addr, buf, cap);
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* ---- interfaces and sockets ------------------------------------------- */

static int default_route_if(char *name, size_t cap)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifn[64];
	unsigned long dst, mask;
	int found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			snprintf(name, cap, "%s", ifn);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

int mc_iface(const char *want, struct mc_ifc *out, struct img_error *err)
{
	struct ifaddrs *ifa, *i;
	char def[64] = "", list[256] = "";
	int n = 0;
	memset(out, 0, sizeof(*out));
	if (getifaddrs(&ifa))
		return img_err_set(err, -errno, "cannot list network interfaces: %s",
				   strerror(errno));
	if (!want && default_route_if(def, sizeof(def)))
		want = def;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (want) {
			if (strcmp(i->ifa_name, want))
				continue;
		} else if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) {
			continue;
		}
		if (!n++) {
			snprintf(out->name, sizeof(out->name), "%s", i->ifa_name);
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				  out->addr, sizeof(out->addr));
		}
		if (strlen(list) + strlen(i->ifa_name) + 3 < sizeof(list))
			strcat(strcat(list, list[0] ? ", " : ""), i->ifa_name);
		if (want)
			break;
	}
	freeifaddrs(ifa);
	if (!n)
		return img_err_set(err, -IMG_E_NOTFOUND, want ?
				   "network interface %s has no IPv4 address (or does not exist)" :
				   "no network interface with an IPv4 address is up%s",
				   want ? want : "");
	if (n > 1)
		return img_err_set(err, -IMG_E_USAGE,
				   "several network interfaces are up (%s) and none has the default "
				   "route: choose one with -iface=IF", list);
	out->index = (int)if_nametoindex(out->name);
	return 0;
}

static void big_buffers(int fd, int rcv, int snd)
{
	if (rcv && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (snd && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
}

/* A unicast socket on the interface's address, also able to send to the
 * group through that interface. */
static int ctl_socket(const struct mc_ifc *ifc, int rcv, int snd,
		      struct img_error *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct ip_mreqn mr = { .imr_ifindex = ifc->index };
	unsigned char ttl = 1;
	if (fd < 0)
		return img_err_set(err, -errno, "socket: %s", strerror(errno));
	inet_pton(AF_INET, ifc->addr, &a.sin_addr);
	inet_pton(AF_INET, ifc->addr, &mr.imr_address);
	big_buffers(fd, rcv, snd);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl))) {
		int e = errno;
		close(fd);
		return img_err_set(err, -e, "UDP socket on %s (%s): %s", ifc->name,
				   ifc->addr, strerror(e));
	}
	return fd;
}

/* A socket receiving the group's port on the interface. */
static int group_socket(const struct mc_ifc *ifc, const struct sockaddr_in *g,
			struct img_error *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	struct ip_mreqn mr = { .imr_multiaddr = g->sin_addr, .imr_ifindex = ifc->index };
	char gs[16];
	if (fd < 0)
		return img_err_set(err, -errno, "socket: %s", strerror(errno));
	big_buffers(fd, 8 << 20, 0);
	addr_str(g, gs, sizeof(gs));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)g, sizeof(*g)) ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		int e = errno;
		close(fd);
		return img_err_set(err, -e, "cannot join group %s port %d on %s: %s", gs,
				   MC_PORT, ifc->name, strerror(e));
	}
	return fd;
}

static int group_addr(const char *name, struct sockaddr_in *g,
		      struct img_error *err)
{
	char gs[16];
	int rc = proto_session_group(name, gs, err);
	if (rc)
		return rc;
	memset(g, 0, sizeof(*g));
	g->sin_family = AF_INET;
	g->sin_port = htons(MC_PORT);
	inet_pton(AF_INET, gs, &g->sin_addr);
	return 0;
}

/* Receive up to MC_BATCH waiting datagrams of fd into buf, without
 * blocking: their lengths in mh[i].msg_len, senders in from[i]. */
static int recv_batch(int fd, uint8_t (*buf)[MC_DGRAM], struct mmsghdr *mh,
		      struct iovec *iov, struct sockaddr_in *from)
{
	for (int i = 0; i < MC_BATCH; i++) {
		iov[i] = (struct iovec){ buf[i], MC_DGRAM };
		mh[i].msg_hdr = (struct msghdr){ .msg_name = &from[i],
			.msg_namelen = sizeof(from[i]), .msg_iov = &iov[i],
			.msg_iovlen = 1 };
	}
	return recvmmsg(fd, mh, MC_BATCH, MSG_DONTWAIT, NULL);
}

/* Messages from the network thread wait here for the calling thread. */
struct mq {
	char text[16][200];
	int level[16];
	unsigned n;
};

static void mq_add(struct mq *q, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void mq_add(struct mq *q, int level, const char *fmt, ...)
{
	if (q->n >= 16)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->text[q->n], sizeof(q->text[0]), fmt, ap);
	va_end(ap);
	q->level[q->n++] = level;
}

static void mq_flush(struct mq *q, pthread_mutex_t *mu, mc_log_fn log, void *ctx)
{
	struct mq copy;
	pthread_mutex_lock(mu);
	copy = *q;
	q->n = 0;
	pthread_mutex_unlock(mu);
	for (unsigned i = 0; i < copy.n; i++)
		if (log)
			log(ctx, copy.level[i], copy.text[i]);
}

/* ---- master ----------------------------------------------------------- */

enum peer_state { P_REG, P_RECV, P_HAVE, P_DONE, P_FAILED, P_DROPPED, P_LEFT };
static const char *const peer_names[] = { "registered", "receiving", "received",
					  "done", "failed", "dropped", "left" };

struct peer {
	struct sockaddr_in addr;
	uint32_t nonce;
	char host[64];
	int state;
	int cong;                  /* lost much in the last window */
	int slow;                  /* far below the others, its queue growing */
	uint64_t next, limit, rx, lost;
	double heard;              /* last packet from it */
	double t0;                 /* rate window start */
	double rx_at;              /* when the last report (rx, lost) came */
	double drop_sent;          /* when DROP went to it last */
	uint64_t rx0, lost0;
	double rate;               /* bytes/s it received, last window */
	unsigned windows;          /* rate windows seen */
	double cong_since;         /* congested alone since, 0 not */
	double rtt;                /* s, smoothed */
	double rtt_min;            /* s, the lowest sample: the empty path */
	char note[160];
};

struct mc_master {
	struct mc_master_cfg cfg;
	char name[PROTO_MAX_SESSION + 1];
	char image_name[PROTO_MAX_PATH];
	struct mc_ifc ifc;
	struct sockaddr_in group;
	int fd;
	uint32_t sid, run;
	unsigned drop_s;
	int state;                 /* enum mc_state */
	unsigned wanted;           /* clients to wait for, 0 none */
	double debug;              /* IMG_MCAST_DEBUG=S: rate and receivers every S s (default 1), as messages */
	double last_debug, t_start;
	char abort_why[160];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int th_started;
	struct mq mq;

	uint8_t *ring;             /* MC_WINDOW * MC_PAYLOAD */
	uint16_t *len;             /* bytes of each packet */
	double *last_tx;           /* when each packet went out last */
	uint8_t *queued;           /* in the repair queue */
	uint64_t *rq;              /* repair queue (seqs), MC_WINDOW */
	size_t rq_head, rq_n;

	uint64_t written;          /* packets complete from the producer */
	size_t partial;            /* bytes in packet `written` */
	uint64_t sent;             /* next new packet */
	uint64_t base;             /* every waited-for receiver has [0, base) */
	uint64_t total;            /* packets, UINT64_MAX until closed */
	uint64_t bytes;            /* stream bytes so far */
	int closed, stop, finished;
	int rc;
	char errmsg[256];

	double rate, rate_max;
	int probing;               /* no congestion seen yet */
	double hold_until;
	double tokens, t_tokens;
	double last_announce, last_tick;
	int rate_limited;          /* the last round had data but no tokens */
	double stalled_at;         /* last time data waited on a receiver's window */

	struct peer peers[MC_MAXPEERS];
	unsigned npeers;
};

int mc_master_open(struct mc_master **out, const struct mc_master_cfg *c,
		   struct img_error *err)
{
	struct mc_master *m = calloc(1, sizeof(*m));
	int rc;
	*out = NULL;
	if (!m)
		return img_err_set(err, -ENOMEM, "out of memory");
	m->cfg = *c;
	m->fd = -1;
	snprintf(m->name, sizeof(m->name), "%s", c->name);
	snprintf(m->image_name, sizeof(m->image_name), "%s", c->image_name ? c->image_name : "");
	m->cfg.name = m->name;
	m->drop_s = c->drop_s ? c->drop_s : 3;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if ((rc = group_addr(c->name, &m->group, err)) ||
	    (rc = mc_iface(c->iface, &m->ifc, err)) ||
	    (rc = m->fd = ctl_socket(&m->ifc, 4 << 20, 4 << 20, err)) < 0) {
		mc_master_close(m);
		return rc;
	}
	m->ring = malloc((size_t)MC_WINDOW * MC_PAYLOAD);
	m->len = calloc(MC_WINDOW, sizeof(*m->len));
	m->last_tx = calloc(MC_WINDOW, sizeof(*m->last_tx));
	m->queued = calloc(MC_WINDOW, 1);
	m->rq = calloc(MC_WINDOW, sizeof(*m->rq));
	if (!m->ring || !m->len || !m->last_tx || !m->queued || !m->rq) {
		mc_master_close(m);
		return img_err_set(err, -ENOMEM, "out of memory for the session window");
	}
	m->sid = mc_session_id(c->name);
	m->run = rand32();
	m->state = MC_ST_WAITING;
	m->total = UINT64_MAX;
	m->rate_max = c->throttle_ms ? MC_PAYLOAD * 1000.0 / c->throttle_ms : MC_RATEMAX;
	m->rate = m->rate_max < MC_RATE0 ? m->rate_max : MC_RATE0;
	m->probing = 1;
	if (getenv("IMG_MCAST_DEBUG")) {
		m->debug = atof(getenv("IMG_MCAST_DEBUG"));
		if (m->debug <= 0)
			m->debug = 1.0;
		else if (m->debug < 0.1)
			m->debug = 0.1;
	}
	*out = m;
	return 0;
}

static void announce(struct mc_master *m)
{
	struct pk k;
	unsigned reg = 0;
	for (unsigned i = 0; i < m->npeers; i++)
		reg += m->peers[i].state != P_LEFT;
	pk_init(&k, MC_ANNOUNCE, m->sid, m->run, 0);
	pk8(&k, (uint8_t)m->state);
	pk8(&k, 0);
	pk16(&k, (uint16_t)reg);
	pk16(&k, (uint16_t)(m->cfg.server_port ? m->cfg.server_port : PROTO_PORT));
	pk16(&k, m->image_name[0] ? 1 : 0);     /* flags: 1 image on a server */
	pk64(&k, m->sent);
	pk64(&k, m->total);
	pk64(&k, m->closed ? m->bytes : 0);
	pkstr(&k, m->name, PROTO_MAX_SESSION);
	pkstr(&k, m->image_name, 512);
	pkstr(&k, m->abort_why, 150);
	pk_send(m->fd, &k, &m->group);
	m->last_announce = img_now();
}

static struct peer *peer_by_addr(struct mc_master *m, const struct sockaddr_in *a)
{
	for (unsigned i = 0; i < m->npeers; i++)
		if (same_addr(&m->peers[i].addr, a))
			return &m->peers[i];
	return NULL;
}

static int active(const struct peer *p)
{
	return p->state == P_REG || p->state == P_RECV || p->state == P_HAVE;
}

static void reply(struct mc_master *m, uint8_t type, const struct sockaddr_in *to,
		  uint32_t nonce, uint16_t id, const char *text)
{
	struct pk k;
	pk_init(&k, type, m->sid, m->run, 0);
	pk32(&k, nonce);
	pk16(&k, id);
	pk16(&k, (uint16_t)m->npeers);
	pkstr(&k, text, 300);
	pk_send(m->fd, &k, to);
}

/* JOIN: register (while waiting), or say it is late. */
static void on_join(struct mc_master *m, const struct sockaddr_in *from,
		    struct img_rbuf *r, int *registered)
{
	uint32_t nonce = img_rd32(r);
	char host[64];
	img_rdstr(r, host, sizeof(host));
	if (r->bad)
		return;
	struct peer *p = peer_by_addr(m, from);
	if (p && p->nonce == nonce) {
		reply(m, MC_REGISTERED, from, nonce, (uint16_t)(p - m->peers), NULL);
		return;
	}
	if (m->state != MC_ST_WAITING || m->npeers >= MC_MAXPEERS) {
		reply(m, MC_LATE, from, nonce, 0, m->state != MC_ST_WAITING ?
		      "the session has already started" : "the session is full");
		return;
	}
	if (p) {                   /* the same socket again with a new nonce */
		p->nonce = nonce;
	} else {
		p = &m->peers[m->npeers++];
		memset(p, 0, sizeof(*p));
		p->addr = *from;
		p->nonce = nonce;
		snprintf(p->host, sizeof(p->host), "%s", host[0] ? host : "?");
		*registered = 1;
		unsigned n = 0;
		for (unsigned i = 0; i < m->npeers; i++)
			n += active(&m->peers[i]);
		if (m->wanted)
			mq_add(&m->mq, IMG_INFO, "session %s: client %s (%s) registered (%u of %u)",
			       m->name, inet_ntoa(from->sin_addr), p->host, n, m->wanted);
		else
			mq_add(&m->mq, IMG_INFO, "session %s: client %s (%s) registered (%u)",
			       m->name, inet_ntoa(from->sin_addr), p->host, n);
	}
	p->state = P_REG;
	p->heard = img_now();
	p->rtt = 0.01;
	p->rtt_min = 1e9;
	reply(m, MC_REGISTERED, from, nonce, (uint16_t)(p - m->peers), NULL);
}

static void queue_repair(struct mc_master *m, uint64_t seq, double now, double guard)
{
	unsigned i = (unsigned)(seq % MC_WINDOW);
	if (seq < m->base || seq >= m->sent || m->queued[i] || now - m->last_tx[i] < guard)
		return;
	if (m->rq_n >= MC_WINDOW)
		return;
	m->rq[(m->rq_head + m->rq_n++) % MC_WINDOW] = seq;
	m->queued[i] = 1;
}

static void on_status(struct mc_master *m, struct peer *p, const struct mc_hdr *h,
		      struct img_rbuf *r, double now)
{
	uint16_t flags = img_rd16(r);
	uint64_t next = img_rd64(r), limit = img_rd64(r), rx = img_rd64(r),
		 lost = img_rd64(r);
	uint32_t echo = img_rd32(r), held = img_rd32(r);
	uint16_t nr = img_rd16(r);
	(void)flags;
	if (r->bad || nr > MC_RANGES || next > m->sent || limit < next)
		return;
	p->heard = now;
	if (p->state == P_REG)
		p->state = P_RECV;
	if (next > p->next)
		p->next = next;
	p->limit = limit;
	p->rx = rx;
	p->lost = lost;
	p->rx_at = now;
	if (echo) {
		double rtt = ((uint32_t)(img_now_ms() - echo) - (double)held) / 1000.0;
		if (rtt >= 0 && rtt < 5) {
			p->rtt = p->rtt * 0.5 + rtt * 0.5;
			if (rtt < p->rtt_min)
				p->rtt_min = rtt;
		}
	}
	if (p->state == P_RECV && m->total != UINT64_MAX && p->next >= m->total)
		p->state = P_HAVE;
	double guard = p->rtt * 1.5 + 0.01;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t s = next + img_rd32(r);
		uint32_t n = img_rd32(r);
		if (r->bad)
			break;
		for (uint32_t j = 0; j < n && j < MC_WINDOW; j++)
			queue_repair(m, s + j, now, guard);
	}
}

static void on_result(struct mc_master *m, struct peer *p, struct img_rbuf *r)
{
	int32_t code = (int32_t)img_rd32(r);
	uint64_t bytes = img_rd64(r);
	char text[160];
	img_rdstr(r, text, sizeof(text));
	(void)bytes;
	if (r->bad)
		return;
	reply(m, MC_RESULTACK, &p->addr, p->nonce, (uint16_t)(p - m->peers), NULL);
	if (p->state == P_DONE || p->state == P_FAILED)
		return;
	if (code == 0) {
		p->state = P_DONE;
		mq_add(&m->mq, IMG_INFO, "session %s: %s (%s) restored its disk",
		       m->name, inet_ntoa(p->addr.sin_addr), p->host);
	} else {
		p->state = P_FAILED;
		snprintf(p->note, sizeof(p->note), "%s", text[0] ? text : img_strerror(code));
		mq_add(&m->mq, IMG_WARN, "session %s: %s (%s) failed: %s", m->name,
		       inet_ntoa(p->addr.sin_addr), p->host, p->note);
	}
}

/* Read every waiting control packet.  Called with mu held. */
static int drain(struct mc_master *m, int *registered)
{
	struct mmsghdr mh[MC_BATCH];
	struct iovec iov[MC_BATCH];
	struct sockaddr_in from[MC_BATCH];
	static __thread uint8_t buf[MC_BATCH][MC_DGRAM];
	int got = 0;
	for (;;) {
		int n = recv_batch(m->fd, buf, mh, iov, from);
		if (n <= 0)
			return got;
		double now = img_now();
		for (int i = 0; i < n; i++) {
			struct mc_hdr h;
			if (mc_get_hdr(buf[i], mh[i].msg_len, &h) || h.sid != m->sid)
				continue;
			struct img_rbuf r = { buf[i] + MC_HDR, mh[i].msg_len - MC_HDR, 0, 0 };
			if (h.type == MC_JOIN) {
				on_join(m, &from[i], &r, registered);
				continue;
			}
			if (h.run != m->run)
				continue;
			uint16_t id = img_rd16(&r);
			if (r.bad || id >= m->npeers || !same_addr(&m->peers[id].addr, &from[i]))
				continue;
			struct peer *p = &m->peers[id];
			if (h.type == MC_STATUS && active(p))
				on_status(m, p, &h, &r, now);
			else if (h.type == MC_STATUS && p->state == P_DROPPED &&
				 now - p->drop_sent >= 0.2) {
				/* it still reports: its DROP was lost (on the
				 * very path that made it slow); say it again */
				reply(m, MC_DROP, &p->addr, p->nonce, id, p->note);
				p->drop_sent = now;
			}
			else if (h.type == MC_RESULT)
				on_result(m, p, &r);
			else if (h.type == MC_LEAVE && active(p)) {
				p->state = P_LEFT;
				snprintf(p->note, sizeof(p->note), "left the session");
				mq_add(&m->mq, IMG_WARN, "session %s: %s (%s) left", m->name,
				       inet_ntoa(p->addr.sin_addr), p->host);
			}
			got++;
		}
	}
}

static int master_start(struct mc_master *m);

int mc_master_wait(struct mc_master *m, unsigned clients, double timeout_s,
		   int (*key)(void *), int (*cancel)(void *), void *ctx,
		   const char **why, struct img_error *err)
{
	double t_last = img_now();
	char gs[16];
	m->wanted = clients;
	addr_str(&m->group, gs, sizeof(gs));
	if (m->cfg.log) {
		char t[300];
		snprintf(t, sizeof(t), "session %s: master on %s port %d via %s (%s); waiting for %s",
			 m->name, gs, MC_PORT, m->ifc.name, m->ifc.addr,
			 clients ? "clients" : "clients (press s to start)");
		m->cfg.log(m->cfg.ctx, IMG_INFO, t);
	}
	for (;;) {
		int reg = 0;
		unsigned n = 0;
		/* every 100 ms: a client that starts waits for the first
		 * announce before it can join */
		if (img_now() - m->last_announce >= 0.1)
			announce(m);
		struct pollfd pf = { m->fd, POLLIN, 0 };
		poll(&pf, 1, 50);
		pthread_mutex_lock(&m->mu);
		drain(m, &reg);
		for (unsigned i = 0; i < m->npeers; i++)
			n += active(&m->peers[i]);
		pthread_mutex_unlock(&m->mu);
		mq_flush(&m->mq, &m->mu, m->cfg.log, m->cfg.ctx);
		if (reg)
			t_last = img_now();
		int k = key ? key(ctx) : 0;
		if (clients && n >= clients)
			*why = "count reached";
		else if (k == 's' || k == 'S' || k == 'g' || k == 'G')
			*why = "start key";
		else if (img_now() - t_last >= timeout_s)
			*why = "timeout";
		else if (cancel && cancel(ctx))
			return img_err_set(err, -IMG_E_CANCELLED, "session %s: cancelled", m->name);
		else
			continue;
		if (!n)
			return img_err_set(err, -IMG_E_TIMEOUT,
					   "session %s: no client registered within %.0f s on %s; start "
					   "the clients with img -session %s -client", m->name,
					   timeout_s, gs, m->name);
		if (master_start(m))
			return img_err_set(err, -EAGAIN, "cannot start the session thread");
		return 0;
	}
}

/* Receivers the master waits for: active, and not for half a second
 * either losing much alone or taking far less than the others while its
 * queue grows (those are dropped after drop_s, or as soon as the others
 * have moved past what they lack).  A silent one is waited for until
 * drop_s. */
#define MC_GRACE 0.5
static int waited_for(const struct mc_master *m, const struct peer *p, double now)
{
	return active(p) && !(p->cong_since && now - p->cong_since >= MC_GRACE);
}

/* The lowest packet some waited-for receiver still lacks.  Called with mu
 * held. */
static void update_base(struct mc_master *m, double now)
{
	uint64_t base = m->sent;
	for (unsigned i = 0; i < m->npeers; i++)
		if (waited_for(m, &m->peers[i], now) && m->peers[i].next < base)
			base = m->peers[i].next;
	if (base > m->base)
		m->base = base;
}

static void drop_peer(struct mc_master *m, struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void drop_peer(struct mc_master *m, struct peer *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->note, sizeof(p->note), fmt, ap);
	va_end(ap);
	p->state = P_DROPPED;
	m->probing = 1;            /* the path changed: find its rate again */
	reply(m, MC_DROP, &p->addr, p->nonce, (uint16_t)(p - m->peers), p->note);
	p->drop_sent = img_now();
	mq_add(&m->mq, IMG_WARN, "session %s: dropped %s (%s): %s", m->name,
	       inet_ntoa(p->addr.sin_addr), p->host, p->note);
}

static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Rate and health, every 100 ms.  Called with mu held. */
static void tick(struct mc_master *m, double now)
{
	unsigned nact = 0, ncong = 0;
	double cong_rate = 1e18, best = 0, typical = 0;
	/* what most receivers take (the upper median of the last windows'
	 * rates): one that takes far less while a queue builds on its way
	 * has a slower path than the rest */
	double rates[MC_MAXPEERS];
	unsigned nrates = 0;
	for (unsigned i = 0; i < m->npeers; i++)
		if (m->peers[i].state == P_RECV && m->peers[i].windows > 1)
			rates[nrates++] = m->peers[i].rate;
	if (nrates >= 2) {
		qsort(rates, nrates, sizeof(rates[0]), cmp_desc);
		typical = rates[(nrates - 1) / 2];
	}
	for (unsigned i = 0; i < m->npeers; i++) {
		struct peer *p = &m->peers[i];
		if (!active(p))
			continue;
		if (now - p->heard > m->drop_s) {
			drop_peer(m, p, "no report for %u s", m->drop_s);
			continue;
		}
		if (p->state != P_HAVE && p->next < m->base) {
			/* the others went on: what it lacks is no longer repaired */
			drop_peer(m, p, "too slow: %.1f MB/s, fell behind the others",
				  p->rate / 1e6);
			continue;
		}
		nact++;
		/* windows run between the arrivals of the reports that
		 * carried the counts, not between ticks: a report comes every
		 * 100 ms, and a tick's own clock would make the rate jitter
		 * by that much */
		if (p->rx_at - p->t0 >= 0.25) {
			double dt = p->rx_at - p->t0;
			uint64_t drx = p->rx - p->rx0, dl = p->lost - p->lost0;
			if (p->t0 > 0 && p->windows++ > 0) {
				/* the first window may hold time before the
				 * start: its rate is not the path's */
				p->rate = drx * (double)MC_PAYLOAD / dt;
				p->cong = drx + dl > 20 && dl > MC_CONGESTED * (drx + dl);
			}
			p->t0 = p->rx_at;
			p->rx0 = p->rx;
			p->lost0 = p->lost;
		}
		if (p->state == P_HAVE)
			p->cong = 0;
		if (p->rate > best)
			best = p->rate;
		/* slow: it lags the others before its queue overflows */
		p->slow = p->state == P_RECV && p->windows > 1 && typical > 0 &&
			  p->rate < MC_SLOW_SHARE * typical && p->rtt_min < 1e8 &&
			  p->rtt - p->rtt_min > MC_QUEUE_HIGH;
		if (p->cong) {
			ncong++;
			if (p->rate < cong_rate)
				cong_rate = p->rate;
		}
		if (p->cong || p->slow) {
			if (!p->cong_since)
				p->cong_since = now;
		} else {
			p->cong_since = 0;
		}
	}
	/* queueing delay on the way to the receivers we wait for: a queue
	 * building up says "too fast" before anything is lost.  It counts
	 * when most of them see it (the delay that a strict majority has at
	 * least), so that one slow link cannot hold the room back: that one
	 * loses instead, and is dropped. */
	double qds[MC_MAXPEERS], qd = 0;
	unsigned nq = 0;
	for (unsigned i = 0; i < m->npeers; i++) {
		const struct peer *p = &m->peers[i];
		if (waited_for(m, p, now) && p->state == P_RECV && p->rtt_min < 1e8)
			qds[nq++] = p->rtt - p->rtt_min;
	}
	if (nq) {
		qsort(qds, nq, sizeof(qds[0]), cmp_desc);
		qd = qds[nq / 2];
	}
	if (ncong && ncong * 2 > nact) {
		/* most receivers lose much: the network is full */
		if (now >= m->hold_until) {
			double r = cong_rate * 0.95;
			if (r > m->rate * 0.9)
				r = m->rate * 0.9;
			m->rate = r < MC_RATEMIN ? MC_RATEMIN : r;
			m->hold_until = now + 0.3;
			m->probing = 0;
		}
		for (unsigned i = 0; i < m->npeers; i++)
			m->peers[i].cong_since = 0;
	} else {
		/* a minority loses much: it cannot keep up with the rest, who
		 * do not wait for it longer than drop_s */
		for (unsigned i = 0; i < m->npeers; i++) {
			struct peer *p = &m->peers[i];
			if (active(p) && p->cong_since && now - p->cong_since >= m->drop_s)
				drop_peer(m, p, "too slow: %.1f MB/s while the others take "
					  "%.1f MB/s", p->rate / 1e6, best / 1e6);
		}
		/* what the receivers we wait for take now: with a queue on
		 * the way, sending faster only makes it longer */
		double minrx = 0;
		for (unsigned i = 0; i < m->npeers; i++) {
			const struct peer *p = &m->peers[i];
			if (waited_for(m, p, now) && p->state == P_RECV && p->rate > 0 &&
			    p->rtt_min < 1e8 && p->rtt - p->rtt_min <= qd &&
			    (!minrx || p->rate < minrx))
				minrx = p->rate;
		}
		if (now - m->stalled_at < 0.6) {
			/* the window held the data back (a receiver that
			 * stopped reporting, say): what they received says
			 * nothing about the path, so keep the rate */
		} else if (qd > MC_QUEUE_HIGH && minrx) {
			/* drain the queue */
			if (minrx * 0.95 < m->rate)
				m->rate = minrx * 0.95;
			m->probing = 0;
		} else if (qd > (m->probing ? MC_QUEUE_PROBE : MC_QUEUE_LOW) && minrx) {
			/* the path is full: stay at its rate */
			if (minrx < m->rate)
				m->rate = minrx;
			m->probing = 0;
		} else if (now >= m->hold_until && m->rate_limited) {
			double r = m->rate * (m->probing ? 1.25 : 1.05);
			if (minrx && !m->probing && r > minrx * 1.1)
				r = minrx * 1.1 > m->rate ? minrx * 1.1 : m->rate;
			m->rate = r > m->rate_max ? m->rate_max : r;
		}
		if (m->rate < MC_RATEMIN)
			m->rate = MC_RATEMIN;
	}
	m->rate_limited = 0;
	update_base(m, now);
	m->last_tick = now;
	if (m->debug > 0 && now - m->last_debug >= m->debug - 0.01) {
		/* through the front end, like every other message */
		m->last_debug = now;
		mq_add(&m->mq, IMG_INFO, "mcast: t %.2f rate %.2f MB/s sent %llu written %llu base %llu rq %zu", now - m->t_start,
		       m->rate / 1e6, (unsigned long long)m->sent,
		       (unsigned long long)m->written, (unsigned long long)m->base, m->rq_n);
		for (unsigned i = 0; i < m->npeers && i < 8; i++)
			mq_add(&m->mq, IMG_INFO, "mcast:   %s %s next %llu lim %llu rx %llu lost %llu "
			       "%.2f MB/s%s rtt %.0f ms", inet_ntoa(m->peers[i].addr.sin_addr),
			       peer_names[m->peers[i].state],
			       (unsigned long long)m->peers[i].next,
			       (unsigned long long)m->peers[i].limit,
			       (unsigned long long)m->peers[i].rx,
			       (unsigned long long)m->peers[i].lost, m->peers[i].rate / 1e6,
			       m->peers[i].cong ? " CONG" : m->peers[i].slow ? " SLOW" : "",
			       m->peers[i].rtt * 1e3);
	}
}

/* Send what the tokens allow: repairs first, then new packets.  Called
 * with mu held; the send itself runs unlocked. */
static int send_round(struct mc_master *m, double now)
{
	static __thread uint8_t pkts[MC_BATCH][MC_DGRAM];
	struct mmsghdr mh[MC_BATCH];
	struct iovec iov[MC_BATCH];
	unsigned n = 0;
	uint64_t limit = m->written;
	uint32_t stamp = img_now_ms();
	m->tokens += (now - m->t_tokens) * m->rate;
	m->t_tokens = now;
	double cap = 48.0 * MC_PAYLOAD;
	if (m->tokens > cap)
		m->tokens = cap;
	update_base(m, now);
	for (unsigned i = 0; i < m->npeers; i++) {
		const struct peer *p = &m->peers[i];
		if (waited_for(m, p, now) && p->state != P_REG && p->limit < limit)
			limit = p->limit;
	}
	if (limit > m->base + MC_WINDOW)
		limit = m->base + MC_WINDOW;
	while (n < MC_BATCH) {
		uint64_t seq;
		int repair = 0;
		if (m->rq_n) {
			seq = m->rq[m->rq_head];
			m->queued[seq % MC_WINDOW] = 0;
			m->rq_head = (m->rq_head + 1) % MC_WINDOW;
			m->rq_n--;
			if (seq < m->base)
				continue;
			repair = 1;
		} else if (m->sent < limit) {
			seq = m->sent;
		} else {
			if (limit < m->written)
				m->stalled_at = now;    /* data waits on a receiver's window */
			break;
		}
		if (m->tokens < MC_PAYLOAD) {
			m->rate_limited = 1;
			if (repair)             /* keep it for the next round */
				queue_repair(m, seq, now, 0);
			break;
		}
		if (!repair)
			m->sent++;
		unsigned i = (unsigned)(seq % MC_WINDOW);
		struct mc_hdr h = { .type = MC_DATA, .sid = m->sid, .run = m->run,
				    .seq = seq, .stamp = stamp };
		mc_put_hdr(pkts[n], &h);
		memcpy(pkts[n] + MC_HDR, m->ring + (size_t)i * MC_PAYLOAD, m->len[i]);
		iov[n] = (struct iovec){ pkts[n], MC_HDR + (size_t)m->len[i] };
		mh[n].msg_hdr = (struct msghdr){ .msg_name = &m->group,
			.msg_namelen = sizeof(m->group), .msg_iov = &iov[n], .msg_iovlen = 1 };
		m->last_tx[i] = now;
		m->tokens -= MC_PAYLOAD;
		n++;
	}
	if (!n)
		return 0;
	/* the packets are copies: the producer may go on meanwhile */
	pthread_mutex_unlock(&m->mu);
	unsigned done = 0;
	while (done < n) {
		int r = sendmmsg(m->fd, mh + done, n - done, 0);
		if (r <= 0) {
			if (r < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
				struct pollfd pf = { m->fd, POLLOUT, 0 };
				poll(&pf, 1, 2);
				continue;
			}
			break;
		}
		done += (unsigned)r;
	}
	pthread_mutex_lock(&m->mu);
	return (int)n;
}

static void *master_thread(void *arg)
{
	struct mc_master *m = arg;
	pthread_mutex_lock(&m->mu);
	m->t_tokens = img_now();
	while (!m->stop) {
		double now = img_now();
		int reg = 0;
		drain(m, &reg);
		if (now - m->last_tick >= 0.1)
			tick(m, now);
		if (now - m->last_announce >= 0.1)
			announce(m);
		unsigned left = 0, waiting = 0;
		for (unsigned i = 0; i < m->npeers; i++) {
			const struct peer *p = &m->peers[i];
			left += active(p);
			waiting += active(p) && p->state != P_HAVE;
		}
		if (!left) {
			if (!m->rc) {
				m->rc = -IMG_E_DROPPED;
				snprintf(m->errmsg, sizeof(m->errmsg),
					 "session %s: no receiver is left", m->name);
			}
			break;
		}
		if (m->closed && m->total != UINT64_MAX) {
			for (unsigned i = 0; i < m->npeers; i++) {
				struct peer *p = &m->peers[i];
				if (p->state == P_RECV && p->next >= m->total)
					p->state = P_HAVE;
			}
			if (!waiting && m->finished)
				break;
		}
		int n = send_round(m, now);
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		struct pollfd pf = { m->fd, POLLIN, 0 };
		poll(&pf, 1, n ? 0 : 1);
		pthread_mutex_lock(&m->mu);
	}
	m->stop = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static int master_start(struct mc_master *m)
{
	pthread_mutex_lock(&m->mu);
	m->state = MC_ST_RUNNING;
	m->t_start = img_now();
	for (unsigned i = 0; i < m->npeers; i++) {
		m->peers[i].heard = img_now();
		m->peers[i].limit = MC_WINDOW;
	}
	pthread_mutex_unlock(&m->mu);
	if (pthread_create(&m->th, NULL, master_thread, m))
		return -EAGAIN;
	m->th_started = 1;
	return 0;
}

int mc_master_write(void *ctx, const void *buf, size_t len)
{
	struct mc_master *m = ctx;
	const uint8_t *p = buf;
	if (!m->th_started) {
		int rc = master_start(m);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&m->mu);
	while (len) {
		while (!m->stop && m->written >= m->base + MC_WINDOW)
			pthread_cond_wait(&m->cv, &m->mu);
		if (m->stop) {
			int rc = m->rc ? m->rc : -IMG_E_CANCELLED;
			pthread_mutex_unlock(&m->mu);
			return rc;
		}
		unsigned i = (unsigned)(m->written % MC_WINDOW);
		size_t k = MC_PAYLOAD - m->partial;
		if (k > len)
			k = len;
		memcpy(m->ring + (size_t)i * MC_PAYLOAD + m->partial, p, k);
		m->partial += k;
		m->bytes += k;
		p += k;
		len -= k;
		if (m->partial == MC_PAYLOAD) {
			m->len[i] = MC_PAYLOAD;
			m->partial = 0;
			m->written++;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

void mc_master_poll(struct mc_master *m)
{
	mq_flush(&m->mq, &m->mu, m->cfg.log, m->cfg.ctx);
}

int mc_master_finish(struct mc_master *m, int (*cancel)(void *), void *ctx,
		     struct img_error *err)
{
	if (!m->th_started) {
		int rc = master_start(m);
		if (rc)
			return img_err_set(err, rc, "cannot start the session thread");
	}
	pthread_mutex_lock(&m->mu);
	if (m->partial) {
		m->len[m->written % MC_WINDOW] = (uint16_t)m->partial;
		m->partial = 0;
		m->written++;
	}
	m->total = m->written;
	m->closed = 1;
	double t_have = 0;
	while (!m->stop) {
		struct timespec ts = img_abstime(0.1);
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		/* everyone has every packet: wait for their results while
		 * they finish writing, as long as they keep reporting */
		unsigned have = 0, recv = 0;
		for (unsigned i = 0; i < m->npeers; i++) {
			have += m->peers[i].state == P_HAVE;
			recv += m->peers[i].state == P_RECV || m->peers[i].state == P_REG;
		}
		if (!recv && !t_have)
			t_have = img_now();
		if (!recv && !have)
			m->finished = 1;
		pthread_mutex_unlock(&m->mu);
		mc_master_poll(m);
		int c = cancel && cancel(ctx);
		pthread_mutex_lock(&m->mu);
		if (c) {
			snprintf(m->abort_why, sizeof(m->abort_why), "cancelled on the master");
			m->rc = -IMG_E_CANCELLED;
			snprintf(m->errmsg, sizeof(m->errmsg), "session %s: cancelled", m->name);
			m->stop = 1;
		}
	}
	m->state = m->rc && m->rc != -IMG_E_DROPPED ? MC_ST_ABORTED : MC_ST_DONE;
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->th, NULL);
	m->th_started = 0;
	for (int i = 0; i < 3; i++) {
		announce(m);
		usleep(20000);
	}
	mc_master_poll(m);
	unsigned done = 0, failed = 0, dropped = 0;
	mc_master_peers(m, NULL, 0, &done, &failed, &dropped);
	if (m->rc && m->rc != -IMG_E_DROPPED)
		return img_err_set(err, m->rc, "%s", m->errmsg);
	if (failed || !done)
		return img_err_set(err, -IMG_E_REFUSED,
				   "session %s: %u receiver(s) restored the image, %u failed, %u dropped",
				   m->name, done, failed, dropped);
	return 0;
}

void mc_master_abort(struct mc_master *m, const char *why)
{
	pthread_mutex_lock(&m->mu);
	snprintf(m->abort_why, sizeof(m->abort_why), "%s", why ? why : "aborted");
	m->state = MC_ST_ABORTED;
	m->stop = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->th_started) {
		pthread_join(m->th, NULL);
		m->th_started = 0;
	}
	for (int i = 0; i < 3; i++) {
		announce(m);
		usleep(20000);
	}
}

unsigned mc_master_registered(struct mc_master *m)
{
	unsigned n = 0;
	pthread_mutex_lock(&m->mu);
	for (unsigned i = 0; i < m->npeers; i++)
		n += active(&m->peers[i]);
	pthread_mutex_unlock(&m->mu);
	return n;
}

unsigned mc_master_peers(struct mc_master *m, struct img_session_peer *peers,
			 unsigned max, unsigned *done, unsigned *failed,
			 unsigned *dropped)
{
	unsigned n = 0;
	*done = *failed = *dropped = 0;
	pthread_mutex_lock(&m->mu);
	for (unsigned i = 0; i < m->npeers; i++) {
		const struct peer *p = &m->peers[i];
		int st = p->state;
		if (m->finished || m->stop) {
			/* what the end makes of those still open */
			if (st == P_HAVE || st == P_RECV || st == P_REG)
				st = P_DROPPED;
		}
		*done += st == P_DONE;
		*failed += st == P_FAILED;
		*dropped += st == P_DROPPED || st == P_LEFT;
		if (n < max && peers) {
			struct img_session_peer *q = &peers[n++];
			memset(q, 0, sizeof(*q));
			addr_str(&p->addr, q->addr, sizeof(q->addr));
			snprintf(q->host, sizeof(q->host), "%s", p->host);
			snprintf(q->state, sizeof(q->state), "%s", peer_names[st]);
			q->bytes = p->next * (uint64_t)MC_PAYLOAD;
			if (st == P_DROPPED && !p->note[0])
				snprintf(q->note, sizeof(q->note), "%s",
					 p->state == P_HAVE ? "no result after receiving everything" :
					 "did not finish");
			else
				snprintf(q->note, sizeof(q->note), "%s", p->note);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return n;
}

void mc_master_close(struct mc_master *m)
{
	if (!m)
		return;
	if (m->th_started)
		mc_master_abort(m, "the master stopped");
	if (m->fd >= 0)
		close(m->fd);
	free(m->ring);
	free(m->len);
	free(m->last_tx);
	free(m->queued);
	free(m->rq);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

/* ---- receiver --------------------------------------------------------- */

struct mc_client {
	struct mc_client_cfg cfg;
	char name[PROTO_MAX_SESSION + 1];
	char host[64];
	struct mc_ifc ifc;
	struct sockaddr_in group, master;
	int dfd, cfd;
	uint32_t sid, run, nonce;
	uint16_t id;
	char path[512];
	int port, on_server;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int th_started, stop;
	struct mq mq;

	uint8_t *ring;
	uint16_t *len;
	uint8_t *have;
	uint64_t base;             /* next packet to deliver */
	size_t off;                /* bytes of packet base delivered */
	uint64_t next;             /* [0, next) received */
	uint64_t hi;               /* 1 + highest packet seen or announced */
	uint64_t total;            /* UINT64_MAX until announced */
	uint64_t delivered;
	uint64_t rx, lost;
	uint32_t echo;             /* the master's last stamp */
	double echo_at;
	double heard;              /* last packet from the master */
	double last_status;
	int dropped, failed;
	struct img_error err;
};

int mc_client_open(struct mc_client **out, const struct mc_client_cfg *c,
		   struct img_error *err)
{
	struct mc_client *k = calloc(1, sizeof(*k));
	int rc;
	*out = NULL;
	if (!k)
		return img_err_set(err, -ENOMEM, "out of memory");
	k->cfg = *c;
	k->dfd = k->cfd = -1;
	snprintf(k->name, sizeof(k->name), "%s", c->name);
	snprintf(k->host, sizeof(k->host), "%s", c->host ? c->host : "");
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	if ((rc = group_addr(c->name, &k->group, err)) ||
	    (rc = mc_iface(c->iface, &k->ifc, err)) ||
	    (rc = k->dfd = group_socket(&k->ifc, &k->group, err)) < 0 ||
	    (rc = k->cfd = ctl_socket(&k->ifc, 1 << 20, 1 << 20, err)) < 0) {
		mc_client_close(k);
		return rc;
	}
	k->ring = malloc((size_t)MC_WINDOW * MC_PAYLOAD);
	k->len = calloc(MC_WINDOW, sizeof(*k->len));
	k->have = calloc(MC_WINDOW, 1);
	if (!k->ring || !k->len || !k->have) {
		mc_client_close(k);
		return img_err_set(err, -ENOMEM, "out of memory for the session window");
	}
	k->sid = mc_session_id(c->name);
	k->total = UINT64_MAX;
	*out = k;
	return 0;
}

struct announce_msg {
	int state;
	unsigned registered;
	int port, flags;
	uint64_t sent, total, bytes;
	char name[PROTO_MAX_SESSION + 1];
	char path[512];
	char why[160];
};

static int parse_announce(struct img_rbuf *r, struct announce_msg *a)
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
	img_rdstr(r, a->path, sizeof(a->path));
	img_rdstr(r, a->why, sizeof(a->why));
	return r->bad || a->state < MC_ST_WAITING || a->state > MC_ST_ABORTED ? -1 : 0;
}

static void send_join(struct mc_client *k)
{
	struct pk p;
	pk_init(&p, MC_JOIN, k->sid, k->run, 0);
	pk32(&p, k->nonce);
	pkstr(&p, k->host, 63);
	pk_send(k->cfd, &p, &k->master);
}

int mc_client_register(struct mc_client *k, unsigned wait_s,
		       int (*key)(void *), int (*cancel)(void *), void *ctx,
		       struct img_error *err)
{
	double t0 = img_now(), t_join = 0;
	uint32_t late_run = 0;
	int told_wait = 0;
	uint8_t b[MC_DGRAM];
	char gs[16];
	addr_str(&k->group, gs, sizeof(gs));
	k->run = 0;
	for (;;) {
		if (!told_wait++ && k->cfg.log) {
			char t[200];
			snprintf(t, sizeof(t), "session %s: waiting for the master on %s port %d via %s",
				 k->name, gs, MC_PORT, k->ifc.name);
			k->cfg.log(k->cfg.ctx, IMG_INFO, t);
		}
		if (k->run && img_now() - t_join > 0.3) {
			send_join(k);
			t_join = img_now();
		}
		struct pollfd pf[2] = { { k->dfd, POLLIN, 0 }, { k->cfd, POLLIN, 0 } };
		poll(pf, 2, 50);
		for (int j = 0; j < 64; j++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(k->dfd, b, sizeof(b), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			struct mc_hdr h;
			struct announce_msg a;
			if (n < 0)
				break;
			if (mc_get_hdr(b, (size_t)n, &h) || h.sid != k->sid || h.type != MC_ANNOUNCE)
				continue;
			struct img_rbuf r = { b + MC_HDR, (size_t)n - MC_HDR, 0, 0 };
			if (parse_announce(&r, &a) || strcasecmp(a.name, k->name))
				continue;
			if (a.state == MC_ST_WAITING && h.run != late_run && !k->run) {
				k->run = h.run;
				k->master = from;
				k->nonce = rand32();
				k->port = a.port;
				k->on_server = a.flags & 1;
				snprintf(k->path, sizeof(k->path), "%s", a.path);
				send_join(k);
				t_join = img_now();
			} else if (a.state != MC_ST_WAITING && !k->run && h.run != late_run) {
				late_run = h.run;
				if (k->cfg.log) {
					char t[200];
					snprintf(t, sizeof(t), "session %s has already started; queued for "
						 "the next session of that name", k->name);
					k->cfg.log(k->cfg.ctx, IMG_WARN, t);
				}
			}
		}
		for (int j = 0; j < 16; j++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(k->cfd, b, sizeof(b), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			struct mc_hdr h;
			if (n < 0)
				break;
			if (mc_get_hdr(b, (size_t)n, &h) || h.sid != k->sid || !k->run ||
			    h.run != k->run || !same_addr(&from, &k->master))
				continue;
			struct img_rbuf r = { b + MC_HDR, (size_t)n - MC_HDR, 0, 0 };
			uint32_t nonce = img_rd32(&r);
			uint16_t id = img_rd16(&r);
			if (r.bad || nonce != k->nonce)
				continue;
			if (h.type == MC_REGISTERED) {
				k->id = id;
				k->heard = img_now();
				if (k->cfg.log) {
					char t[200], ms[16];
					addr_str(&k->master, ms, sizeof(ms));
					snprintf(t, sizeof(t), "session %s: registered with master %s",
						 k->name, ms);
					k->cfg.log(k->cfg.ctx, IMG_INFO, t);
				}
				return 0;
			}
			if (h.type == MC_LATE) {
				late_run = k->run;
				k->run = 0;
				if (k->cfg.log) {
					char t[200];
					snprintf(t, sizeof(t), "session %s has already started; queued for "
						 "the next session of that name", k->name);
					k->cfg.log(k->cfg.ctx, IMG_WARN, t);
				}
			}
		}
		int c = key ? key(ctx) : 0;
		if (c == 'm' || c == 'M')
			return 1;
		if (cancel && cancel(ctx))
			return img_err_set(err, -IMG_E_CANCELLED, "session %s: cancelled", k->name);
		if (wait_s && img_now() - t0 > wait_s)
			return img_err_set(err, -IMG_E_TIMEOUT,
					   "session %s: no master %s within %u s on %s via %s; is the "
					   "master started (img -session %s -master)?", k->name,
					   late_run ? "started a new session" : "appeared", wait_s,
					   gs, k->ifc.name, k->name);
	}
}

static void send_status(struct mc_client *k, double now)
{
	struct pk p;
	uint16_t nr = 0;
	pk_init(&p, MC_STATUS, k->sid, k->run, 0);
	pk16(&p, k->id);
	pk16(&p, k->total != UINT64_MAX && k->next >= k->total ? 1 : 0);
	pk64(&p, k->next);
	pk64(&p, k->base + MC_WINDOW);
	pk64(&p, k->rx);
	pk64(&p, k->lost);
	pk32(&p, k->echo ? k->echo : 0);
	pk32(&p, k->echo ? (uint32_t)((now - k->echo_at) * 1000) : 0);
	size_t at = p.n;
	pk16(&p, 0);
	uint64_t end = k->total != UINT64_MAX ? k->total : k->hi;
	if (end > k->base + MC_WINDOW)
		end = k->base + MC_WINDOW;
	for (uint64_t s = k->next; s < end && nr < MC_RANGES;) {
		if (k->have[s % MC_WINDOW]) {
			s++;
			continue;
		}
		uint64_t e = s;
		while (e < end && !k->have[e % MC_WINDOW])
			e++;
		pk32(&p, (uint32_t)(s - k->next));
		pk32(&p, (uint32_t)(e - s));
		nr++;
		s = e;
	}
	img_le16(p.b + at, nr);
	pk_send(k->cfd, &p, &k->master);
	k->last_status = now;
}

static void on_data(struct mc_client *k, uint64_t seq, const uint8_t *p, size_t n)
{
	if (n > MC_PAYLOAD || seq < k->next || seq >= k->base + MC_WINDOW ||
	    (k->total != UINT64_MAX && seq >= k->total))
		return;
	k->rx++;
	unsigned i = (unsigned)(seq % MC_WINDOW);
	if (seq >= k->hi) {
		k->lost += seq - k->hi;
		k->hi = seq + 1;
	}
	if (k->have[i])
		return;
	memcpy(k->ring + (size_t)i * MC_PAYLOAD, p, n);
	k->len[i] = (uint16_t)n;
	k->have[i] = 1;
	while (k->next < k->base + MC_WINDOW && k->have[k->next % MC_WINDOW] &&
	       k->next < k->hi)
		k->next++;
}

static void client_fail(struct mc_client *k, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void client_fail(struct mc_client *k, int code, const char *fmt, ...)
{
	if (k->failed || k->dropped)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->err.msg, sizeof(k->err.msg), fmt, ap);
	va_end(ap);
	k->err.code = code;
	if (code == -IMG_E_DROPPED)
		k->dropped = 1;
	else
		k->failed = 1;
}

static void *client_thread(void *arg)
{
	struct mc_client *k = arg;
	struct mmsghdr mh[MC_BATCH];
	struct iovec iov[MC_BATCH];
	struct sockaddr_in from[MC_BATCH];
	uint8_t (*buf)[MC_DGRAM] = malloc(MC_BATCH * MC_DGRAM);
	if (!buf) {
		pthread_mutex_lock(&k->mu);
		client_fail(k, -ENOMEM, "out of memory");
		k->stop = 1;
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
		return NULL;
	}
	double woke = 0;
	pthread_mutex_lock(&k->mu);
	while (!k->stop) {
		pthread_mutex_unlock(&k->mu);
		struct pollfd pf[2] = { { k->dfd, POLLIN, 0 }, { k->cfd, POLLIN, 0 } };
		poll(pf, 2, 10);
		int n = 0;
		if (pf[0].revents & POLLIN)
			n = recv_batch(k->dfd, buf, mh, iov, from);
		double now = img_now();
		pthread_mutex_lock(&k->mu);
		for (int i = 0; i < n; i++) {
			struct mc_hdr h;
			if (mc_get_hdr(buf[i], mh[i].msg_len, &h) || h.sid != k->sid ||
			    h.run != k->run || from[i].sin_addr.s_addr != k->master.sin_addr.s_addr)
				continue;
			k->heard = now;
			k->echo = h.stamp;
			k->echo_at = now;
			if (h.type == MC_DATA) {
				on_data(k, h.seq, buf[i] + MC_HDR, mh[i].msg_len - MC_HDR);
			} else if (h.type == MC_ANNOUNCE) {
				struct announce_msg a;
				struct img_rbuf r = { buf[i] + MC_HDR, mh[i].msg_len - MC_HDR, 0, 0 };
				if (parse_announce(&r, &a))
					continue;
				if (a.sent > k->hi && a.sent <= k->base + MC_WINDOW) {
					k->lost += a.sent - k->hi;
					k->hi = a.sent;
				}
				if (a.total != UINT64_MAX && k->total == UINT64_MAX &&
				    a.total >= k->next)
					k->total = a.total;
				if (a.state == MC_ST_ABORTED)
					client_fail(k, -IMG_E_REFUSED, "session %s: the master stopped "
						    "the session: %s", k->name, a.why[0] ? a.why : "aborted");
				else if (a.state == MC_ST_DONE &&
					 (k->total == UINT64_MAX || k->next < k->total))
					client_fail(k, -IMG_E_DROPPED, "session %s: the master ended "
						    "the session before this receiver had the whole "
						    "image: it was dropped (too slow, or silent)",
						    k->name);
			}
		}
		for (int j = 0; j < 16 && (pf[1].revents & POLLIN); j++) {
			uint8_t b[MC_DGRAM];
			struct sockaddr_in f;
			socklen_t fl = sizeof(f);
			ssize_t r = recvfrom(k->cfd, b, sizeof(b), MSG_DONTWAIT,
					     (struct sockaddr *)&f, &fl);
			struct mc_hdr h;
			if (r < 0)
				break;
			if (mc_get_hdr(b, (size_t)r, &h) || h.sid != k->sid ||
			    h.run != k->run || !same_addr(&f, &k->master))
				continue;
			struct img_rbuf rb = { b + MC_HDR, (size_t)r - MC_HDR, 0, 0 };
			uint32_t nonce = img_rd32(&rb);
			img_rd16(&rb);
			img_rd16(&rb);
			char why[300];
			img_rdstr(&rb, why, sizeof(why));
			if (rb.bad || nonce != k->nonce)
				continue;
			if (h.type == MC_DROP) {
				char ms[16];
				addr_str(&k->master, ms, sizeof(ms));
				client_fail(k, -IMG_E_DROPPED, "session %s: dropped by the master %s "
					    "at %llu bytes: %s", k->name, ms,
					    (unsigned long long)k->delivered, why);
			}
		}
		if (now - k->heard > MC_SILENT_MASTER)
			client_fail(k, -IMG_E_CLOSED, "session %s: nothing from the master for "
				    "%.0f s", k->name, MC_SILENT_MASTER);
		int complete = k->total != UINT64_MAX && k->next >= k->total;
		int gaps = k->next < k->hi;
		if (now - k->last_status >= (gaps ? 0.02 : complete ? 0.2 : 0.1))
			send_status(k, now);
		/* Wake the reader for a batch's worth, not for every packet
		 * (on a slow link each wake-up would carry one datagram), and
		 * for less once it waited 5 ms. */
		if ((k->next > k->base && (k->next - k->base >= MC_BATCH || now - woke >= 0.005)) ||
		    k->failed || k->dropped || complete) {
			pthread_cond_broadcast(&k->cv);
			woke = now;
		}
		if (k->failed || k->dropped)
			break;
		if (n > 0 && n < MC_BATCH / 2) {
			/* The socket is drained while packets trickle in: let
			 * a few gather rather than wake for each (8 MiB of
			 * socket buffer hold far more than a millisecond). */
			pthread_mutex_unlock(&k->mu);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			pthread_mutex_lock(&k->mu);
		}
	}
	k->stop = 1;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	free(buf);
	return NULL;
}

int mc_client_start(struct mc_client *k, struct img_error *err)
{
	k->heard = img_now();
	if (pthread_create(&k->th, NULL, client_thread, k))
		return img_err_set(err, -EAGAIN, "cannot start the receiver thread");
	k->th_started = 1;
	return 0;
}

ssize_t mc_client_read(void *ctx, void *buf, size_t len)
{
	struct mc_client *k = ctx;
	uint8_t *out = buf;
	size_t got = 0;
	pthread_mutex_lock(&k->mu);
	while (got < len) {
		unsigned i = (unsigned)(k->base % MC_WINDOW);
		if (k->base < k->next) {
			size_t n = k->len[i] - k->off;
			if (n > len - got)
				n = len - got;
			memcpy(out + got, k->ring + (size_t)i * MC_PAYLOAD + k->off, n);
			got += n;
			k->off += n;
			k->delivered += n;
			if (k->off == k->len[i]) {
				k->have[i] = 0;
				k->off = 0;
				k->base++;
			}
			continue;
		}
		if (got)
			break;
		if (k->total != UINT64_MAX && k->base >= k->total)
			break;
		if (k->failed || k->dropped || k->stop) {
			int rc = k->err.code ? k->err.code : -IMG_E_CLOSED;
			pthread_mutex_unlock(&k->mu);
			return rc;
		}
		pthread_cond_wait(&k->cv, &k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	return (ssize_t)got;
}

void mc_client_poll(struct mc_client *k)
{
	mq_flush(&k->mq, &k->mu, k->cfg.log, k->cfg.ctx);
}

uint64_t mc_client_delivered(struct mc_client *k)
{
	pthread_mutex_lock(&k->mu);
	uint64_t d = k->delivered;
	pthread_mutex_unlock(&k->mu);
	return d;
}

int mc_client_server(struct mc_client *k, char *host, size_t hcap, int *port,
		     char *path, size_t pcap)
{
	if (!k->on_server || !k->path[0])
		return 0;
	addr_str(&k->master, host, hcap);
	*port = k->port ? k->port : PROTO_PORT;
	snprintf(path, pcap, "%s", k->path);
	return 1;
}

void mc_client_counts(struct mc_client *k, uint64_t *packets, uint64_t *lost)
{
	pthread_mutex_lock(&k->mu);
	*packets = k->rx;
	*lost = k->lost;
	pthread_mutex_unlock(&k->mu);
}

void mc_client_error(struct mc_client *k, struct img_error *err)
{
	if (err) {
		pthread_mutex_lock(&k->mu);
		*err = k->err;
		pthread_mutex_unlock(&k->mu);
	}
}

/* After a RESULT: did the master acknowledge it (on the control socket)
 * or end the session (its closing announce on the group: it ends only
 * once every receiver has reported or been dropped, so it needs nothing
 * more from this one when that RESULTACK was lost)? */
static int result_heard(struct mc_client *k, short cev, short dev)
{
	uint8_t b[MC_DGRAM];
	struct sockaddr_in f;
	socklen_t fl = sizeof(f);
	struct mc_hdr h;
	if (cev & POLLIN) {
		ssize_t r = recvfrom(k->cfd, b, sizeof(b), MSG_DONTWAIT,
				     (struct sockaddr *)&f, &fl);
		if (r > 0 && !mc_get_hdr(b, (size_t)r, &h) && h.type == MC_RESULTACK &&
		    h.run == k->run && same_addr(&f, &k->master))
			return 1;
	}
	for (int i = 0; (dev & POLLIN) && i < 64; i++) {
		fl = sizeof(f);
		ssize_t r = recvfrom(k->dfd, b, sizeof(b), MSG_DONTWAIT,
				     (struct sockaddr *)&f, &fl);
		if (r <= 0)
			break;
		if (mc_get_hdr(b, (size_t)r, &h) || h.type != MC_ANNOUNCE || h.sid != k->sid ||
		    h.run != k->run || f.sin_addr.s_addr != k->master.sin_addr.s_addr)
			continue;
		struct announce_msg a;
		struct img_rbuf rb = { b + MC_HDR, (size_t)r - MC_HDR, 0, 0 };
		if (!parse_announce(&rb, &a) &&
		    (a.state == MC_ST_DONE || a.state == MC_ST_ABORTED))
			return 1;
	}
	return 0;
}

void mc_client_result(struct mc_client *k, int rc, const char *text)
{
	/* stop the network thread, then report on the control socket */
	pthread_mutex_lock(&k->mu);
	int was_dropped = k->dropped;
	k->stop = 1;
	pthread_mutex_unlock(&k->mu);
	if (k->th_started) {
		pthread_join(k->th, NULL);
		k->th_started = 0;
	}
	if (was_dropped)
		return;                    /* the master no longer listens */
	for (int t = 0; t < 20; t++) {
		struct pk p;
		pk_init(&p, MC_RESULT, k->sid, k->run, 0);
		pk16(&p, k->id);
		pk32(&p, (uint32_t)rc);
		pk64(&p, k->delivered);
		pkstr(&p, text, 150);
		pk_send(k->cfd, &p, &k->master);
		double t0 = img_now();
		while (img_now() - t0 < 0.15) {
			struct pollfd pf[2] = { { k->cfd, POLLIN, 0 }, { k->dfd, POLLIN, 0 } };
			if (poll(pf, k->dfd >= 0 ? 2 : 1, 50) <= 0)
				continue;
			if (result_heard(k, pf[0].revents, pf[1].revents))
				return;
		}
	}
}

void mc_client_leave(struct mc_client *k)
{
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_mutex_unlock(&k->mu);
	if (k->th_started) {
		pthread_join(k->th, NULL);
		k->th_started = 0;
	}
	if (k->dfd >= 0)
		close(k->dfd);             /* leaves the group */
	k->dfd = -1;
}

void mc_client_close(struct mc_client *k)
{
	if (!k)
		return;
	if (k->th_started) {
		pthread_mutex_lock(&k->mu);
		k->stop = 1;
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->th, NULL);
	}
	if (k->run && k->cfd >= 0 && !k->dropped) {
		struct pk p;
		pk_init(&p, MC_LEAVE, k->sid, k->run, 0);
		pk16(&p, k->id);
		pk_send(k->cfd, &p, &k->master);
	}
	if (k->dfd >= 0)
		close(k->dfd);
	if (k->cfd >= 0)
		close(k->cfd);
	free(k->ring);
	free(k->len);
	free(k->have);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k);
}
