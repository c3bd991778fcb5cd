/* img.h - the public interface of the img imaging engine.
 *
 * The engine is a library: it never prints, prompts or exits.  It reports
 * through the callbacks in struct img_callbacks and returns 0 or a negative
 * code: -errno for system errors, -IMG_E_* for the engine's own.  Detail
 * text goes into an optional struct img_error.  Front ends (ui/, the server,
 * tests) include only this header.
 */
#ifndef IMG_H
#define IMG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/msg.h"

#define IMG_VERSION_STRING "0.1.0"


struct img_progress {
	const char *phase;   /* "capture", "restore", "verify", "scan" */
	int part;            /* global partition number being worked on, 0 the
			      * boot area, -1 the image as a whole */
	uint64_t done;       /* bytes of used data done */
	uint64_t total;      /* bytes of used data in all (0 if unknown) */
	double elapsed;      /* seconds since the job started */
	double rate;         /* bytes/s over the whole job so far */
};

struct img_session_peer;

/* What the user asks for while a multicast session waits.  The front end
 * maps its keys or buttons to these; the engine never sees a key. */
enum img_command {
	IMG_CMD_NONE = 0,
	IMG_CMD_START = 1,         /* the master: start the session now */
	IMG_CMD_MASTER = 2,        /* a device still asking: become the master */
	IMG_CMD_GIVE_UP = 3,       /* stop waiting, as when cancel() says so */
};

/* All callbacks are optional and called from the calling thread only.
 * cancel() is polled; a non-zero answer stops the job with IMG_E_CANCELLED. */
struct img_callbacks {
	void (*progress)(void *ctx, const struct img_progress *p);
	void (*message)(void *ctx, enum img_level level, const char *text);
	int (*cancel)(void *ctx);
	void *ctx;
	/* Polled while a multicast session waits: what the user asked for
	 * since the last call, IMG_CMD_NONE for nothing. */
	enum img_command (*command)(void *ctx);
	/* Multicast master only: the registered receivers as they stand,
	 * called while the session waits for its start and while it runs
	 * (often: throttle the drawing).  peers is valid during the call. */
	void (*peers)(void *ctx, const struct img_session_peer *peers, unsigned n);
};

/* ---- layout: what a set of disks (or an image) holds ------------------ */

enum img_table { IMG_TABLE_NONE = 0, IMG_TABLE_MSDOS = 1, IMG_TABLE_GPT = 2 };

enum img_pkind {
	IMG_PK_DATA = 0,      /* a partition holding data */
	IMG_PK_EXTENDED = 1,  /* MBR extended container (no data of its own) */
	IMG_PK_BOOTAREA = 2,  /* bytes between the table and the first partition */
};

enum img_capture {
	IMG_CAP_FS = 0,       /* used blocks from the filesystem's own map */
	IMG_CAP_RAW = 1,      /* every byte, all-zero chunks recorded as zero */
	IMG_CAP_EXCLUDED = 2, /* left out by request (-x) */
	IMG_CAP_NONE = 3,     /* nothing to capture (extended container) */
};

struct img_extent {
	uint64_t start;      /* bytes from the partition start */
	uint64_t len;        /* bytes */
};

struct img_part {
	int number;          /* global number across all disks, 1-based; 0 boot area */
	int table_number;    /* number in its disk's table (1..4 primary, 5.. logical) */
	int disk;            /* index into img_layout.disks */
	enum img_pkind kind;
	uint64_t start;      /* bytes from the disk start */
	uint64_t length;     /* bytes */
	char type[40];       /* MBR "0x83" or GPT type GUID */
	char name[72];       /* GPT partition name (UTF-8) */
	uint64_t flags;      /* GPT attributes; bit 7 of MBR status as bit 0 */
	char fs[16];         /* "ext4", "ntfs", "vfat", "swap", "raw", ... */
	char label[64];
	char uuid[48];
	uint32_t unit;       /* filesystem block size in bytes */
	enum img_capture capture;
	char note[160];      /* why raw, when raw */
	uint64_t used;       /* bytes to capture */
	struct img_extent *ext; /* sorted, disjoint, inside [0, length) */
	size_t next;
};

struct img_rawsect {
	uint64_t offset;     /* bytes from the disk start */
	uint32_t len;
	uint8_t *data;
};

struct img_disk {
	char path[256];
	char model[96];
	uint64_t size;       /* bytes */
	uint32_t sector;     /* logical sector size */
	enum img_table table;
	struct img_rawsect *raw; /* table sectors: MBR, EBRs, GPT headers+entries */
	size_t nraw;
};

struct img_layout {
	uint64_t created;    /* unix time (images only) */
	char host[64];       /* creator host name (images only) */
	char tool[32];       /* creator program and version (images only) */
	uint32_t chunk;      /* chunk window size in bytes (images only) */
	int codec;           /* default codec (images only) */
	int level;           /* -comp level (images only) */
	struct img_disk *disks;
	size_t ndisks;
	struct img_part *parts;  /* all disks, in disk then start order */
	size_t nparts;
};

void img_layout_free(struct img_layout *l);

/* ---- disks ----------------------------------------------------------- */

/* The machine's fixed disks from sysfs (no loop, ram, zram, optical,
 * removable).  *paths is a malloc'd array of malloc'd strings; free with
 * img_strv_free.  Returns 0 with *n == 0 when there are none. */
int img_disks_default(char ***paths, size_t *n, struct img_error *err);
void img_strv_free(char **v, size_t n);

/* Scan disks (block devices or disk-image files): tables, partitions,
 * filesystems, used blocks.  *out is malloc'd; free with img_layout_free. */
int img_scan(const char *const *disks, size_t ndisks, struct img_layout **out,
	     const struct img_callbacks *cb, struct img_error *err);

/* ---- images ---------------------------------------------------------- */

enum img_codec { IMG_CODEC_STORED = 0, IMG_CODEC_ZSTD = 1,
		 IMG_CODEC_DEFLATE = 2, IMG_CODEC_ZERO = 3 };

/* Where an image goes: write all len bytes or fail (negative code). */
struct img_sink {
	int (*write)(void *ctx, const void *buf, size_t len);
	void *ctx;
};

/* Where an image comes from: read up to len bytes, return count, 0 at end,
 * negative code on error. */
struct img_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
};

struct img_make_opts {
	const char *const *disks;   /* NULL: img_disks_default() */
	size_t ndisks;
	int level;                  /* -comp 0..9; default 1 */
	enum img_codec codec;       /* IMG_CODEC_ZSTD or IMG_CODEC_DEFLATE */
	const int *exclude;         /* global partition numbers to leave out */
	size_t nexclude;
	unsigned threads;           /* 0: one per online core */
};

struct img_stats {
	uint64_t raw_bytes;         /* used data captured or restored */
	uint64_t stored_bytes;      /* bytes of chunk payload in the image */
	uint64_t image_bytes;       /* whole image size */
	uint64_t chunks;
	double seconds;
};

/* Capture the disks into an image written to sink, in one pass, never
 * seeking.  On error the sink has received a partial image: the caller
 * must discard it. */
int img_make(const struct img_make_opts *o, const struct img_sink *sink,
	     const struct img_callbacks *cb, struct img_stats *st,
	     struct img_error *err);

/* img_make into a local file: written as PATH.partial, fsynced and renamed
 * over PATH only on success; on failure PATH is untouched. */
int img_make_file(const struct img_make_opts *o, const char *path,
		  const struct img_callbacks *cb, struct img_stats *st,
		  struct img_error *err);

/* -ap=aN:pM: image partition N goes into target partition M. */
struct img_map { int from; int to; };

struct img_restore_opts {
	const char *const *disks;   /* targets; NULL: img_disks_default() */
	size_t ndisks;
	const struct img_map *maps; /* none: whole disks, tables included */
	size_t nmaps;
	unsigned threads;           /* 0: one per online core */
	int verify_only;            /* check every chunk, write nothing */
	const char *image_name;     /* recorded as last image in the target's
				     * image-safe data when the restore
				     * succeeds; NULL: not recorded */
};

/* Restore (or verify) an image read from src.  Nothing is written before
 * the image header and tables have been validated against the targets.
 * A failure after writing began is reported as such (the target is then
 * incomplete). */
int img_restore(const struct img_restore_opts *o, const struct img_source *src,
		const struct img_callbacks *cb, struct img_stats *st,
		struct img_error *err);

/* img_restore from a local file. */
int img_restore_file(const struct img_restore_opts *o, const char *path,
		     const struct img_callbacks *cb, struct img_stats *st,
		     struct img_error *err);

/* Read only the header of an image file: its disks and partitions. */
int img_image_layout(const char *path, struct img_layout **out,
		     struct img_error *err);

/* ---- hardware -------------------------------------------------------- */

/* Append a human-readable hardware report (disks, NICs with MACs, memory,
 * CPU, DMI vendor/product/serial) as "Name: value" lines into buf.
 * Returns 0 or a negative code. */
int img_hwinfo(char *buf, size_t cap, struct img_error *err);

/* ---- the imaging server (imgserv), man/img-protocol.7 ------------------ */

struct img_net {
	const char *server;   /* HOST[:PORT]; port 998 when left out */
	const char *keyfile;  /* the site key file, or NULL */
	int timeout;          /* seconds without progress before giving up; 0: 120 */
};

/* img_make into the image PATH (relative, inside the server's store).
 * Needs the site key.  The server checks the stream as it arrives and
 * replaces PATH only when it is complete and valid. */
int img_make_net(const struct img_make_opts *o, const struct img_net *n,
		 const char *path, const struct img_callbacks *cb,
		 struct img_stats *st, struct img_error *err);

/* img_restore from the server's image PATH, writing while it arrives. */
int img_restore_net(const struct img_restore_opts *o, const struct img_net *n,
		    const char *path, const struct img_callbacks *cb,
		    struct img_stats *st, struct img_error *err);

/* Automatic imaging: tell the server who this workstation is, do the work
 * it answers (restore, make, or nothing), report the outcome. */
struct img_auto_opts {
	const struct img_net *net;
	const char *const *disks;  /* NULL: the machine's fixed disks */
	size_t ndisks;
	const char *mac;           /* report this MAC first (tests, odd NICs) */
	unsigned threads;
};
struct img_auto_result {
	char action[16];           /* "none", "restore", "make", "session" */
	char path[1024];           /* image path, or session name */
	char server[300];          /* where the work was done */
	int referred;              /* 1: the first server referred us */
	struct img_stats st;
};
int img_auto(const struct img_auto_opts *o, const struct img_callbacks *cb,
	     struct img_auto_result *res, struct img_error *err);

/* The server's statistics as "Name: value" lines into buf. */
int img_server_stats(const struct img_net *n, char *buf, size_t cap,
		     struct img_error *err);

/* Pending one-shot work on the server (needs the site key): action
 * "restore", "make" or "session" with arg, "clear", or "list" (the list
 * goes into buf). */
int img_server_work(const struct img_net *n, const char *mac,
		    const char *action, const char *arg, char *buf, size_t cap,
		    struct img_error *err);

/* ---- multicast sessions (img-protocol(7), MULTICAST SESSIONS) ----------- */

enum img_role { IMG_ROLE_ASK = 0, IMG_ROLE_MASTER = 1, IMG_ROLE_CLIENT = 2 };

/* Session limits: the one definition the command line, the menu's wizard
 * and imgserv check against (img(8), imgserv(8)).  The client count is
 * what the transport can register (proto/mcast.h MC_MAXPEERS); the
 * timeout (minutes, fractions allowed) is a day, as imgserv documented. */
#define IMG_SESSION_MAX_CLIENTS 256
#define IMG_SESSION_MAX_TIMEOUT_MIN 1440
#define IMG_SESSION_MAX_THROTTLE_MS 10000
#define IMG_SESSION_MIN_DROP_S 1
#define IMG_SESSION_MAX_DROP_S 3600
#define IMG_SESSION_MAX_WAIT_S 604800
/* A limit as text, for messages: IMG_STR(IMG_SESSION_MAX_CLIENTS) is "256". */
#define IMG_STR_(x) #x
#define IMG_STR(x) IMG_STR_(x)

struct img_session_opts {
	const char *name;          /* session name (proto_session_check) */
	enum img_role role;        /* ASK: client, until IMG_CMD_MASTER comes */
	const char *iface;         /* NULL: the default route's interface, else
				    * the only non-loopback one that is up */
	/* master */
	unsigned clients;          /* start when this many registered; 0: no count */
	double timeout_min;        /* start this long after the last
				    * registration (or after the start, with
				    * none yet); 0: 5 minutes */
	unsigned throttle_ms;      /* ms between packets; 0: as fast as the
				    * receivers allow */
	unsigned drop_s;           /* drop a receiver silent this long, or one
				    * that cannot keep up for this long; 0: 3 */
	const struct img_make_opts *make;  /* device master: capture these */
	const char *image;         /* or: send this image file */
	int image_fd;              /* or (image NULL, image_fd > 0): this open file */
	const char *image_name;    /* announced: the image's path in this
				    * host's imgserv store, so dropped
				    * receivers can finish by unicast; NULL */
	int server_port;           /* announced with image_name; 0: 998 */
	/* client */
	const struct img_restore_opts *restore;
	const char *keyfile;       /* site key for a unicast catch-up */
	unsigned wait_s;           /* give up when no master appears in time; 0: wait */
	int no_catchup;            /* 1: a dropped client fails instead of
				    * finishing by unicast */
};

/* One registered receiver, as the master sees it. */
struct img_session_peer {
	char addr[48];             /* "198.18.0.11" */
	char host[64];             /* the name it registered with */
	char state[16];            /* registered, receiving, done, failed,
				    * dropped, left */
	uint64_t bytes;            /* image bytes it has received in order */
	char note[160];            /* why failed or dropped */
};

struct img_session_result {
	enum img_role role;        /* what this device was */
	char group[16];            /* the 231.x.y.z group */
	unsigned registered, done, failed, dropped;
	struct img_session_peer peers[64]; /* master: the first 64 receivers */
	unsigned npeers;
	int caught_up;             /* client: finished by unicast after a drop */
	uint64_t packets;          /* client: session packets received */
	uint64_t lost;             /* client: packets found missing (then
				    * repaired, or fetched by the catch-up) */
	struct img_stats st;
};

/* Run one multicast session: as master, wait for the receivers and the
 * start condition, then capture (o->make) or read (o->image, o->image_fd)
 * the image and send it until every healthy receiver has it; as client,
 * register, restore as the data arrives (every chunk verified before it
 * is written) and report the outcome to the master.  A master succeeds
 * when every receiver that stayed reports success; res says which did not. */
/* The group a session name maps to ("231.x.y.z"), or -IMG_E_USAGE for a
 * bad name. */
int img_session_address(const char *name, char group[16], struct img_error *err);

/* Check o's counts and times against the session limits above (0 means
 * the default everywhere).  Returns 0, or -IMG_E_USAGE with the field and
 * its range in err.  img_session checks the same before it starts. */
int img_session_opts_check(const struct img_session_opts *o, struct img_error *err);

int img_session(const struct img_session_opts *o,
		const struct img_callbacks *cb, struct img_session_result *res,
		struct img_error *err);

/* ---- image-safe data ------------------------------------------------ */

/* Image-safe data (ZENworks' "ZISD"): a small record of the workstation's
 * own identity on the first disk of a job, outside every partition, that
 * survives every restore: a whole-disk restore puts back what the target
 * held, capture never stores it in an image.  It lives in the
 * IMG_ISD_SIZE bytes ending at 1 MiB, and only on a disk with an MBR or
 * GPT whose partitions all start at or after 1 MiB (a GPT's primary entry
 * array must also end before the area).  Record layout: img(8), section
 * IMAGE-SAFE DATA.  These functions keep no state: any thread may call
 * them, on different disks at once. */
#define IMG_ISD_OFFSET 1044480ULL   /* bytes from the disk start */
#define IMG_ISD_SIZE 4096u
#define IMG_ISD_NAME_MAX 63         /* bytes, without the NUL */
#define IMG_ISD_DNS_MAX 4           /* DNS servers */
#define IMG_ISD_IMAGE_MAX 255       /* bytes of the last image's name */
#define IMG_ISD_FORMAT_MAX 1024     /* img_isd_format never needs more */

enum img_isd_net { IMG_ISD_NET_UNSET = 0, IMG_ISD_NET_DHCP = 1,
		   IMG_ISD_NET_STATIC = 2 };

/* All text is NUL-terminated; "" means not set.  A zeroed struct is an
 * empty record.  Addresses are dotted IPv4 in canonical form. */
struct img_isd {
	char name[IMG_ISD_NAME_MAX + 1]; /* workstation name */
	enum img_isd_net net;
	char ip[16];
	char mask[16];                   /* contiguous netmask */
	char gateway[16];
	char dns[IMG_ISD_DNS_MAX * 16];  /* comma-separated, at most 4 */
	char last_image[IMG_ISD_IMAGE_MAX + 1];
	int64_t last_time;               /* unix time it was applied, 0 never */
	int pending;                     /* 1: imaging work is pending */
};

/* Read the image-safe data of disk (a block device or disk-image file;
 * NULL: the machine's first fixed disk) into *out.  Returns 1 when a valid
 * record was found, 0 when there is none (*out is then empty and err->msg,
 * with err->code 0, says why: no usable area, an all-zero area, other
 * data, a damaged record or an unknown version), or a negative code when
 * the disk cannot be read.  Reads only. */
int img_isd_read(const char *disk, struct img_isd *out, struct img_error *err);

/* Write isd as disk's image-safe data (disk as for img_isd_read).  The
 * record is checked first (-IMG_E_USAGE: a bad field, or net static
 * without ip and mask).  Refused, with nothing written and err naming the
 * disk and the reason, when the disk has no usable area (-IMG_E_TABLE) or
 * the area holds anything but zeros or a valid record (-IMG_E_BUSY).
 * Writes the IMG_ISD_SIZE bytes of the area and nothing else, then
 * flushes.  The disk is not opened exclusively: the area lies outside
 * every partition, so mounted filesystems on the disk are not disturbed. */
int img_isd_write(const char *disk, const struct img_isd *isd,
		  struct img_error *err);

/* Set one field from "key=value": name, net (dhcp|static), ip, mask,
 * gateway, dns (comma-separated), lastimage, lasttime (unix time),
 * pending (0|1); an empty value clears the field.  Keys are case-blind.
 * Returns 0, or -IMG_E_USAGE with err saying what is wrong (*isd is then
 * unchanged). */
int img_isd_set(struct img_isd *isd, const char *key_eq_value,
		struct img_error *err);

/* isd as "Name: value" lines (unset fields as "(none)") into buf.
 * Returns 0, or -ENOSPC when cap is too small (buf then holds as much as
 * fits, NUL-terminated); IMG_ISD_FORMAT_MAX bytes always suffice. */
int img_isd_format(const struct img_isd *isd, char *buf, size_t cap);


/* ---- partition editing (the menu's Partitions screen) ----------------
 * Change a disk's msdos or GPT table through libparted; disk is a block
 * device or a disk-image file.  Nothing is formatted.  Errors name the
 * disk and the partition; nothing is written when a check fails.  number
 * is the partition's number in its disk's table (img_part.table_number).
 * Not thread-safe (libparted's exception handler is global). */

/* Add a primary partition of size bytes (0: the whole free region) in the
 * first free region that holds it, starting on a MiB boundary.  type is
 * "linux" (also NULL), "swap", "fat32" or "ntfs".  *number (may be NULL)
 * gets the new partition's number. */
int img_part_create(const char *disk, uint64_t size, const char *type, int *number,
		    struct img_error *err);

/* Remove partition number from the table (-IMG_E_BUSY when it is in use).
 * Its data stay on the disk but are no longer reachable by the table. */
int img_part_delete(const char *disk, int number, struct img_error *err);

/* Make partition number the active (boot) one: msdos boot flag, GPT
 * legacy BIOS bootable attribute; cleared on every other partition. */
int img_part_set_active(const char *disk, int number, struct img_error *err);

#endif
