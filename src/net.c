/* net.c - imaging jobs against imgserv: make and restore over the
 * protocol (man/img-protocol.7), automatic imaging, server queries.
 * The image stream is the one img_make writes and img_restore reads;
 * proto/ carries it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "proto.h"

#define TIMEOUT_MS(n) ((n)->timeout > 0 ? (n)->timeout * 1000 : 120000)

/* Connect to server (n->server unless given) and prove the key when the
 * caller has one. */
static int connect_to(const struct img_net *n, const char *server,
		      struct proto_client *cl, struct img_error *err)
{
	return proto_client_connect(cl, server ? server : n->server, n->keyfile,
				    TIMEOUT_MS(n), err);
}

static int send_put(struct proto_client *cl, const char *path, int automatic,
		    const uint8_t *token, const char *mac, struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_PUT);
	proto_put_str(o, PT_PATH, path);
	if (automatic)
		proto_put_u32(o, PT_AUTO, 1);
	if (token)
		proto_put_bytes(o, PT_TOKEN, token, PROTO_NONCE);
	if (mac && *mac)
		proto_put_str(o, PT_MAC, mac);
	int rc = proto_send(&cl->c, o, err);
	free(o);
	return rc;
}

/* When the sink or source failed, that failure stopped the job, and its
 * own error (the server's reason, the lost connection) says more than the
 * engine's "cannot write/read the image". */
static int pick_error(int rc, const struct img_error *inner,
		      struct img_error *err)
{
	if (!rc || !inner->code)
		return rc;
	if (err)
		*err = *inner;
	return inner->code;
}

static int make_net(const struct img_make_opts *o, const struct img_net *n,
		    const char *server, const char *path, int automatic,
		    const uint8_t *token, const char *mac,
		    const struct img_callbacks *cb, struct img_stats *st,
		    struct img_error *err)
{
	struct proto_client cl;
	struct proto_upload up;
	int rc = connect_to(n, server, &cl, err);
	if (rc)
		return rc;
	rc = send_put(&cl, path, automatic, token, mac, err);
	if (!rc)
		rc = proto_client_status(&cl, NULL, 0, NULL, err);
	if (!rc)
		rc = proto_upload_begin(&up, &cl, err);
	if (rc)
		goto out;
	struct img_sink sink = { proto_upload_write, &up };
	rc = img_make(o, &sink, cb, st, err);
	if (rc) {
		rc = pick_error(rc, &up.err, err);
		if (!up.err.code)
			proto_upload_abort(&up, err ? err->msg : "capture failed");
		else
			free(up.buf);
		goto out;
	}
	rc = proto_upload_finish(&up, err);
	if (rc && err) {
		size_t l = strlen(err->msg);
		snprintf(err->msg + l, sizeof(err->msg) - l,
			 "; the server kept its previous image %s, if it had one", path);
	}
out:
	proto_client_close(&cl);
	return rc;
}

int img_make_net(const struct img_make_opts *o, const struct img_net *n,
		 const char *path, const struct img_callbacks *cb,
		 struct img_stats *st, struct img_error *err)
{
	return make_net(o, n, NULL, path, 0, NULL, NULL, cb, st, err);
}

static int restore_net(const struct img_restore_opts *o, const struct img_net *n,
		       const char *server, const char *path, int automatic,
		       const char *mac, const struct img_callbacks *cb,
		       struct img_stats *st, struct img_error *err)
{
	struct proto_client cl;
	struct proto_download dl = { .cl = &cl };
	uint64_t size = 0;
	int rc = connect_to(n, server, &cl, err);
	if (rc)
		return rc;
	cl.automatic = automatic;
	rc = proto_client_get(&cl, path, mac, 0, &size, err);
	if (rc)
		goto out;
	struct img_source src = { proto_download_read, &dl };
	struct img_restore_opts ro = *o;
	rc = img_restore(&ro, &src, cb, st, err);
	rc = pick_error(rc, &dl.err, err);
	/* Tell the server how it ended; it logs it. */
	proto_client_result(&cl, rc, err ? err->msg : NULL);
out:
	proto_client_close(&cl);
	return rc;
}

int img_restore_net(const struct img_restore_opts *o, const struct img_net *n,
		    const char *path, const struct img_callbacks *cb,
		    struct img_stats *st, struct img_error *err)
{
	return restore_net(o, n, NULL, path, 0, NULL, cb, st, err);
}

/* ---- automatic imaging ----------------------------------------------- */

static int ask_work(struct proto_client *cl, const struct img_identity *id,
		    const char *mac, const char *lastimage, struct proto_msg *m,
		    struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	char *hw = malloc(8192);
	proto_out_init(o, PROTO_AUTOREQ);
	if (mac && *mac)
		proto_put_str(o, PT_MAC, mac);
	for (size_t i = 0; i < id->nmacs; i++)
		proto_put_str(o, PT_MAC, id->macs[i]);
	proto_put_str(o, PT_SERIAL, id->serial);
	proto_put_str(o, PT_PRODUCT, id->product);
	proto_put_str(o, PT_HOSTNAME, id->hostname);
	proto_put_u64(o, PT_DISK, id->disk_bytes);
	proto_put_u64(o, PT_MEM, id->mem);
	if (lastimage && *lastimage)
		proto_put_str(o, PT_LASTIMAGE, lastimage);
	if (hw && !img_hwinfo(hw, 8192, NULL))
		proto_put_str(o, PT_HWINFO, hw);
	free(hw);
	int rc = proto_send(&cl->c, o, err);
	free(o);
	if (rc)
		return rc;
	rc = proto_recv(&cl->c, m, err);
	if (rc)
		return rc;
	if (m->type == PROTO_STATUS) {
		uint32_t code = PS_PROTOCOL;
		char t[512] = "";
		(void)proto_get_u32(m, PT_CODE, &code, NULL);
		(void)proto_get_str(m, PT_TEXT, t, sizeof(t), NULL);
		return img_err_set(err, code ? proto_status_errcode(code) : -IMG_E_PROTO,
				   "imaging server %s: %s%s%s", cl->addr,
				   proto_status_name(code), *t ? ": " : "", t);
	}
	if (m->type != PROTO_WORK)
		return img_err_set(err, -IMG_E_PROTO,
				   "imaging server %s answered AUTO with message type %u",
				   cl->addr, m->type);
	return 0;
}

/* Tell the server how the work ended, on a connection of its own: the
 * work may have taken longer than the server keeps an idle one open.
 * Best effort: the work is done either way. */
static void report(const struct img_net *n, const char *mac,
		   const struct img_auto_result *res, int rc, const char *text)
{
	struct proto_client cl;
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return;
	if (connect_to(n, NULL, &cl, NULL)) {
		free(o);
		return;
	}
	proto_out_init(o, PROTO_REPORT);
	proto_put_str(o, PT_ACTION, res->action);
	proto_put_str(o, PT_PATH, res->path);
	proto_put_str(o, PT_SERVER, res->server);
	proto_put_u32(o, PT_CODE, proto_status_of(rc));
	proto_put_str(o, PT_TEXT, rc ? text : "");
	proto_put_u64(o, PT_BYTES, res->st.image_bytes);
	proto_put_str(o, PT_MAC, mac);
	if (!proto_send(&cl.c, o, NULL))
		(void)proto_client_status(&cl, NULL, 0, NULL, NULL);
	free(o);
	proto_client_close(&cl);
}

/* The workstation name the server gave goes into the image-safe data of
 * the restored disk (a warning when that fails: the restore stands). */
static void set_name(const char *disk, const char *hostname,
		     const struct img_callbacks *cb)
{
	struct img_isd d;
	struct img_error e2 = {0};
	int f = img_isd_read(disk, &d, &e2);
	if (f == 0)
		memset(&d, 0, sizeof(d));
	if (f >= 0) {
		snprintf(d.name, sizeof(d.name), "%s", hostname);
		f = img_isd_write(disk, &d, &e2);
	}
	if (f < 0 && cb && cb->message)
		cb->message(cb->ctx, IMG_WARN, e2.msg);
}

/* Join the multicast session name as a receiver and restore from it; a
 * receiver dropped from a server's session finishes by unicast from that
 * server (with the site key of the net options, if any).  It waits for
 * the session's master as long as it takes, or the net options' timeout
 * when one was given. */
static int join_session(const struct img_auto_opts *o, const char *name,
			const struct img_callbacks *cb, struct img_auto_result *res,
			struct img_error *err)
{
	struct img_restore_opts ro = { .disks = o->disks, .ndisks = o->ndisks,
				       .threads = o->threads };
	struct img_session_opts so = { .name = name, .role = IMG_ROLE_CLIENT,
				       .restore = &ro, .keyfile = o->net->keyfile,
				       .wait_s = o->net->timeout > 0 ? (unsigned)o->net->timeout : 0 };
	struct img_session_result *sr = calloc(1, sizeof(*sr));
	if (!sr)
		return img_err_set(err, -ENOMEM, "out of memory");
	int rc = img_session(&so, cb, sr, err);
	res->st = sr->st;
	free(sr);
	return rc;
}

int img_auto(const struct img_auto_opts *o, const struct img_callbacks *cb,
	     struct img_auto_result *res, struct img_error *err)
{
	struct img_identity id;
	struct proto_client cl;
	struct proto_msg m;
	char lastimage[256] = "", hostname[64] = "", session[128] = "";
	uint8_t token[PROTO_NONCE];
	int have_token = 0;

	memset(res, 0, sizeof(*res));
	int rc = img_identity(&id, o->disks, o->ndisks, err);
	if (rc)
		return rc;
	struct img_isd isd;
	if (img_isd_read(id.disk, &isd, NULL) == 1) {
		if (isd.name[0])
			snprintf(id.hostname, sizeof(id.hostname), "%s", isd.name);
		snprintf(lastimage, sizeof(lastimage), "%s", isd.last_image);
	}
	char mac[18] = "";
	snprintf(mac, sizeof(mac), "%s", o->mac && *o->mac ? o->mac : id.nmacs ? id.macs[0] : "");

	rc = connect_to(o->net, NULL, &cl, err);
	if (rc)
		return rc;
	rc = ask_work(&cl, &id, o->mac, lastimage, &m, err);
	if (rc)
		goto out;
	if (proto_get_str(&m, PT_MAC, mac, sizeof(mac), err) < 0 ||
	    proto_get_str(&m, PT_ACTION, res->action, sizeof(res->action), err) != 1 ||
	    proto_get_str(&m, PT_PATH, res->path, sizeof(res->path), err) < 0 ||
	    proto_get_str(&m, PT_SERVER, res->server, sizeof(res->server), err) < 0 ||
	    proto_get_str(&m, PT_SESSION, session, sizeof(session), err) < 0 ||
	    proto_get_str(&m, PT_HOSTNAME, hostname, sizeof(hostname), err) < 0 ||
	    (have_token = proto_get_bytes(&m, PT_TOKEN, token, sizeof(token), err)) < 0) {
		rc = img_err_set(err, -IMG_E_PROTO,
				 "imaging server %s sent malformed work: %s", cl.addr,
				 err ? err->msg : "");
		goto out;
	}
	if (!strcmp(res->action, "session"))
		snprintf(res->path, sizeof(res->path), "%s", session);
	res->referred = res->server[0] != 0;
	if (!res->referred)
		snprintf(res->server, sizeof(res->server), "%s", o->net->server);
	if (cb && cb->message) {
		char t[2400];
		snprintf(t, sizeof(t), "imaging server %s: work for %s: %s%s%s%s%s",
			 cl.addr, mac, res->action, res->path[0] ? " " : "", res->path,
			 res->referred ? " on " : "", res->referred ? res->server : "");
		cb->message(cb->ctx, IMG_INFO, t);
	}
	/* The work may take long: the server does not keep this connection
	 * waiting for it (report() opens another). */
	proto_client_close(&cl);
	if (!strcmp(res->action, "none"))
		return 0;
	if (!strcmp(res->action, "session")) {
		rc = join_session(o, session, cb, res, err);
		if (!rc && hostname[0])
			set_name(id.disk, hostname, cb);
	} else if (!strcmp(res->action, "restore")) {
		struct img_restore_opts ro = { .disks = o->disks, .ndisks = o->ndisks,
					       .threads = o->threads,
					       .image_name = res->path };
		rc = restore_net(&ro, o->net, res->referred ? res->server : NULL,
				 res->path, 1, mac, cb, &res->st, err);
		if (!rc && hostname[0])
			set_name(id.disk, hostname, cb);
	} else if (!strcmp(res->action, "make")) {
		struct img_make_opts mo = { .disks = o->disks, .ndisks = o->ndisks,
					    .level = 1, .codec = IMG_CODEC_ZSTD,
					    .threads = o->threads };
		struct img_net n2 = *o->net;
		if (have_token == 1)
			n2.keyfile = NULL;
		rc = make_net(&mo, &n2, res->referred ? res->server : NULL, res->path,
			      1, have_token == 1 ? token : NULL, mac, cb, &res->st, err);
	} else {
		rc = img_err_set(err, -IMG_E_PROTO,
				 "imaging server %s sent unknown work '%s'", o->net->server,
				 res->action);
	}
	report(o->net, mac, res, rc, err ? err->msg : "");
	return rc;
out:
	proto_client_close(&cl);
	return rc;
}

/* ---- server queries -------------------------------------------------- */

/* Connect, send o, and return the text of the server's STATUS answer. */
static int query(const struct img_net *n, struct proto_out *o, char *buf,
		 size_t cap, struct img_error *err)
{
	struct proto_client cl;
	int rc = connect_to(n, NULL, &cl, err);
	if (rc)
		return rc;
	rc = proto_send(&cl.c, o, err);
	if (!rc)
		rc = proto_client_status(&cl, buf, cap, NULL, err);
	proto_client_close(&cl);
	return rc;
}

int img_server_stats(const struct img_net *n, char *buf, size_t cap,
		     struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_STATS);
	int rc = query(n, o, buf, cap, err);
	free(o);
	return rc;
}

int img_server_work(const struct img_net *n, const char *mac,
		    const char *action, const char *arg, char *buf, size_t cap,
		    struct img_error *err)
{
	struct proto_out *o = malloc(sizeof(*o));
	if (!o)
		return img_err_set(err, -ENOMEM, "out of memory");
	proto_out_init(o, PROTO_WORKSET);
	proto_put_str(o, PT_MAC, mac);
	proto_put_str(o, PT_ACTION, action);
	proto_put_str(o, PT_ARG, arg);
	int rc = query(n, o, buf, cap, err);
	free(o);
	return rc;
}
