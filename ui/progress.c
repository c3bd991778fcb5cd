/* progress.c - progress line with rate and ETA, engine messages. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ui.h"

const char *ui_size(unsigned long long b, char *buf, size_t cap)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, cap, "%llu B", b);
	else
		snprintf(buf, cap, "%.1f %s", v, u[i]);
	return buf;
}

void ui_progress_init(struct ui_progress *u)
{
	memset(u, 0, sizeof(*u));
	u->tty = isatty(STDERR_FILENO);
}

static void eta(double s, char *buf, size_t cap)
{
	if (s < 0 || s > 360000) {
		snprintf(buf, cap, "--:--");
		return;
	}
	unsigned t = (unsigned)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, cap, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, cap, "%u:%02u", t / 60, t % 60);
}

void ui_progress_cb(void *ctx, const struct img_progress *p)
{
	struct ui_progress *u = ctx;
	char d[32], t[32], r[32], e[32];
	double left = p->rate > 0 && p->total > p->done ?
		(double)(p->total - p->done) / p->rate : 0;
	int final = p->total && p->done >= p->total;
	if (!u->tty && !final && p->elapsed - u->last_print < 5)
		return;
	u->last_print = p->elapsed;
	eta(left, e, sizeof(e));
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 0;
	char where[24];
	if (p->part > 0)
		snprintf(where, sizeof(where), "partition %d", p->part);
	else if (p->part == 0)
		snprintf(where, sizeof(where), "boot area");
	else
		snprintf(where, sizeof(where), "image");
	fprintf(stderr, "%s%-7s %-13s %10s of %-10s %3u%%  %10s/s  ETA %s%s",
		u->tty ? "\r" : "", p->phase, where,
		ui_size(p->done, d, sizeof(d)), ui_size(p->total, t, sizeof(t)),
		pct, ui_size((unsigned long long)p->rate, r, sizeof(r)), e,
		u->tty ? "\033[K" : "\n");
	u->active = u->tty;
	fflush(stderr);
}

void ui_progress_end(struct ui_progress *u)
{
	if (u->active)
		fputc('\n', stderr);
	u->active = 0;
}

void ui_message_cb(void *ctx, enum img_level level, const char *text)
{
	struct ui_progress *u = ctx;
	if (level == IMG_DEBUG)
		return;
	ui_progress_end(u);
	fprintf(stderr, "img: %s%s\n", level == IMG_WARN ? "note: " : "", text);
}
