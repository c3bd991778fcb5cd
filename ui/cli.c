/* cli.c - the img command line: one table of modes on the engine library.
 *
 * ZENworks-style syntax: img -makel FILE, img makel FILE and img ml FILE
 * are the same.  Exit status: 0 full success, 1 the job failed, 2 the
 * command line is wrong.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "ui.h"

#define MAX_LIST 64

struct args {
	const char *file;          /* first positional argument */
	const char *pos[MAX_LIST]; /* positional arguments after the mode */
	size_t npos;
	const char *disks[MAX_LIST];
	size_t ndisks;
	int exclude[MAX_LIST];
	size_t nexclude;
	struct img_map maps[MAX_LIST];
	size_t nmaps;
	int level;
	enum img_codec codec;
	unsigned threads;
	const char *help_mode;
};

struct mode {
	const char *name;
	const char *alias;
	int needs_file;            /* positional arguments: at least this many */
	int max_pos;               /* and at most this many */
	int (*run)(struct args *a);
	const char *usage;
	const char *help;
};

static int fail(const struct img_error *e, int rc)
{
	fprintf(stderr, "img: %s\n", e->msg[0] ? e->msg : img_strerror(rc));
	return 1;
}

static void summary(const char *what, const struct img_stats *st)
{
	char a[32], b[32], c[32];
	double s = st->seconds > 0 ? st->seconds : 1e-9;
	fprintf(stderr, "img: %s %s of used data, image %s, %llu chunks, in %.2f s (%s/s)\n",
		what, ui_size(st->raw_bytes, a, sizeof(a)),
		ui_size(st->image_bytes, b, sizeof(b)),
		(unsigned long long)st->chunks, st->seconds,
		ui_size((unsigned long long)(st->raw_bytes / s), c, sizeof(c)));
}

static const char *const *disk_list(struct args *a)
{
	return a->ndisks ? a->disks : NULL;
}

static int run_make(struct args *a)
{
	struct img_make_opts o = {
		.disks = disk_list(a), .ndisks = a->ndisks, .level = a->level,
		.codec = a->codec, .exclude = a->exclude, .nexclude = a->nexclude,
		.threads = a->threads,
	};
	struct ui_progress u;
	struct img_callbacks cb = { ui_progress_cb, ui_message_cb, NULL, &u };
	struct img_error e = {0};
	struct img_stats st;
	ui_progress_init(&u);
	int rc = img_make_file(&o, a->file, &cb, &st, &e);
	ui_progress_end(&u);
	if (rc)
		return fail(&e, rc);
	summary("captured", &st);
	printf("%s\n", a->file);
	return 0;
}

static int run_restore_common(struct args *a, int verify)
{
	struct img_restore_opts o = {
		.disks = disk_list(a), .ndisks = a->ndisks, .maps = a->maps,
		.nmaps = a->nmaps, .threads = a->threads, .verify_only = verify,
	};
	struct ui_progress u;
	struct img_callbacks cb = { ui_progress_cb, ui_message_cb, NULL, &u };
	struct img_error e = {0};
	struct img_stats st;
	ui_progress_init(&u);
	int rc = img_restore_file(&o, a->file, &cb, &st, &e);
	ui_progress_end(&u);
	if (rc)
		return fail(&e, rc);
	summary(verify ? "verified" : "restored", &st);
	if (verify)
		printf("%s: OK, %llu chunks verified\n", a->file,
		       (unsigned long long)st.chunks);
	return 0;
}

static int run_restore(struct args *a) { return run_restore_common(a, 0); }
static int run_verify(struct args *a) { return run_restore_common(a, 1); }

static int run_dump(struct args *a)
{
	struct img_layout *l = NULL;
	struct ui_progress u;
	struct img_callbacks cb = { NULL, ui_message_cb, NULL, &u };
	struct img_error e = {0};
	ui_progress_init(&u);
	int rc = img_scan(disk_list(a), a->ndisks, &l, &cb, &e);
	if (rc)
		return fail(&e, rc);
	ui_show_layout(stdout, l, 0);
	img_layout_free(l);
	return 0;
}

static int run_imginfo(struct args *a)
{
	struct img_layout *l = NULL;
	struct img_error e = {0};
	int rc = img_image_layout(a->file, &l, &e);
	if (rc)
		return fail(&e, rc);
	printf("Image: %s\n", a->file);
	ui_show_layout(stdout, l, 1);
	img_layout_free(l);
	return 0;
}

static int run_info(struct args *a)
{
	char buf[8192];
	struct img_error e = {0};
	int rc = img_hwinfo(buf, sizeof(buf), &e);
	if (rc)
		return fail(&e, rc);
	fputs(buf, stdout);
	return 0;
}

static int run_help(struct args *a);

static const struct mode modes[] = {
	{ "makel", "ml", 1, 1, run_make,
	  "img -makel FILE [-comp=0..9] [-x=N ...] [-disk=PATH ...] [-codec=zstd|deflate]",
	  "Make an image of the disks into the local FILE.  Only the blocks each\n"
	  "filesystem uses are stored (ext2/3/4, NTFS, FAT12/16/32, swap header);\n"
	  "other partitions are stored raw, all-zero chunks as a mark without data.\n"
	  "The image\n"
	  "is written as FILE.partial and renamed only when complete.\n"
	  "  -comp=N   0 none, 1 fastest (default), 6 balanced, 9 smallest\n"
	  "  -x=N      leave partition N out (repeatable; numbers as img -dump shows)\n"
	  "  -codec=C  zstd (default) or deflate\n" },
	{ "restorel", "rl", 1, 1, run_restore,
	  "img -restorel FILE [-ap=aN:pM ...] [-disk=PATH ...]",
	  "Restore the local image FILE.  Without -ap the image's disks, partition\n"
	  "tables, boot areas and partitions are restored whole, in order, onto the\n"
	  "target disks (each large enough for its partitions; a GPT's backup moves\n"
	  "to the end of a larger disk).\n"
	  "  -ap=aN:pM image partition N goes into the existing target partition M;\n"
	  "            the table is left alone (repeatable)\n"
	  "The image is checked before anything is written; every chunk is verified\n"
	  "against its SHA-256 digest before it is written.\n" },
	{ "dump", "d", 0, 0, run_dump, "img -dump [-disk=PATH ...]",
	  "List disks and partitions: number, start sector, size, type, filesystem,\n"
	  "label and the bytes an image would store.\n" },
	{ "info", "i", 0, 1, run_info, "img -info",
	  "Show the hardware: disks, NICs with MAC addresses, memory, CPU, and the\n"
	  "DMI vendor, product and serial number.\n" },
	{ "imginfo", "ii", 1, 1, run_imginfo, "img -imginfo FILE",
	  "Show what an image holds: creation data, disks, tables and partitions.\n" },
	{ "verify", "v", 1, 1, run_verify, "img -verify FILE",
	  "Read the whole image and check every record and every chunk digest\n"
	  "without writing anything.\n" },
	{ "help", "h", 0, 1, run_help, "img -help [MODE]",
	  "Show the modes, or the details of one.\n" },
};

static const struct mode *find_mode(const char *s)
{
	while (*s == '-')
		s++;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(s, modes[i].name) || !strcmp(s, modes[i].alias))
			return &modes[i];
	return NULL;
}

static int run_help(struct args *a)
{
	const struct mode *m = a->help_mode ? find_mode(a->help_mode) : NULL;
	if (a->help_mode && !m) {
		fprintf(stderr, "img: no mode '%s'; try img -help\n", a->help_mode);
		return 2;
	}
	if (m) {
		printf("usage: %s\n\n%s", m->usage, m->help);
		printf("\nEvery mode accepts -disk=PATH (repeatable): block devices or disk-image\n"
		       "files to use instead of the machine's fixed disks.\n");
		return 0;
	}
	printf("img %s - disk imaging engine\n\nusage:\n", IMG_VERSION_STRING);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		printf("  %s\n", modes[i].usage);
	printf("\nShort forms: -ml, -rl; the leading dash is optional (img makel FILE).\n"
	       "img -help MODE describes one mode.  Exit status: 0 success, 1 failure,\n"
	       "2 bad command line.  See img(8) and img-image(5).\n");
	return 0;
}

static int usage_error(const struct mode *m, const char *fmt, const char *arg)
{
	fprintf(stderr, "img: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	if (m)
		fprintf(stderr, "usage: %s\n", m->usage);
	else
		fprintf(stderr, "try: img -help\n");
	return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_opt(struct args *a, const struct mode *m, const char *s)
{
	const char *v;
	int n, k;
	if (!strncmp(s, "-disk=", 6)) {
		if (a->ndisks == MAX_LIST || !s[6])
			return usage_error(m, "bad or too many -disk options: %s", s);
		a->disks[a->ndisks++] = s + 6;
	} else if (!strncmp(s, "-comp=", 6)) {
		if (parse_int(s + 6, 0, 9, &a->level))
			return usage_error(m, "-comp takes 0 to 9: %s", s);
	} else if (!strncmp(s, "-x=", 3)) {
		if (a->nexclude == MAX_LIST || parse_int(s + 3, 1, 65535, &n))
			return usage_error(m, "-x takes a partition number: %s", s);
		a->exclude[a->nexclude++] = n;
	} else if (!strncmp(s, "-ap=", 4)) {
		v = s + 4;
		char from[16], to[16];
		if (a->nmaps == MAX_LIST ||
		    sscanf(v, "a%15[0-9]:p%15[0-9]", from, to) != 2 ||
		    parse_int(from, 1, 65535, &n) || parse_int(to, 1, 65535, &k) ||
		    strlen(v) != strlen(from) + strlen(to) + 3)
			return usage_error(m, "-ap takes aN:pM, e.g. -ap=a2:p3: %s", s);
		a->maps[a->nmaps++] = (struct img_map){ n, k };
	} else if (!strncmp(s, "-codec=", 7)) {
		if (!strcmp(s + 7, "zstd"))
			a->codec = IMG_CODEC_ZSTD;
		else if (!strcmp(s + 7, "deflate"))
			a->codec = IMG_CODEC_DEFLATE;
		else
			return usage_error(m, "-codec takes zstd or deflate: %s", s);
	} else if (!strncmp(s, "-threads=", 9)) {
		if (parse_int(s + 9, 1, 64, &n))
			return usage_error(m, "-threads takes 1 to 64: %s", s);
		a->threads = (unsigned)n;
	} else {
		return usage_error(m, "unknown option %s", s);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { .level = 1, .codec = IMG_CODEC_ZSTD };
	if (argc < 2) {
		a.help_mode = NULL;
		run_help(&a);
		return isatty(STDIN_FILENO) ? 0 : 2;
	}
	const struct mode *m = find_mode(argv[1]);
	if (!m)
		return usage_error(NULL, "unknown mode %s", argv[1]);
	if (m->run == run_help) {
		if (argc > 2)
			a.help_mode = argv[2];
		return run_help(&a);
	}
	for (int j = 2; j < argc; j++)
		if (!strcmp(argv[j], "-help") || !strcmp(argv[j], "--help")) {
			a.help_mode = m->name;
			return run_help(&a);
		}
	for (int i = 2; i < argc; i++) {
		if (argv[i][0] != '-' || !argv[i][1]) {
			if (a.npos == (size_t)m->max_pos)
				return usage_error(m, "unexpected argument %s", argv[i]);
			a.pos[a.npos++] = argv[i];
			continue;
		}
		int rc = parse_opt(&a, m, argv[i]);
		if (rc)
			return rc;
	}
	if (a.npos < (size_t)m->needs_file)
		return usage_error(m, "missing arguments; %s takes them as the usage line shows", m->name);
	a.file = a.npos ? a.pos[0] : NULL;
	if (a.nexclude && m->run != run_make)
		return usage_error(m, "-x applies to -makel only%s", "");
	if (a.nmaps && m->run != run_restore)
		return usage_error(m, "-ap applies to -restorel only%s", "");
	return m->run(&a);
}
