/* srv.h - imgserv's parts: configuration and rules (conf.c), the image
 * store (store.c), the protocol server (serve.c), durable state
 * (state.c), multicast sessions mastered from the store (session.c).
 * main.c is the command line. */
#ifndef SRV_H
#define SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "img.h"
#include "proto.h"
#include "state.h"

struct MHD_Daemon;

#define SRV_MAX_RULES 256
#define SRV_MAX_REFER 64

/* One automatic-imaging rule: all given matches must hold; first match
 * wins.  Empty strings and zero numbers do not take part. */
struct srv_rule {
	int line;                 /* in the configuration file */
	char mac[32];             /* MAC or glob: 52:54:00:* */
	char serial[128];         /* glob */
	char product[128];        /* glob */
	char hostname[64];        /* glob */
	uint32_t net, netmask;    /* subnet (host order); netmask 0: any */
	uint64_t disk_min, disk_max; /* disk size bounds in bytes; 0: none */
	char action[16];          /* none, restore, make, session */
	char arg[PROTO_MAX_PATH]; /* image path or session name */
	char server[300];         /* refer to this server (HOST[:PORT]) */
	char name[64];            /* workstation name to set after restore */
	char menu[8];             /* boot menu policy for it; "" the global one */
};

/* Images under prefix live on another server. */
struct srv_refer {
	char prefix[PROTO_MAX_PATH];
	char server[300];
};

struct srv_conf {
	char address[128];        /* -i: / address=; "" all */
	char name[128];           /* -s: / name=; "" the host name */
	int port;                 /* -port= / port= */
	char store[1024];         /* -store= / store= */
	char state[1024];         /* -state= / state=: directory of state.db */
	char key[1024];           /* -key= / key=: site key file, "" none */
	int restore_keyed;        /* restore=key */
	int timeout;              /* seconds without progress */
	int max_clients;
	char pidfile[1024];
	struct srv_rule *rules;   /* malloc'd */
	int nrules;
	struct srv_refer *refer;  /* malloc'd */
	int nrefer;
	/* The boot endpoint for iPXE (boot.c). */
	int http_port;            /* http_port= / -http=; 0: off */
	char boot[1024];          /* boot= / -boot=: vmlinuz and initrd.img */
	char menu[8];             /* menu=: never, always or hotkey */
	int menu_wait;            /* menu_wait=: seconds the hot key is offered */
	char boot_args[512];      /* boot_args=: more kernel command line */
};

/* Defaults, then the file (if path is not NULL; a missing default file is
 * not an error: must_exist 0), overriding what the file sets.  Empty
 * values mean the default. */
void srv_conf_defaults(struct srv_conf *c);
int srv_conf_load(struct srv_conf *c, const char *path, int must_exist,
		  struct img_error *err);
void srv_conf_free(struct srv_conf *c);
/* The key table (conf.c): every conf key, and the command-line option
 * that sets the same field, so the two cannot disagree. */
struct srv_key;
/* The key whose option starts arg ("-port=7000"), its value in *value;
 * NULL: not a key's option. */
const struct srv_key *srv_key_of_option(const char *arg, const char **value);
/* Set k to v: from the file when line > 0 (path:line in messages, empty v
 * the default), else from the command line (path is the option). */
int srv_key_set(struct srv_conf *c, const struct srv_key *k, char *v,
		const char *path, int line, struct img_error *err);

/* Parse one rule ("mac=52:54:00:* action=restore path=lab/a.img"). */
int srv_rule_parse(struct srv_rule *r, const char *text, struct img_error *err);

/* What a workstation says about itself (the AUTO request). */
struct srv_ident {
	char macs[8][18];
	int nmacs;
	char serial[128], product[128], hostname[64], lastimage[256];
	uint64_t disk, mem;
	uint32_t addr;            /* source IPv4, host order; 0 unknown */
};
/* The first rule matching id, or NULL. */
const struct srv_rule *srv_rule_match(const struct srv_conf *c,
				      const struct srv_ident *id);
/* What a workstation is to do (srv_decide in serve.c). */
struct srv_work {
	char mac[18];             /* the MAC the work is for */
	char action[16];          /* none, restore, make, session */
	char arg[PROTO_MAX_PATH + 1]; /* image path or session name */
	char server[300];         /* referred to this server; "" this one */
	char name[64];            /* workstation name to set */
	char menu[8];             /* the matching rule's menu policy, or "" */
	char src[32];             /* "pending work", "rule on line N", ... */
	int pending;              /* one-shot work set with -work */
};
/* The referral entry path falls under, or NULL. */
const struct srv_refer *srv_refer_match(const struct srv_conf *c,
					const char *path);

/* ---- store ---------------------------------------------------------- */

/* Check a client's image path: relative, no "." or ".." components, no
 * empty components, no control characters, at most PROTO_MAX_PATH bytes.
 * Returns 0 or -IMG_E_USAGE with the reason. */
int srv_path_check(const char *path, struct img_error *err);

/* Open an image for reading inside the store (symlinks that leave it are
 * refused by the kernel: openat2 RESOLVE_BENEATH). */
int srv_store_open(int storefd, const char *path, struct img_error *err);

/* An upload in progress: a temporary file beside the final name. */
struct srv_upload {
	int dirfd;                /* the image's directory, owned */
	int fd;                   /* the temporary file, owned */
	char tmp[300];            /* its name in dirfd */
	char base[300];           /* the final name in dirfd */
	uint64_t bytes;
};
int srv_upload_open(struct srv_upload *u, int storefd, const char *path,
		    struct img_error *err);
int srv_upload_write(struct srv_upload *u, const void *p, size_t n,
		     struct img_error *err);
/* fsync, rename over the final name, fsync the directory. */
int srv_upload_commit(struct srv_upload *u, struct img_error *err);
/* Remove the temporary file; the final name is untouched. */
void srv_upload_discard(struct srv_upload *u);
/* Remove temporary files a killed server left behind; returns how many. */
int srv_store_sweep(int storefd);

/* ---- the server ----------------------------------------------------- */

struct srv_stats {
	atomic_ullong requests;   /* Update Requests */
	atomic_ullong sent;       /* Images Sent */
	atomic_ullong received;   /* Images Received */
	atomic_ullong referrals;  /* Client Referrals */
	atomic_int transfers;     /* active transfers */
	atomic_int clients;       /* connections */
};

/* A one-time upload token handed out with automatic "make" work. */
#define SRV_MAX_TOKENS 256
struct srv_token {
	uint8_t t[PROTO_NONCE];
	char path[PROTO_MAX_PATH + 1];
	double expires;
};

struct srv {
	pthread_rwlock_t lock;    /* guards conf and key (SIGHUP reload) */
	struct srv_conf conf;
	uint8_t *key;             /* site key, NULL: none configured */
	size_t keylen;
	int storefd;
	int listenfd;
	struct srv_state *state;
	struct srv_stats st;
	double started;
	pthread_mutex_t tok_lock; /* one-time upload tokens */
	struct srv_token *tokens; /* SRV_MAX_TOKENS, malloc'd */
	int ntokens;
	struct srv_sessions *sessions; /* srv_sessions_init */
	struct MHD_Daemon *http;  /* the boot endpoint, NULL: off */
	atomic_int stop;
};

/* Bind and listen; returns 0 or a negative code. */
int srv_listen(struct srv *s, struct img_error *err);
/* Accept and serve until s->stop; one thread per connection. */
int srv_run(struct srv *s);
/* "aa:bb:cc:dd:ee:ff", either case. */
int srv_mac_ok(const char *m);
/* Pending work for any of id's MACs, else the first matching rule, with
 * referrals applied.  Takes s->lock for reading. */
void srv_decide(struct srv *s, const struct srv_ident *id, struct srv_work *w);
/* Statistics as "Name: value" lines. */
void srv_stats_text(struct srv *s, char *buf, size_t cap);

/* ---- the boot endpoint for iPXE (boot.c) ------------------------------- */

/* With http_port set, serve over HTTP (libmicrohttpd, its own threads):
 *   GET /boot.ipxe?mac=M[&serial=..&product=..&manufacturer=..&uuid=..
 *       &memsize=MiB&platform=..&hostname=..]
 *       an iPXE script: boot the imaging environment when M has work (or
 *       the menu policy says so), else exit to the local disk; unknown
 *       machines are registered as workstations;
 *   GET /boot/vmlinuz, /boot/initrd.img  the environment, from boot=.
 * Returns 0 (also when off) or a negative code with the reason. */
int srv_boot_start(struct srv *s, struct img_error *err);
void srv_boot_stop(struct srv *s);

/* ---- multicast sessions (session.c) ------------------------------------ */

/* Sessions the server masters from images in its store, one thread each
 * running img_session() as master.  At most SRV_MAX_SESSIONS are kept
 * (running or finished); one per name at a time.  A finished session
 * stays listed with its outcome until it is deleted or a new session of
 * its name replaces it.  All functions are thread safe. */
#define SRV_MAX_SESSIONS 32
#define SRV_SESSION_LINES 4       /* last engine messages kept per session */

struct srv_session_req {
	const char *name;         /* checked: proto_session_check */
	const char *path;         /* image path in the store, checked by the caller */
	const char *iface;        /* NULL or "": the engine's choice */
	unsigned clients;         /* start when this many registered; 0: no count */
	double timeout_min;       /* 0: the engine's default (5 minutes) */
	unsigned throttle_ms;
	const char *source;       /* who asked ("198.18.0.5:40312"), for the log */
};

/* Set up s->sessions (before srv_run).  Returns 0 or -ENOMEM. */
int srv_sessions_init(struct srv *s);

/* Open the image, take the name and start the session's thread.  On
 * success text gets a line for the requester (group, start condition).
 * Returns 0, or a negative code with the reason in err: -IMG_E_USAGE (bad
 * name or option), -IMG_E_BUSY (a session of that name is running or
 * still stopping), -IMG_E_LIMIT (no free slot), or the store's error
 * (-IMG_E_NOTFOUND for a missing image). */
int srv_session_start(struct srv *s, const struct srv_session_req *rq,
		      char *text, size_t cap, struct img_error *err);

/* Stop the session name (cancel, waiting up to a few seconds for its
 * thread) and forget it; one still stopping after that is forgotten by
 * its thread when it ends.  Text says what happened.  Returns 0, or
 * -IMG_E_NOTFOUND. */
int srv_session_delete(struct srv *s, const char *name, char *text,
		       size_t cap, struct img_error *err);

/* The sessions as text into buf (always NUL-terminated, cut at cap):
 * detail 1 for imgserv -session list (a header, a line per session and
 * its last messages), 0 for the statistics (one "Session NAME: ..." line
 * each).  Returns how many are running. */
int srv_session_text(struct srv *s, char *buf, size_t cap, int detail);

/* The image path of session name (case-blind) into path: 1 found, 0 not. */
int srv_session_path(struct srv *s, const char *name, char *path, size_t cap);

/* Cancel every session and wait up to wait_s seconds for their threads
 * (server shutdown). */
void srv_sessions_stop(struct srv *s, double wait_s);

/* Log to stderr (foreground) or syslog (daemon). */
void srv_say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern int srv_use_syslog;
/* The one request log writer: finish rec (end now if 0; a record not yet
 * begun, id 0, is appended whole) in the state database and say it in one
 * line.  Failures to write the log are said, not returned. */
void srv_log_request(struct srv *s, struct srv_logrec *rec);

#endif
