/* jobs.c - one function per job, shared by the command line (cli.c) and
 * the menu (menu.c): a job description becomes the engine's options. */
#include <string.h>

#include "base/num.h"
#include "ui.h"

static struct img_net net_of(const struct ui_job *j)
{
	struct img_net n = { .server = j->server, .keyfile = j->keyfile,
			     .timeout = j->timeout };
	return n;
}

static struct img_make_opts make_opts(const struct ui_job *j)
{
	struct img_make_opts o = {
		.disks = j->ndisks ? j->disks : NULL, .ndisks = j->ndisks,
		.level = j->level, .codec = j->codec, .exclude = j->exclude,
		.nexclude = j->nexclude, .threads = j->threads,
	};
	return o;
}

int ui_job_make(const struct ui_job *j, int net, const struct img_callbacks *cb,
		struct img_stats *st, struct img_error *e)
{
	struct img_make_opts o = make_opts(j);
	struct img_net n = net_of(j);
	return net ? img_make_net(&o, &n, j->path, cb, st, e)
		   : img_make_file(&o, j->path, cb, st, e);
}

int ui_job_restore(const struct ui_job *j, enum ui_restore_how how,
		   const struct img_callbacks *cb, struct img_stats *st,
		   struct img_error *e)
{
	struct img_restore_opts o = {
		.disks = j->ndisks ? j->disks : NULL, .ndisks = j->ndisks,
		.maps = j->maps, .nmaps = j->nmaps, .threads = j->threads,
		.verify_only = how == UI_VERIFY_FILE,
		/* the last image in the image-safe data */
		.image_name = how == UI_VERIFY_FILE ? NULL : j->path,
	};
	struct img_net n = net_of(j);
	return how == UI_FROM_SERVER ? img_restore_net(&o, &n, j->path, cb, st, e)
				     : img_restore_file(&o, j->path, cb, st, e);
}

int ui_job_auto(const struct ui_job *j, const struct img_callbacks *cb,
		struct img_auto_result *r, struct img_error *e)
{
	struct img_net n = net_of(j);
	struct img_auto_opts o = { .net = &n, .disks = j->ndisks ? j->disks : NULL,
				   .ndisks = j->ndisks, .mac = j->mac,
				   .threads = j->threads };
	return img_auto(&o, cb, r, e);
}

int ui_job_session(const struct ui_job *j, const struct ui_session *s,
		   const struct img_callbacks *cb, struct img_session_result *r,
		   struct img_error *e)
{
	struct img_make_opts mo = make_opts(j);
	struct img_restore_opts ro = { .disks = j->ndisks ? j->disks : NULL,
				       .ndisks = j->ndisks, .threads = j->threads };
	struct img_session_opts o = {
		.name = s->name, .role = s->role, .iface = s->iface,
		.clients = s->clients, .timeout_min = s->timeout_min,
		.throttle_ms = s->throttle, .drop_s = s->drop, .wait_s = s->wait,
		.no_catchup = s->nocatchup, .keyfile = j->keyfile, .restore = &ro,
	};
	if (s->image)
		o.image = s->image;
	else
		o.make = &mo;
	return img_session(&o, cb, r, e);
}

int ui_map_parse(const char *s, struct img_map *out)
{
	char from[16], to[16];
	const char *colon = strchr(s, ':');
	long long a, p;
	size_t n = colon ? (size_t)(colon - s) : 0;
	if (!colon || s[0] != 'a' || colon[1] != 'p' || n < 2 || n > sizeof(from) ||
	    strlen(colon + 2) >= sizeof(to))
		return -1;
	memcpy(from, s + 1, n - 1);
	from[n - 1] = 0;
	strcpy(to, colon + 2);
	if (img_parse_int(from, 1, 65535, &a) || img_parse_int(to, 1, 65535, &p))
		return -1;
	*out = (struct img_map){ (int)a, (int)p };
	return 0;
}
