/* ui.h - the img program's two faces, the command line and the menu
 * (shared between ui/ files; no curses here). */
#ifndef UI_H
#define UI_H

#include <stdio.h>

#include "img.h"

/* Progress and messages on stderr: a live line on a terminal, a plain line
 * every few seconds otherwise.  ctx is a struct ui_progress. */
struct ui_progress {
	int tty;
	double last_print;
	int active;          /* a live line is on screen */
};
void ui_progress_init(struct ui_progress *u);
void ui_progress_cb(void *ctx, const struct img_progress *p);
void ui_message_cb(void *ctx, enum img_level level, const char *text);
void ui_progress_end(struct ui_progress *u);

/* "1.5 GiB" style sizes into buf. */
const char *ui_size(unsigned long long bytes, char *buf, size_t cap);

/* Print a layout as img -dump / img -imginfo show it. */
void ui_show_layout(FILE *f, const struct img_layout *l, int image);

/* ---- jobs: one function per job, run by the command line and the menu
 * alike.  A job description in, the engine's result out; the caller
 * renders progress and messages through cb and reports the outcome. */
struct ui_job {
	const char *const *disks;   /* NULL: the machine's fixed disks */
	size_t ndisks;
	int level;                  /* -comp 0..9 */
	enum img_codec codec;
	const int *exclude;         /* -x */
	size_t nexclude;
	const struct img_map *maps; /* -ap */
	size_t nmaps;
	unsigned threads;
	const char *server;         /* HOST[:PORT] for the server's jobs */
	const char *keyfile;
	int timeout;                /* seconds; 0: the engine's default */
	const char *path;           /* local image file, or the server's path */
	const char *mac;            /* -auto */
};

/* The one -ap parser: "aN:pM" (image partition N into target partition M,
 * each 1 to 65535, nothing else) into *out.  Returns 0, or -1 for
 * anything else (the caller says what it wanted). */
int ui_map_parse(const char *s, struct img_map *out);

enum ui_restore_how { UI_FROM_FILE, UI_VERIFY_FILE, UI_FROM_SERVER };

/* Make an image of j->disks into the file j->path, or (net) onto
 * j->server as j->path. */
int ui_job_make(const struct ui_job *j, int net, const struct img_callbacks *cb,
		struct img_stats *st, struct img_error *e);
/* Restore (or verify) j->path, from a file or from j->server. */
int ui_job_restore(const struct ui_job *j, enum ui_restore_how how,
		   const struct img_callbacks *cb, struct img_stats *st,
		   struct img_error *e);
/* Automatic imaging from j->server. */
int ui_job_auto(const struct ui_job *j, const struct img_callbacks *cb,
		struct img_auto_result *r, struct img_error *e);

struct ui_session {
	const char *name;
	enum img_role role;
	unsigned clients;
	double timeout_min;
	unsigned throttle;
	unsigned drop;
	unsigned wait;
	const char *iface;
	const char *image;          /* master: send this file instead of the disks */
	int nocatchup;
};
/* A multicast session on j's disks (master: capture at j->level; client:
 * restore). */
int ui_job_session(const struct ui_job *j, const struct ui_session *s,
		   const struct img_callbacks *cb, struct img_session_result *r,
		   struct img_error *e);

/* The ncurses menu (menu.c) on these disks (none: the machine's fixed
 * disks).  Returns the program's exit status. */
int ui_menu_run(const char *const *disks, size_t ndisks);

#endif
