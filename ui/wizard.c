/* wizard.c - the multicast session wizard: name, role and (for a master)
 * clients, timeout, throttle and compression, each checked as it is typed,
 * with the 231.x.y.z group the name maps to; then the session itself on
 * the progress screen (a master sees its clients live and can start at
 * once).  The session runs through the same job as img -session. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"
#include "tui.h"

enum { F_NAME, F_ROLE, F_CLIENTS, F_TIMEOUT, F_THROTTLE, F_COMP, F_N };

static const char *const role_choices[] = { "Master (sends its disks)",
					    "Client (restores onto its disks)" };

static const char *check_name(const char *v, void *ctx, char *msg, size_t cap)
{
	char group[16];
	struct img_error e = {0};
	if (!*v)
		return "Give the session a name: every device using it joins one session.";
	if (img_session_address(v, group, &e)) {
		snprintf(msg, cap, "%s", e.msg[0] ? e.msg : "not a valid session name");
		return msg;
	}
	return NULL;
}

static const char *check_clients(const char *v, void *ctx, char *msg, size_t cap)
{
	long long n;
	if (!*v || !img_parse_int(v, 1, IMG_SESSION_MAX_CLIENTS, &n))
		return NULL;
	return "Clients: a number from 1 to " IMG_STR(IMG_SESSION_MAX_CLIENTS)
	       " (empty: start by the timeout or the s key).";
}

static const char *check_timeout(const char *v, void *ctx, char *msg, size_t cap)
{
	double d;
	if (!*v || !img_parse_real(v, 0, IMG_SESSION_MAX_TIMEOUT_MIN, 1, &d))
		return NULL;
	return "Timeout: minutes after the last registration, more than 0 and at most "
	       IMG_STR(IMG_SESSION_MAX_TIMEOUT_MIN) " (0.5 = 30 s; empty: 5).";
}

static const char *check_throttle(const char *v, void *ctx, char *msg, size_t cap)
{
	long long n;
	if (!*v || !img_parse_int(v, 0, IMG_SESSION_MAX_THROTTLE_MS, &n))
		return NULL;
	return "Throttle: milliseconds between packets, 0 to " IMG_STR(IMG_SESSION_MAX_THROTTLE_MS)
	       " (empty: 0, as fast as the clients take it).";
}

static void wiz_update(struct tui_field *f, int n, void *ctx, char *info, size_t cap)
{
	char group[16];
	struct img_error e = {0};
	int client = f[F_ROLE].choice == 1;
	for (int i = F_CLIENTS; i <= F_COMP; i++)
		f[i].hidden = client;
	if (f[F_NAME].buf[0] && !img_session_address(f[F_NAME].buf, group, &e))
		snprintf(info, cap, "Multicast address of this session: %s", group);
	else
		snprintf(info, cap, "Multicast address of this session: (needs a valid name)");
}

static void session_outcome(const char *title, int rc, const struct img_error *e,
			    const struct img_session_result *res, struct tui_run *r,
			    const char *disks)
{
	char *t = NULL, a[32];
	size_t len = 0;
	FILE *f = open_memstream(&t, &len);
	if (!f)
		return;
	int master = res->role == IMG_ROLE_MASTER;
	if (!rc)
		fprintf(f, "Done. %s\n", master ? "Every client that stayed has the image." :
			"This device's disks are restored.");
	else
		fprintf(f, "%s: %s\n", rc == -IMG_E_CANCELLED ? "CANCELLED" : "FAILED",
			e->msg[0] ? e->msg : img_strerror(rc));
	if (master) {
		fprintf(f, "\nThis device's disks (%s) were only read.\n", disks);
		fprintf(f, "Clients: %u done, %u failed, %u dropped\n", res->done, res->failed,
			res->dropped);
		for (unsigned i = 0; i < res->npeers; i++)
			fprintf(f, "  %-15s %-20s %-10s %10s %s\n", res->peers[i].addr,
				res->peers[i].host, res->peers[i].state,
				ui_size(res->peers[i].bytes, a, sizeof(a)), res->peers[i].note);
		if (rc && res->npeers)
			fprintf(f, "A client that did not finish has INCOMPLETE disks.\n");
	} else {
		if (rc && strstr(e->msg, "partly written"))
			fprintf(f, "\n%s was partly written and is INCOMPLETE: restore it again.\n",
				disks);
		else if (rc)
			fprintf(f, "\nNothing was written: %s is as it was.\n", disks);
		else
			fprintf(f, "%llu packets received, %llu found missing and %s.\n",
				(unsigned long long)res->packets, (unsigned long long)res->lost,
				res->caught_up ? "fetched by unicast" : "repaired");
	}
	tui_run_outcome(r, title, f, &t);
}

int tui_wizard(const char *const *disks, size_t ndisks)
{
	char name[64] = "", role[48], clients[8] = "", timeout[16] = "5", throttle[8] = "0";
	char comp[24];
	struct tui_field f[F_N] = {
		[F_NAME] = { "Session name", name, sizeof(name), NULL, 0, 0, check_name,
			     "Letters, digits, - _ . (case-blind); the same name on every device", 0 },
		[F_ROLE] = { "Role", role, sizeof(role), role_choices, 2, 0, NULL,
			     "Left/Right: master (sends) or client (receives)", 0 },
		[F_CLIENTS] = { "Clients", clients, sizeof(clients), NULL, 0, 0, check_clients,
				"Start when this many clients have registered (1-" IMG_STR(IMG_SESSION_MAX_CLIENTS) "; empty: no count)", 0 },
		[F_TIMEOUT] = { "Timeout (minutes)", timeout, sizeof(timeout), NULL, 0, 0,
				check_timeout, "Start this long after the last registration", 0 },
		[F_THROTTLE] = { "Throttle (ms)", throttle, sizeof(throttle), NULL, 0, 0,
				 check_throttle, "Milliseconds between packets (0: no throttle)", 0 },
		[F_COMP] = { "Compression", comp, sizeof(comp), tui_comp_choices, TUI_NCOMP, 0,
			     NULL, "Left/Right: Speed, Balanced, Size, or a level 0 to 9", 0 },
	};
	if (!tui_form("Multicast session", f, F_N, NULL, wiz_update))
		return TUI_STAY;
	int master = f[F_ROLE].choice == 0;
	char names[512], group[16] = "", q[2400];
	struct img_error e = {0};
	img_session_address(name, group, &e);
	tui_disk_names(disks, ndisks, names, sizeof(names));
	if (master)
		snprintf(q, sizeof(q), "Master the session %s on %s: send an image of %s live to "
			 "its clients?\n\nStarts when %s%s%s minutes after the last registration, "
			 "or when you press s.  The disks are only read.", name, group, names,
			 clients[0] ? clients : "", clients[0] ? " clients have registered, or " : "",
			 timeout[0] ? timeout : "5");
	else
		snprintf(q, sizeof(q), "Join the session %s on %s as a client and restore onto "
			 "%s?\n\nEVERYTHING on %s will be LOST when the session starts.", name,
			 group, names, names);
	if (!tui_confirm("Multicast session", q))
		return TUI_STAY;
	struct img_layout *l = NULL;
	if (master) {
		tui_busy("Multicast session", "Reading the disks' partition tables and filesystems...");
		if (img_scan(disks, ndisks, &l, NULL, &e))
			l = NULL;   /* only the per-partition bar needs it; the job reports errors */
	}
	struct ui_session s = {
		.name = name, .role = master ? IMG_ROLE_MASTER : IMG_ROLE_CLIENT,
		.clients = clients[0] ? (unsigned)strtoul(clients, NULL, 10) : 0,
		.timeout_min = timeout[0] ? strtod(timeout, NULL) : 0,
		.throttle = throttle[0] ? (unsigned)strtoul(throttle, NULL, 10) : 0,
	};
	struct ui_job j = { .disks = disks, .ndisks = ndisks,
			    .level = tui_comp_level(f[F_COMP].choice), .codec = IMG_CODEC_ZSTD };
	char title[120];
	snprintf(title, sizeof(title), "Session %s (%s) - %s", name, group,
		 master ? "master" : "client");
	struct img_callbacks cb;
	struct img_session_result res;
	memset(&res, 0, sizeof(res));
	memset(&e, 0, sizeof(e));
	struct tui_run *r = tui_run_begin(title, l, master,
		master ? "Every client is told the session stopped: a client that had begun "
			 "writing is left INCOMPLETE.  This device's disks are only read."
		       : "Before the session starts nothing is written; once writing has "
			 "begun, this device's disks are left INCOMPLETE.", &cb);
	int rc = ui_job_session(&j, &s, &cb, &res, &e);
	session_outcome(title, rc, &e, &res, r, names);
	tui_run_end(r);
	img_layout_free(l);
	return TUI_STAY;
}
