/* proto.h - the imgserv unicast protocol: framing, messages, status codes,
 * authentication.  man/img-protocol.7 is the specification; the numbers
 * here are the wire's and are never renumbered.
 *
 * Shared by the engine's client side (proto/client.c, in libimg) and the
 * server (server/).  proto/ moves bytes and knows nothing about
 * filesystems or disks.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "img.h"

#define PROTO_VERSION 1
#define PROTO_PORT 998
#define PROTO_HDR 8
#define PROTO_MAX_PAYLOAD (1u << 20)   /* any frame */
#define PROTO_MAX_CTRL 65536u          /* a message with attributes */
#define PROTO_MAX_ATTRS 64
#define PROTO_MAX_PATH 1024
#define PROTO_MAX_TEXT 60000
#define PROTO_NONCE 32
#define PROTO_DATA_CHUNK (256u << 10)  /* DATA frame size senders use */

enum proto_caps { PROTO_CAP_AUTH = 1, PROTO_CAP_AUTO = 2, PROTO_CAP_TOKEN = 4 };

enum proto_type {
	PROTO_HELLO = 1, PROTO_WELCOME = 2, PROTO_AUTH = 3, PROTO_STATUS = 4,
	PROTO_PUT = 5, PROTO_GET = 6, PROTO_DATA = 7, PROTO_END = 8,
	PROTO_ABORT = 9, PROTO_RESULT = 10, PROTO_STATS = 11, PROTO_AUTOREQ = 12,
	PROTO_WORK = 13, PROTO_REPORT = 14, PROTO_WORKSET = 15, PROTO_PING = 16,
	PROTO_PONG = 17, PROTO_BYE = 18, PROTO_SESSION = 19,
	PROTO_TYPE_END
};

enum proto_tag {
	PT_VERSION = 1, PT_CAPS = 2, PT_CLIENT = 3, PT_SERVER = 4, PT_NONCE = 5,
	PT_CNONCE = 6, PT_PROOF = 7, PT_CODE = 8, PT_TEXT = 9, PT_PATH = 10,
	PT_BYTES = 11, PT_MAC = 12, PT_SERIAL = 13, PT_PRODUCT = 14,
	PT_HOSTNAME = 15, PT_DISK = 16, PT_MEM = 17, PT_HWINFO = 18,
	PT_ACTION = 19, PT_ARG = 20, PT_SESSION = 21, PT_TOKEN = 22,
	PT_AUTO = 23, PT_LASTIMAGE = 24, PT_OFFSET = 25, PT_CLIENTS = 26,
	PT_TIMEOUT = 27, PT_THROTTLE = 28, PT_IFACE = 29,
};

/* Status codes.  Never renumber; append only. */
enum proto_status {
	PS_OK = 0, PS_PROTOCOL = 1, PS_VERSION = 2, PS_TOOLARGE = 3,
	PS_AUTHREQ = 4, PS_AUTHFAIL = 5, PS_NOKEY = 6, PS_BADPATH = 7,
	PS_NOTFOUND = 8, PS_BUSY = 9, PS_NOSPACE = 10, PS_CORRUPT = 11,
	PS_IO = 12, PS_REFERRED = 13, PS_LIMIT = 14, PS_ABORTED = 15,
	PS_TIMEOUT = 16, PS_INTERNAL = 17, PS_UNKNOWN = 18, PS_BADARG = 19,
	PS_END
};

/* Short name of a status code ("no space"); "unknown status" past the end. */
const char *proto_status_name(uint32_t code);
/* The engine error a status code maps to (negative), 0 for PS_OK. */
int proto_status_errcode(uint32_t code);
/* The status code for an engine or errno code (negative). */
uint32_t proto_status_of(int rc);

struct proto_attr {
	uint16_t tag;
	uint16_t len;
	const uint8_t *val;  /* points into the message payload */
};

/* A received message.  payload points into the connection's buffer and
 * stays valid until the next receive on that connection. */
struct proto_msg {
	uint16_t type;
	uint32_t len;
	const uint8_t *payload;
	struct proto_attr attr[PROTO_MAX_ATTRS];
	unsigned nattr;
};

/* Check a frame header (8 bytes): type, flags, length against the limits.
 * Returns 0 and sets *type, *len, or a negative code with a message. */
int proto_parse_header(const uint8_t hdr[PROTO_HDR], uint16_t *type,
		       uint32_t *len, struct img_error *err);

/* Decode the attribute list of a non-DATA payload into m (type, len and
 * payload already set).  Every length is checked; strings are checked when
 * read.  Returns 0 or -IMG_E_PROTO with a message naming the attribute. */
int proto_parse_attrs(struct proto_msg *m, struct img_error *err);

/* Attribute getters.  Return 1 when found and valid, 0 when absent,
 * negative when present but malformed, with a message in err:
 * -IMG_E_LIMIT for a string longer than cap - 1, -IMG_E_PROTO for a
 * string with NUL bytes, a number or bytes of the wrong size. */
int proto_get_str(const struct proto_msg *m, uint16_t tag, char *buf,
		  size_t cap, struct img_error *err);
int proto_get_u32(const struct proto_msg *m, uint16_t tag, uint32_t *v,
		  struct img_error *err);
int proto_get_u64(const struct proto_msg *m, uint16_t tag, uint64_t *v,
		  struct img_error *err);
int proto_get_bytes(const struct proto_msg *m, uint16_t tag, uint8_t *buf,
		    size_t len, struct img_error *err);
/* The idx-th occurrence of a repeatable string attribute. */
int proto_get_str_n(const struct proto_msg *m, uint16_t tag, unsigned idx,
		    char *buf, size_t cap, struct img_error *err);

/* An outgoing control message, built in place (header included).  A put
 * past PROTO_MAX_CTRL sets overflow, which proto_send reports. */
struct proto_out {
	uint8_t buf[PROTO_HDR + PROTO_MAX_CTRL];
	size_t len;
	unsigned nattr;
	int overflow;
};
void proto_out_init(struct proto_out *o, uint16_t type);
void proto_put_str(struct proto_out *o, uint16_t tag, const char *s);
void proto_put_u32(struct proto_out *o, uint16_t tag, uint32_t v);
void proto_put_u64(struct proto_out *o, uint16_t tag, uint64_t v);
void proto_put_bytes(struct proto_out *o, uint16_t tag, const void *p,
		     size_t n);

/* A connection: a connected TCP socket and a receive buffer. */
struct proto_conn {
	int fd;                  /* owned: closed by proto_conn_close */
	uint8_t *rx;             /* PROTO_MAX_PAYLOAD bytes, owned */
	int timeout_ms;          /* per receive or send without progress */
	char peer[80];           /* "198.18.0.5:40312" for messages */
};

/* Wrap fd (takes ownership, also on failure); sets keepalive and timeouts. */
int proto_conn_init(struct proto_conn *c, int fd, int timeout_ms,
		    struct img_error *err);
void proto_conn_close(struct proto_conn *c);

/* Send a built message / a DATA frame / an attribute-less message. */
int proto_send(struct proto_conn *c, struct proto_out *o, struct img_error *err);
int proto_send_data(struct proto_conn *c, const void *p, size_t n,
		    struct img_error *err);
int proto_send_empty(struct proto_conn *c, uint16_t type, struct img_error *err);
/* STATUS with code and text (text may be NULL). */
int proto_send_status(struct proto_conn *c, uint32_t code, const char *text,
		      struct img_error *err);

/* Receive one frame, decode attributes unless DATA.  A peer that closes
 * between frames gives -IMG_E_CLOSED; in the middle of one, -IMG_E_PROTO.
 * PING is answered with PONG and skipped. */
int proto_recv(struct proto_conn *c, struct proto_msg *m, struct img_error *err);

/* 1 if a frame (or EOF) is waiting to be read, 0 if not, negative on error. */
int proto_pending(struct proto_conn *c);

/* HMAC-SHA256(key, label || a || b) into out (32 bytes). */
int proto_proof(const uint8_t *key, size_t keylen, const char *label,
		const uint8_t a[PROTO_NONCE], const uint8_t b[PROTO_NONCE],
		uint8_t out[32]);
#define PROTO_LABEL_CLIENT "img-auth-v1 client"
#define PROTO_LABEL_SERVER "img-auth-v1 server"

/* Read a key file: at least 16 bytes, at most 4096; *key malloc'd. */
int proto_key_load(const char *path, uint8_t **key, size_t *len,
		   struct img_error *err);

/* Parse "HOST[:PORT]" (or "[v6]:PORT") into host and port (default dport). */
int proto_parse_hostport(const char *s, char *host, size_t hcap, int *port,
			 int dport, struct img_error *err);
/* Connect with a timeout; returns a socket or a negative code. */
int proto_connect(const char *host, int port, int timeout_ms,
		  struct img_error *err);


/* ---- multicast session names ------------------------------------------ */

#define PROTO_MAX_SESSION 64

/* A session name: 1 to 64 letters, digits, '-', '_', '.'.  Returns 0 or
 * -IMG_E_USAGE saying what is wrong. */
int proto_session_check(const char *name, struct img_error *err);
/* The multicast group of a session: "231.A.B.C" where A, B, C are the
 * first three bytes of SHA-256 of the name in lower case (names are
 * case-blind).  Stable: part of the protocol. */
int proto_session_group(const char *name, char out[16], struct img_error *err);

/* ---- client side ------------------------------------------------------ */

struct proto_client {
	struct proto_conn c;
	uint8_t nonce[PROTO_NONCE];   /* the server's, from WELCOME */
	uint32_t caps;
	char server[128];             /* the server's name */
	char addr[300];               /* HOST:PORT as given */
	int automatic;                /* 1: requests are part of automatic
				       * imaging (they carry auto 1) */
};

/* Connect to HOST[:PORT] and do the handshake. */
int proto_client_open(struct proto_client *cl, const char *hostport,
		      int timeout_ms, struct img_error *err);
/* Prove the site key and check the server's proof. */
int proto_client_auth(struct proto_client *cl, const uint8_t *key,
		      size_t keylen, struct img_error *err);
/* proto_client_open, then, when keyfile is not NULL, load that site key
 * and proto_client_auth with it.  On failure cl is closed. */
int proto_client_connect(struct proto_client *cl, const char *hostport,
			 const char *keyfile, int timeout_ms,
			 struct img_error *err);
/* Ask for the image path from byte offset on (0: the whole image): sends
 * GET (with mac when not NULL or "") and reads the server's STATUS.
 * Returns 0 with *bytes (may be NULL) = the bytes that follow (the
 * image's size minus offset); the caller then reads them with a
 * proto_download and answers RESULT.  A server that does not honour a
 * non-zero offset (one that predates it) is refused with -IMG_E_PROTO
 * rather than trusted to have started at the offset.  Else the mapped
 * engine error with the server's reason in err. */
int proto_client_get(struct proto_client *cl, const char *path,
		     const char *mac, uint64_t offset, uint64_t *bytes,
		     struct img_error *err);
/* After a GET's image was read (or reading it failed): send RESULT with
 * the restore's outcome (rc, and text when rc is not 0), which the server
 * logs, and read its STATUS.  Best effort: a failure is not reported. */
void proto_client_result(struct proto_client *cl, int rc, const char *text);
/* Receive a STATUS (anything else is a protocol error).  Returns 0 for
 * code 0, else the mapped engine error with "server: TEXT" in err.
 * text/bytes may be NULL. */
int proto_client_status(struct proto_client *cl, char *text, size_t cap,
			uint64_t *bytes, struct img_error *err);
/* Say BYE and close. */
void proto_client_close(struct proto_client *cl);

/* An upload: an img_sink writing DATA frames.  Between frames it checks
 * for a STATUS the server sent early (a refused or failed upload) and
 * stops with the server's reason. */
struct proto_upload {
	struct proto_client *cl;
	uint8_t *buf;                 /* PROTO_DATA_CHUNK bytes, owned */
	size_t len;
	uint64_t total;
	struct img_error err;         /* why the sink failed */
};
int proto_upload_begin(struct proto_upload *u, struct proto_client *cl,
		       struct img_error *err);
int proto_upload_write(void *ctx, const void *buf, size_t len);
/* Flush, send END and wait for the server's verdict. */
int proto_upload_finish(struct proto_upload *u, struct img_error *err);
/* Send ABORT with the reason (best effort) and free the buffer. */
void proto_upload_abort(struct proto_upload *u, const char *why);

/* The one reader of an image stream (DATA frames, then END with the byte
 * count), shared by the client's download and the server's upload.
 * proto_stream_read() yields the DATA bytes in order, 0 at an END whose
 * count matches what arrived, or a negative code with s->err set.
 * on_data (may be NULL) sees each DATA frame as it arrives and may refuse
 * it with a negative code; on_other gets every other message and returns
 * the negative code it means (NULL: "message type N inside the image").
 * peer names the other side in messages ("imaging server HOST:PORT").
 * Zero the struct, set c, peer and the hooks, then read; no allocation. */
struct proto_stream {
	struct proto_conn *c;
	const char *peer;
	int (*on_data)(void *ctx, const struct proto_msg *m, struct img_error *err);
	int (*on_other)(void *ctx, const struct proto_msg *m, struct img_error *err);
	void *ctx;
	const uint8_t *p;             /* unread bytes of the current frame */
	size_t left;
	uint64_t total;               /* bytes yielded so far */
	int ended;
	struct img_error err;
};
ssize_t proto_stream_read(struct proto_stream *s, void *buf, size_t len);

/* A download: an img_source reading the image stream of a GET.  Zero it
 * and set cl; err says why a read failed. */
struct proto_download {
	struct proto_client *cl;
	struct proto_stream s;
	struct img_error err;
};
ssize_t proto_download_read(void *ctx, void *buf, size_t len);

#endif
