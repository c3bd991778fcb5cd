/* cli.c - the img command line: one table of modes on the engine library.
 *
 * ZENworks-style syntax: img -makel FILE, img makel FILE and img ml FILE
 * are the same.  Exit status: 0 full success, 1 the job failed, 2 the
 * command line is wrong.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/num.h"
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
	const char *key;           /* -key=FILE */
	const char *mac;           /* -mac=MAC (img -auto) */
	int timeout;               /* -timeout=S */
	const char *timeout_arg;   /* its text (-session reads minutes) */
	/* -session */
	enum img_role role;
	unsigned clients;
	unsigned throttle;
	unsigned drop;
	unsigned wait;
	const char *iface;
	const char *image;
	int nocatchup;
	int address;
	int session;               /* parsing for -session */
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

/* The job the command line describes (server and path: see each mode). */
static struct ui_job job_of(struct args *a, const char *server, const char *path)
{
	struct ui_job j = {
		.disks = disk_list(a), .ndisks = a->ndisks, .level = a->level,
		.codec = a->codec, .exclude = a->exclude, .nexclude = a->nexclude,
		.maps = a->maps, .nmaps = a->nmaps, .threads = a->threads,
		.server = server, .keyfile = a->key, .timeout = a->timeout,
		.path = path, .mac = a->mac,
	};
	return j;
}

/* -makel FILE, or -makep SERVER PATH (net). */
static int make_any(struct args *a, int net)
{
	struct ui_job j = net ? job_of(a, a->pos[0], a->pos[1]) : job_of(a, NULL, a->file);
	struct ui_progress u;
	struct img_callbacks cb = { .progress = ui_progress_cb, .message = ui_message_cb, .ctx = &u };
	struct img_error e = {0};
	struct img_stats st;
	ui_progress_init(&u);
	int rc = ui_job_make(&j, net, &cb, &st, &e);
	ui_progress_end(&u);
	if (rc)
		return fail(&e, rc);
	summary("captured", &st);
	if (net)
		printf("%s:%s\n", a->pos[0], a->pos[1]);
	else
		printf("%s\n", a->file);
	return 0;
}

/* -restorel FILE, -verify FILE, or -restorep SERVER PATH. */
static int restore_any(struct args *a, enum ui_restore_how how)
{
	const char *image = how == UI_FROM_SERVER ? a->pos[1] : a->file;
	struct ui_job j = job_of(a, how == UI_FROM_SERVER ? a->pos[0] : NULL, image);
	struct ui_progress u;
	struct img_callbacks cb = { .progress = ui_progress_cb, .message = ui_message_cb, .ctx = &u };
	struct img_error e = {0};
	struct img_stats st;
	ui_progress_init(&u);
	int rc = ui_job_restore(&j, how, &cb, &st, &e);
	ui_progress_end(&u);
	if (rc)
		return fail(&e, rc);
	summary(how == UI_VERIFY_FILE ? "verified" : "restored", &st);
	if (how == UI_VERIFY_FILE)
		printf("%s: OK, %llu chunks verified\n", image,
		       (unsigned long long)st.chunks);
	return 0;
}

static int run_make(struct args *a) { return make_any(a, 0); }
static int run_makep(struct args *a) { return make_any(a, 1); }
static int run_restore(struct args *a) { return restore_any(a, UI_FROM_FILE); }
static int run_verify(struct args *a) { return restore_any(a, UI_VERIFY_FILE); }
static int run_restorep(struct args *a) { return restore_any(a, UI_FROM_SERVER); }

static int run_auto(struct args *a)
{
	const char *server = a->npos ? a->pos[0] : getenv("IMGSERVER");
	if (!server || !*server) {
		fprintf(stderr, "img: -auto needs the imaging server: img -auto SERVER[:PORT], "
			"or IMGSERVER in the environment\n");
		return 2;
	}
	struct ui_job j = job_of(a, server, NULL);
	struct img_auto_result r;
	struct ui_progress u;
	struct img_callbacks cb = { .progress = ui_progress_cb, .message = ui_message_cb, .ctx = &u };
	struct img_error e = {0};
	ui_progress_init(&u);
	int rc = ui_job_auto(&j, &cb, &r, &e);
	ui_progress_end(&u);
	if (rc)
		return fail(&e, rc);
	if (!strcmp(r.action, "none")) {
		printf("no imaging work for this workstation\n");
		return 0;
	}
	summary(!strcmp(r.action, "make") ? "captured" : "restored", &r.st);
	printf("%s %s on %s%s\n", r.action, r.path, r.server,
	       r.referred ? " (referred)" : "");
	return 0;
}

static int run_dump(struct args *a)
{
	struct img_layout *l = NULL;
	struct ui_progress u;
	struct img_callbacks cb = { .message = ui_message_cb, .ctx = &u };
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

/* ---- image-safe data (img -info zisd, img -zisedit) ------------------ */

static int usage_error(const struct mode *m, const char *fmt, const char *arg);
static const struct mode *find_mode(const char *s);

/* The disk the image-safe data lives on: the first -disk=, else the
 * machine's first fixed disk (*owned then holds the list: free it with
 * img_strv_free(*owned, *n)). */
static int isd_disk(struct args *a, const char **disk, char ***owned, size_t *n,
		    struct img_error *e)
{
	*owned = NULL;
	*n = 0;
	if (a->ndisks) {
		*disk = a->disks[0];
		return 0;
	}
	int rc = img_disks_default(owned, n, e);
	if (!rc && !*n) {
		snprintf(e->msg, sizeof(e->msg),
			 "no disk to work on: this machine has no fixed disk; name one with -disk=PATH");
		rc = -IMG_E_NODISK;
	}
	if (!rc)
		*disk = (*owned)[0];
	return rc;
}

static int run_zisd_info(struct args *a)
{
	struct img_error e = {0};
	struct img_isd isd;
	char buf[IMG_ISD_FORMAT_MAX], **owned;
	const char *disk;
	size_t n;
	int rc = isd_disk(a, &disk, &owned, &n, &e);
	if (rc)
		return fail(&e, rc);
	rc = img_isd_read(disk, &isd, &e);
	if (rc < 0) {
		rc = fail(&e, rc);
	} else if (rc == 0) {
		printf("Disk: %s\nImage-safe data: none\nWhy: %s\n", disk, e.msg);
	} else {
		img_isd_format(&isd, buf, sizeof(buf));
		printf("Disk: %s\nImage-safe data: yes\n%s", disk, buf);
		rc = 0;
	}
	img_strv_free(owned, n);
	return rc;
}

static int run_zisedit(struct args *a)
{
	const struct mode *m = find_mode("zisedit");
	struct img_error e = {0};
	struct img_isd isd;
	char buf[IMG_ISD_FORMAT_MAX], **owned;
	const char *disk;
	size_t n;
	int rc = isd_disk(a, &disk, &owned, &n, &e);
	if (rc)
		return fail(&e, rc);
	/* No record yet (or an unusable area) starts from an empty one: the
	 * write then says why the area cannot take it. */
	rc = img_isd_read(disk, &isd, &e);
	if (rc < 0) {
		rc = fail(&e, rc);
		goto out;
	}
	for (size_t i = 0; i < a->npos; i++)
		if ((rc = img_isd_set(&isd, a->pos[i], &e))) {
			rc = usage_error(m, "%s", e.msg);
			goto out;
		}
	rc = img_isd_write(disk, &isd, &e);
	if (rc == -IMG_E_USAGE) {
		rc = usage_error(m, "%s", e.msg);
	} else if (rc) {
		rc = fail(&e, rc);
	} else {
		img_isd_format(&isd, buf, sizeof(buf));
		printf("Disk: %s\nImage-safe data: yes\n%s", disk, buf);
	}
out:
	img_strv_free(owned, n);
	return rc;
}

static int run_info(struct args *a)
{
	if (a->npos == 1 && !strcmp(a->pos[0], "zisd"))
		return run_zisd_info(a);
	if (a->npos)
		return usage_error(find_mode("info"), "-info takes no argument, or zisd: %s",
				   a->pos[0]);
	char buf[8192];
	struct img_error e = {0};
	int rc = img_hwinfo(buf, sizeof(buf), &e);
	if (rc)
		return fail(&e, rc);
	fputs(buf, stdout);
	return 0;
}

static int parse_int(const char *s, long long lo, long long hi, int *out);

/* ---- multicast sessions ------------------------------------------------ */

/* Keys for the session (s/g start, m master): read from standard input
 * without waiting, a terminal switched to single keys meanwhile. */
static struct termios key_saved;
static int key_raw, key_eof;

static void key_restore(void)
{
	if (key_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &key_saved);
	key_raw = 0;
}

static void key_setup(void)
{
	struct termios t;
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &key_saved)) {
		t = key_saved;
		t.c_lflag &= ~(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (!tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
			key_raw = 1;
			atexit(key_restore);
		}
	}
}

static enum img_command key_poll(void *ctx)
{
	struct pollfd pf = { STDIN_FILENO, POLLIN, 0 };
	char c;
	(void)ctx;
	while (!key_eof && poll(&pf, 1, 0) > 0) {
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n <= 0) {
			key_eof = 1;
			break;
		}
		if (c == 's' || c == 'S' || c == 'g' || c == 'G')
			return IMG_CMD_START;
		if (c == 'm' || c == 'M')
			return IMG_CMD_MASTER;
	}
	return IMG_CMD_NONE;
}

/* The older form: img session NAME [master|client] [clients=N [t=MIN]]. */
static int session_positional(struct args *a, const struct mode *m)
{
	int n;
	for (size_t i = 1; i < a->npos; i++) {
		const char *p = a->pos[i];
		if (!strcmp(p, "master") || !strcmp(p, "m"))
			a->role = IMG_ROLE_MASTER;
		else if (!strcmp(p, "client") || !strcmp(p, "c"))
			a->role = IMG_ROLE_CLIENT;
		else if (!strncmp(p, "clients=", 8) && !parse_int(p + 8, 1, IMG_SESSION_MAX_CLIENTS, &n))
			a->clients = (unsigned)n;
		else if (!strncmp(p, "t=", 2))
			a->timeout_arg = p + 2;
		else
			return usage_error(m, "unexpected argument %s", p);
	}
	return 0;
}

static int run_session(struct args *a)
{
	const struct mode *m = find_mode("session");
	struct ui_session o = { .name = a->file };
	struct img_session_result r;
	struct img_error e = {0};
	char group[16];
	int rc = session_positional(a, m);
	if (rc)
		return rc;
	if (a->address) {
		if (img_session_address(a->file, group, &e))
			return fail(&e, 1) + 1;
		printf("%s\n", group);
		return 0;
	}
	if (a->timeout_arg &&
	    img_parse_real(a->timeout_arg, 0, IMG_SESSION_MAX_TIMEOUT_MIN, 1, &o.timeout_min))
		return usage_error(m, "-timeout takes minutes, more than 0 and at most "
				   IMG_STR(IMG_SESSION_MAX_TIMEOUT_MIN) " (0.5 = 30 s): %s",
				   a->timeout_arg);
	struct ui_job j = job_of(a, NULL, NULL);
	o.role = a->role;
	o.iface = a->iface;
	o.clients = a->clients;
	o.throttle = a->throttle;
	o.drop = a->drop;
	o.wait = a->wait;
	o.nocatchup = a->nocatchup;
	o.image = a->image;
	struct ui_progress u;
	struct img_callbacks cb = { .progress = ui_progress_cb, .message = ui_message_cb,
				    .command = key_poll, .ctx = &u };
	ui_progress_init(&u);
	if (a->role != IMG_ROLE_CLIENT)
		key_setup();
	rc = ui_job_session(&j, &o, &cb, &r, &e);
	key_restore();
	ui_progress_end(&u);
	if (r.role == IMG_ROLE_MASTER && r.npeers) {
		for (unsigned i = 0; i < r.npeers; i++) {
			const struct img_session_peer *p = &r.peers[i];
			fprintf(stderr, "img: session %s: %s (%s): %s%s%s%s\n", a->file, p->addr,
				p->host, p->state, p->note[0] ? " (" : "", p->note,
				p->note[0] ? ")" : "");
		}
		fprintf(stderr, "img: session %s: %u done, %u failed, %u dropped\n", a->file,
			r.done, r.failed, r.dropped);
	}
	if (rc)
		return fail(&e, rc);
	if (r.role == IMG_ROLE_MASTER) {
		summary("sent", &r.st);
	} else {
		fprintf(stderr, "img: session %s: %llu packets received, %llu found missing "
			"and %s\n", a->file, (unsigned long long)r.packets,
			(unsigned long long)r.lost, r.caught_up ? "fetched by unicast" : "repaired");
		summary(r.caught_up ? "restored (finished by unicast)" : "restored", &r.st);
	}
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
	{ "makep", "mp", 2, 2, run_makep,
	  "img -makep SERVER[:PORT] PATH -key=FILE [-comp=0..9] [-x=N ...] [-disk=PATH ...]",
	  "Make an image of the disks and store it on the imaging server as PATH\n"
	  "(relative to the server's image store).  The server checks the image as\n"
	  "it arrives and replaces PATH only when the whole image is there and\n"
	  "valid.  Writes need the site key (-key=FILE, the file the server has).\n"
	  "Options as for -makel, and -timeout=S: give up after S seconds without\n"
	  "progress (default 120).\n" },
	{ "restorep", "rp", 2, 2, run_restorep,
	  "img -restorep SERVER[:PORT] PATH [-ap=aN:pM ...] [-key=FILE] [-disk=PATH ...]",
	  "Restore the image PATH from the imaging server, writing while it arrives;\n"
	  "every chunk is verified before it is written.  Options as for -restorel.\n"
	  "-key=FILE when the server wants the key for restores; -timeout=S as for\n"
	  "-makep.\n" },
	{ "auto", "a", 0, 1, run_auto,
	  "img -auto [SERVER[:PORT]] [-mac=MAC] [-key=FILE] [-disk=PATH ...]",
	  "Automatic imaging: tell the server who this workstation is (MACs, DMI\n"
	  "serial and product, disks, memory, image-safe data) and do the work it\n"
	  "answers: restore an image, make one, or nothing.  The result is reported\n"
	  "to the server, which logs it.  SERVER defaults to $IMGSERVER.  Session\n"
	  "work joins that multicast session as a client (-timeout=S bounds the wait\n"
	  "for its master).\n"
	  "  -mac=MAC  report this MAC first (when the server knows the machine by\n"
	  "            another NIC's address)\n" },
	{ "session", "s", 1, 4, run_session,
	  "img -session NAME [-master|-client] [-clients=N] [-timeout=MIN] [-throttle=MS]\n"
	  "       [-comp=0..9] [-iface=IF] [-drop=SEC] [-image=FILE] [-wait=SEC]\n"
	  "       [-nocatchup] [-address] [-disk=PATH ...]",
	  "Multicast session: one master sends one image to every client that joined\n"
	  "the session NAME, at once.  All devices using the same NAME (letters,\n"
	  "digits, - _ ., case-blind) join one session on the group 231.x.y.z that\n"
	  "the name hashes to (-address prints it).  Older form:\n"
	  "img session NAME [master|client] [clients=N [t=MIN]].\n"
	  "  -master, -m     this device is the master: it captures its disks live\n"
	  "                  (or sends -image=FILE) and streams them\n"
	  "  -client, -c     this device restores its disks from the session\n"
	  "                  (neither: wait as a client; press m to be the master)\n"
	  "Master only:\n"
	  "  -clients=N      start when N clients have registered\n"
	  "  -timeout=MIN    start MIN minutes after the last registration (default\n"
	  "                  5; fractions allowed); the key s (or g) starts at once\n"
	  "  -throttle=MS    wait MS milliseconds between packets (default: as fast\n"
	  "                  as the clients take it)\n"
	  "  -comp=0..9      compression of the live image (1 fastest, default)\n"
	  "  -drop=SEC       drop a client silent, or unable to keep up, this long\n"
	  "                  (default 3); the others go on\n"
	  "Client only:\n"
	  "  -wait=SEC       give up when no master appears within SEC seconds\n"
	  "  -nocatchup      when dropped, fail instead of finishing by unicast from\n"
	  "                  the imaging server that mastered the session\n"
	  "  -key=FILE       site key, for that catch-up when the server wants it\n"
	  "  -iface=IF       network interface (default: the default route's)\n"
	  "A client that registers after the start is queued for the next session of\n"
	  "that name.  Every chunk is verified before it is written; a client exits 0\n"
	  "only when its disks are restored completely.\n" },
	{ "dump", "d", 0, 0, run_dump, "img -dump [-disk=PATH ...]",
	  "List disks and partitions: number, start sector, size, type, filesystem,\n"
	  "label and the bytes an image would store.\n" },
	{ "info", "i", 0, 1, run_info, "img -info [zisd] [-disk=PATH]",
	  "Show the hardware: disks, NICs with MAC addresses, memory, CPU, and the\n"
	  "DMI vendor, product and serial number.\n"
	  "img -info zisd shows the image-safe data of the first disk instead (see\n"
	  "img -help zisedit), or says that there is none and why.\n" },
	{ "zisedit", "zisedit", 1, 16, run_zisedit,
	  "img -zisedit KEY=VALUE ... [-disk=PATH]",
	  "Edit the image-safe data of the first disk: the workstation's own record\n"
	  "in the 4 KiB before 1 MiB, outside every partition, which every restore\n"
	  "keeps and no image carries.  Each KEY=VALUE sets one field; an empty\n"
	  "VALUE clears it:\n"
	  "  name=NAME          workstation name: up to 63 letters, digits, - _ .\n"
	  "  net=dhcp|static    how the workstation gets its address\n"
	  "  ip=A.B.C.D  mask=A.B.C.D  gateway=A.B.C.D   static settings\n"
	  "  dns=A.B.C.D[,...]  up to 4 DNS servers\n"
	  "  pending=0|1        imaging work is pending\n"
	  "  lastimage=TEXT  lasttime=UNIXTIME   last image applied (-restorel sets them)\n"
	  "net=static needs ip and mask.  Refused (exit 1) when the disk has no\n"
	  "partition table, a partition starts before 1 MiB, or the area holds other\n"
	  "data.  The record written is printed.\n" },
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

static unsigned mode_bit(const struct mode *m)
{
	return 1u << (m - modes);
}

static const struct mode *mode_at(size_t i)
{
	return i < IMG_ARRAY_SIZE(modes) && modes[i].run != run_help ? &modes[i] : NULL;
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
	printf("\nimg alone (or with only -disk=PATH options) on a terminal opens the menu:\n"
	       "imaging, restoring, the multicast wizard, partitions and information.\n");
	printf("\nShort forms: -ml, -rl, -mp, -rp, -a, -s; the leading dash is optional (img makel FILE).\n"
	       "img -help MODE describes one mode.  Exit status: 0 success, 1 failure,\n"
	       "2 bad command line.  See img(8), imgserv(8), img-image(5), img-protocol(7).\n");
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

/* A whole number in [lo, hi] (base/num.h), as an int. */
static int parse_int(const char *s, long long lo, long long hi, int *out)
{
	long long v;
	if (img_parse_int(s, lo, hi, &v))
		return -1;
	*out = (int)v;
	return 0;
}

/* ---- which modes take which option ----------------------------------- */

/* One bit per entry of modes[], in its order. */
enum {
	B_MAKEL = 1u << 0, B_RESTOREL = 1u << 1, B_MAKEP = 1u << 2, B_RESTOREP = 1u << 3,
	B_AUTO = 1u << 4, B_SESSION = 1u << 5, B_DUMP = 1u << 6, B_INFO = 1u << 7,
	B_ZISEDIT = 1u << 8, B_IMGINFO = 1u << 9, B_VERIFY = 1u << 10,
	B_MAKE = B_MAKEL | B_MAKEP | B_SESSION,
	B_JOBS = B_MAKEL | B_RESTOREL | B_MAKEP | B_RESTOREP | B_AUTO | B_SESSION | B_VERIFY,
	B_NET = B_MAKEP | B_RESTOREP | B_AUTO | B_SESSION,
	B_ALL = 0xfffu,
};

/* How an option's value is read. */
enum opt_kind {
	O_FLAG,     /* no value: sets the int field to lo */
	O_INT,      /* a whole number in [lo, hi] into an int field */
	O_UINT,     /* the same, into an unsigned field */
	O_TEXT,     /* a non-empty string into a const char * field */
	O_CUSTOM,   /* read by its own function */
};

struct opt_def;
typedef int (*opt_fn)(struct args *a, const struct opt_def *d, const char *v);

/* Every option: its name (flags whole, the others up to '='), the modes
 * that take it, how its value is read and into which field, its range
 * and the unit the range message names.  -auto takes no -comp or -codec:
 * the server's work says what to make, and img -auto makes it at the
 * defaults (img(8)). */
struct opt_def {
	const char *name;
	unsigned modes;
	enum opt_kind kind;
	size_t off;                /* the field in struct args */
	long long lo, hi;
	const char *unit;          /* "" or " seconds", ...; custom: the form */
	opt_fn fn;                 /* O_CUSTOM */
};

#define F(field) offsetof(struct args, field)

static int opt_disk(struct args *a, const struct opt_def *d, const char *v);
static int opt_exclude(struct args *a, const struct opt_def *d, const char *v);
static int opt_map(struct args *a, const struct opt_def *d, const char *v);
static int opt_codec(struct args *a, const struct opt_def *d, const char *v);
static int opt_mac(struct args *a, const struct opt_def *d, const char *v);
static int opt_timeout(struct args *a, const struct opt_def *d, const char *v);

static const struct opt_def opt_defs[] = {
	{ "-disk", B_ALL, O_CUSTOM, 0, 0, 0, "a device or file", opt_disk },
	{ "-comp", B_MAKE, O_INT, F(level), 0, 9, "", NULL },
	{ "-x", B_MAKE, O_CUSTOM, 0, 1, 65535, "a partition number", opt_exclude },
	{ "-ap", B_RESTOREL | B_RESTOREP, O_CUSTOM, 0, 0, 0,
	  "aN:pM, e.g. -ap=a2:p3", opt_map },
	{ "-codec", B_MAKE, O_CUSTOM, 0, 0, 0, "zstd or deflate", opt_codec },
	{ "-threads", B_JOBS, O_UINT, F(threads), 1, 64, "", NULL },
	{ "-key", B_NET, O_TEXT, F(key), 0, 0, "", NULL },
	{ "-mac", B_AUTO, O_CUSTOM, 0, 0, 0, "a MAC address, aa:bb:cc:dd:ee:ff", opt_mac },
	{ "-timeout", B_NET, O_CUSTOM, F(timeout), 5, 86400, " seconds", opt_timeout },
	{ "-master", B_SESSION, O_FLAG, F(role), IMG_ROLE_MASTER, 0, "", NULL },
	{ "-m", B_SESSION, O_FLAG, F(role), IMG_ROLE_MASTER, 0, "", NULL },
	{ "-client", B_SESSION, O_FLAG, F(role), IMG_ROLE_CLIENT, 0, "", NULL },
	{ "-c", B_SESSION, O_FLAG, F(role), IMG_ROLE_CLIENT, 0, "", NULL },
	{ "-clients", B_SESSION, O_UINT, F(clients), 1, IMG_SESSION_MAX_CLIENTS, "", NULL },
	{ "-throttle", B_SESSION, O_UINT, F(throttle), 0, IMG_SESSION_MAX_THROTTLE_MS,
	  " milliseconds", NULL },
	{ "-drop", B_SESSION, O_UINT, F(drop), IMG_SESSION_MIN_DROP_S, IMG_SESSION_MAX_DROP_S,
	  " seconds", NULL },
	{ "-wait", B_SESSION, O_UINT, F(wait), 1, IMG_SESSION_MAX_WAIT_S, " seconds", NULL },
	{ "-iface", B_SESSION, O_TEXT, F(iface), 0, 0, "", NULL },
	{ "-image", B_SESSION, O_TEXT, F(image), 0, 0, "", NULL },
	{ "-nocatchup", B_SESSION, O_FLAG, F(nocatchup), 1, 0, "", NULL },
	{ "-address", B_SESSION, O_FLAG, F(address), 1, 0, "", NULL },
};

static unsigned mode_bit(const struct mode *m);
static const struct mode *mode_at(size_t i);

/* The entry for s ("-comp=3", "-master"), or NULL. */
static const struct opt_def *opt_find(const char *s)
{
	size_t len = strcspn(s, "=");
	for (size_t i = 0; i < IMG_ARRAY_SIZE(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		if (strlen(d->name) == len && !strncmp(d->name, s, len))
			return d;
	}
	return NULL;
}

/* Refuse an option that m does not take, naming the modes that do. */
static int opt_allowed(const struct mode *m, const struct opt_def *d)
{
	if (d->modes & mode_bit(m))
		return 0;
	char owners[200] = "";
	for (size_t k = 0; mode_at(k); k++)
		if (d->modes & (1u << k))
			snprintf(owners + strlen(owners), sizeof(owners) - strlen(owners),
				 "%s-%s", owners[0] ? ", " : "", mode_at(k)->name);
	fprintf(stderr, "img -%s: %s is not an option of this mode (it belongs to %s)\n",
		m->name, d->name, owners);
	fprintf(stderr, "usage: %s\n", m->usage);
	return 2;
}

/* "-comp takes 0 to 9: -comp=x", "-ap takes aN:pM, ...: -ap=a1". */
static int opt_bad(const struct opt_def *d, const char *v)
{
	char what[200];
	if (d->kind == O_TEXT)
		snprintf(what, sizeof(what), "%s needs a value", d->name);
	else if (d->unit[0] && d->unit[0] != ' ')
		snprintf(what, sizeof(what), "%s takes %s", d->name, d->unit);
	else
		snprintf(what, sizeof(what), "%s takes %lld to %lld%s", d->name, d->lo, d->hi,
			 d->unit);
	fprintf(stderr, "img: %s: %s=%s\n", what, d->name, v);
	return 2;
}

static int opt_mac(struct args *a, const struct opt_def *d, const char *v)
{
	a->mac = v;
	return strlen(v) == 17 ? 0 : -1;
}

static int opt_disk(struct args *a, const struct opt_def *d, const char *v)
{
	if (a->ndisks == MAX_LIST || !*v)
		return -1;
	a->disks[a->ndisks++] = v;
	return 0;
}

static int opt_exclude(struct args *a, const struct opt_def *d, const char *v)
{
	long long n;
	if (a->nexclude == MAX_LIST || img_parse_int(v, d->lo, d->hi, &n))
		return -1;
	a->exclude[a->nexclude++] = (int)n;
	return 0;
}

static int opt_map(struct args *a, const struct opt_def *d, const char *v)
{
	if (a->nmaps == MAX_LIST || ui_map_parse(v, &a->maps[a->nmaps]))
		return -1;
	a->nmaps++;
	return 0;
}

static int opt_codec(struct args *a, const struct opt_def *d, const char *v)
{
	if (!strcmp(v, "zstd"))
		a->codec = IMG_CODEC_ZSTD;
	else if (!strcmp(v, "deflate"))
		a->codec = IMG_CODEC_DEFLATE;
	else
		return -1;
	return 0;
}

/* Seconds of silence for the unicast modes; -session reads its text as
 * minutes later (src/session.c states that range). */
static int opt_timeout(struct args *a, const struct opt_def *d, const char *v)
{
	long long n;
	a->timeout_arg = v;
	if (a->session)
		return 0;
	if (img_parse_int(v, d->lo, d->hi, &n))
		return -1;
	a->timeout = (int)n;
	return 0;
}

/* Read s for mode m into a by its entry in opt_defs. */
static int parse_opt(struct args *a, const struct mode *m, const char *s)
{
	const struct opt_def *d = opt_find(s);
	if (!d)
		return usage_error(m, "unknown option %s", s);
	int rc = opt_allowed(m, d);
	if (rc)
		return rc;
	const char *eq = strchr(s, '=');
	if ((d->kind == O_FLAG) != !eq)
		return usage_error(m, d->kind == O_FLAG ? "%s takes no value" :
				   "%s needs a value: NAME=VALUE", d->name);
	const char *v = eq ? eq + 1 : NULL;
	char *field = (char *)a + d->off;
	long long n;
	switch (d->kind) {
	case O_FLAG:
		*(int *)(void *)field = (int)d->lo;
		return 0;
	case O_INT:
	case O_UINT:
		if (img_parse_int(v, d->lo, d->hi, &n))
			break;
		if (d->kind == O_INT)
			*(int *)(void *)field = (int)n;
		else
			*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	case O_TEXT:
		if (!*v)
			break;
		*(const char **)(void *)field = v;
		return 0;
	case O_CUSTOM:
		if (!d->fn(a, d, v))
			return 0;
		break;
	}
	rc = opt_bad(d, v);
	fprintf(stderr, "usage: %s\n", m->usage);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { .level = 1, .codec = IMG_CODEC_ZSTD };
	int only_disks = 1;
	for (int i = 1; i < argc; i++)
		only_disks &= !strncmp(argv[i], "-disk=", 6) && argv[i][6];
	if (only_disks) {
		/* No mode: the menu on a terminal, on these disks (if any). */
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
			if (argc - 1 > MAX_LIST)
				return usage_error(NULL, "too many -disk options%s", "");
			for (int i = 1; i < argc; i++)
				a.disks[a.ndisks++] = argv[i] + 6;
			return ui_menu_run(disk_list(&a), a.ndisks);
		}
		a.help_mode = NULL;
		run_help(&a);
		return argc < 2 && isatty(STDIN_FILENO) ? 0 : 2;
	}
	/* The mode word: the first argument that names a mode; only options
	 * may come before it (img -disk=X -makel F). */
	int mi = 1;
	while (mi < argc && !find_mode(argv[mi]) && argv[mi][0] == '-' && argv[mi][1])
		mi++;
	const struct mode *m = mi < argc ? find_mode(argv[mi]) : NULL;
	if (!m) {
		int bad = 1;
		while (bad < argc - 1 && !strncmp(argv[bad], "-disk=", 6))
			bad++;
		return usage_error(NULL, "unknown mode %s", argv[mi < argc ? mi : bad]);
	}
	if (m->run == run_help) {
		if (argc > mi + 1)
			a.help_mode = argv[mi + 1];
		return run_help(&a);
	}
	for (int j = 1; j < argc; j++)
		if (!strcmp(argv[j], "-help") || !strcmp(argv[j], "--help")) {
			a.help_mode = m->name;
			return run_help(&a);
		}
	a.session = m->run == run_session;
	for (int i = 1; i < argc; i++) {
		if (i == mi)
			continue;
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
	if (a.nexclude && m->run != run_make && m->run != run_makep && m->run != run_session)
		return usage_error(m, "-x applies to -makel and -makep only%s", "");
	if (a.nmaps && m->run != run_restore && m->run != run_restorep)
		return usage_error(m, "-ap applies to -restorel and -restorep only%s", "");
	return m->run(&a);
}
