/* ui.h - the img program's command-line face (shared between ui/ files). */
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

#endif
