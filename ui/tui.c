/* tui.c - the menu's widgets on ncurses: lists, text, questions, forms and
 * the progress screen.  Works in 80x25 and on the Linux console, without
 * colour (A_REVERSE, A_BOLD); every screen shows its keys on the last line.
 * The only file that includes curses.h: menu.c and wizard.c use these
 * widgets. */
#include <curses.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "tui.h"

#define KEY_ESC 27

static int started;

void tui_start(void)
{
	if (started)
		return;
	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	started = 1;
}

void tui_stop(void)
{
	if (!started)
		return;
	endwin();
	started = 0;
}

/* ---- drawing helpers ------------------------------------------------------ */

static void put(int y, int x, int attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(int y, int x, int attr, const char *fmt, ...)
{
	char t[512];
	va_list ap;
	if (y < 0 || y >= LINES || x >= COLS)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	attrset(attr);
	mvaddnstr(y, x, t, COLS - x);
	attrset(A_NORMAL);
}

/* Title bar, key line, and a clean middle. */
static void frame(const char *title, const char *keys)
{
	erase();
	attrset(A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	mvhline(LINES - 1, 0, ' ', COLS);
	attrset(A_NORMAL);
	put(0, 1, A_REVERSE | A_BOLD, "img %s - %s", IMG_VERSION_STRING, title);
	put(LINES - 1, 1, A_REVERSE, "%s", keys);
}

/* The next line of text, at most w columns, breaking at a space when it
 * can.  Returns its length; *next is where the following line starts. */
static int wrap_line(const char *s, int w, const char **next)
{
	int n = 0, brk = -1;
	while (s[n] && s[n] != '\n' && n < w) {
		if (s[n] == ' ')
			brk = n;
		n++;
	}
	if (s[n] == '\n') {
		*next = s + n + 1;
		return n;
	}
	if (!s[n]) {
		*next = s + n;
		return n;
	}
	if (brk > 0) {
		*next = s + brk + 1;
		return brk;
	}
	*next = s + n;
	return n;
}

/* Draw text wrapped into the box (y, x, h rows, w columns); returns the
 * rows used (or needed, when more than h). */
static int draw_wrapped(int y, int x, int h, int w, int attr, const char *s)
{
	int row = 0;
	while (s && *s) {
		const char *next;
		int n = wrap_line(s, w, &next);
		if (row < h && y + row < LINES - 1) {
			attrset(attr);
			mvaddnstr(y + row, x, s, n);
			attrset(A_NORMAL);
		}
		row++;
		s = next;
	}
	return row;
}

static int count_wrapped(int w, const char *s)
{
	int row = 0;
	while (s && *s) {
		const char *next;
		wrap_line(s, w, &next);
		row++;
		s = next;
	}
	return row;
}

/* ---- list ------------------------------------------------------------------ */

int tui_menu(const char *title, const char *body, const char *const *items, int n,
	     int sel)
{
	int top = 0;
	if (sel < 0 || sel >= n)
		sel = 0;
	for (;;) {
		frame(title, "Up/Down: move   Enter: choose   1-9: choose at once   Esc: back");
		int y = 2;
		if (body)
			y += draw_wrapped(2, 2, LINES - 8, COLS - 4, A_NORMAL, body) + 1;
		if (y > LINES - 6)
			y = LINES - 6;
		int rows = LINES - 2 - y;
		if (rows < 1)
			rows = 1;
		if (sel < top)
			top = sel;
		if (sel >= top + rows)
			top = sel - rows + 1;
		for (int i = top; i < n && i < top + rows; i++) {
			int a = i == sel ? A_REVERSE | A_BOLD : A_NORMAL;
			if (i < 9)
				put(y + i - top, 2, a, " %d. %-*s", i + 1, COLS - 10 > 0 ? COLS - 10 : 1,
				    items[i]);
			else
				put(y + i - top, 2, a, "    %-*s", COLS - 10 > 0 ? COLS - 10 : 1,
				    items[i]);
		}
		refresh();
		int ch = getch();
		if (ch == KEY_UP && sel > 0)
			sel--;
		else if (ch == KEY_DOWN && sel < n - 1)
			sel++;
		else if (ch == KEY_HOME)
			sel = 0;
		else if (ch == KEY_END)
			sel = n - 1;
		else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			return sel;
		else if (ch >= '1' && ch <= '9' && ch - '1' < n)
			return ch - '1';
		else if (ch == KEY_ESC)
			return -1;
	}
}

/* ---- text ------------------------------------------------------------------ */

/* text with its long lines broken at spaces to fit w columns (malloc'd) */
static char *wrap_all(const char *text, int w)
{
	size_t cap = strlen(text) * 2 + 2, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*text) {
		const char *next;
		int n = wrap_line(text, w, &next);
		if (len + (size_t)n + 2 > cap) {
			char *t = realloc(out, cap * 2 + (size_t)n);
			if (!t)
				break;
			out = t;
			cap = cap * 2 + (size_t)n;
		}
		memcpy(out + len, text, (size_t)n);
		len += (size_t)n;
		out[len++] = '\n';
		text = next;
	}
	out[len] = 0;
	return out;
}

static void text_view(const char *title, const char *text, int wrap)
{
	int top = 0, left = 0;
	for (;;) {
		char *wt = wrap ? wrap_all(text, COLS - 2 > 10 ? COLS - 2 : 10) : NULL;
		const char *t = wt ? wt : text;
		int nl = 1, maxw = 0, w = 0;
		for (const char *p = t; *p; p++) {
			if (*p == '\n') {
				nl++;
				w = 0;
			} else if (++w > maxw) {
				maxw = w;
			}
		}
		frame(title, wrap ? "Up/Down PgUp/PgDn: scroll   Enter or Esc: back"
				  : "Up/Down PgUp/PgDn Left/Right: scroll   Enter or Esc: back");
		int rows = LINES - 3;
		const char *p = t;
		for (int i = 0; *p && i < top + rows; i++) {
			const char *e = strchr(p, '\n');
			int len = e ? (int)(e - p) : (int)strlen(p);
			if (i >= top && len > left)
				mvaddnstr(2 + i - top, 1, p + left,
					  len - left < COLS - 2 ? len - left : COLS - 2);
			p = e ? e + 1 : p + len;
		}
		refresh();
		free(wt);
		int ch = getch();
		if (ch == KEY_UP && top > 0)
			top--;
		else if (ch == KEY_DOWN && top < nl - rows)
			top++;
		else if (ch == KEY_PPAGE)
			top = top > rows ? top - rows : 0;
		else if (ch == KEY_NPAGE)
			top = top + rows < nl - rows ? top + rows : (nl > rows ? nl - rows : 0);
		else if (ch == KEY_RIGHT && !wrap && left < maxw - (COLS - 2))
			left += 8;
		else if (ch == KEY_LEFT && !wrap)
			left = left > 8 ? left - 8 : 0;
		else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER || ch == KEY_ESC || ch == 'q')
			return;
	}
}

void tui_text(const char *title, const char *text)
{
	text_view(title, text, 1);
}

void tui_table(const char *title, const char *text)
{
	text_view(title, text, 0);
}

/* ---- question ------------------------------------------------------------ */

static void draw_confirm(const char *title, const char *text, int yes)
{
	frame(title, "y: Yes   n or Esc: No   Left/Right: switch   Enter: choose");
	int w = COLS - 8 < 70 ? COLS - 8 : 70;
	if (w < 10)
		w = 10;
	int h = count_wrapped(w - 4, text);
	if (h > LINES - 8)
		h = LINES - 8;
	int y = (LINES - h - 4) / 2, x = (COLS - w) / 2;
	if (y < 1)
		y = 1;
	for (int i = 0; i < h + 4; i++)
		mvhline(y + i, x, ' ', w);
	attrset(A_BOLD);
	mvaddch(y, x, ACS_ULCORNER);
	mvhline(y, x + 1, ACS_HLINE, w - 2);
	mvaddch(y, x + w - 1, ACS_URCORNER);
	mvaddch(y + h + 3, x, ACS_LLCORNER);
	mvhline(y + h + 3, x + 1, ACS_HLINE, w - 2);
	mvaddch(y + h + 3, x + w - 1, ACS_LRCORNER);
	mvvline(y + 1, x, ACS_VLINE, h + 2);
	mvvline(y + 1, x + w - 1, ACS_VLINE, h + 2);
	attrset(A_NORMAL);
	draw_wrapped(y + 1, x + 2, h, w - 4, A_NORMAL, text);
	put(y + h + 2, x + w / 2 - 12, yes ? A_REVERSE | A_BOLD : A_NORMAL, "[ Yes ]");
	put(y + h + 2, x + w / 2 + 4, yes ? A_NORMAL : A_REVERSE | A_BOLD, "[ No ]");
	refresh();
}

int tui_confirm(const char *title, const char *text)
{
	int yes = 0;
	for (;;) {
		draw_confirm(title, text, yes);
		int ch = getch();
		if (ch == 'y' || ch == 'Y')
			return 1;
		if (ch == 'n' || ch == 'N' || ch == KEY_ESC)
			return 0;
		if (ch == KEY_LEFT || ch == KEY_RIGHT || ch == '\t')
			yes = !yes;
		else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			return yes;
	}
}

void tui_busy(const char *title, const char *text)
{
	frame(title, "please wait");
	draw_wrapped(3, 2, LINES - 5, COLS - 4, A_BOLD, text);
	refresh();
}

/* ---- forms ----------------------------------------------------------------- */

static int visible(struct tui_field *f, int n, int i)
{
	return i == n || !f[i].hidden;   /* n: the [ OK ] row */
}

int tui_form(const char *title, struct tui_field *f, int n, void *ctx,
	     void (*update)(struct tui_field *f, int n, void *ctx, char *info, size_t cap))
{
	int cur = 0;
	char info[512] = "", msg[256] = "";
	for (int i = 0; i < n; i++) {
		if (f[i].choices) {
			if (f[i].choice < 0 || f[i].choice >= f[i].nchoices)
				f[i].choice = 0;
			snprintf(f[i].buf, f[i].cap, "%s", f[i].choices[f[i].choice]);
		}
	}
	if (update)
		update(f, n, ctx, info, sizeof(info));
	while (cur < n && !visible(f, n, cur))
		cur++;
	for (;;) {
		/* the field under the cursor is checked as it stands */
		const char *bad = NULL;
		msg[0] = 0;
		if (cur < n && f[cur].check)
			bad = f[cur].check(f[cur].buf, ctx, msg, sizeof(msg));
		frame(title, "Up/Down/Enter: field  Left/Right: choice  Enter on OK/F10: accept  Esc: back");
		int y = 2, lw = 0;
		for (int i = 0; i < n; i++)   /* update may rename a field */
			if (!f[i].hidden && (int)strlen(f[i].label) > lw)
				lw = (int)strlen(f[i].label);
		for (int i = 0; i < n; i++) {
			if (f[i].hidden)
				continue;
			int a = i == cur ? A_REVERSE : A_NORMAL;
			put(y, 2, i == cur ? A_BOLD : A_NORMAL, "%-*s", lw, f[i].label);
			if (f[i].choices)
				put(y, 4 + lw, a, "< %s >", f[i].buf);
			else
				put(y, 4 + lw, a, "%-*s%s", 24, f[i].buf, i == cur ? "_" : "");
			y++;
		}
		y++;
		put(y, 4 + lw, cur == n ? A_REVERSE | A_BOLD : A_BOLD, "[ OK ]");
		y += 2;
		if (cur < n && f[cur].hint)
			y += draw_wrapped(y, 2, 3, COLS - 4, A_NORMAL, f[cur].hint);
		if (bad)
			y += draw_wrapped(y, 2, 3, COLS - 4, A_BOLD, bad);
		if (info[0])
			draw_wrapped(y + 1, 2, LINES - y - 3, COLS - 4, A_NORMAL, info);
		refresh();
		int ch = getch();
		int changed = 0;
		if (ch == KEY_ESC)
			return 0;
		if (ch == KEY_DOWN || ch == '\t' || ((ch == '\n' || ch == '\r' || ch == KEY_ENTER) && cur < n)) {
			do
				cur = cur < n ? cur + 1 : 0;
			while (!visible(f, n, cur));
		} else if (ch == KEY_UP || ch == KEY_BTAB) {
			do
				cur = cur > 0 ? cur - 1 : n;
			while (!visible(f, n, cur));
		} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER || ch == KEY_F(10)) {
			/* accept: every shown field must be good */
			int i;
			for (i = 0; i < n; i++)
				if (!f[i].hidden && f[i].check &&
				    f[i].check(f[i].buf, ctx, msg, sizeof(msg)))
					break;
			if (i == n)
				return 1;
			cur = i;
		} else if (cur < n && f[cur].choices) {
			struct tui_field *c = &f[cur];
			if (ch == KEY_RIGHT || ch == ' ')
				c->choice = (c->choice + 1) % c->nchoices;
			else if (ch == KEY_LEFT)
				c->choice = (c->choice + c->nchoices - 1) % c->nchoices;
			else
				for (int k = 1; k <= c->nchoices; k++) {
					int j = (c->choice + k) % c->nchoices;
					if (ch > ' ' && ch < 127 &&
					    (c->choices[j][0] | 0x20) == (ch | 0x20)) {
						c->choice = j;
						break;
					}
				}
			snprintf(c->buf, c->cap, "%s", c->choices[c->choice]);
			changed = 1;
		} else if (cur < n) {
			size_t len = strlen(f[cur].buf);
			if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len) {
				f[cur].buf[len - 1] = 0;
				changed = 1;
			} else if (ch == 21) { /* ^U */
				f[cur].buf[0] = 0;
				changed = 1;
			} else if (ch >= ' ' && ch < 127 && len + 1 < f[cur].cap) {
				f[cur].buf[len] = (char)ch;
				f[cur].buf[len + 1] = 0;
				changed = 1;
			}
		}
		if (changed && update)
			update(f, n, ctx, info, sizeof(info));
		if (!visible(f, n, cur))
			cur = n;
	}
}

/* ---- progress screen --------------------------------------------------------- */

#define RUN_LOG_LINES 200

struct tui_run {
	const char *title;
	const struct img_layout *l;
	int master;
	const char *cancel_note;
	struct img_progress p;
	int have_p;
	int part;                 /* partition being worked on */
	uint64_t part_base;       /* overall done when it began */
	char *log;                /* every message, one a line */
	size_t loglen, logcap;
	struct img_session_peer peers[64];
	unsigned npeers;
	int cancelled;
	enum img_command command;  /* asked for since the last cb_command */
	double last_draw;
	char status[160];
};


static void bar(int y, int x, int w, uint64_t done, uint64_t total)
{
	if (w < 3)
		return;
	int fill = total ? (int)((double)done / (double)total * (w - 2)) : 0;
	if (fill > w - 2)
		fill = w - 2;
	mvaddch(y, x, '[');
	attrset(A_REVERSE);
	for (int i = 0; i < fill; i++)
		mvaddch(y, x + 1 + i, '#');
	attrset(A_NORMAL);
	for (int i = fill; i < w - 2; i++)
		mvaddch(y, x + 1 + i, '.');
	mvaddch(y, x + w - 1, ']');
}

static const char *eta(double s, char *buf, size_t cap)
{
	if (s <= 0 || s > 360000)
		snprintf(buf, cap, "--:--");
	else if (s >= 3600)
		snprintf(buf, cap, "%u:%02u:%02u", (unsigned)s / 3600, (unsigned)s / 60 % 60,
			 (unsigned)s % 60);
	else
		snprintf(buf, cap, "%u:%02u", (unsigned)s / 60, (unsigned)s % 60);
	return buf;
}

static uint64_t part_total(const struct tui_run *r, int number)
{
	if (!r->l)
		return 0;
	for (size_t i = 0; i < r->l->nparts; i++)
		if (r->l->parts[i].number == number &&
		    (number > 0 || r->l->parts[i].kind == IMG_PK_BOOTAREA))
			return r->l->parts[i].used;
	return 0;
}

static void run_draw(struct tui_run *r)
{
	char a[32], b[32], c[32], e[32];
	const struct img_progress *p = &r->p;
	frame(r->title, r->master ? "Esc: cancel (asks first)   s: start the session now"
				  : "Esc: cancel (asks first)");
	int y = 2, w = COLS - 16;
	if (r->status[0])
		put(y++, 2, A_BOLD, "%s", r->status);
	if (r->have_p) {
		unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 0;
		put(y, 2, A_BOLD, "Overall");
		bar(y, 12, w - 2, p->done, p->total);
		put(y++, COLS - 5, A_NORMAL, "%3u%%", pct);
		double left = p->rate > 0 && p->total > p->done ?
			(double)(p->total - p->done) / p->rate : 0;
		put(y++, 12, A_NORMAL, "%s of %s   %s/s   ETA %s   (%s)",
		    ui_size(p->done, a, sizeof(a)), ui_size(p->total, b, sizeof(b)),
		    ui_size((unsigned long long)p->rate, c, sizeof(c)), eta(left, e, sizeof(e)),
		    p->phase ? p->phase : "");
		if (p->part >= 0) {
			uint64_t pd = p->done - r->part_base, pt = part_total(r, p->part);
			char where[24];
			if (p->part)
				snprintf(where, sizeof(where), "Part. %d", p->part);
			else
				snprintf(where, sizeof(where), "Boot area");
			put(y, 2, A_BOLD, "%s", where);
			if (pt) {
				if (pd > pt)
					pd = pt;
				bar(y, 12, w - 2, pd, pt);
				put(y++, COLS - 5, A_NORMAL, "%3u%%", (unsigned)(pd * 100 / pt));
				put(y++, 12, A_NORMAL, "%s of %s", ui_size(pd, a, sizeof(a)),
				    ui_size(pt, b, sizeof(b)));
			} else {
				put(y++, 12, A_NORMAL, "%s", ui_size(pd, a, sizeof(a)));
			}
		}
	}
	y++;
	if (r->master) {
		put(y++, 2, A_BOLD, "Clients registered: %u", r->npeers);
		for (unsigned i = 0; i < r->npeers && y < LINES - 7; i++) {
			const struct img_session_peer *q = &r->peers[i];
			put(y++, 4, A_NORMAL, "%-15s %-20.20s %-10s %10s %s", q->addr, q->host,
			    q->state, ui_size(q->bytes, a, sizeof(a)), q->note);
		}
		y++;
	}
	/* the last messages, as many as fit */
	int rows = LINES - 2 - y;
	if (rows > 0 && r->loglen) {
		put(y++, 2, A_BOLD, "Messages");
		rows--;
		const char *s = r->log + r->loglen;
		int k = 0;
		while (s > r->log && k < rows) {
			s--;
			if (s > r->log && s[-1] == '\n')
				k++;
		}
		while (s > r->log && s[-1] != '\n')
			s--;
		while (*s && y < LINES - 1) {
			const char *nl = strchr(s, '\n');
			int len = nl ? (int)(nl - s) : (int)strlen(s);
			mvaddnstr(y++, 4, s, len < COLS - 5 ? len : COLS - 5);
			s = nl ? nl + 1 : s + len;
		}
	}
	refresh();
	r->last_draw = img_now();
}

static void run_maybe_draw(struct tui_run *r, int force)
{
	if (force || img_now() - r->last_draw >= 0.2)
		run_draw(r);
}

/* Read the keys typed meanwhile: start key, cancel (asked), resize. */
static void run_keys(struct tui_run *r)
{
	int ch;
	nodelay(stdscr, TRUE);
	while ((ch = getch()) != ERR) {
		if (ch == KEY_RESIZE) {
			run_draw(r);
		} else if (r->master && (ch == 's' || ch == 'S' || ch == 'g' || ch == 'G')) {
			r->command = IMG_CMD_START;
		} else if ((ch == KEY_ESC || ch == 'c' || ch == 'C') && !r->cancelled) {
			char q[700];
			snprintf(q, sizeof(q), "Cancel this job?\n\n%s", r->cancel_note);
			nodelay(stdscr, FALSE);
			r->cancelled = tui_confirm("Cancel?", q);
			nodelay(stdscr, TRUE);
			run_draw(r);
		}
	}
	nodelay(stdscr, FALSE);
}

static void cb_progress(void *ctx, const struct img_progress *p)
{
	struct tui_run *r = ctx;
	if (!r->have_p || p->part != r->part) {
		r->part = p->part;
		r->part_base = p->done;
	}
	r->p = *p;
	r->have_p = 1;
	r->status[0] = 0;
	run_maybe_draw(r, 0);
}

static void cb_message(void *ctx, enum img_level level, const char *text)
{
	struct tui_run *r = ctx;
	if (level == IMG_DEBUG)
		return;
	size_t n = strlen(text) + 8;
	if (r->loglen + n + 1 > r->logcap) {
		size_t cap = (r->logcap + n) * 2;
		char *t = realloc(r->log, cap);
		if (!t)
			return;
		r->log = t;
		r->logcap = cap;
	}
	r->loglen += (size_t)snprintf(r->log + r->loglen, r->logcap - r->loglen, "%s%s\n",
				      level == IMG_WARN ? "note: " : "", text);
	if (strstr(text, "registered with master"))
		snprintf(r->status, sizeof(r->status),
			 "Registered with the master; waiting for the session to start");
	else if (strstr(text, "waiting for the master"))
		snprintf(r->status, sizeof(r->status), "Waiting for the master to appear");
	else if (strstr(text, "; waiting for"))
		snprintf(r->status, sizeof(r->status),
			 "Waiting for clients to register (s starts now)");
	else if (strstr(text, ": starting with"))
		snprintf(r->status, sizeof(r->status), "Session started");
	run_maybe_draw(r, 1);
}

static int cb_cancel(void *ctx)
{
	struct tui_run *r = ctx;
	run_keys(r);
	run_maybe_draw(r, 0);
	return r->cancelled;
}

static enum img_command cb_command(void *ctx)
{
	struct tui_run *r = ctx;
	run_keys(r);
	enum img_command c = r->command;
	r->command = IMG_CMD_NONE;
	return c;
}

static void cb_peers(void *ctx, const struct img_session_peer *peers, unsigned n)
{
	struct tui_run *r = ctx;
	if (n > 64)
		n = 64;
	if (n != r->npeers || memcmp(peers, r->peers, n * sizeof(*peers))) {
		memcpy(r->peers, peers, n * sizeof(*peers));
		r->npeers = n;
		run_maybe_draw(r, 0);
	}
}

struct tui_run *tui_run_begin(const char *title, const struct img_layout *l, int master,
			      const char *cancel_note, struct img_callbacks *cb)
{
	struct tui_run *r = calloc(1, sizeof(*r));
	*cb = (struct img_callbacks){ 0 };
	if (!r)
		return NULL;   /* the job runs without a progress screen */
	r->title = title;
	r->l = l;
	r->master = master;
	r->cancel_note = cancel_note;
	r->part = -2;
	snprintf(r->status, sizeof(r->status), "Starting");
	*cb = (struct img_callbacks){ .progress = cb_progress, .message = cb_message,
				      .cancel = cb_cancel, .command = cb_command, .peers = cb_peers,
				      .ctx = r };
	run_draw(r);
	return r;
}

void tui_run_outcome(struct tui_run *r, const char *title, FILE *f, char **t)
{
	if (r && r->log && *r->log)
		fprintf(f, "\nMessages:\n%s", r->log);
	fclose(f);
	tui_text(title, *t);
	free(*t);
	*t = NULL;
}

void tui_run_end(struct tui_run *r)
{
	if (!r)
		return;
	free(r->log);
	free(r);
}

/* ---- shared by the screens (menu.c, wizard.c) ---------------------------- */

const char *const tui_comp_choices[TUI_NCOMP] = {
	"Speed (1)", "Balanced (6)", "Size (9)", "0 none", "1", "2", "3", "4", "5",
	"6", "7", "8", "9",
};

int tui_comp_level(int choice)
{
	static const int lv[TUI_NCOMP] = { 1, 6, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	return choice >= 0 && choice < TUI_NCOMP ? lv[choice] : 1;
}

const char *tui_disk_names(const char *const *disks, size_t ndisks, char *buf, size_t cap)
{
	char **own = NULL;
	size_t n = 0, len = 0;
	struct img_error e = {0};
	buf[0] = 0;
	if (!ndisks) {
		if (img_disks_default(&own, &n, &e) || !n) {
			snprintf(buf, cap, "(no fixed disk found)");
			img_strv_free(own, n);
			return buf;
		}
		disks = (const char *const *)own;
		ndisks = n;
	}
	for (size_t i = 0; i < ndisks && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", disks[i]);
	img_strv_free(own, n);
	return buf;
}
