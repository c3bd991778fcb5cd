/* mcrecv.c - the multicast receiver (man/img-protocol.7, MULTICAST
 * SESSIONS).
 *
 * A receiver registers with the session's master, then keeps the last
 * MC_WINDOW packets of the stream in a ring, delivers them in order to
 * the reader, and reports by unicast, at a bounded rate, how far it has
 * the stream without gaps, how far it can accept, and which packets it
 * misses (the master repairs them by multicast).
 *
 * Threads: the caller registers and reads; after mc_client_start a
 * network thread receives and reports.  mu guards everything below it in
 * struct mc_client.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "mcast_int.h"

#define MC_SILENT_MASTER 20.0     /* s without a packet: the master is gone */

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
	struct mc_mq mq;

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
	if ((rc = mc_group_addr(c->name, &k->group, err)) ||
	    (rc = mc_iface(c->iface, &k->ifc, err)) ||
	    (rc = k->dfd = mc_group_socket(&k->ifc, &k->group, err)) < 0 ||
	    (rc = k->cfd = mc_ctl_socket(&k->ifc, 1 << 20, 1 << 20, err)) < 0) {
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

/* A message to the front end, from the calling thread. */
static void client_log(struct mc_client *k, enum img_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void client_log(struct mc_client *k, enum img_level level, const char *fmt, ...)
{
	char t[200];
	va_list ap;
	if (!k->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	k->cfg.log(k->cfg.ctx, level, t);
}

/* ---- registration ------------------------------------------------------- */

struct reg_wait {
	double t0, t_join;
	uint32_t late_run;         /* the run that refused us, or started without us */
};

static void send_join(struct mc_client *k)
{
	struct mc_pk p;
	mc_pk_init(&p, MC_JOIN, k->sid, k->run, 0);
	mc_enc_join(&p, k->nonce, k->host);
	mc_pk_send(k->cfd, &p, &k->master);
}

static void say_queued(struct mc_client *k)
{
	client_log(k, IMG_WARN, "session %s has already started; queued for the next "
		   "session of that name", k->name);
}

/* The masters' announces on the group: join the first run of the session
 * that accepts registrations. */
static void hear_announces(struct mc_client *k, struct reg_wait *w)
{
	uint8_t b[MC_DGRAM];
	for (int j = 0; j < 64; j++) {
		struct sockaddr_in from;
		ssize_t n = mc_recv1(k->dfd, b, &from);
		struct mc_hdr h;
		struct img_rbuf r;
		struct mc_announce a;
		if (n < 0)
			break;
		if (mc_dec_packet(b, (size_t)n, k->sid, &h, &r) || h.type != MC_ANNOUNCE)
			continue;
		if (mc_dec_announce(&r, &a) || strcasecmp(a.name, k->name))
			continue;
		if (a.state == MC_ST_WAITING && h.run != w->late_run && !k->run) {
			k->run = h.run;
			k->master = from;
			k->nonce = mc_rand32();
			k->port = a.port;
			k->on_server = a.flags & 1;
			snprintf(k->path, sizeof(k->path), "%.511s", a.path);
			send_join(k);
			w->t_join = img_now();
		} else if (a.state != MC_ST_WAITING && !k->run && h.run != w->late_run) {
			w->late_run = h.run;
			say_queued(k);
		}
	}
}

/* The master's answers to our JOIN: 1 registered, 0 not yet. */
static int hear_replies(struct mc_client *k, struct reg_wait *w)
{
	uint8_t b[MC_DGRAM];
	for (int j = 0; j < 16; j++) {
		struct sockaddr_in from;
		ssize_t n = mc_recv1(k->cfd, b, &from);
		struct mc_hdr h;
		struct img_rbuf r;
		struct mc_reply re;
		if (n < 0)
			break;
		if (mc_dec_packet(b, (size_t)n, k->sid, &h, &r) || !k->run ||
		    h.run != k->run || !mc_same_addr(&from, &k->master))
			continue;
		if (mc_dec_reply(&r, &re, 0) || re.nonce != k->nonce)
			continue;
		if (h.type == MC_REGISTERED) {
			char ms[16];
			k->id = re.id;
			k->heard = img_now();
			mc_addr_str(&k->master, ms, sizeof(ms));
			client_log(k, IMG_INFO, "session %s: registered with master %s",
				   k->name, ms);
			return 1;
		}
		if (h.type == MC_LATE) {
			w->late_run = k->run;
			k->run = 0;
			say_queued(k);
		}
	}
	return 0;
}

int mc_client_register(struct mc_client *k, unsigned wait_s,
		       mc_command_fn command, int (*cancel)(void *), void *ctx,
		       struct img_error *err)
{
	struct reg_wait w = { .t0 = img_now() };
	char gs[16];
	mc_addr_str(&k->group, gs, sizeof(gs));
	k->run = 0;
	client_log(k, IMG_INFO, "session %s: waiting for the master on %s port %d via %s",
		   k->name, gs, MC_PORT, k->ifc.name);
	for (;;) {
		if (k->run && img_now() - w.t_join > 0.3) {
			send_join(k);
			w.t_join = img_now();
		}
		struct pollfd pf[2] = { { k->dfd, POLLIN, 0 }, { k->cfd, POLLIN, 0 } };
		poll(pf, 2, 50);
		hear_announces(k, &w);
		if (hear_replies(k, &w))
			return 0;
		enum mc_command c = command ? command(ctx) : MC_CMD_NONE;
		if (c == MC_CMD_MASTER)
			return 1;
		if (c == MC_CMD_GIVE_UP || (cancel && cancel(ctx)))
			return img_err_set(err, -IMG_E_CANCELLED, "session %s: cancelled", k->name);
		if (wait_s && img_now() - w.t0 > wait_s)
			return img_err_set(err, -IMG_E_TIMEOUT,
					   "session %s: no master %s within %u s on %s via %s; is the "
					   "master started (img -session %s -master)?", k->name,
					   w.late_run ? "started a new session" : "appeared", wait_s,
					   gs, k->ifc.name, k->name);
	}
}

/* ---- the network thread ------------------------------------------------- */

static void send_status(struct mc_client *k, double now)
{
	struct mc_pk p;
	uint16_t nr = 0;
	struct mc_status s = {
		.id = k->id,
		.flags = k->total != UINT64_MAX && k->next >= k->total ? 1 : 0,
		.next = k->next, .limit = k->base + MC_WINDOW, .rx = k->rx, .lost = k->lost,
		.echo = k->echo,
		.held = k->echo ? (uint32_t)((now - k->echo_at) * 1000) : 0,
	};
	mc_pk_init(&p, MC_STATUS, k->sid, k->run, 0);
	mc_enc_status(&p, &s);
	uint64_t end = k->total != UINT64_MAX ? k->total : k->hi;
	if (end > k->base + MC_WINDOW)
		end = k->base + MC_WINDOW;
	for (uint64_t q = k->next; q < end && nr < MC_RANGES;) {
		if (k->have[q % MC_WINDOW]) {
			q++;
			continue;
		}
		uint64_t e = q;
		while (e < end && !k->have[e % MC_WINDOW])
			e++;
		mc_enc_range(&p, (uint32_t)(q - k->next), (uint32_t)(e - q));
		nr++;
		q = e;
	}
	mc_enc_status_end(&p, nr);
	mc_pk_send(k->cfd, &p, &k->master);
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

/* An announce while receiving: how far the master sent, the total, and
 * whether it ended or stopped the session. */
static void on_announce(struct mc_client *k, const struct mc_announce *a)
{
	if (a->sent > k->hi && a->sent <= k->base + MC_WINDOW) {
		k->lost += a->sent - k->hi;
		k->hi = a->sent;
	}
	if (a->total != UINT64_MAX && k->total == UINT64_MAX && a->total >= k->next)
		k->total = a->total;
	if (a->state == MC_ST_ABORTED)
		client_fail(k, -IMG_E_REFUSED, "session %s: the master stopped "
			    "the session: %s", k->name, a->why[0] ? a->why : "aborted");
	else if (a->state == MC_ST_DONE && (k->total == UINT64_MAX || k->next < k->total))
		client_fail(k, -IMG_E_DROPPED, "session %s: the master ended "
			    "the session before this receiver had the whole "
			    "image: it was dropped (too slow, or silent)", k->name);
}

/* One batch from the group.  Called with mu held. */
static void on_group_batch(struct mc_client *k, uint8_t (*buf)[MC_DGRAM],
			   const struct mmsghdr *mh, const struct sockaddr_in *from,
			   int n, double now)
{
	for (int i = 0; i < n; i++) {
		struct mc_hdr h;
		struct img_rbuf r;
		struct mc_announce a;
		if (mc_dec_packet(buf[i], mh[i].msg_len, k->sid, &h, &r) ||
		    h.run != k->run || from[i].sin_addr.s_addr != k->master.sin_addr.s_addr)
			continue;
		k->heard = now;
		k->echo = h.stamp;
		k->echo_at = now;
		if (h.type == MC_DATA)
			on_data(k, h.seq, buf[i] + MC_HDR, mh[i].msg_len - MC_HDR);
		else if (h.type == MC_ANNOUNCE && !mc_dec_announce(&r, &a))
			on_announce(k, &a);
	}
}

/* The master's unicast packets while receiving: a DROP.  Called with mu
 * held. */
static void on_ctl_packets(struct mc_client *k)
{
	for (int j = 0; j < 16; j++) {
		uint8_t b[MC_DGRAM];
		struct sockaddr_in f;
		ssize_t n = mc_recv1(k->cfd, b, &f);
		struct mc_hdr h;
		struct img_rbuf r;
		struct mc_reply re;
		if (n < 0)
			break;
		if (mc_dec_packet(b, (size_t)n, k->sid, &h, &r) || h.run != k->run ||
		    !mc_same_addr(&f, &k->master))
			continue;
		if (mc_dec_reply(&r, &re, 1) || re.nonce != k->nonce)
			continue;
		if (h.type == MC_DROP) {
			char ms[16];
			mc_addr_str(&k->master, ms, sizeof(ms));
			client_fail(k, -IMG_E_DROPPED, "session %s: dropped by the master %s "
				    "at %llu bytes: %s", k->name, ms,
				    (unsigned long long)k->delivered, re.text);
		}
	}
}

/* After a round: the master's silence, the report, waking the reader.
 * Returns 1 when the thread must stop.  Called with mu held. */
static int after_round(struct mc_client *k, double now, double *woke)
{
	if (now - k->heard > MC_SILENT_MASTER)
		client_fail(k, -IMG_E_CLOSED, "session %s: nothing from the master for "
			    "%.0f s", k->name, MC_SILENT_MASTER);
	int complete = k->total != UINT64_MAX && k->next >= k->total;
	int gaps = k->next < k->hi;
	if (now - k->last_status >= (gaps ? 0.02 : complete ? 0.2 : 0.1))
		send_status(k, now);
	/* Wake the reader for a batch's worth, not for every packet (on a
	 * slow link each wake-up would carry one datagram), and for less
	 * once it waited 5 ms. */
	if ((k->next > k->base && (k->next - k->base >= MC_BATCH || now - *woke >= 0.005)) ||
	    k->failed || k->dropped || complete) {
		pthread_cond_broadcast(&k->cv);
		*woke = now;
	}
	return k->failed || k->dropped;
}

static void *client_thread(void *arg)
{
	struct mc_client *k = arg;
	struct mmsghdr mh[MC_BATCH];
	struct iovec iov[MC_BATCH];
	struct sockaddr_in from[MC_BATCH];
	uint8_t (*buf)[MC_DGRAM] = malloc(MC_BATCH * MC_DGRAM);
	double woke = 0;
	pthread_mutex_lock(&k->mu);
	if (!buf)
		client_fail(k, -ENOMEM, "out of memory");
	while (buf && !k->stop) {
		pthread_mutex_unlock(&k->mu);
		struct pollfd pf[2] = { { k->dfd, POLLIN, 0 }, { k->cfd, POLLIN, 0 } };
		poll(pf, 2, 10);
		int n = 0;
		if (pf[0].revents & POLLIN)
			n = mc_recv_batch(k->dfd, buf, mh, iov, from);
		double now = img_now();
		pthread_mutex_lock(&k->mu);
		on_group_batch(k, buf, mh, from, n, now);
		if (pf[1].revents & POLLIN)
			on_ctl_packets(k);
		if (after_round(k, now, &woke))
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

/* ---- the stream --------------------------------------------------------- */

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
	mc_mq_flush(&k->mq, &k->mu, k->cfg.log, k->cfg.ctx);
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
	mc_addr_str(&k->master, host, hcap);
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

/* ---- the end ------------------------------------------------------------ */

/* After a RESULT: did the master acknowledge it (on the control socket)
 * or end the session (its closing announce on the group: it ends only
 * once every receiver has reported or been dropped, so it needs nothing
 * more from this one when that RESULTACK was lost)? */
static int result_heard(struct mc_client *k, short cev, short dev)
{
	uint8_t b[MC_DGRAM];
	struct sockaddr_in f;
	struct mc_hdr h;
	if (cev & POLLIN) {
		ssize_t r = mc_recv1(k->cfd, b, &f);
		if (r > 0 && !mc_get_hdr(b, (size_t)r, &h) && h.type == MC_RESULTACK &&
		    h.run == k->run && mc_same_addr(&f, &k->master))
			return 1;
	}
	for (int i = 0; (dev & POLLIN) && i < 64; i++) {
		ssize_t r = mc_recv1(k->dfd, b, &f);
		struct img_rbuf rb;
		struct mc_announce a;
		if (r <= 0)
			break;
		if (mc_dec_packet(b, (size_t)r, k->sid, &h, &rb) || h.type != MC_ANNOUNCE ||
		    h.run != k->run || f.sin_addr.s_addr != k->master.sin_addr.s_addr)
			continue;
		if (!mc_dec_announce(&rb, &a) &&
		    (a.state == MC_ST_DONE || a.state == MC_ST_ABORTED))
			return 1;
	}
	return 0;
}

static void stop_thread(struct mc_client *k)
{
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_mutex_unlock(&k->mu);
	if (k->th_started) {
		pthread_join(k->th, NULL);
		k->th_started = 0;
	}
}

void mc_client_result(struct mc_client *k, int rc, const char *text)
{
	/* stop the network thread, then report on the control socket */
	pthread_mutex_lock(&k->mu);
	int was_dropped = k->dropped;
	k->stop = 1;
	pthread_mutex_unlock(&k->mu);
	stop_thread(k);
	if (was_dropped)
		return;                    /* the master no longer listens */
	for (int t = 0; t < 20; t++) {
		struct mc_pk p;
		mc_pk_init(&p, MC_RESULT, k->sid, k->run, 0);
		mc_enc_result(&p, k->id, rc, k->delivered, text);
		mc_pk_send(k->cfd, &p, &k->master);
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
	stop_thread(k);
	if (k->dfd >= 0)
		close(k->dfd);             /* leaves the group */
	k->dfd = -1;
}

void mc_client_close(struct mc_client *k)
{
	if (!k)
		return;
	if (k->th_started)
		stop_thread(k);
	if (k->run && k->cfd >= 0 && !k->dropped) {
		struct mc_pk p;
		mc_pk_init(&p, MC_LEAVE, k->sid, k->run, 0);
		mc_enc_leave(&p, k->id);
		mc_pk_send(k->cfd, &p, &k->master);
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
