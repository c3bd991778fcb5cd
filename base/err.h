/* base/err.h - the one error convention of every room.
 *
 * Functions return 0 or a negative code: -errno for system errors, -IMG_E_*
 * for our own.  Detail text goes into an optional struct img_error owned by
 * the caller.  Codes are stable: exit statuses, wire status codes and logs
 * carry them, so they are never renumbered, only appended.
 */
#ifndef IMG_BASE_ERR_H
#define IMG_BASE_ERR_H

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
	IMG_E_PROTO = 1017,     /* malformed or unexpected network message */
	IMG_E_CLOSED = 1018,    /* the peer closed the connection */
	IMG_E_AUTH = 1019,      /* site key missing, wrong or not configured */
	IMG_E_REFUSED = 1020,   /* the server refused the request */
	IMG_E_REFERRED = 1021,  /* the image is on another imaging server */
	IMG_E_DROPPED = 1022,   /* dropped from a multicast session */
	IMG_E_LATE = 1023,      /* the multicast session started without us */
	IMG_E_TIMEOUT = 1024,   /* nothing happened within the time allowed */
	IMG_E_END
};

/* Detail for the last error.  msg names what failed and where. */
struct img_error {
	int code;        /* same value the function returned */
	char msg[512];
};

/* Text for a code returned by any img_ function (negative or positive). */
const char *img_strerror(int code);

/* Set err (if not NULL) to code with a formatted message; returns the
 * negative code, so callers can write: return img_err_set(err, -EIO, ...). */
int img_err_set(struct img_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
