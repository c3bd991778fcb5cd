/* mcrate.c - the master's rate control and the receivers' health.
 *
 * A token bucket paces the sending at rate bytes/s.  Every 100 ms the
 * rate follows the receivers: it speeds up while they lose little and
 * no queue builds on their way, slows to what they receive when most of
 * them lose much or a queue builds for most of them; a receiver that
 * alone cannot keep up, or falls silent, is dropped after drop_s seconds
 * and the rest go on.  Pure state: nothing here sends or prints (the
 * master tells the receivers it dropped, listed in room->dropped).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mcast_int.h"

#define MC_RATE0 (8e6)            /* bytes/s to begin with */
#define MC_RATEMIN (256e3)
#define MC_RATEMAX (400e6)
#define MC_CONGESTED 0.10         /* loss share that means "too fast" */
#define MC_QUEUE_HIGH 0.080       /* s of queueing delay that mean "slower" */
#define MC_QUEUE_LOW 0.040        /* s below which the rate may grow */
#define MC_QUEUE_PROBE 0.015      /* s that end the first climb: the path is full */
#define MC_SLOW_SHARE 0.6         /* of the typical rate: "far below the others" */
#define MC_BUCKET (48.0 * MC_PAYLOAD)  /* the most tokens saved up */

void mc_rate_init(struct mc_rate *r, unsigned throttle_ms)
{
	r->rate_max = throttle_ms ? MC_PAYLOAD * 1000.0 / throttle_ms : MC_RATEMAX;
	r->rate = r->rate_max < MC_RATE0 ? r->rate_max : MC_RATE0;
	r->probing = 1;
}

void mc_rate_refill(struct mc_rate *r, double now)
{
	r->tokens += (now - r->t_tokens) * r->rate;
	r->t_tokens = now;
	if (r->tokens > MC_BUCKET)
		r->tokens = MC_BUCKET;
}

int mc_rate_take(struct mc_rate *r)
{
	if (r->tokens < MC_PAYLOAD) {
		r->rate_limited = 1;
		return -1;
	}
	r->tokens -= MC_PAYLOAD;
	return 0;
}

/* Receivers the master waits for: active, and not for half a second
 * either losing much alone or taking far less than the others while its
 * queue grows (those are dropped after drop_s, or as soon as the others
 * have moved past what they lack).  A silent one is waited for until
 * drop_s. */
#define MC_GRACE 0.5
int mc_waited_for(const struct mc_peer *p, double now)
{
	return mc_peer_active(p) && !(p->cong_since && now - p->cong_since >= MC_GRACE);
}

uint64_t mc_room_base(const struct mc_room *room, uint64_t sent, uint64_t base,
		      double now)
{
	uint64_t b = sent;
	for (unsigned i = 0; i < room->n; i++)
		if (mc_waited_for(&room->peer[i], now) && room->peer[i].next < b)
			b = room->peer[i].next;
	return b > base ? b : base;
}

static void mark_drop(struct mc_rate *r, struct mc_room *room, struct mc_peer *p,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void mark_drop(struct mc_rate *r, struct mc_room *room, struct mc_peer *p,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->note, sizeof(p->note), fmt, ap);
	va_end(ap);
	p->state = P_DROPPED;
	r->probing = 1;            /* the path changed: find its rate again */
	if (room->ndropped < MC_MAXPEERS)
		room->dropped[room->ndropped++] = (uint16_t)(p - room->peer);
}

static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* What most receivers take (the upper median of the last windows'
 * rates): one that takes far less while a queue builds on its way has a
 * slower path than the rest.  0 with fewer than two. */
static double typical_rate(const struct mc_room *room)
{
	double rates[MC_MAXPEERS];
	unsigned nrates = 0;
	for (unsigned i = 0; i < room->n; i++)
		if (room->peer[i].state == P_RECV && room->peer[i].windows > 1)
			rates[nrates++] = room->peer[i].rate;
	if (nrates < 2)
		return 0;
	qsort(rates, nrates, sizeof(rates[0]), cmp_desc);
	return rates[(nrates - 1) / 2];
}

/* Windows run between the arrivals of the reports that carried the
 * counts, not between ticks: a report comes every 100 ms, and a tick's
 * own clock would make the rate jitter by that much. */
static void measure_window(struct mc_peer *p)
{
	if (p->rx_at - p->t0 < 0.25)
		return;
	double dt = p->rx_at - p->t0;
	uint64_t drx = p->rx - p->rx0, dl = p->lost - p->lost0;
	if (p->t0 > 0 && p->windows++ > 0) {
		/* the first window may hold time before the start: its rate
		 * is not the path's */
		p->rate = drx * (double)MC_PAYLOAD / dt;
		p->cong = drx + dl > 20 && dl > MC_CONGESTED * (drx + dl);
	}
	p->t0 = p->rx_at;
	p->rx0 = p->rx;
	p->lost0 = p->lost;
}

/* What one tick learns from the receivers still active. */
struct tick_sum {
	unsigned nact, ncong;
	double cong_rate;          /* the lowest rate of a congested one */
	double best;               /* the highest rate */
};

/* One active receiver: dropped when silent or left behind, else its
 * window measured and whether it is congested or slow. */
static void peer_health(struct mc_rate *r, struct mc_room *room, struct mc_peer *p,
			uint64_t base, double typical, double now, struct tick_sum *s)
{
	if (now - p->heard > room->drop_s) {
		mark_drop(r, room, p, "no report for %u s", room->drop_s);
		return;
	}
	if (p->state != P_HAVE && p->next < base) {
		/* the others went on: what it lacks is no longer repaired */
		mark_drop(r, room, p, "too slow: %.1f MB/s, fell behind the others",
			  p->rate / 1e6);
		return;
	}
	s->nact++;
	measure_window(p);
	if (p->state == P_HAVE)
		p->cong = 0;
	if (p->rate > s->best)
		s->best = p->rate;
	/* slow: it lags the others before its queue overflows */
	p->slow = p->state == P_RECV && p->windows > 1 && typical > 0 &&
		  p->rate < MC_SLOW_SHARE * typical && p->rtt_min < 1e8 &&
		  p->rtt - p->rtt_min > MC_QUEUE_HIGH;
	if (p->cong) {
		s->ncong++;
		if (p->rate < s->cong_rate)
			s->cong_rate = p->rate;
	}
	if (p->cong || p->slow) {
		if (!p->cong_since)
			p->cong_since = now;
	} else {
		p->cong_since = 0;
	}
}

/* Queueing delay on the way to the receivers we wait for: a queue
 * building up says "too fast" before anything is lost.  It counts when
 * most of them see it (the delay that a strict majority has at least),
 * so that one slow link cannot hold the room back: that one loses
 * instead, and is dropped. */
static double queue_delay(const struct mc_room *room, double now)
{
	double qds[MC_MAXPEERS];
	unsigned nq = 0;
	for (unsigned i = 0; i < room->n; i++) {
		const struct mc_peer *p = &room->peer[i];
		if (mc_waited_for(p, now) && p->state == P_RECV && p->rtt_min < 1e8)
			qds[nq++] = p->rtt - p->rtt_min;
	}
	if (!nq)
		return 0;
	qsort(qds, nq, sizeof(qds[0]), cmp_desc);
	return qds[nq / 2];
}

/* Most receivers lose much: the network is full. */
static void network_full(struct mc_rate *r, struct mc_room *room, double cong_rate,
			 double now)
{
	if (now >= r->hold_until) {
		double v = cong_rate * 0.95;
		if (v > r->rate * 0.9)
			v = r->rate * 0.9;
		r->rate = v < MC_RATEMIN ? MC_RATEMIN : v;
		r->hold_until = now + 0.3;
		r->probing = 0;
	}
	for (unsigned i = 0; i < room->n; i++)
		room->peer[i].cong_since = 0;
}

/* What the receivers we wait for take now (the least of those whose
 * queue is not above the typical one): with a queue on the way, sending
 * faster only makes it longer.  0 when none says. */
static double least_rx(const struct mc_room *room, double qd, double now)
{
	double minrx = 0;
	for (unsigned i = 0; i < room->n; i++) {
		const struct mc_peer *p = &room->peer[i];
		if (mc_waited_for(p, now) && p->state == P_RECV && p->rate > 0 &&
		    p->rtt_min < 1e8 && p->rtt - p->rtt_min <= qd &&
		    (!minrx || p->rate < minrx))
			minrx = p->rate;
	}
	return minrx;
}

/* A minority loses much, or none: the rate follows the queue and what
 * the receivers take. */
static void follow_path(struct mc_rate *r, double qd, double minrx, double now)
{
	if (now - r->stalled_at < 0.6) {
		/* the window held the data back (a receiver that stopped
		 * reporting, say): what they received says nothing about the
		 * path, so keep the rate */
	} else if (qd > MC_QUEUE_HIGH && minrx) {
		/* drain the queue */
		if (minrx * 0.95 < r->rate)
			r->rate = minrx * 0.95;
		r->probing = 0;
	} else if (qd > (r->probing ? MC_QUEUE_PROBE : MC_QUEUE_LOW) && minrx) {
		/* the path is full: stay at its rate */
		if (minrx < r->rate)
			r->rate = minrx;
		r->probing = 0;
	} else if (now >= r->hold_until && r->rate_limited) {
		double v = r->rate * (r->probing ? 1.25 : 1.05);
		if (minrx && !r->probing && v > minrx * 1.1)
			v = minrx * 1.1 > r->rate ? minrx * 1.1 : r->rate;
		r->rate = v > r->rate_max ? r->rate_max : v;
	}
	if (r->rate < MC_RATEMIN)
		r->rate = MC_RATEMIN;
}

void mc_rate_tick(struct mc_rate *r, struct mc_room *room, uint64_t base, double now)
{
	struct tick_sum s = { .cong_rate = 1e18 };
	double typical = typical_rate(room);
	room->ndropped = 0;
	for (unsigned i = 0; i < room->n; i++)
		if (mc_peer_active(&room->peer[i]))
			peer_health(r, room, &room->peer[i], base, typical, now, &s);
	double qd = queue_delay(room, now);
	if (s.ncong && s.ncong * 2 > s.nact) {
		network_full(r, room, s.cong_rate, now);
	} else {
		/* a minority loses much: it cannot keep up with the rest, who
		 * do not wait for it longer than drop_s */
		for (unsigned i = 0; i < room->n; i++) {
			struct mc_peer *p = &room->peer[i];
			if (mc_peer_active(p) && p->cong_since && now - p->cong_since >= room->drop_s)
				mark_drop(r, room, p, "too slow: %.1f MB/s while the others take "
					  "%.1f MB/s", p->rate / 1e6, s.best / 1e6);
		}
		follow_path(r, qd, least_rx(room, qd, now), now);
	}
	r->rate_limited = 0;
}
