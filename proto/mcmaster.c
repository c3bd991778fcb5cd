/* mcmaster.c - the multicast master (man/img-protocol.7, MULTICAST
 * SESSIONS).
 *
 * The master cuts the stream into numbered packets of MC_PAYLOAD bytes and
 * multicasts them to the session's group, paced by rate control
 * (mcrate.c).  Every receiver reports, by unicast and at a bounded rate,
 * how far it has the stream without gaps, how far it can accept, how many
 * packets it got and lost, and which packets it misses; the master merges
 * those reports and multicasts each missing packet once per round trip,
 * however many receivers asked.  The master keeps the last MC_WINDOW
 * packets and never runs further ahead of the slowest receiver it waits
 * for, so its memory is fixed.
 *
 * Threads: the caller registers receivers (mc_master_wait) and writes the
 * stream; a network thread sends, repairs and hears the reports.  mu
 * guards everything below it in struct mc_master.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "mcast_int.h"

static const char *const peer_names[] = { "registered", "receiving", "received",
					  "done", "failed", "dropped", "left" };

struct mc_master {
	struct mc_master_cfg cfg;
	char name[PROTO_MAX_SESSION + 1];
	char image_name[PROTO_MAX_PATH];
	struct mc_ifc ifc;
	struct sockaddr_in group;
	int fd;
	uint32_t sid, run;
	int state;                 /* enum mc_state */
	unsigned wanted;           /* clients to wait for, 0 none */
	double debug;              /* IMG_MCAST_DEBUG=S: rate and receivers every S s (default 1), as messages */
	double last_debug, t_start;
	char abort_why[160];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int th_started;
	struct mc_mq mq;

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

	struct mc_rate rt;
	double last_announce, last_tick;

	struct mc_room room;
};

static void master_debug_env(struct mc_master *m)
{
	if (getenv("IMG_MCAST_DEBUG")) {
		m->debug = atof(getenv("IMG_MCAST_DEBUG"));
		if (m->debug <= 0)
			m->debug = 1.0;
		else if (m->debug < 0.1)
			m->debug = 0.1;
	}
}

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
	m->room.drop_s = c->drop_s ? c->drop_s : 3;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if ((rc = mc_group_addr(c->name, &m->group, err)) ||
	    (rc = mc_iface(c->iface, &m->ifc, err)) ||
	    (rc = m->fd = mc_ctl_socket(&m->ifc, 4 << 20, 4 << 20, err)) < 0) {
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
	m->run = mc_rand32();
	m->state = MC_ST_WAITING;
	m->total = UINT64_MAX;
	mc_rate_init(&m->rt, c->throttle_ms);
	master_debug_env(m);
	*out = m;
	return 0;
}

static void announce(struct mc_master *m)
{
	struct mc_pk k;
	struct mc_announce a = {
		.state = m->state,
		.port = m->cfg.server_port ? m->cfg.server_port : PROTO_PORT,
		.flags = m->image_name[0] ? 1 : 0,
		.sent = m->sent, .total = m->total, .bytes = m->closed ? m->bytes : 0,
	};
	for (unsigned i = 0; i < m->room.n; i++)
		a.registered += m->room.peer[i].state != P_LEFT;
	snprintf(a.name, sizeof(a.name), "%s", m->name);
	snprintf(a.path, sizeof(a.path), "%.512s", m->image_name);   /* sent: 512 at most */
	snprintf(a.why, sizeof(a.why), "%s", m->abort_why);
	mc_pk_init(&k, MC_ANNOUNCE, m->sid, m->run, 0);
	mc_enc_announce(&k, &a);
	mc_pk_send(m->fd, &k, &m->group);
	m->last_announce = img_now();
}

/* The closing announces: three, in case some are lost. */
static void announce_end(struct mc_master *m)
{
	for (int i = 0; i < 3; i++) {
		announce(m);
		usleep(20000);
	}
}

static struct mc_peer *peer_by_addr(struct mc_master *m, const struct sockaddr_in *a)
{
	for (unsigned i = 0; i < m->room.n; i++)
		if (mc_same_addr(&m->room.peer[i].addr, a))
			return &m->room.peer[i];
	return NULL;
}

static unsigned count_active(const struct mc_master *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->room.n; i++)
		n += mc_peer_active(&m->room.peer[i]);
	return n;
}

static void reply(struct mc_master *m, uint8_t type, const struct sockaddr_in *to,
		  uint32_t nonce, uint16_t id, const char *text)
{
	struct mc_pk k;
	mc_pk_init(&k, type, m->sid, m->run, 0);
	mc_enc_reply(&k, nonce, id, (uint16_t)m->room.n, text);
	mc_pk_send(m->fd, &k, to);
}

/* ---- control packets ---------------------------------------------------- */

/* A new receiver in the room. */
static struct mc_peer *add_peer(struct mc_master *m, const struct sockaddr_in *from,
				uint32_t nonce, const char *host)
{
	struct mc_peer *p = &m->room.peer[m->room.n++];
	memset(p, 0, sizeof(*p));
	p->addr = *from;
	p->nonce = nonce;
	snprintf(p->host, sizeof(p->host), "%s", host[0] ? host : "?");
	unsigned n = count_active(m);
	if (m->wanted)
		mc_mq_add(&m->mq, IMG_INFO, "session %s: client %s (%s) registered (%u of %u)",
			  m->name, inet_ntoa(from->sin_addr), p->host, n, m->wanted);
	else
		mc_mq_add(&m->mq, IMG_INFO, "session %s: client %s (%s) registered (%u)",
			  m->name, inet_ntoa(from->sin_addr), p->host, n);
	return p;
}

/* JOIN: register (while waiting), or say it is late. */
static void on_join(struct mc_master *m, const struct sockaddr_in *from,
		    struct img_rbuf *r, int *registered)
{
	uint32_t nonce;
	char host[64];
	if (mc_dec_join(r, &nonce, host, sizeof(host)))
		return;
	struct mc_peer *p = peer_by_addr(m, from);
	if (p && p->nonce == nonce) {
		reply(m, MC_REGISTERED, from, nonce, (uint16_t)(p - m->room.peer), NULL);
		return;
	}
	if (m->state != MC_ST_WAITING || m->room.n >= MC_MAXPEERS) {
		reply(m, MC_LATE, from, nonce, 0, m->state != MC_ST_WAITING ?
		      "the session has already started" : "the session is full");
		return;
	}
	if (p) {                   /* the same socket again with a new nonce */
		p->nonce = nonce;
	} else {
		p = add_peer(m, from, nonce, host);
		*registered = 1;
	}
	p->state = P_REG;
	p->heard = img_now();
	p->rtt = 0.01;
	p->rtt_min = 1e9;
	reply(m, MC_REGISTERED, from, nonce, (uint16_t)(p - m->room.peer), NULL);
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

static void on_status(struct mc_master *m, struct mc_peer *p, struct img_rbuf *r,
		      double now)
{
	struct mc_status s;
	if (mc_dec_status(r, &s) || s.next > m->sent || s.limit < s.next)
		return;
	p->heard = now;
	if (p->state == P_REG)
		p->state = P_RECV;
	if (s.next > p->next)
		p->next = s.next;
	p->limit = s.limit;
	p->rx = s.rx;
	p->lost = s.lost;
	p->rx_at = now;
	if (s.echo) {
		double rtt = ((uint32_t)(img_now_ms() - s.echo) - (double)s.held) / 1000.0;
		if (rtt >= 0 && rtt < 5) {
			p->rtt = p->rtt * 0.5 + rtt * 0.5;
			if (rtt < p->rtt_min)
				p->rtt_min = rtt;
		}
	}
	if (p->state == P_RECV && m->total != UINT64_MAX && p->next >= m->total)
		p->state = P_HAVE;
	double guard = p->rtt * 1.5 + 0.01;
	for (unsigned i = 0; i < s.nr; i++) {
		uint32_t off, n;
		if (mc_dec_range(r, &off, &n))
			break;
		for (uint32_t j = 0; j < n && j < MC_WINDOW; j++)
			queue_repair(m, s.next + off + j, now, guard);
	}
}

static void on_result(struct mc_master *m, struct mc_peer *p, struct img_rbuf *r)
{
	int32_t code;
	uint64_t bytes;
	char text[160];
	if (mc_dec_result(r, &code, &bytes, text, sizeof(text)))
		return;
	reply(m, MC_RESULTACK, &p->addr, p->nonce, (uint16_t)(p - m->room.peer), NULL);
	if (p->state == P_DONE || p->state == P_FAILED)
		return;
	if (code == 0) {
		p->state = P_DONE;
		mc_mq_add(&m->mq, IMG_INFO, "session %s: %s (%s) restored its disk",
			  m->name, inet_ntoa(p->addr.sin_addr), p->host);
	} else {
		p->state = P_FAILED;
		snprintf(p->note, sizeof(p->note), "%s", text[0] ? text : img_strerror(code));
		mc_mq_add(&m->mq, IMG_WARN, "session %s: %s (%s) failed: %s", m->name,
			  inet_ntoa(p->addr.sin_addr), p->host, p->note);
	}
}

/* One control packet of a registered receiver (id is its place). */
static void on_peer_packet(struct mc_master *m, struct mc_peer *p, uint16_t id,
			   uint8_t type, struct img_rbuf *r, double now)
{
	if (type == MC_STATUS && mc_peer_active(p)) {
		on_status(m, p, r, now);
	} else if (type == MC_STATUS && p->state == P_DROPPED && now - p->drop_sent >= 0.2) {
		/* it still reports: its DROP was lost (on the very path that
		 * made it slow); say it again */
		reply(m, MC_DROP, &p->addr, p->nonce, id, p->note);
		p->drop_sent = now;
	} else if (type == MC_RESULT) {
		on_result(m, p, r);
	} else if (type == MC_LEAVE && mc_peer_active(p)) {
		p->state = P_LEFT;
		snprintf(p->note, sizeof(p->note), "left the session");
		mc_mq_add(&m->mq, IMG_WARN, "session %s: %s (%s) left", m->name,
			  inet_ntoa(p->addr.sin_addr), p->host);
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
		int n = mc_recv_batch(m->fd, buf, mh, iov, from);
		if (n <= 0)
			return got;
		double now = img_now();
		for (int i = 0; i < n; i++) {
			struct mc_hdr h;
			struct img_rbuf r;
			uint16_t id;
			if (mc_dec_packet(buf[i], mh[i].msg_len, m->sid, &h, &r))
				continue;
			if (h.type == MC_JOIN) {
				on_join(m, &from[i], &r, registered);
				continue;
			}
			if (h.run != m->run || mc_dec_id(&r, &id) || id >= m->room.n ||
			    !mc_same_addr(&m->room.peer[id].addr, &from[i]))
				continue;
			on_peer_packet(m, &m->room.peer[id], id, h.type, &r, now);
			got++;
		}
	}
}

/* ---- registration ------------------------------------------------------- */

static int master_start(struct mc_master *m);

/* One round of the wait: announce now and then, hear the receivers.
 * Returns the receivers registered; *reg set when one was new. */
static unsigned wait_round(struct mc_master *m, int *reg)
{
	unsigned n;
	/* every 100 ms: a client that starts waits for the first announce
	 * before it can join */
	if (img_now() - m->last_announce >= 0.1)
		announce(m);
	struct pollfd pf = { m->fd, POLLIN, 0 };
	poll(&pf, 1, 50);
	pthread_mutex_lock(&m->mu);
	drain(m, reg);
	n = count_active(m);
	pthread_mutex_unlock(&m->mu);
	mc_mq_flush(&m->mq, &m->mu, m->cfg.log, m->cfg.ctx);
	return n;
}

int mc_master_wait(struct mc_master *m, unsigned clients, double timeout_s,
		   mc_command_fn command, int (*cancel)(void *), void *ctx,
		   const char **why, struct img_error *err)
{
	double t_last = img_now();
	char gs[16];
	m->wanted = clients;
	mc_addr_str(&m->group, gs, sizeof(gs));
	if (m->cfg.log) {
		char t[300];
		snprintf(t, sizeof(t), "session %s: master on %s port %d via %s (%s); waiting for %s",
			 m->name, gs, MC_PORT, m->ifc.name, m->ifc.addr,
			 clients ? "clients" : "clients (press s to start)");
		m->cfg.log(m->cfg.ctx, IMG_INFO, t);
	}
	for (;;) {
		int reg = 0;
		unsigned n = wait_round(m, &reg);
		if (reg)
			t_last = img_now();
		enum mc_command c = command ? command(ctx) : MC_CMD_NONE;
		if (clients && n >= clients)
			*why = "count reached";
		else if (c == MC_CMD_START)
			*why = "start key";
		else if (img_now() - t_last >= timeout_s)
			*why = "timeout";
		else if (c == MC_CMD_GIVE_UP || (cancel && cancel(ctx)))
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

/* ---- the network thread ------------------------------------------------- */

/* Tell the receivers the last tick dropped, and the user. */
static void tell_dropped(struct mc_master *m)
{
	for (unsigned i = 0; i < m->room.ndropped; i++) {
		uint16_t id = m->room.dropped[i];
		struct mc_peer *p = &m->room.peer[id];
		reply(m, MC_DROP, &p->addr, p->nonce, id, p->note);
		p->drop_sent = img_now();
		mc_mq_add(&m->mq, IMG_WARN, "session %s: dropped %s (%s): %s", m->name,
			  inet_ntoa(p->addr.sin_addr), p->host, p->note);
	}
	m->room.ndropped = 0;
}

/* IMG_MCAST_DEBUG: the rate and the receivers, through the front end
 * like every other message. */
static void debug_dump(struct mc_master *m, double now)
{
	m->last_debug = now;
	mc_mq_add(&m->mq, IMG_INFO, "mcast: t %.2f rate %.2f MB/s sent %llu written %llu base %llu rq %zu", now - m->t_start,
		  m->rt.rate / 1e6, (unsigned long long)m->sent,
		  (unsigned long long)m->written, (unsigned long long)m->base, m->rq_n);
	for (unsigned i = 0; i < m->room.n && i < 8; i++) {
		const struct mc_peer *p = &m->room.peer[i];
		mc_mq_add(&m->mq, IMG_INFO, "mcast:   %s %s next %llu lim %llu rx %llu lost %llu "
			  "%.2f MB/s%s rtt %.0f ms", inet_ntoa(p->addr.sin_addr),
			  peer_names[p->state], (unsigned long long)p->next,
			  (unsigned long long)p->limit, (unsigned long long)p->rx,
			  (unsigned long long)p->lost, p->rate / 1e6,
			  p->cong ? " CONG" : p->slow ? " SLOW" : "", p->rtt * 1e3);
	}
}

/* Rate and health, every 100 ms.  Called with mu held. */
static void tick(struct mc_master *m, double now)
{
	mc_rate_tick(&m->rt, &m->room, m->base, now);
	tell_dropped(m);
	m->base = mc_room_base(&m->room, m->sent, m->base, now);
	m->last_tick = now;
	if (m->debug > 0 && now - m->last_debug >= m->debug - 0.01)
		debug_dump(m, now);
}

/* How far new packets may go: what the producer wrote, what every
 * receiver waited for can accept, one window past the base. */
static uint64_t send_limit(struct mc_master *m, double now)
{
	uint64_t limit = m->written;
	for (unsigned i = 0; i < m->room.n; i++) {
		const struct mc_peer *p = &m->room.peer[i];
		if (mc_waited_for(p, now) && p->state != P_REG && p->limit < limit)
			limit = p->limit;
	}
	if (limit > m->base + MC_WINDOW)
		limit = m->base + MC_WINDOW;
	return limit;
}

/* The next packet to send: a repair first, then a new one.  0 with *seq,
 * 1 for a repair no longer wanted (try the next), -1 for none. */
static int next_packet(struct mc_master *m, uint64_t limit, double now,
		       uint64_t *seq, int *repair)
{
	*repair = 0;
	if (m->rq_n) {
		*seq = m->rq[m->rq_head];
		m->queued[*seq % MC_WINDOW] = 0;
		m->rq_head = (m->rq_head + 1) % MC_WINDOW;
		m->rq_n--;
		if (*seq < m->base)
			return 1;
		*repair = 1;
		return 0;
	}
	if (m->sent < limit) {
		*seq = m->sent;
		return 0;
	}
	if (limit < m->written)
		m->rt.stalled_at = now;    /* data waits on a receiver's window */
	return -1;
}

/* Copy what the tokens allow into pkts and point mh at them. */
static unsigned fill_batch(struct mc_master *m, double now, uint32_t stamp,
			   uint8_t (*pkts)[MC_DGRAM], struct mmsghdr *mh,
			   struct iovec *iov)
{
	uint64_t limit = send_limit(m, now);
	unsigned n = 0;
	while (n < MC_BATCH) {
		uint64_t seq;
		int repair, got = next_packet(m, limit, now, &seq, &repair);
		if (got > 0)
			continue;
		if (got < 0)
			break;
		if (mc_rate_take(&m->rt)) {
			if (repair)             /* keep it for the next round */
				queue_repair(m, seq, now, 0);
			break;
		}
		if (!repair)
			m->sent++;
		unsigned i = (unsigned)(seq % MC_WINDOW);
		struct mc_hdr h = { .type = MC_DATA, .sid = m->sid, .run = m->run,
				    .seq = seq, .stamp = stamp };
		size_t len = mc_enc_data(pkts[n], &h, m->ring + (size_t)i * MC_PAYLOAD, m->len[i]);
		iov[n] = (struct iovec){ pkts[n], len };
		mh[n].msg_hdr = (struct msghdr){ .msg_name = &m->group,
			.msg_namelen = sizeof(m->group), .msg_iov = &iov[n], .msg_iovlen = 1 };
		m->last_tx[i] = now;
		n++;
	}
	return n;
}

/* Send what the tokens allow: repairs first, then new packets.  Called
 * with mu held; the send itself runs unlocked. */
static int send_round(struct mc_master *m, double now)
{
	static __thread uint8_t pkts[MC_BATCH][MC_DGRAM];
	struct mmsghdr mh[MC_BATCH];
	struct iovec iov[MC_BATCH];
	uint32_t stamp = img_now_ms();
	mc_rate_refill(&m->rt, now);
	m->base = mc_room_base(&m->room, m->sent, m->base, now);
	unsigned n = fill_batch(m, now, stamp, pkts, mh, iov);
	if (!n)
		return 0;
	/* the packets are copies: the producer may go on meanwhile */
	pthread_mutex_unlock(&m->mu);
	mc_send_batch(m->fd, mh, n);
	pthread_mutex_lock(&m->mu);
	return (int)n;
}

/* Whether the thread is done: no receiver left (a failure), or the
 * stream complete, every receiver has it and the caller finished. */
static int master_done(struct mc_master *m)
{
	unsigned left = 0, waiting = 0;
	for (unsigned i = 0; i < m->room.n; i++) {
		const struct mc_peer *p = &m->room.peer[i];
		left += mc_peer_active(p);
		waiting += mc_peer_active(p) && p->state != P_HAVE;
	}
	if (!left) {
		if (!m->rc) {
			m->rc = -IMG_E_DROPPED;
			snprintf(m->errmsg, sizeof(m->errmsg),
				 "session %s: no receiver is left", m->name);
		}
		return 1;
	}
	if (m->closed && m->total != UINT64_MAX) {
		for (unsigned i = 0; i < m->room.n; i++) {
			struct mc_peer *p = &m->room.peer[i];
			if (p->state == P_RECV && p->next >= m->total)
				p->state = P_HAVE;
		}
		if (!waiting && m->finished)
			return 1;
	}
	return 0;
}

static void *master_thread(void *arg)
{
	struct mc_master *m = arg;
	pthread_mutex_lock(&m->mu);
	m->rt.t_tokens = img_now();
	while (!m->stop) {
		double now = img_now();
		int reg = 0;
		drain(m, &reg);
		if (now - m->last_tick >= 0.1)
			tick(m, now);
		if (now - m->last_announce >= 0.1)
			announce(m);
		if (master_done(m))
			break;
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
	for (unsigned i = 0; i < m->room.n; i++) {
		m->room.peer[i].heard = img_now();
		m->room.peer[i].limit = MC_WINDOW;
	}
	pthread_mutex_unlock(&m->mu);
	if (pthread_create(&m->th, NULL, master_thread, m))
		return -EAGAIN;
	m->th_started = 1;
	return 0;
}

/* ---- the stream --------------------------------------------------------- */

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
	mc_mq_flush(&m->mq, &m->mu, m->cfg.log, m->cfg.ctx);
}

/* The last, partial packet, and the total.  Called with mu held. */
static void close_stream(struct mc_master *m)
{
	if (m->partial) {
		m->len[m->written % MC_WINDOW] = (uint16_t)m->partial;
		m->partial = 0;
		m->written++;
	}
	m->total = m->written;
	m->closed = 1;
}

/* Until the thread stops: everyone has every packet, then wait for their
 * results while they finish writing, as long as they keep reporting.
 * Called with mu held. */
static void finish_wait(struct mc_master *m, int (*cancel)(void *), void *ctx)
{
	double t_have = 0;
	while (!m->stop) {
		struct timespec ts = img_abstime(0.1);
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		unsigned have = 0, recv = 0;
		for (unsigned i = 0; i < m->room.n; i++) {
			have += m->room.peer[i].state == P_HAVE;
			recv += m->room.peer[i].state == P_RECV || m->room.peer[i].state == P_REG;
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
	close_stream(m);
	finish_wait(m, cancel, ctx);
	m->state = m->rc && m->rc != -IMG_E_DROPPED ? MC_ST_ABORTED : MC_ST_DONE;
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->th, NULL);
	m->th_started = 0;
	announce_end(m);
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
	announce_end(m);
}

unsigned mc_master_registered(struct mc_master *m)
{
	pthread_mutex_lock(&m->mu);
	unsigned n = count_active(m);
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* One receiver as the front end shows it; st is its state at the end. */
static void peer_view(const struct mc_peer *p, int st, struct img_session_peer *q)
{
	memset(q, 0, sizeof(*q));
	mc_addr_str(&p->addr, q->addr, sizeof(q->addr));
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

unsigned mc_master_peers(struct mc_master *m, struct img_session_peer *peers,
			 unsigned max, unsigned *done, unsigned *failed,
			 unsigned *dropped)
{
	unsigned n = 0;
	*done = *failed = *dropped = 0;
	pthread_mutex_lock(&m->mu);
	for (unsigned i = 0; i < m->room.n; i++) {
		const struct mc_peer *p = &m->room.peer[i];
		int st = p->state;
		if (m->finished || m->stop) {
			/* what the end makes of those still open */
			if (st == P_HAVE || st == P_RECV || st == P_REG)
				st = P_DROPPED;
		}
		*done += st == P_DONE;
		*failed += st == P_FAILED;
		*dropped += st == P_DROPPED || st == P_LEFT;
		if (n < max && peers)
			peer_view(p, st, &peers[n++]);
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
