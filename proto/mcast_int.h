/* mcast_int.h - what the files of the multicast transport share; private
 * to proto/ (mcast.h is the transport's public header).
 *
 * The files stand in layers, each using only those below it, never the
 * other way round (tests/rooms.py checks the calls):
 *
 *   mcmaster.c  mcrecv.c      the master's loop, the receiver's loop
 *   mcrate.c                  rate control and the receivers' health
 *   mcsock.c  mcqueue.c       sockets and groups; messages between threads
 *   mcwire.c                  packet layouts: encode/decode, no I/O
 *
 * Nothing here is thread-safe by itself: callers hold their own lock.
 */
#ifndef PROTO_MCAST_INT_H
#define PROTO_MCAST_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/bytes.h"
#include "mcast.h"
#include "proto.h"

#define MC_MAGIC "IMGM"
#define MC_VERSION 1
#define MC_BATCH 64               /* datagrams per recvmmsg/sendmmsg */
#define MC_RANGES 160             /* missing ranges per STATUS */

/* ---- wire (mcwire.c) ---------------------------------------------------- */

/* A packet being built: fixed buffer, writes past the end are dropped
 * (and never happen: every message is sized below MC_DGRAM). */
struct mc_pk {
	uint8_t b[MC_DGRAM];
	size_t n;
};

/* ANNOUNCE, master to group: the session as it stands.  Encoding cuts the
 * strings to PROTO_MAX_SESSION, 512 and 150 bytes. */
struct mc_announce {
	int state;                 /* enum mc_state */
	unsigned registered;
	int port, flags;           /* flags: 1 image on a server */
	uint64_t sent, total, bytes;
	char name[PROTO_MAX_SESSION + 1];
	char path[513];            /* decoded: at most 511 bytes kept */
	char why[160];
};

/* REGISTERED, LATE, DROP, RESULTACK: master to one receiver. */
struct mc_reply {
	uint32_t nonce;
	uint16_t id, npeers;
	char text[300];
};

/* STATUS, receiver to master: how far it has the stream; the missing
 * ranges (offset from next, count) follow, nr of them. */
struct mc_status {
	uint16_t id, flags;        /* flags: 1 has every packet */
	uint64_t next, limit, rx, lost;
	uint32_t echo, held;       /* the master's last stamp, ms held since */
	uint16_t nr;
};

/* Every packet starts with a header stamped with the sender's clock. */
void mc_pk_init(struct mc_pk *k, uint8_t type, uint32_t sid, uint32_t run,
		uint64_t seq);
void mc_enc_announce(struct mc_pk *k, const struct mc_announce *a);
void mc_enc_join(struct mc_pk *k, uint32_t nonce, const char *host);
void mc_enc_reply(struct mc_pk *k, uint32_t nonce, uint16_t id, uint16_t npeers,
		  const char *text);
/* The fixed part of a STATUS (nr is written by mc_enc_status_end). */
void mc_enc_status(struct mc_pk *k, const struct mc_status *s);
void mc_enc_range(struct mc_pk *k, uint32_t off, uint32_t n);
void mc_enc_status_end(struct mc_pk *k, uint16_t nr);
void mc_enc_result(struct mc_pk *k, uint16_t id, int32_t code, uint64_t bytes,
		   const char *text);
void mc_enc_leave(struct mc_pk *k, uint16_t id);
/* A DATA packet into dst (MC_DGRAM bytes): header and n <= MC_PAYLOAD
 * payload bytes.  Returns its length. */
size_t mc_enc_data(uint8_t *dst, const struct mc_hdr *h, const void *payload,
		   size_t n);

/* Decoders read from r (the bytes after the header); 0, or -1 when the
 * body is short or a field is out of range. */
int mc_dec_announce(struct img_rbuf *r, struct mc_announce *a);
int mc_dec_join(struct img_rbuf *r, uint32_t *nonce, char *host, size_t cap);
/* whole 0: only nonce and id (all a registration looks at). */
int mc_dec_reply(struct img_rbuf *r, struct mc_reply *o, int whole);
/* The receiver's id that STATUS, RESULT and LEAVE begin with. */
int mc_dec_id(struct img_rbuf *r, uint16_t *id);
/* STATUS after its id; then mc_dec_range nr times. */
int mc_dec_status(struct img_rbuf *r, struct mc_status *s);
int mc_dec_range(struct img_rbuf *r, uint32_t *off, uint32_t *n);
/* RESULT after its id. */
int mc_dec_result(struct img_rbuf *r, int32_t *code, uint64_t *bytes, char *text,
		  size_t cap);
/* The header of p (n bytes) into h and its body into r: 0, or -1 when it
 * is no packet of the session sid. */
int mc_dec_packet(const uint8_t *p, size_t n, uint32_t sid, struct mc_hdr *h,
		  struct img_rbuf *r);

/* ---- sockets (mcsock.c) ------------------------------------------------- */

/* A random non-zero 32-bit number (run ids, nonces). */
uint32_t mc_rand32(void);
/* The session's group address and port. */
int mc_group_addr(const char *name, struct sockaddr_in *g, struct img_error *err);
/* A unicast socket on the interface's address, also able to send to the
 * group through that interface (receive/send buffers rcv, snd bytes).
 * Returns the fd (the caller closes it) or a negative code. */
int mc_ctl_socket(const struct mc_ifc *ifc, int rcv, int snd,
		  struct img_error *err);
/* A socket receiving the group's port on the interface (joined). */
int mc_group_socket(const struct mc_ifc *ifc, const struct sockaddr_in *g,
		    struct img_error *err);
int mc_pk_send(int fd, const struct mc_pk *k, const struct sockaddr_in *to);
/* One waiting datagram into b (MC_DGRAM bytes), without blocking: its
 * length, or -1 when none waits. */
ssize_t mc_recv1(int fd, uint8_t *b, struct sockaddr_in *from);
/* Up to MC_BATCH waiting datagrams of fd into buf, without blocking:
 * their lengths in mh[i].msg_len, senders in from[i]. */
int mc_recv_batch(int fd, uint8_t (*buf)[MC_DGRAM], struct mmsghdr *mh,
		  struct iovec *iov, struct sockaddr_in *from);
/* Send the n prepared messages, waiting briefly while the socket is full;
 * gives up on another error. */
void mc_send_batch(int fd, struct mmsghdr *mh, unsigned n);
void mc_addr_str(const struct sockaddr_in *a, char *buf, size_t cap);
int mc_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b);

/* ---- messages between threads (mcqueue.c) ------------------------------- */

/* Messages from the network thread wait here for the calling thread. */
struct mc_mq {
	char text[16][200];
	int level[16];
	unsigned n;
};

/* Queue a message (dropped when 16 wait).  Called with the owner's lock. */
void mc_mq_add(struct mc_mq *q, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Pass the queued messages to log, taking mu only to empty the queue. */
void mc_mq_flush(struct mc_mq *q, pthread_mutex_t *mu, mc_log_fn log, void *ctx);

/* ---- the receivers as the master sees them (mcrate.c) ------------------- */

enum mc_peer_state { P_REG, P_RECV, P_HAVE, P_DONE, P_FAILED, P_DROPPED, P_LEFT };

struct mc_peer {
	struct sockaddr_in addr;
	uint32_t nonce;
	char host[64];
	int state;                 /* enum mc_peer_state */
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

struct mc_room {
	struct mc_peer peer[MC_MAXPEERS];
	unsigned n;
	unsigned drop_s;           /* a receiver that cannot keep up goes after this */
	/* dropped by the last mc_rate_tick, in the order it dropped them:
	 * the master tells them and the user */
	uint16_t dropped[MC_MAXPEERS];
	unsigned ndropped;
};

/* Rate control: a token bucket at rate bytes/s, adapted every tick. */
struct mc_rate {
	double rate, rate_max;
	int probing;               /* no congestion seen yet */
	double hold_until;
	double tokens, t_tokens;
	int rate_limited;          /* the last round had data but no tokens */
	double stalled_at;         /* last time data waited on a receiver's window */
};

static inline int mc_peer_active(const struct mc_peer *p)
{
	return p->state == P_REG || p->state == P_RECV || p->state == P_HAVE;
}

/* throttle_ms 0: adaptive up to the maximum rate. */
void mc_rate_init(struct mc_rate *r, unsigned throttle_ms);
/* A receiver the master waits for (see mcrate.c). */
int mc_waited_for(const struct mc_peer *p, double now);
/* The lowest packet some waited-for receiver still lacks (at most sent,
 * never below base). */
uint64_t mc_room_base(const struct mc_room *room, uint64_t sent, uint64_t base,
		      double now);
/* Rate and health, every 100 ms: measures each receiver's rate, drops
 * (marks P_DROPPED with a note, listed in room->dropped) those that fell
 * silent, behind, or too slow, and adapts r->rate. */
void mc_rate_tick(struct mc_rate *r, struct mc_room *room, uint64_t base,
		  double now);
/* Tokens for the time since the last refill. */
void mc_rate_refill(struct mc_rate *r, double now);
/* Take one packet's tokens: 0, or -1 (and rate_limited) when too few. */
int mc_rate_take(struct mc_rate *r);

#endif
