/* tui.h - the menu's widgets on ncurses, shared by menu.c and wizard.c.
 * Each widget runs its own key loop, redraws itself whole on KEY_RESIZE,
 * and returns what the user chose; screens act on that (menu.c).  No
 * curses types here: only tui.c includes curses.h. */
#ifndef UI_TUI_H
#define UI_TUI_H

#include <stddef.h>

#include "ui.h"

/* What a screen's handler returns to the menu loop. */
enum tui_reaction { TUI_STAY = 0, TUI_QUIT = 1 };

void tui_start(void);
void tui_stop(void);

/* A list of items under an optional body text (may be NULL).  Arrows and
 * Enter choose, the digits 1..9 choose at once.  Returns the index, or -1
 * for Esc. */
int tui_menu(const char *title, const char *body, const char *const *items, int n,
	     int sel);

/* A scrollable text, long lines wrapped (arrows, PgUp/PgDn); Enter or Esc
 * closes.  tui_table: lines kept whole, Left/Right scroll sideways. */
void tui_text(const char *title, const char *text);
void tui_table(const char *title, const char *text);

/* A question with Yes and No (y, n, Left/Right, Enter; Esc is No).  The
 * answer starts on No.  Returns 1 for Yes. */
int tui_confirm(const char *title, const char *text);

/* A short note while something runs (no key needed). */
void tui_busy(const char *title, const char *text);

/* ---- forms --------------------------------------------------------------- */
struct tui_field {
	const char *label;
	char *buf;                    /* the value, NUL-terminated */
	size_t cap;
	const char *const *choices;   /* non-NULL: a choice (Left/Right, Space) */
	int nchoices;
	int choice;                   /* the chosen index; buf gets its text */
	/* NULL when value is good, else what is wrong (into msg). */
	const char *(*check)(const char *value, void *ctx, char *msg, size_t cap);
	const char *hint;             /* shown while the field has the cursor */
	int hidden;                   /* not shown, not checked */
};
/* Fields one under the other; every change calls update (may be NULL),
 * which may hide fields and fill info (shown under the form).  Each field
 * is checked as it is typed, its message shown at once.  Enter moves on;
 * Enter on [ OK ] (or F10) accepts when every shown field is good.
 * Returns 1 accepted, 0 Esc. */
int tui_form(const char *title, struct tui_field *f, int n, void *ctx,
	     void (*update)(struct tui_field *f, int n, void *ctx, char *info, size_t cap));

/* ---- the progress screen of one job ------------------------------------- */
struct tui_run;
/* Starts the screen; l (may be NULL, borrowed) gives the partitions' sizes
 * for the per-partition bar; master: show the session's receivers and the
 * start key.  cb gets the callbacks to pass to the job.  cancel_note says
 * what a cancel leaves behind (asked before cancelling).  NULL when out of
 * memory: *cb is then empty and the job runs without the screen. */
struct tui_run *tui_run_begin(const char *title, const struct img_layout *l, int master,
			      const char *cancel_note, struct img_callbacks *cb);
/* Close f (an open_memstream of *t, the job's outcome), add the job's
 * messages, show it all under title, free *t. */
void tui_run_outcome(struct tui_run *r, const char *title, FILE *f, char **t);
void tui_run_end(struct tui_run *r);

/* ---- shared by the screens ---------------------------------------------- */
/* Compression as the forms offer it: Speed, Balanced, Size, 0..9. */
extern const char *const tui_comp_choices[];
#define TUI_NCOMP 13
int tui_comp_level(int choice);
/* Disks the jobs work on, for questions: "a, b" (the -disk= list, or the
 * machine's fixed disks). */
const char *tui_disk_names(const char *const *disks, size_t ndisks, char *buf, size_t cap);
/* The multicast wizard and its session (wizard.c). */
int tui_wizard(const char *const *disks, size_t ndisks);

#endif
