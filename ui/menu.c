/* menu.c - the ncurses menu: `img` with no mode on a terminal.  A table
 * of screens; the loop runs the chosen screen's handler and acts on the
 * reaction it returns (htop's ScreenManager idea).  Screens build a job
 * description and run the very jobs the command line runs (jobs.c), the
 * engine's progress and messages drawn by tui.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tui.h"

struct menu {
	const char *const *disks;  /* -disk= list; NULL: the machine's fixed disks */
	size_t ndisks;
};

/* The outcome of a job as a text screen: what happened, the state it
 * left behind, and the job's messages. */
static void outcome(const char *title, int rc, const struct img_error *e,
		    struct tui_run *r, const char *ok, const char *state)
{
	char *t = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&t, &len);
	if (!f)
		return;
	if (!rc)
		fprintf(f, "Done. %s\n", ok);
	else if (rc == -IMG_E_CANCELLED)
		fprintf(f, "CANCELLED. %s\n\n%s\n", state, e->msg);
	else
		fprintf(f, "FAILED: %s\n\n%s\n", e->msg[0] ? e->msg : img_strerror(rc), state);
	tui_run_outcome(r, title, f, &t);
}

static void error_screen(const char *title, int rc, const struct img_error *e)
{
	char t[700];
	snprintf(t, sizeof(t), "FAILED: %s", e->msg[0] ? e->msg : img_strerror(rc));
	tui_text(title, t);
}

static const char *stats_text(const char *what, const struct img_stats *st, char *buf,
			      size_t cap)
{
	char a[32], b[32];
	snprintf(buf, cap, "%s %s of used data (image %s, %llu chunks) in %.1f s.", what,
		 ui_size(st->raw_bytes, a, sizeof(a)), ui_size(st->image_bytes, b, sizeof(b)),
		 (unsigned long long)st->chunks, st->seconds);
	return buf;
}

/* ---- field checks ---------------------------------------------------------- */

static const char *check_nonempty(const char *v, void *ctx, char *msg, size_t cap)
{
	return *v ? NULL : "This field must not be empty.";
}

static const char *check_server(const char *v, void *ctx, char *msg, size_t cap)
{
	if (!*v)
		return "Give the imaging server as HOST or HOST:PORT.";
	if (strchr(v, ' ') || strchr(v, '/'))
		return "A server is HOST or HOST:PORT, without spaces or slashes.";
	const char *c = strrchr(v, ':');
	if (c) {
		char *end;
		long p = strtol(c + 1, &end, 10);
		if (end == c + 1 || *end || p < 1 || p > 65535)
			return "The port after ':' must be 1 to 65535.";
	}
	return NULL;
}

/* -ap=aN:pM pairs, separated by spaces or commas. */
static int parse_maps(const char *v, struct img_map *maps, size_t max, size_t *n,
		      char *msg, size_t cap)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", v);
	*n = 0;
	for (char *sp, *tok = strtok_r(buf, " ,", &sp); tok; tok = strtok_r(NULL, " ,", &sp)) {
		struct img_map one;
		if (ui_map_parse(tok, &one)) {
			snprintf(msg, cap, "'%s' is not aN:pM (image partition N into target "
				 "partition M, e.g. a2:p3).", tok);
			return -1;
		}
		if (*n == max) {
			snprintf(msg, cap, "At most %zu pairs.", max);
			return -1;
		}
		maps[(*n)++] = one;
	}
	if (!*n) {
		snprintf(msg, cap, "Give at least one aN:pM pair, e.g. a1:p1 a2:p3.");
		return -1;
	}
	return 0;
}

static const char *check_maps(const char *v, void *ctx, char *msg, size_t cap)
{
	struct img_map m[32];
	size_t n;
	return parse_maps(v, m, 32, &n, msg, cap) ? msg : NULL;
}

static const char *check_mac(const char *v, void *ctx, char *msg, size_t cap)
{
	unsigned b[6];
	int used = 0;
	if (!*v)
		return NULL;
	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &used) != 6 || used != 17 || v[used])
		return "A MAC address is six hex pairs: aa:bb:cc:dd:ee:ff (or empty).";
	return NULL;
}

/* ---- where an image is: shared by make and restore ------------------------ */

enum { W_WHERE, W_PATH, W_SERVER, W_KEY };
static const char *const where_choices[] = { "Local file", "Imaging server" };

static void where_update(struct tui_field *f, int n, void *ctx, char *info, size_t cap)
{
	int net = f[W_WHERE].choice == 1;
	f[W_SERVER].hidden = !net;
	f[W_KEY].hidden = !net;
	f[W_PATH].label = net ? "Path on the server" : "Image file";
}

/* ---- make ------------------------------------------------------------------ */

static int scan(struct menu *m, struct img_layout **l, struct img_error *e)
{
	tui_busy("Scanning", "Reading the disks' partition tables and filesystems...");
	return img_scan(m->ndisks ? m->disks : NULL, m->ndisks, l, NULL, e);
}

static char *layout_text(const struct img_layout *l, int image)
{
	char *t = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&t, &len);
	if (!f)
		return NULL;
	ui_show_layout(f, l, image);
	fclose(f);
	return t;
}

static int screen_make(struct menu *m)
{
	char where[32], path[256] = "", server[128] = "", key[256] = "", comp[32];
	char env[128];
	snprintf(env, sizeof(env), "%s", getenv("IMGSERVER") ? getenv("IMGSERVER") : "");
	snprintf(server, sizeof(server), "%s", env);
	struct tui_field f[] = {
		[W_WHERE] = { "Make the image", where, sizeof(where), where_choices, 2, 0,
			      NULL, "Left/Right: a local file or the imaging server", 0 },
		[W_PATH] = { "Image file", path, sizeof(path), NULL, 0, 0, check_nonempty,
			     "The image file to write (replaced only when complete)", 0 },
		[W_SERVER] = { "Server", server, sizeof(server), NULL, 0, 0, check_server,
			       "HOST or HOST:PORT (port 998 when left out)", 0 },
		[W_KEY] = { "Site key file", key, sizeof(key), NULL, 0, 0, check_nonempty,
			    "Storing on the server needs the site key file", 0 },
		{ "Compression", comp, sizeof(comp), tui_comp_choices, TUI_NCOMP, 0, NULL,
		  "Left/Right: Speed, Balanced, Size, or a level 0 to 9", 0 },
	};
	if (!tui_form("Make an image", f, 5, NULL, where_update))
		return TUI_STAY;
	int net = f[W_WHERE].choice == 1;
	struct img_layout *l = NULL;
	struct img_error e = {0};
	int rc = scan(m, &l, &e);
	if (rc) {
		error_screen("Make an image", rc, &e);
		return TUI_STAY;
	}
	char disks[512], q[1400], a[32];
	uint64_t used = 0;
	size_t np = 0;
	for (size_t i = 0; i < l->nparts; i++) {
		used += l->parts[i].used;
		np += l->parts[i].kind != IMG_PK_BOOTAREA;
	}
	tui_disk_names(m->disks, m->ndisks, disks, sizeof(disks));
	snprintf(q, sizeof(q), "Make an image of %s (%zu partitions, %s of used data) %s %s%s%s?\n\n"
		 "The disks are only read.%s", disks, np, ui_size(used, a, sizeof(a)),
		 net ? "on the server" : "into the file", net ? server : "", net ? " as " : "",
		 path, !net && access(path, F_OK) == 0 ?
		 "  The file exists and will be replaced when the new image is complete." : "");
	if (!tui_confirm("Make an image", q)) {
		img_layout_free(l);
		return TUI_STAY;
	}
	struct ui_job j = { .disks = m->ndisks ? m->disks : NULL, .ndisks = m->ndisks,
			    .level = tui_comp_level(f[4].choice), .codec = IMG_CODEC_ZSTD,
			    .server = server, .keyfile = key[0] ? key : NULL, .path = path };
	char note[600], ok[300], state[700];
	if (net)
		snprintf(note, sizeof(note), "The server discards the incomplete upload: %s on %s "
			 "stays as it was.  The disks were only read.", path, server);
	else
		snprintf(note, sizeof(note), "The partial file %s.partial is removed: %s %s.  "
			 "The disks were only read.", path, path, access(path, F_OK) == 0 ?
			 "keeps its old contents" : "is not created");
	struct img_callbacks cb;
	struct img_stats st = {0};
	struct tui_run *r = tui_run_begin("Making an image", l, 0, note, &cb);
	rc = ui_job_make(&j, net, &cb, &st, &e);
	snprintf(state, sizeof(state), "No image was stored.  %s", note);
	stats_text("Captured", &st, ok, sizeof(ok));
	char done[1000];
	snprintf(done, sizeof(done), "Image %s%s%s made.  %s", net ? server : "", net ? ":" : "",
		 path, ok);
	outcome("Make an image", rc, &e, r, done, state);
	tui_run_end(r);
	img_layout_free(l);
	return TUI_STAY;
}

/* ---- restore --------------------------------------------------------------- */

enum { R_INTO = 4, R_MAPS = 5 };
static const char *const into_choices[] = { "Whole disks (tables too)",
					    "Partitions (-ap mapping)" };

static void restore_update(struct tui_field *f, int n, void *ctx, char *info, size_t cap)
{
	where_update(f, n, ctx, info, cap);
	f[W_KEY].check = NULL;  /* restores need the key only when the server says so */
	f[W_KEY].hint = "Only when the server wants the site key for restores";
	f[R_MAPS].hidden = f[R_INTO].choice == 0;
}

static int screen_restore(struct menu *m)
{
	char where[32], path[256] = "", server[128] = "", key[256] = "", into[40];
	char maps[256] = "";
	snprintf(server, sizeof(server), "%s", getenv("IMGSERVER") ? getenv("IMGSERVER") : "");
	struct tui_field f[] = {
		[W_WHERE] = { "Restore from", where, sizeof(where), where_choices, 2, 0, NULL,
			      "Left/Right: a local file or the imaging server", 0 },
		[W_PATH] = { "Image file", path, sizeof(path), NULL, 0, 0, check_nonempty,
			     "The image to restore", 0 },
		[W_SERVER] = { "Server", server, sizeof(server), NULL, 0, 0, check_server,
			       "HOST or HOST:PORT (port 998 when left out)", 0 },
		[W_KEY] = { "Site key file", key, sizeof(key), NULL, 0, 0, NULL, NULL, 0 },
		[R_INTO] = { "Restore into", into, sizeof(into), into_choices, 2, 0, NULL,
			     "Whole disks: tables, boot areas and partitions.  Partitions: "
			     "image partitions into existing target partitions.", 0 },
		[R_MAPS] = { "Mapping", maps, sizeof(maps), NULL, 0, 0, check_maps,
			     "aN:pM pairs: image partition N into target partition M (a2:p3 a3:p5)",
			     0 },
	};
	if (!tui_form("Restore an image", f, 6, NULL, restore_update))
		return TUI_STAY;
	int net = f[W_WHERE].choice == 1;
	struct img_map mp[32];
	size_t nmp = 0;
	char msg[200];
	if (f[R_INTO].choice == 1 && parse_maps(maps, mp, 32, &nmp, msg, sizeof(msg)))
		return TUI_STAY;   /* the form checked it */
	struct img_layout *l = NULL;
	struct img_error e = {0};
	int rc;
	if (!net) {
		tui_busy("Restore an image", "Reading the image's header...");
		if ((rc = img_image_layout(path, &l, &e))) {
			error_screen("Restore an image", rc, &e);
			return TUI_STAY;
		}
	}
	char disks[512], q[1600], what[400] = "";
	tui_disk_names(m->disks, m->ndisks, disks, sizeof(disks));
	if (nmp) {
		size_t len = 0;
		for (size_t i = 0; i < nmp && len < sizeof(what); i++)
			len += (size_t)snprintf(what + len, sizeof(what) - len, "%sp%d", i ? ", " : "",
						mp[i].to);
		snprintf(q, sizeof(q), "Restore %s%s%s into partition%s %s of %s?\n\n"
			 "EVERYTHING in %s will be LOST.  The partition table stays as it is.",
			 net ? server : "", net ? ":" : "", path, nmp > 1 ? "s" : "", what, disks,
			 nmp > 1 ? "these partitions" : "this partition");
	} else {
		snprintf(q, sizeof(q), "Restore %s%s%s onto %s?\n\nEVERYTHING on %s will be LOST: "
			 "partition tables, boot areas and every partition are replaced by the "
			 "image's (the image-safe data stays).", net ? server : "", net ? ":" : "",
			 path, disks, strchr(disks, ',') ? "these disks" : "this disk");
	}
	if (!tui_confirm("Restore an image", q)) {
		img_layout_free(l);
		return TUI_STAY;
	}
	struct ui_job j = { .disks = m->ndisks ? m->disks : NULL, .ndisks = m->ndisks,
			    .maps = mp, .nmaps = nmp, .server = server,
			    .keyfile = key[0] ? key : NULL, .path = path };
	const char *note = "Nothing is written until the image has been checked; once writing "
			   "has begun, a cancel leaves the target INCOMPLETE (not usable until "
			   "restored again).";
	struct img_callbacks cb;
	struct img_stats st = {0};
	struct tui_run *r = tui_run_begin("Restoring an image", l, 0, note, &cb);
	rc = ui_job_restore(&j, net ? UI_FROM_SERVER : UI_FROM_FILE, &cb, &st, &e);
	char state[1200], ok[300], done[1400];
	if (strstr(e.msg, "partly written"))
		snprintf(state, sizeof(state), "The target (%s) was partly written and is "
			 "INCOMPLETE: it will not work until an image is restored onto it again.",
			 nmp ? what : disks);
	else
		snprintf(state, sizeof(state), "Nothing was written: %s %s as it was.",
			 nmp ? what : disks, nmp || !strchr(disks, ',') ? "is" : "are");
	snprintf(done, sizeof(done), "%s restored onto %s.  %s", path, nmp ? what : disks,
		 stats_text("Restored", &st, ok, sizeof(ok)));
	outcome("Restore an image", rc, &e, r, done, state);
	tui_run_end(r);
	img_layout_free(l);
	return TUI_STAY;
}

/* ---- automatic imaging ----------------------------------------------------- */

static int screen_auto(struct menu *m)
{
	char server[128] = "", key[256] = "", mac[32] = "";
	snprintf(server, sizeof(server), "%s", getenv("IMGSERVER") ? getenv("IMGSERVER") : "");
	struct tui_field f[] = {
		{ "Server", server, sizeof(server), NULL, 0, 0, check_server,
		  "The imaging server: HOST or HOST:PORT", 0 },
		{ "Site key file", key, sizeof(key), NULL, 0, 0, NULL,
		  "When the server wants the key (may be empty)", 0 },
		{ "Report MAC first", mac, sizeof(mac), NULL, 0, 0, check_mac,
		  "Optional: when the server knows this machine by another NIC", 0 },
	};
	if (!tui_form("Automatic imaging", f, 3, NULL, NULL))
		return TUI_STAY;
	char disks[512], q[900];
	tui_disk_names(m->disks, m->ndisks, disks, sizeof(disks));
	snprintf(q, sizeof(q), "Ask %s for this workstation's work and do it?\n\nThe server "
		 "may restore an image onto %s (EVERYTHING on it LOST), make an image of it, "
		 "or have nothing to do.", server, disks);
	if (!tui_confirm("Automatic imaging", q))
		return TUI_STAY;
	struct ui_job j = { .disks = m->ndisks ? m->disks : NULL, .ndisks = m->ndisks,
			    .server = server, .keyfile = key[0] ? key : NULL,
			    .mac = mac[0] ? mac : NULL };
	struct img_callbacks cb;
	struct img_auto_result res = {0};
	struct img_error e = {0};
	struct tui_run *r = tui_run_begin("Automatic imaging", NULL, 0,
					  "A restore that has begun writing leaves the disks "
					  "INCOMPLETE; an image being made is discarded.", &cb);
	int rc = ui_job_auto(&j, &cb, &res, &e);
	char done[2000], ok[300], state[700];
	if (!strcmp(res.action, "none") || !res.action[0])
		snprintf(done, sizeof(done), "The server has no imaging work for this workstation.");
	else
		snprintf(done, sizeof(done), "%s %s on %s%s.  %s", res.action, res.path, res.server,
			 res.referred ? " (referred)" : "",
			 stats_text(!strcmp(res.action, "make") ? "Captured" : "Restored", &res.st,
				    ok, sizeof(ok)));
	if (strstr(e.msg, "partly written"))
		snprintf(state, sizeof(state), "%s was partly written and is INCOMPLETE.", disks);
	else if (!strcmp(res.action, "make"))
		snprintf(state, sizeof(state), "The disks were only read; no image was stored.");
	else
		snprintf(state, sizeof(state), "Nothing was written to %s.", disks);
	outcome("Automatic imaging", rc, &e, r, done, state);
	tui_run_end(r);
	return TUI_STAY;
}

/* ---- partitions ------------------------------------------------------------ */

static int part_active(const struct img_layout *l, const struct img_part *p)
{
	return l->disks[p->disk].table == IMG_TABLE_GPT ? !!(p->flags & 4) : !!(p->flags & 1);
}

static void part_line(const struct img_layout *l, const struct img_part *p, char *buf,
		      size_t cap)
{
	char a[32];
	snprintf(buf, cap, "%-3d %10llu %10s  %-10.10s %-7.7s %-14.14s %s", p->table_number,
		 (unsigned long long)(p->start / l->disks[p->disk].sector),
		 ui_size(p->length, a, sizeof(a)),
		 p->kind == IMG_PK_EXTENDED ? "extended" : p->type, p->fs[0] ? p->fs : "-",
		 p->label[0] ? p->label : "-", part_active(l, p) ? "active" : "");
}

/* Pick a data partition of l (one disk); returns its index or -1. */
static int pick_part(const struct img_layout *l, const char *title, int with_extended)
{
	const char *items[128];
	char lines[128][100];
	int idx[128], n = 0;
	for (size_t i = 0; i < l->nparts && n < 128; i++) {
		const struct img_part *p = &l->parts[i];
		if (p->kind == IMG_PK_BOOTAREA || (p->kind == IMG_PK_EXTENDED && !with_extended))
			continue;
		part_line(l, p, lines[n], sizeof(lines[n]));
		items[n] = lines[n];
		idx[n++] = (int)i;
	}
	if (!n) {
		tui_text(title, "The disk has no partition.");
		return -1;
	}
	int k = tui_menu(title, "    No      Start       Size  Type       FS      Label", items, n, 0);
	return k < 0 ? -1 : idx[k];
}

static void part_result(const char *title, int rc, const struct img_error *e,
			const char *ok)
{
	char t[800];
	if (rc)
		snprintf(t, sizeof(t), "FAILED: %s", e->msg[0] ? e->msg : img_strerror(rc));
	else
		snprintf(t, sizeof(t), "Done. %s", ok);
	tui_text(title, t);
}

static const char *const ptype_choices[] = { "linux", "swap", "fat32", "ntfs" };

static const char *check_mib(const char *v, void *ctx, char *msg, size_t cap)
{
	char *end;
	if (!*v)
		return NULL;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end || n < 1 || n > (1ULL << 40) || *v == '-')
		return "Size in MiB: a whole number from 1 (empty: all of the free region).";
	return NULL;
}

static void part_create(const char *disk)
{
	char size[24] = "", type[16];
	struct tui_field f[] = {
		{ "Size in MiB", size, sizeof(size), NULL, 0, 0, check_mib,
		  "Empty: the whole first free region", 0 },
		{ "Type", type, sizeof(type), ptype_choices, 4, 0, NULL,
		  "Left/Right: linux, swap, fat32 or ntfs (the partition is not formatted)", 0 },
	};
	if (!tui_form("Create a partition", f, 2, NULL, NULL))
		return;
	char q[600], ok[300];
	snprintf(q, sizeof(q), "Create a %s partition of %s%s on %s, in its first free region "
		 "that holds it?\n\nNothing existing is lost: only free space is used.  The new "
		 "partition is not formatted.", type, size[0] ? size : "all the free space",
		 size[0] ? " MiB" : "", disk);
	if (!tui_confirm("Create a partition", q))
		return;
	struct img_error e = {0};
	int num = 0;
	int rc = img_part_create(disk, size[0] ? strtoull(size, NULL, 10) << 20 : 0, type, &num, &e);
	snprintf(ok, sizeof(ok), "Partition %d (%s) created on %s.", num, type, disk);
	part_result("Create a partition", rc, &e, ok);
}

static void part_delete(const char *disk, const struct img_layout *l)
{
	int i = pick_part(l, "Delete which partition?", 1);
	if (i < 0)
		return;
	const struct img_part *p = &l->parts[i];
	char q[800], a[32], b[32], ok[200];
	snprintf(q, sizeof(q), "Delete partition %d of %s?\n\nIt holds %s%s%s%s, %s, %s used.  "
		 "EVERYTHING on it will be LOST%s.", p->table_number, disk,
		 p->kind == IMG_PK_EXTENDED ? "an extended partition" :
		 p->fs[0] && strcmp(p->fs, "raw") ? p->fs : "no known filesystem",
		 p->label[0] ? " '" : "", p->label, p->label[0] ? "'" : "",
		 ui_size(p->length, a, sizeof(a)), ui_size(p->used, b, sizeof(b)),
		 p->kind == IMG_PK_EXTENDED ? ", with every logical partition in it" : "");
	if (!tui_confirm("Delete a partition", q))
		return;
	struct img_error e = {0};
	int rc = img_part_delete(disk, p->table_number, &e);
	snprintf(ok, sizeof(ok), "Partition %d deleted from %s.", p->table_number, disk);
	part_result("Delete a partition", rc, &e, ok);
}

static void part_active_set(const char *disk, const struct img_layout *l)
{
	int i = pick_part(l, "Make which partition active?", 0);
	if (i < 0)
		return;
	const struct img_part *p = &l->parts[i];
	char q[500], ok[200];
	snprintf(q, sizeof(q), "Make partition %d of %s the active (boot) partition?\n\nThe "
		 "active mark is taken off every other partition of %s.  No data is lost.",
		 p->table_number, disk, disk);
	if (!tui_confirm("Make a partition active", q))
		return;
	struct img_error e = {0};
	int rc = img_part_set_active(disk, p->table_number, &e);
	snprintf(ok, sizeof(ok), "Partition %d of %s is active.", p->table_number, disk);
	part_result("Make a partition active", rc, &e, ok);
}

static void part_disk(const char *disk)
{
	static const char *const items[] = { "Create a partition", "Delete a partition",
					     "Make a partition active", "Back" };
	int sel = 0;
	for (;;) {
		struct img_layout *l = NULL;
		struct img_error e = {0};
		tui_busy("Partitions", "Reading the partition table...");
		int rc = img_scan(&disk, 1, &l, NULL, &e);
		if (rc) {
			error_screen("Partitions", rc, &e);
			return;
		}
		char *body = NULL, line[120], a[32];
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);
		if (!f) {
			img_layout_free(l);
			return;
		}
		fprintf(f, "Disk %s  %s  table %s\nNo      Start       Size  Type       FS      Label\n",
			disk, ui_size(l->disks[0].size, a, sizeof(a)),
			l->disks[0].table == IMG_TABLE_GPT ? "gpt" :
			l->disks[0].table == IMG_TABLE_MSDOS ? "msdos" : "none");
		int np = 0;
		for (size_t i = 0; i < l->nparts; i++)
			if (l->parts[i].kind != IMG_PK_BOOTAREA) {
				part_line(l, &l->parts[i], line, sizeof(line));
				fprintf(f, "%s\n", line);
				np++;
			}
		if (!np)
			fprintf(f, "(no partitions)\n");
		fclose(f);
		sel = tui_menu("Partitions", body, items, 4, sel);
		free(body);
		if (sel == 0)
			part_create(disk);
		else if (sel == 1)
			part_delete(disk, l);
		else if (sel == 2)
			part_active_set(disk, l);
		img_layout_free(l);
		if (sel < 0 || sel == 3)
			return;
	}
}

static int screen_parts(struct menu *m)
{
	char **own = NULL;
	size_t n = 0;
	const char *const *disks = m->disks;
	struct img_error e = {0};
	if (!m->ndisks) {
		int rc = img_disks_default(&own, &n, &e);
		if (rc || !n) {
			if (!rc)
				snprintf(e.msg, sizeof(e.msg), "This machine has no fixed disk.");
			error_screen("Partitions", rc ? rc : -IMG_E_NODISK, &e);
			img_strv_free(own, n);
			return TUI_STAY;
		}
		disks = (const char *const *)own;
	} else {
		n = m->ndisks;
	}
	const char *items[65];
	char lines[64][300];
	size_t k = n < 64 ? n : 64;
	items[0] = "Show all disks and partitions (as img -dump)";
	for (size_t i = 0; i < k; i++) {
		snprintf(lines[i], sizeof(lines[i]), "Edit the partitions of %s", disks[i]);
		items[i + 1] = lines[i];
	}
	int sel = 0;
	while ((sel = tui_menu("Partitions", NULL, items, (int)k + 1, sel)) >= 0) {
		if (sel == 0) {
			struct img_layout *l = NULL;
			int rc = scan(m, &l, &e);
			if (rc) {
				error_screen("Disks and partitions", rc, &e);
				continue;
			}
			char *t = layout_text(l, 0);
			tui_table("Disks and partitions", t ? t : "out of memory");
			free(t);
			img_layout_free(l);
		} else {
			part_disk(disks[sel - 1]);
		}
	}
	img_strv_free(own, own ? n : 0);
	return TUI_STAY;
}

/* ---- information ----------------------------------------------------------- */

static const char *isd_disk(struct menu *m, char ***own, size_t *n, struct img_error *e)
{
	*own = NULL;
	*n = 0;
	if (m->ndisks)
		return m->disks[0];
	if (img_disks_default(own, n, e) || !*n) {
		snprintf(e->msg, sizeof(e->msg), "no disk to work on: this machine has no fixed disk");
		return NULL;
	}
	return (*own)[0];
}

static void isd_show(struct menu *m)
{
	char **own, t[IMG_ISD_FORMAT_MAX + 800], buf[IMG_ISD_FORMAT_MAX];
	size_t n;
	struct img_error e = {0};
	struct img_isd isd;
	const char *disk = isd_disk(m, &own, &n, &e);
	if (!disk) {
		error_screen("Image-safe data", -IMG_E_NODISK, &e);
		return;
	}
	int rc = img_isd_read(disk, &isd, &e);
	if (rc < 0) {
		error_screen("Image-safe data", rc, &e);
	} else if (rc == 0) {
		snprintf(t, sizeof(t), "Disk: %s\nImage-safe data: none\nWhy: %s\n", disk, e.msg);
		tui_text("Image-safe data", t);
	} else {
		img_isd_format(&isd, buf, sizeof(buf));
		snprintf(t, sizeof(t), "Disk: %s\nImage-safe data: yes\n%s", disk, buf);
		tui_text("Image-safe data", t);
	}
	img_strv_free(own, n);
}

/* A field of the image-safe data is checked by setting it on a copy. */
static const char *check_isd(const char *key, const char *v, char *msg, size_t cap)
{
	struct img_isd t = {0};
	struct img_error e = {0};
	char kv[400];
	snprintf(kv, sizeof(kv), "%s=%s", key, v);
	if (img_isd_set(&t, kv, &e)) {
		snprintf(msg, cap, "%s", e.msg);
		return msg;
	}
	return NULL;
}
#define ISD_CHECK(fn, key)                                                          \
	static const char *fn(const char *v, void *ctx, char *msg, size_t cap)      \
	{                                                                           \
		return check_isd(key, v, msg, cap);                                 \
	}
ISD_CHECK(check_isd_name, "name")
ISD_CHECK(check_isd_ip, "ip")
ISD_CHECK(check_isd_mask, "mask")
ISD_CHECK(check_isd_gw, "gateway")
ISD_CHECK(check_isd_dns, "dns")

static const char *const net_choices[] = { "(unset)", "dhcp", "static" };
static const char *const pend_choices[] = { "0", "1" };

static void isd_edit(struct menu *m)
{
	char **own;
	size_t n;
	struct img_error e = {0};
	struct img_isd isd;
	const char *disk = isd_disk(m, &own, &n, &e);
	if (!disk) {
		error_screen("Edit image-safe data", -IMG_E_NODISK, &e);
		return;
	}
	int rc = img_isd_read(disk, &isd, &e);
	if (rc < 0) {
		error_screen("Edit image-safe data", rc, &e);
		img_strv_free(own, n);
		return;
	}
	char name[IMG_ISD_NAME_MAX + 1], net[16], ip[16], mask[16], gw[16];
	char dns[IMG_ISD_DNS_MAX * 16], pend[4];
	snprintf(name, sizeof(name), "%s", isd.name);
	snprintf(ip, sizeof(ip), "%s", isd.ip);
	snprintf(mask, sizeof(mask), "%s", isd.mask);
	snprintf(gw, sizeof(gw), "%s", isd.gateway);
	snprintf(dns, sizeof(dns), "%s", isd.dns);
	struct tui_field f[] = {
		{ "Workstation name", name, sizeof(name), NULL, 0, 0, check_isd_name,
		  "Up to 63 letters, digits, - _ .", 0 },
		{ "Network", net, sizeof(net), net_choices, 3, isd.net == IMG_ISD_NET_DHCP ? 1 :
		  isd.net == IMG_ISD_NET_STATIC ? 2 : 0, NULL, "Left/Right: dhcp or static", 0 },
		{ "IP address", ip, sizeof(ip), NULL, 0, 0, check_isd_ip, "A.B.C.D (static)", 0 },
		{ "Netmask", mask, sizeof(mask), NULL, 0, 0, check_isd_mask, "A.B.C.D (static)", 0 },
		{ "Gateway", gw, sizeof(gw), NULL, 0, 0, check_isd_gw, "A.B.C.D", 0 },
		{ "DNS servers", dns, sizeof(dns), NULL, 0, 0, check_isd_dns,
		  "Up to 4, comma-separated", 0 },
		{ "Work pending", pend, sizeof(pend), pend_choices, 2, isd.pending ? 1 : 0, NULL,
		  "Left/Right: 0 or 1", 0 },
	};
	if (!tui_form("Edit image-safe data", f, 7, NULL, NULL)) {
		img_strv_free(own, n);
		return;
	}
	static const char *const keys[] = { "name", "net", "ip", "mask", "gateway", "dns",
					    "pending" };
	for (int i = 0; i < 7 && !rc; i++) {
		char kv[400];
		snprintf(kv, sizeof(kv), "%s=%s", keys[i], i == 1 && f[1].choice == 0 ? "" : f[i].buf);
		rc = img_isd_set(&isd, kv, &e);
	}
	rc = rc < 0 ? rc : img_isd_write(disk, &isd, &e);
	if (rc) {
		error_screen("Edit image-safe data", rc, &e);
	} else {
		char buf[IMG_ISD_FORMAT_MAX], t[IMG_ISD_FORMAT_MAX + 400];
		img_isd_format(&isd, buf, sizeof(buf));
		snprintf(t, sizeof(t), "Done. Written to %s:\n\n%s", disk, buf);
		tui_text("Edit image-safe data", t);
	}
	img_strv_free(own, n);
}

static void image_info(void)
{
	char path[256] = "";
	struct tui_field f[] = {
		{ "Image file", path, sizeof(path), NULL, 0, 0, check_nonempty, NULL, 0 },
	};
	if (!tui_form("What an image holds", f, 1, NULL, NULL))
		return;
	struct img_layout *l = NULL;
	struct img_error e = {0};
	int rc = img_image_layout(path, &l, &e);
	if (rc) {
		error_screen("What an image holds", rc, &e);
		return;
	}
	char *t = layout_text(l, 1);
	tui_table("What an image holds", t ? t : "out of memory");
	free(t);
	img_layout_free(l);
}

static int screen_info(struct menu *m)
{
	static const char *const items[] = { "Hardware", "Image-safe data",
					     "Edit the image-safe data", "What an image file holds",
					     "Back" };
	int sel = 0;
	while ((sel = tui_menu("Information", NULL, items, 5, sel)) >= 0 && sel != 4) {
		if (sel == 0) {
			char buf[8192];
			struct img_error e = {0};
			int rc = img_hwinfo(buf, sizeof(buf), &e);
			if (rc)
				error_screen("Hardware", rc, &e);
			else
				tui_text("Hardware", buf);
		} else if (sel == 1) {
			isd_show(m);
		} else if (sel == 2) {
			isd_edit(m);
		} else {
			image_info();
		}
	}
	return TUI_STAY;
}

static int screen_session(struct menu *m)
{
	return tui_wizard(m->ndisks ? m->disks : NULL, m->ndisks);
}

static int screen_exit(struct menu *m)
{
	return TUI_QUIT;
}

/* ---- the loop ---------------------------------------------------------------- */

static const struct screen {
	const char *label;
	int (*run)(struct menu *m);
} screens[] = {
	{ "Automatic imaging: ask the server for work and do it", screen_auto },
	{ "Make an image (to a file or the server)", screen_make },
	{ "Restore an image (from a file or the server)", screen_restore },
	{ "Multicast session (wizard)", screen_session },
	{ "Partitions: show, create, delete, make active", screen_parts },
	{ "Information: hardware, image-safe data", screen_info },
	{ "Exit to the shell", screen_exit },
};

int ui_menu_run(const char *const *disks, size_t ndisks)
{
	struct menu m = { disks, ndisks };
	const char *items[sizeof(screens) / sizeof(screens[0])];
	int n = (int)(sizeof(screens) / sizeof(screens[0])), sel = 0;
	char body[700], names[512];
	for (int i = 0; i < n; i++)
		items[i] = screens[i].label;
	tui_start();
	tui_disk_names(disks, ndisks, names, sizeof(names));
	snprintf(body, sizeof(body), "Disks: %s", names);
	for (;;) {
		int k = tui_menu("Main menu", body, items, n, sel);
		if (k < 0)
			continue;   /* Esc on the main menu: stay; Exit leaves */
		sel = k;
		if (screens[k].run(&m) & TUI_QUIT)
			break;
	}
	tui_stop();
	return 0;
}
