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

#define IMG_VERSION_STRING "0.1.0"

/* Engine error codes.  Returned negated.  Never renumber; append only. */
enum img_errcode {
	IMG_E_BASE = 1000,
	IMG_E_USAGE = 1000,     /* bad arguments to an engine call */
	IMG_E_FORMAT = 1001,    /* not an img image (bad magic) */
	IMG_E_VERSION = 1002,   /* image version or feature not supported */
	IMG_E_CORRUPT = 1003,   /* malformed record, bad CRC, bad field */
	IMG_E_TRUNCATED = 1004, /* image ends before its trailer */
	IMG_E_DIGEST = 1005,    /* chunk data does not match its digest */
	IMG_E_TOOSMALL = 1006,  /* target disk or partition too small */
	IMG_E_SECTOR = 1007,    /* logical sector sizes differ */
	IMG_E_BUSY = 1008,      /* target is mounted or in use */
	IMG_E_FS = 1009,        /* filesystem unreadable or dirty */
	IMG_E_TABLE = 1010,     /* partition table unreadable or unusable */
	IMG_E_NOTFOUND = 1011,  /* named partition or disk does not exist */
	IMG_E_CANCELLED = 1012, /* stopped by the caller */
	IMG_E_NODISK = 1013,    /* no disk to work on */
	IMG_E_MISMATCH = 1014,  /* image layout does not fit the target */
	IMG_E_LIMIT = 1015,     /* a hard size limit was exceeded */
	IMG_E_CODEC = 1016,     /* compression library failed */
	IMG_E_END
};

/* Detail for the last error.  msg names what failed and where. */
struct img_error {
	int code;        /* same value the function returned */
	char msg[512];
};

/* Text for a code returned by any img_ function (negative or positive). */
const char *img_strerror(int code);

/* Messages the engine reports while working. */
enum img_level { IMG_INFO = 0, IMG_WARN = 1, IMG_DEBUG = 2 };

struct img_progress {
	const char *phase;   /* "capture", "restore", "verify", "scan" */
	int part;            /* global partition number being worked on, 0 none */
	uint64_t done;       /* bytes of used data done */
	uint64_t total;      /* bytes of used data in all (0 if unknown) */
	double elapsed;      /* seconds since the job started */
	double rate;         /* bytes/s over the whole job so far */
};

/* All callbacks are optional and called from the calling thread only.
 * cancel() is polled; a non-zero answer stops the job with IMG_E_CANCELLED. */
struct img_callbacks {
	void (*progress)(void *ctx, const struct img_progress *p);
	void (*message)(void *ctx, enum img_level level, const char *text);
	int (*cancel)(void *ctx);
	void *ctx;
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

#endif
