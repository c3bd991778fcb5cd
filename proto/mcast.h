/* mcast.h - the multicast session transport: one master sends a byte
 * stream to the receivers of a session over UDP multicast, reliably
 * (negative acknowledgements, repairs by multicast), paced to what the
 * receivers can take, in bounded memory.  man/img-protocol.7, section
 * MULTICAST SESSIONS, is the specification.
 *
 * proto/ moves bytes: the stream is opaque here.  The engine's
 * src/session.c feeds it an image (capture or file) on the master and
 * restores from it on the receivers, verifying every chunk digest.
 */
#ifndef PROTO_MCAST_H
#define PROTO_MCAST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "img.h"

#define MC_PORT 998                 /* UDP, on the session's group */
#define MC_HDR 28                   /* packet header */
#define MC_DGRAM 1472               /* largest datagram: fits a 1500 MTU */
#define MC_PAYLOAD (MC_DGRAM - MC_HDR)
#define MC_WINDOW 16384u            /* packets in flight (~23 MiB) */
#define MC_MAXPEERS 256

/* What the user asks for while a session waits, as the front end
 * understands its keys or buttons: the transport never sees a key. */
enum mc_command {
	MC_CMD_NONE = 0,
	MC_CMD_START,              /* the master: start the session now */
	MC_CMD_MASTER,             /* a receiver still waiting: become the master */
	MC_CMD_GIVE_UP,            /* stop waiting (as when cancel() says so) */
};
/* Polled from the calling thread while a session waits. */
typedef enum mc_command (*mc_command_fn)(void *ctx);

/* Where messages go: called from the thread that calls mc_* (queued
 * messages of the network thread are passed on by mc_*_poll). */
typedef void (*mc_log_fn)(void *ctx, enum img_level level, const char *text);

struct mc_ifc {
	char name[16];
	char addr[16];              /* dotted IPv4 of the interface */
	int index;
};

/* Pick the interface: want, else the default route's, else the only
 * non-loopback IPv4 interface that is up. */
int mc_iface(const char *want, struct mc_ifc *out, struct img_error *err);

/* ---- master ----------------------------------------------------------- */

struct mc_master;

struct mc_master_cfg {
	const char *name;           /* session name */
	const char *iface;
	unsigned throttle_ms;       /* 0: adaptive */
	unsigned drop_s;            /* 0: 3 */
	const char *image_name;     /* announced for unicast catch-up, or NULL */
	int server_port;
	mc_log_fn log;
	void *ctx;
};

int mc_master_open(struct mc_master **out, const struct mc_master_cfg *c,
		   struct img_error *err);

/* Registration: announce the session and register receivers until one
 * start condition holds: count (clients > 0 registered), timeout_s since
 * the last registration (or since the call, with none), or command()
 * returns MC_CMD_START.  cancel() or MC_CMD_GIVE_UP stops it.  command
 * may be NULL.  Returns 0 when started, with why ("count reached",
 * "timeout", "start key"), or a negative code. */
int mc_master_wait(struct mc_master *m, unsigned clients, double timeout_s,
		   mc_command_fn command, int (*cancel)(void *), void *ctx,
		   const char **why, struct img_error *err);

/* The stream: an img_sink.  Blocks while the window is full; fails when
 * no receiver is left or the master is stopped. */
int mc_master_write(void *m, const void *buf, size_t len);
/* Pass on queued messages (call now and then from the calling thread). */
void mc_master_poll(struct mc_master *m);
/* The stream is complete: send the rest, repair, collect the receivers'
 * results.  Returns 0 when at least one receiver reported success and
 * none failure. */
int mc_master_finish(struct mc_master *m, int (*cancel)(void *), void *ctx,
		     struct img_error *err);
/* Stop the session (the stream failed): receivers are told why. */
void mc_master_abort(struct mc_master *m, const char *why);
/* Receivers registered and still in the session. */
unsigned mc_master_registered(struct mc_master *m);
/* The receivers as they stand (into peers[0..max)), with counts. */
unsigned mc_master_peers(struct mc_master *m, struct img_session_peer *peers,
			 unsigned max, unsigned *done, unsigned *failed,
			 unsigned *dropped);
void mc_master_close(struct mc_master *m);

/* ---- receiver --------------------------------------------------------- */

struct mc_client;

struct mc_client_cfg {
	const char *name;
	const char *iface;
	const char *host;           /* the name to register with */
	mc_log_fn log;
	void *ctx;
};

int mc_client_open(struct mc_client **out, const struct mc_client_cfg *c,
		   struct img_error *err);
/* Wait for a master of the session that accepts registrations, and
 * register (a session already running: queue for the next one, saying
 * so once).  wait_s 0: forever.  command() returning MC_CMD_MASTER stops
 * the wait with 1 (become master); cancel() or MC_CMD_GIVE_UP stops it
 * with -IMG_E_CANCELLED.  command may be NULL.  Returns 0 registered,
 * 1 become master, or a negative code. */
int mc_client_register(struct mc_client *c, unsigned wait_s,
		       mc_command_fn command, int (*cancel)(void *), void *ctx,
		       struct img_error *err);
/* Start receiving (spawns the network thread). */
int mc_client_start(struct mc_client *c, struct img_error *err);
/* The stream: an img_source.  -IMG_E_DROPPED when the master dropped
 * this receiver (mc_client_dropped says why and where). */
ssize_t mc_client_read(void *c, void *buf, size_t len);
void mc_client_poll(struct mc_client *c);
/* Bytes delivered by mc_client_read so far. */
uint64_t mc_client_delivered(struct mc_client *c);
/* The announced image path and server TCP port (for a catch-up), the
 * master's address; 0 when the master is not a server. */
int mc_client_server(struct mc_client *c, char *host, size_t hcap,
		     int *port, char *path, size_t pcap);
/* Packets received and packets found missing so far. */
void mc_client_counts(struct mc_client *c, uint64_t *packets, uint64_t *lost);
/* The error behind the last failed read. */
void mc_client_error(struct mc_client *c, struct img_error *err);
/* Stop receiving and leave the group (before a unicast catch-up, so the
 * session's packets stop taking the link). */
void mc_client_leave(struct mc_client *k);
/* Report the restore's outcome to the master (best effort, a few tries). */
void mc_client_result(struct mc_client *c, int rc, const char *text);
void mc_client_close(struct mc_client *c);

/* ---- wire helpers (shared with the tests; proto/mcwire.c) --------------- */

enum mc_type { MC_ANNOUNCE = 1, MC_JOIN = 2, MC_REGISTERED = 3, MC_LATE = 4,
	       MC_DATA = 5, MC_STATUS = 6, MC_DROP = 7, MC_RESULT = 8,
	       MC_RESULTACK = 9, MC_LEAVE = 10, MC_TYPE_END };

enum mc_state { MC_ST_WAITING = 1, MC_ST_RUNNING = 2, MC_ST_DONE = 3,
		MC_ST_ABORTED = 4 };

struct mc_hdr {
	uint8_t type;
	uint16_t flags;
	uint32_t sid;               /* session id: from the name */
	uint32_t run;               /* this run of the session */
	uint64_t seq;
	uint32_t stamp;             /* sender's clock, ms */
};

/* The session id of a name (bytes 3..6 of its SHA-256, little-endian). */
uint32_t mc_session_id(const char *name);
void mc_put_hdr(uint8_t *p, const struct mc_hdr *h);
/* 0, or -1 when p is not a valid packet header (magic, version, type,
 * reserved flags) or n is too short. */
int mc_get_hdr(const uint8_t *p, size_t n, struct mc_hdr *h);

#endif
