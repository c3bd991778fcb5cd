/* session.c - multicast imaging sessions (img -session): the engine's
 * side of proto/mcast.c.  The master feeds the session the image stream,
 * captured live (img_make) or read from an image file; a client restores
 * from the stream as it arrives, img_restore verifying every chunk's
 * digest before it writes it, and reports the outcome to the master.  A
 * client the master dropped finishes by unicast from the imaging server
 * the session came from, at the byte where the session left it. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mcast.h"
#include "proto.h"

/* The caller's callbacks, with the session's queued messages passed on
 * whenever the job reports progress. */
struct wrap {
	const struct img_callbacks *cb;
	struct mc_master *m;
	struct mc_client *k;
};

static void w_message(void *ctx, enum img_level l, const char *text)
{
	struct wrap *w = ctx;
	if (w->cb && w->cb->message)
		w->cb->message(w->cb->ctx, l, text);
}

/* A master's receivers to the caller's peers callback, if it has one. */
static void w_peers(struct wrap *w)
{
	struct img_session_peer peers[64];
	unsigned done, failed, dropped, n;
	if (!w->m || !w->cb || !w->cb->peers)
		return;
	n = mc_master_peers(w->m, peers, 64, &done, &failed, &dropped);
	w->cb->peers(w->cb->ctx, peers, n);
}

static void w_progress(void *ctx, const struct img_progress *p)
{
	struct wrap *w = ctx;
	if (w->m)
		mc_master_poll(w->m);
	w_peers(w);
	if (w->k)
		mc_client_poll(w->k);
	if (w->cb && w->cb->progress)
		w->cb->progress(w->cb->ctx, p);
}

static int w_cancel(void *ctx)
{
	struct wrap *w = ctx;
	w_peers(w);
	return w->cb && w->cb->cancel ? w->cb->cancel(w->cb->ctx) : 0;
}

static enum img_command w_command(void *ctx)
{
	struct wrap *w = ctx;
	return w->cb && w->cb->command ? w->cb->command(w->cb->ctx) : IMG_CMD_NONE;
}

/* The user's command in the transport's terms. */
static enum mc_command w_mc_command(void *ctx)
{
	switch (w_command(ctx)) {
	case IMG_CMD_START:
		return MC_CMD_START;
	case IMG_CMD_MASTER:
		return MC_CMD_MASTER;
	case IMG_CMD_GIVE_UP:
		return MC_CMD_GIVE_UP;
	default:
		return MC_CMD_NONE;
	}
}


/* ---- master ----------------------------------------------------------- */

/* Send an image file into the session, with progress. */
static int send_file(struct mc_master *m, int fd, const char *what,
		     const struct img_callbacks *cb, struct img_stats *st,
		     struct img_error *err)
{
	struct stat sb;
	size_t cap = 1u << 20;
	uint8_t *buf = malloc(cap);
	uint64_t done = 0, total = fstat(fd, &sb) ? 0 : (uint64_t)sb.st_size;
	double t0 = 0, last = 0;
	int rc = 0;
	if (!buf)
		return img_err_set(err, -ENOMEM, "out of memory");
	t0 = img_now();
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = img_err_set(err, -errno, "reading %s at byte %llu: %s", what,
					 (unsigned long long)done, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = mc_master_write(m, buf, (size_t)n))) {
			img_err_set(err, rc, "sending %s at byte %llu: %s", what,
				    (unsigned long long)done, img_strerror(rc));
			break;
		}
		done += (uint64_t)n;
		double now = img_now();
		if (now - last >= 0.5) {
			struct img_progress p = { "session", -1, done, total, now - t0,
						  done / (now - t0 > 1e-6 ? now - t0 : 1e-6) };
			last = now;
			if (cb->progress)
				cb->progress(cb->ctx, &p);
			if (cb->cancel && cb->cancel(cb->ctx)) {
				rc = img_err_set(err, -IMG_E_CANCELLED, "cancelled");
				break;
			}
		}
	}
	free(buf);
	st->image_bytes = done;
	st->raw_bytes = done;
	st->seconds = img_now() - t0;
	return rc;
}

static int run_master(const struct img_session_opts *o, struct wrap *w,
		      const struct img_callbacks *wcb, struct img_session_result *res,
		      struct img_error *err)
{
	struct mc_master *m = NULL;
	struct mc_master_cfg mc = {
		.name = o->name, .iface = o->iface, .throttle_ms = o->throttle_ms,
		.drop_s = o->drop_s, .image_name = o->image_name,
		.server_port = o->server_port, .log = w_message, .ctx = w,
	};
	const char *why = "";
	int fd = -1, rc;
	res->role = IMG_ROLE_MASTER;
	if (!o->make && !o->image && o->image_fd <= 0)
		return img_err_set(err, -IMG_E_USAGE,
				   "session %s: the master needs disks to capture or an image", o->name);
	if (o->image && (fd = open(o->image, O_RDONLY | O_CLOEXEC)) < 0)
		return img_err_set(err, -errno, "cannot open image %s: %s", o->image,
				   strerror(errno));
	if ((rc = mc_master_open(&m, &mc, err)))
		goto out;
	w->m = m;
	double tmo = (o->timeout_min > 0 ? o->timeout_min : 5.0) * 60.0;
	rc = mc_master_wait(m, o->clients, tmo, w_mc_command, w_cancel, w, &why, err);
	if (rc)
		goto out;
	unsigned reg = mc_master_registered(m);
	img_say(w->cb, IMG_INFO, "session %s: starting with %u client%s (%s)", o->name, reg,
	    reg == 1 ? "" : "s", why);
	struct img_sink sink = { mc_master_write, m };
	if (o->make) {
		rc = img_make(o->make, &sink, wcb, &res->st, err);
	} else {
		char what[300];
		snprintf(what, sizeof(what), "image %s", o->image ? o->image : o->image_name ?
			 o->image_name : "(file)");
		rc = send_file(m, fd >= 0 ? fd : o->image_fd, what, wcb, &res->st, err);
	}
	if (rc) {
		mc_master_abort(m, err ? err->msg : img_strerror(rc));
	} else {
		rc = mc_master_finish(m, w_cancel, w, err);
	}
	res->npeers = mc_master_peers(m, res->peers, 64, &res->done, &res->failed,
				      &res->dropped);
	res->registered = res->npeers;
out:
	if (m)
		mc_master_poll(m);
	mc_master_close(m);
	w->m = NULL;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- client ----------------------------------------------------------- */

struct csrc {
	struct mc_client *k;
	const struct img_session_opts *o;
	struct wrap *w;
	struct proto_client cl;
	struct proto_download dl;
	int unicast;              /* reading from the server now */
	int caught_up;
	struct img_error err;     /* why the source failed */
};

/* Switch to unicast from the session's server at the byte reached. */
static int catch_up(struct csrc *s)
{
	char host[64], path[512], hp[100];
	int port = 0, rc;
	uint64_t at = mc_client_delivered(s->k), size = 0;
	struct img_error e = {0};
	mc_client_error(s->k, &s->err);
	if (s->o->no_catchup || !mc_client_server(s->k, host, sizeof(host), &port,
						  path, sizeof(path)))
		return s->err.code ? s->err.code : -IMG_E_DROPPED;
	mc_client_leave(s->k);
	img_say(s->w->cb, IMG_WARN, "%s; finishing by unicast from %s:%d (%s from byte %llu)",
	    s->err.msg, host, port, path, (unsigned long long)at);
	snprintf(hp, sizeof(hp), "%s:%d", host, port);
	rc = proto_client_connect(&s->cl, hp, s->o->keyfile, 120000, &e);
	if (!rc) {
		rc = proto_client_get(&s->cl, path, NULL, at, &size, &e);
		if (rc)
			proto_client_close(&s->cl);
	}
	if (rc) {
		img_err_set(&s->err, rc, "%s; the unicast catch-up from %s failed too: %s",
			    s->err.msg, hp, e.msg);
		return rc;
	}
	memset(&s->dl, 0, sizeof(s->dl));
	s->dl.cl = &s->cl;
	s->unicast = 1;
	s->caught_up = 1;
	s->err.code = 0;
	return 0;
}

static ssize_t csrc_read(void *ctx, void *buf, size_t len)
{
	struct csrc *s = ctx;
	if (s->unicast) {
		ssize_t n = proto_download_read(&s->dl, buf, len);
		if (n < 0)
			s->err = s->dl.err;
		return n;
	}
	ssize_t n = mc_client_read(s->k, buf, len);
	if (n == -IMG_E_DROPPED) {
		int rc = catch_up(s);
		if (rc)
			return rc;
		return csrc_read(ctx, buf, len);
	}
	if (n < 0)
		mc_client_error(s->k, &s->err);
	return n;
}

static int run_client(const struct img_session_opts *o, struct wrap *w,
		      const struct img_callbacks *wcb, struct img_session_result *res,
		      int *become_master, struct img_error *err)
{
	struct mc_client *k = NULL;
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	struct mc_client_cfg kc = { .name = o->name, .iface = o->iface, .host = host,
				    .log = w_message, .ctx = w };
	struct csrc s = { .o = o, .w = w };
	int rc;
	res->role = IMG_ROLE_CLIENT;
	if (!o->restore && o->role != IMG_ROLE_ASK)
		return img_err_set(err, -IMG_E_USAGE, "session %s: no disks to restore onto",
				   o->name);
	if ((rc = mc_client_open(&k, &kc, err)))
		return rc;
	w->k = k;
	s.k = k;
	rc = mc_client_register(k, o->wait_s, o->role == IMG_ROLE_ASK ? w_mc_command : NULL,
				w_cancel, w, err);
	if (rc == 1) {
		*become_master = 1;
		rc = 0;
		goto out;
	}
	if (rc || (rc = mc_client_start(k, err)))
		goto out;
	struct img_source src = { csrc_read, &s };
	struct img_restore_opts ro = *o->restore;
	char shost[64], spath[512], label[600];
	int sport;
	if (!ro.image_name) {
		if (mc_client_server(k, shost, sizeof(shost), &sport, spath, sizeof(spath)))
			snprintf(label, sizeof(label), "%s", spath);
		else
			snprintf(label, sizeof(label), "session %s", o->name);
		ro.image_name = label;
	}
	rc = img_restore(&ro, &src, wcb, &res->st, err);
	if (rc && s.err.code && err)
		*err = s.err;            /* the transport's reason says more */
	if (rc && s.err.code)
		rc = s.err.code;
	res->caught_up = s.caught_up;
	mc_client_counts(k, &res->packets, &res->lost);
	if (s.unicast) {
		proto_client_result(&s.cl, rc, rc && err ? err->msg : NULL);
		proto_client_close(&s.cl);
	} else {
		mc_client_result(k, rc, rc && err ? err->msg : NULL);
	}
out:
	if (k)
		mc_client_poll(k);
	mc_client_close(k);
	w->k = NULL;
	return rc;
}

int img_session_address(const char *name, char group[16], struct img_error *err)
{
	return proto_session_group(name, group, err);
}

/* The transport registers this many receivers: the public limit must fit. */
_Static_assert(MC_MAXPEERS >= IMG_SESSION_MAX_CLIENTS,
	       "proto/mcast.h MC_MAXPEERS below IMG_SESSION_MAX_CLIENTS");

int img_session_opts_check(const struct img_session_opts *o, struct img_error *err)
{
	if (o->clients > IMG_SESSION_MAX_CLIENTS)
		return img_err_set(err, -IMG_E_USAGE, "clients=%u: a session takes at most %d "
				   "clients", o->clients, IMG_SESSION_MAX_CLIENTS);
	if (!(o->timeout_min >= 0 && o->timeout_min <= IMG_SESSION_MAX_TIMEOUT_MIN))
		return img_err_set(err, -IMG_E_USAGE, "timeout=%g: give 0 to %d minutes",
				   o->timeout_min, IMG_SESSION_MAX_TIMEOUT_MIN);
	if (o->throttle_ms > IMG_SESSION_MAX_THROTTLE_MS)
		return img_err_set(err, -IMG_E_USAGE, "throttle=%u: give 0 to %d ms between "
				   "packets", o->throttle_ms, IMG_SESSION_MAX_THROTTLE_MS);
	if (o->drop_s > IMG_SESSION_MAX_DROP_S)
		return img_err_set(err, -IMG_E_USAGE, "drop=%u: give %d to %d seconds", o->drop_s,
				   IMG_SESSION_MIN_DROP_S, IMG_SESSION_MAX_DROP_S);
	if (o->wait_s > IMG_SESSION_MAX_WAIT_S)
		return img_err_set(err, -IMG_E_USAGE, "wait=%u: give 1 to %d seconds", o->wait_s,
				   IMG_SESSION_MAX_WAIT_S);
	return 0;
}

int img_session(const struct img_session_opts *o, const struct img_callbacks *cb,
		struct img_session_result *res, struct img_error *err)
{
	struct img_session_result local;
	struct wrap w = { .cb = cb };
	struct img_callbacks wcb = { .progress = w_progress, .message = w_message,
				     .cancel = w_cancel, .command = w_command, .ctx = &w };
	int rc, become = 0;
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (!o->name)
		return img_err_set(err, -IMG_E_USAGE, "a session needs a name");
	if ((rc = proto_session_group(o->name, res->group, err)))
		return rc;
	if ((rc = img_session_opts_check(o, err)))
		return rc;
	if (o->role == IMG_ROLE_MASTER)
		return run_master(o, &w, &wcb, res, err);
	if (o->role == IMG_ROLE_ASK)
		img_say(w.cb, IMG_INFO, "session %s: waiting as a client; press m to be the master",
		    o->name);
	rc = run_client(o, &w, &wcb, res, &become, err);
	if (!rc && become) {
		img_say(w.cb, IMG_INFO, "session %s: this device is the master", o->name);
		return run_master(o, &w, &wcb, res, err);
	}
	return rc;
}
