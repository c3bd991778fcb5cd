/* session.c - multicast sessions the server masters from its image store
 * (imgserv -session start|list|delete, man/imgserv.8).  Each session runs
 * img_session() as master in a thread of its own, sending an image opened
 * through the store; the image's path and the server's port are
 * announced, so that receivers dropped from the session finish by a
 * unicast GET with an offset from this server.
 *
 * The list is guarded by one mutex.  Entries belong to the list; a
 * deleted session whose thread still runs stays listed as "stopping"
 * (its name and group are still in use) and its thread unlists and
 * frees it when it ends. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "srv.h"

#define DELETE_WAIT 10.0          /* seconds delete waits for a thread */

struct srv_session {
	struct srv *s;
	char name[PROTO_MAX_SESSION + 1];
	char path[PROTO_MAX_PATH + 1];
	char iface[32];
	char group[16];
	unsigned clients;
	double timeout_min;
	unsigned throttle_ms;
	int port;                 /* announced for catch-ups */
	int fd;                   /* the image, owned until the thread ends */
	atomic_int cancel;        /* delete (or shutdown) asked */
	/* guarded by the list lock: */
	int running;              /* the thread has not ended yet */
	int deleted;              /* delete asked while running: the thread
				   * unlists and frees the entry */
	char state[16];           /* running, done, failed, cancelled */
	double started, ended;
	unsigned registered, done, failed, dropped;
	uint64_t sent, total;     /* progress of the stream, bytes */
	char lines[SRV_SESSION_LINES][200];
	unsigned nlines;          /* messages seen (ring index) */
	char error[512];
	/* the request log record, begun at the start */
	struct srv_logrec rec;
	char source[80];
	char note[320];
};

struct srv_sessions {
	pthread_mutex_t lock;
	pthread_cond_t ended;     /* a session thread ended */
	struct srv_session *list[SRV_MAX_SESSIONS];
	int n;                    /* listed entries */
	int threads;              /* session threads alive */
};


int srv_sessions_init(struct srv *s)
{
	struct srv_sessions *ss = calloc(1, sizeof(*ss));
	if (!ss)
		return -ENOMEM;
	pthread_mutex_init(&ss->lock, NULL);
	pthread_cond_init(&ss->ended, NULL);
	s->sessions = ss;
	return 0;
}

/* The listed entry named name (case-blind, like groups), or -1.  Lock held. */
static int find(struct srv_sessions *ss, const char *name)
{
	for (int i = 0; i < ss->n; i++)
		if (!strcasecmp(ss->list[i]->name, name))
			return i;
	return -1;
}

static void unlist(struct srv_sessions *ss, int i)
{
	ss->list[i] = ss->list[--ss->n];
	ss->list[ss->n] = NULL;
}

/* ---- the engine's callbacks (the session's thread) ---------------------- */

static int on_cancel(void *ctx)
{
	struct srv_session *x = ctx;
	return atomic_load(&x->cancel) || atomic_load(&x->s->stop);
}

static void on_message(void *ctx, enum img_level level, const char *text)
{
	struct srv_session *x = ctx;
	struct srv_sessions *ss = x->s->sessions;
	if (level == IMG_DEBUG)
		return;
	pthread_mutex_lock(&ss->lock);
	snprintf(x->lines[x->nlines % SRV_SESSION_LINES], sizeof(x->lines[0]), "%s", text);
	x->nlines++;
	pthread_mutex_unlock(&ss->lock);
	if (!strncasecmp(text, "session ", 8))
		srv_say(level == IMG_WARN ? LOG_WARNING : LOG_INFO, "%s", text);
	else
		srv_say(level == IMG_WARN ? LOG_WARNING : LOG_INFO, "session %s: %s",
			x->name, text);
}

static void on_progress(void *ctx, const struct img_progress *p)
{
	struct srv_session *x = ctx;
	struct srv_sessions *ss = x->s->sessions;
	pthread_mutex_lock(&ss->lock);
	x->sent = p->done;
	x->total = p->total;
	pthread_mutex_unlock(&ss->lock);
}

static void *session_main(void *arg)
{
	struct srv_session *x = arg;
	struct srv *s = x->s;
	struct srv_sessions *ss = s->sessions;
	struct img_error e = {0};
	struct img_session_opts o = {
		.name = x->name, .role = IMG_ROLE_MASTER,
		.iface = x->iface[0] ? x->iface : NULL,
		.clients = x->clients, .timeout_min = x->timeout_min,
		.throttle_ms = x->throttle_ms, .image_fd = x->fd,
		.image_name = x->path, .server_port = x->port,
	};
	struct img_callbacks cb = { .progress = on_progress, .message = on_message,
				    .cancel = on_cancel, .ctx = x };
	struct img_session_result *res = calloc(1, sizeof(*res));
	int rc = res ? img_session(&o, &cb, res, &e)
		     : img_err_set(&e, -ENOMEM, "out of memory");
	close(x->fd);
	x->fd = -1;
	int cancelled = atomic_load(&x->cancel) || rc == -IMG_E_CANCELLED;

	pthread_mutex_lock(&ss->lock);
	x->ended = img_wall();
	if (res) {
		x->registered = res->registered;
		x->done = res->done;
		x->failed = res->failed;
		x->dropped = res->dropped;
		if (res->group[0])
			snprintf(x->group, sizeof(x->group), "%s", res->group);
	}
	snprintf(x->state, sizeof(x->state), "%s",
		 !rc ? "done" : cancelled ? "cancelled" : "failed");
	snprintf(x->error, sizeof(x->error), "%s", rc ? e.msg : "");
	snprintf(x->note, sizeof(x->note), "session %s: %u done, %u failed, %u dropped%s%.120s",
		 x->name, x->done, x->failed, x->dropped, rc ? ": " : "",
		 rc ? (cancelled ? "deleted while it ran" : e.msg) : "");
	x->rec.end = x->ended;
	x->rec.bytes = res ? res->st.image_bytes : 0;
	x->rec.result = rc ? "failed" : "ok";
	x->rec.error = x->note;
	pthread_mutex_unlock(&ss->lock);

	atomic_fetch_add(&s->st.sent, x->done);
	if (x->rec.id)
		srv_log_request(s, &x->rec);
	srv_say(rc ? LOG_WARNING : LOG_INFO, "session %s (%s): %s: %u done, %u failed, "
		"%u dropped%s%s", x->name, x->path, x->state, x->done, x->failed,
		x->dropped, rc ? ": " : "", rc ? x->error : "");
	free(res);

	pthread_mutex_lock(&ss->lock);
	x->running = 0;
	if (x->deleted) {
		for (int i = 0; i < ss->n; i++)
			if (ss->list[i] == x)
				unlist(ss, i);
		free(x);
	}
	ss->threads--;
	pthread_cond_broadcast(&ss->ended);
	pthread_mutex_unlock(&ss->lock);
	return NULL;
}

/* ---- the requests -------------------------------------------------------- */

static int check_req(const struct srv_session_req *rq, struct img_error *err)
{
	int rc = proto_session_check(rq->name, err);
	if (rc)
		return rc;
	if (rq->clients > IMG_SESSION_MAX_CLIENTS)
		return img_err_set(err, -IMG_E_USAGE,
				   "clients=%u: a session takes at most %d clients",
				   rq->clients, IMG_SESSION_MAX_CLIENTS);
	if (!(rq->timeout_min >= 0 && rq->timeout_min <= IMG_SESSION_MAX_TIMEOUT_MIN))
		return img_err_set(err, -IMG_E_USAGE, "timeout=%g: give 0 to %d minutes",
				   rq->timeout_min, IMG_SESSION_MAX_TIMEOUT_MIN);
	if (rq->throttle_ms > IMG_SESSION_MAX_THROTTLE_MS)
		return img_err_set(err, -IMG_E_USAGE,
				   "throttle=%u: give 0 to %d ms between packets",
				   rq->throttle_ms, IMG_SESSION_MAX_THROTTLE_MS);
	if (rq->iface && strlen(rq->iface) >= 16)
		return img_err_set(err, -IMG_E_USAGE,
				   "iface: an interface name has at most 15 characters");
	for (const char *p = rq->iface; p && *p; p++)
		if (*p <= ' ' || *p == '/' || *p == 0x7f)
			return img_err_set(err, -IMG_E_USAGE,
					   "iface: '%s' is not an interface name", rq->iface);
	return 0;
}

int srv_session_start(struct srv *s, const struct srv_session_req *rq,
		      char *text, size_t cap, struct img_error *err)
{
	struct srv_sessions *ss = s->sessions;
	int rc = check_req(rq, err);
	if (rc)
		return rc;
	struct srv_session *x = calloc(1, sizeof(*x));
	if (!x)
		return img_err_set(err, -ENOMEM, "out of memory");
	x->s = s;
	x->fd = -1;
	snprintf(x->name, sizeof(x->name), "%s", rq->name);
	snprintf(x->path, sizeof(x->path), "%s", rq->path);
	snprintf(x->iface, sizeof(x->iface), "%s", rq->iface ? rq->iface : "");
	snprintf(x->source, sizeof(x->source), "%s", rq->source ? rq->source : "");
	x->clients = rq->clients;
	x->timeout_min = rq->timeout_min;
	x->throttle_ms = rq->throttle_ms;
	if ((rc = proto_session_group(x->name, x->group, err)))
		goto fail;
	pthread_rwlock_rdlock(&s->lock);
	x->port = s->conf.port;
	pthread_rwlock_unlock(&s->lock);
	x->fd = srv_store_open(s->storefd, x->path, err);
	if (x->fd < 0) {
		rc = x->fd;
		x->fd = -1;
		goto fail;
	}

	pthread_mutex_lock(&ss->lock);
	int i = find(ss, x->name);
	if (i >= 0 && ss->list[i]->deleted) {
		rc = img_err_set(err, -IMG_E_BUSY,
				 "session '%s' was deleted and is still stopping; start it "
				 "again in a moment", ss->list[i]->name);
		pthread_mutex_unlock(&ss->lock);
		goto fail;
	}
	if (i >= 0 && ss->list[i]->running) {
		const struct srv_session *o = ss->list[i];
		rc = img_err_set(err, -IMG_E_BUSY,
				 "session '%s' is already running (image %.300s, group %s); "
				 "one session per name at a time: delete it first "
				 "(imgserv -session delete %s)", o->name, o->path, o->group,
				 o->name);
		pthread_mutex_unlock(&ss->lock);
		goto fail;
	}
	if (i < 0 && ss->n == SRV_MAX_SESSIONS) {
		rc = img_err_set(err, -IMG_E_LIMIT,
				 "this server keeps at most %d sessions; delete finished "
				 "ones (imgserv -session list, -session delete NAME)",
				 SRV_MAX_SESSIONS);
		pthread_mutex_unlock(&ss->lock);
		goto fail;
	}
	if (i >= 0) {           /* a finished one: replaced */
		free(ss->list[i]);
		unlist(ss, i);
	}
	x->running = 1;
	x->started = img_wall();
	snprintf(x->state, sizeof(x->state), "running");
	snprintf(x->note, sizeof(x->note), "session %s", x->name);
	x->rec = (struct srv_logrec){ .source = x->source, .mac = "", .type = "session",
				      .path = x->path, .start = x->started,
				      .result = "running", .error = x->note };
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	ss->list[ss->n++] = x;
	ss->threads++;
	if (pthread_create(&t, &at, session_main, x)) {
		ss->threads--;
		unlist(ss, ss->n - 1);
		pthread_mutex_unlock(&ss->lock);
		pthread_attr_destroy(&at);
		rc = img_err_set(err, -EAGAIN, "cannot start a thread for the session");
		goto fail;
	}
	pthread_attr_destroy(&at);
	/* Log before anyone can see the end: the thread's srv_log_end needs
	 * the id, and takes the lock before it reads the record. */
	struct img_error le = {0};
	if (srv_log_begin(s->state, &x->rec, &le))
		srv_say(LOG_ERR, "request log: %s", le.msg);
	char when[160];
	double tmo = x->timeout_min > 0 ? x->timeout_min : 5.0;
	if (x->clients)
		snprintf(when, sizeof(when), "when %u clients have registered, or %g min after "
			 "the last registration", x->clients, tmo);
	else
		snprintf(when, sizeof(when), "%g min after the last registration", tmo);
	snprintf(text, cap, "session %s started: image %s, group %s; it begins %s\n",
		 x->name, x->path, x->group, when);
	pthread_mutex_unlock(&ss->lock);
	srv_say(LOG_INFO, "session %s: image %s, group %s, clients %u, timeout %g min, "
		"throttle %u ms%s%s", x->name, x->path, x->group, x->clients,
		x->timeout_min > 0 ? x->timeout_min : 5.0, x->throttle_ms,
		x->iface[0] ? ", interface " : "", x->iface);
	return 0;
fail:
	if (x->fd >= 0)
		close(x->fd);
	free(x);
	return rc;
}

int srv_session_delete(struct srv *s, const char *name, char *text,
		       size_t cap, struct img_error *err)
{
	struct srv_sessions *ss = s->sessions;
	pthread_mutex_lock(&ss->lock);
	int i = find(ss, name);
	if (i < 0) {
		pthread_mutex_unlock(&ss->lock);
		return img_err_set(err, -IMG_E_NOTFOUND,
				   "no session '%s' on this server (imgserv -session list)",
				   name);
	}
	struct srv_session *x = ss->list[i];
	int was_running = x->running;
	if (x->deleted) {
		pthread_mutex_unlock(&ss->lock);
		snprintf(text, cap, "session %s is already deleted and still stopping\n",
			 name);
		return 0;
	}
	atomic_store(&x->cancel, 1);
	struct timespec until = img_abstime(DELETE_WAIT);
	while (x->running &&
	       pthread_cond_timedwait(&ss->ended, &ss->lock, &until) != ETIMEDOUT)
		;
	if (x->running) {
		x->deleted = 1;    /* its thread unlists and frees it */
		snprintf(text, cap, "session %s deleted; it is still stopping\n", x->name);
	} else {
		/* The entry may have moved while the lock was released. */
		for (i = 0; i < ss->n; i++)
			if (ss->list[i] == x)
				unlist(ss, i);
		snprintf(text, cap, "session %s deleted%s\n", x->name,
			 was_running ? " (it was stopped)" : "");
		free(x);
	}
	pthread_mutex_unlock(&ss->lock);
	srv_say(LOG_INFO, "session %s: deleted", name);
	return 0;
}

int srv_session_path(struct srv *s, const char *name, char *path, size_t cap)
{
	struct srv_sessions *ss = s->sessions;
	pthread_mutex_lock(&ss->lock);
	int i = find(ss, name);
	if (i >= 0)
		snprintf(path, cap, "%s", ss->list[i]->path);
	pthread_mutex_unlock(&ss->lock);
	return i >= 0;
}

/* Appends with snprintf semantics, never past cap. */
struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->len + 1 >= o->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

static void stamp(double t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", localtime_r(&tt, &tm));
}

/* "running: 2 registered, 40% sent" or "done: 2 done, 0 failed, 1 dropped". */
static void outcome(const struct srv_session *x, char *buf, size_t cap)
{
	if (x->running && x->total)
		snprintf(buf, cap, "%s, %u%% sent", x->cancel ? "stopping" : "running",
			 (unsigned)(x->sent * 100 / x->total));
	else if (x->running)
		snprintf(buf, cap, "%s", x->cancel ? "stopping" : "running");
	else
		snprintf(buf, cap, "%s: %u done, %u failed, %u dropped", x->state, x->done,
			 x->failed, x->dropped);
}

int srv_session_text(struct srv *s, char *buf, size_t cap, int detail)
{
	struct srv_sessions *ss = s->sessions;
	struct out o = { buf, cap, 0 };
	int running = 0;
	if (cap)
		buf[0] = 0;
	pthread_mutex_lock(&ss->lock);
	for (int i = 0; i < ss->n; i++)
		running += ss->list[i]->running;
	if (!detail) {
		put(&o, "Multicast Sessions: %d\n", running);
		for (int i = 0; i < ss->n; i++) {
			const struct srv_session *x = ss->list[i];
			char oc[120];
			outcome(x, oc, sizeof(oc));
			put(&o, "Session %s: %s, image %s, group %s\n", x->name, oc, x->path,
			    x->group);
		}
		pthread_mutex_unlock(&ss->lock);
		return running;
	}
	if (!ss->n)
		put(&o, "no multicast sessions\n");
	else
		put(&o, "session  state  image  group  clients  started\n");
	for (int i = 0; i < ss->n; i++) {
		const struct srv_session *x = ss->list[i];
		char oc[120], st[32];
		outcome(x, oc, sizeof(oc));
		stamp(x->started, st, sizeof(st));
		put(&o, "%s  %s  %s  %s  %u  %s\n", x->name, oc, x->path, x->group,
		    x->clients, st);
		if (!x->running && x->error[0])
			put(&o, "    error: %s\n", x->error);
		unsigned n = x->nlines < SRV_SESSION_LINES ? x->nlines : SRV_SESSION_LINES;
		for (unsigned k = x->nlines - n; k < x->nlines; k++)
			put(&o, "    %s\n", x->lines[k % SRV_SESSION_LINES]);
	}
	pthread_mutex_unlock(&ss->lock);
	return running;
}

void srv_sessions_stop(struct srv *s, double wait_s)
{
	struct srv_sessions *ss = s->sessions;
	if (!ss)
		return;
	pthread_mutex_lock(&ss->lock);
	for (int i = 0; i < ss->n; i++)
		atomic_store(&ss->list[i]->cancel, 1);
	struct timespec until = img_abstime(wait_s);
	while (ss->threads &&
	       pthread_cond_timedwait(&ss->ended, &ss->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&ss->lock);
}
