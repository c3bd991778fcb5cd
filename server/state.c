/* state.c - imgserv's durable state in one SQLite database (see state.h).
 *
 * One connection, opened SQLITE_OPEN_FULLMUTEX, shared by every thread,
 * and s->mu held around each operation: the cached prepared statements,
 * sqlite3_changes(), sqlite3_last_insert_rowid() and sqlite3_errmsg()
 * belong to the connection, so one operation at a time keeps a statement
 * from being reset under another thread and the error text the one of our
 * own failure.  The lock is never held while writing to a caller's FILE:
 * listings are read a page at a time into memory under the lock and
 * written out after it is released, so a slow reader of a dump does not
 * stall the server.
 *
 * SQL text is constant; data only travels as bound parameters.  Every
 * string that reaches the database is cut to a cap per field (on a UTF-8
 * character boundary), except image paths, which are refused when too
 * long because a cut path names another file; so a listing page has a
 * bounded size.
 *
 * The file is marked as ours with PRAGMA application_id ("imgS") and its
 * schema version with PRAGMA user_version.  A file that is not an SQLite
 * database, or an SQLite database of some other program, is refused with
 * -IMG_E_CORRUPT; a newer schema with -IMG_E_VERSION.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/err.h"
#include "state.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define SCHEMA_VERSION 1
#define APP_ID 1768777555	/* 0x696d6753, "imgS" */

#define CAP_SHORT 256		/* source, mac, type, result, station fields */
#define CAP_PATH 4096		/* image paths, work arguments */
#define CAP_ERROR 1024		/* error text */
#define CAP_HWINFO 65536	/* station hardware description */
#define MAC_LEN 17		/* "aa:bb:cc:dd:ee:ff" */
#define PAGE_ROWS 128		/* rows read per lock hold in listings */
#define TIME_MAX 253402300799.0	/* 9999-12-31T23:59:59Z */
#define TIME_BUF 80		/* fmt_time() with any int fields */

enum {
	Q_LOG_BEGIN,
	Q_LOG_END,
	Q_LOG_PAGE,
	Q_STATION_SEEN,
	Q_STATION_IMAGE,
	Q_STATION_PAGE,
	Q_WORK_SET,
	Q_WORK_CLEAR,
	Q_WORK_GET,
	Q_WORK_PAGE,
	Q_STATION_LAST,
	Q_COUNT
};

/* The *_PAGE queries share a shape: ?1 is the key to continue after, ?2
 * the row limit, the key comes back in column 0. */
static const char *const queries[Q_COUNT] = {
	[Q_LOG_BEGIN] =
		"INSERT INTO log (source, mac, type, path, start, \"end\", bytes,"
		" result, error) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 'running', '')",
	/* Only a running record is completed: the log is append-only. */
	[Q_LOG_END] =
		"UPDATE log SET \"end\" = ?2, bytes = ?3, result = ?4, error = ?5"
		" WHERE id = ?1 AND \"end\" = 0",
	[Q_LOG_PAGE] =
		"SELECT id, start, \"end\", source, mac, type, path, bytes, result,"
		" error FROM log WHERE id > ?1 ORDER BY id LIMIT ?2",
	/* NULL strings and zero sizes keep what is stored (empty or zero for
	 * a new station): a report that lacks a field does not erase it. */
	[Q_STATION_SEEN] =
		"INSERT INTO stations (mac, hostname, serial, product, hwinfo,"
		" disk_bytes, mem_bytes, address, first_seen, last_seen)"
		" VALUES (?1, coalesce(?2, ''), coalesce(?3, ''), coalesce(?4, ''),"
		" coalesce(?5, ''), ?6, ?7, coalesce(?8, ''), ?9, ?9)"
		" ON CONFLICT (mac) DO UPDATE SET"
		" hostname = coalesce(?2, hostname),"
		" serial = coalesce(?3, serial),"
		" product = coalesce(?4, product),"
		" hwinfo = coalesce(?5, hwinfo),"
		" disk_bytes = CASE WHEN ?6 > 0 THEN ?6 ELSE disk_bytes END,"
		" mem_bytes = CASE WHEN ?7 > 0 THEN ?7 ELSE mem_bytes END,"
		" address = coalesce(?8, address),"
		" last_seen = ?9",
	/* A station that never reported (a plain put or get) is created. */
	[Q_STATION_IMAGE] =
		"INSERT INTO stations (mac, first_seen, last_seen, last_image,"
		" last_image_time) VALUES (?1, ?3, ?3, ?2, ?3)"
		" ON CONFLICT (mac) DO UPDATE SET last_image = ?2,"
		" last_image_time = ?3",
	[Q_STATION_PAGE] =
		"SELECT mac, hostname, serial, product, disk_bytes, mem_bytes,"
		" address, first_seen, last_seen, last_image, last_image_time"
		" FROM stations WHERE mac > ?1 ORDER BY mac LIMIT ?2",
	[Q_WORK_SET] =
		"INSERT INTO work (mac, action, arg, created)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (mac) DO UPDATE SET"
		" action = ?2, arg = ?3, created = ?4",
	[Q_WORK_CLEAR] = "DELETE FROM work WHERE mac = ?1",
	[Q_WORK_GET] = "SELECT action, arg FROM work WHERE mac = ?1",
	[Q_WORK_PAGE] =
		"SELECT mac, action, arg, created FROM work WHERE mac > ?1"
		" ORDER BY mac LIMIT ?2",
	[Q_STATION_LAST] = "SELECT last_image FROM stations WHERE mac = ?1",
};

/* Schema version 1, created in one transaction. */
static const char *const schema[] = {
	"CREATE TABLE log ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" source TEXT NOT NULL DEFAULT '',"
	" mac TEXT NOT NULL DEFAULT '',"
	" type TEXT NOT NULL DEFAULT '',"
	" path TEXT NOT NULL DEFAULT '',"
	" start REAL NOT NULL DEFAULT 0,"
	" \"end\" REAL NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0,"
	" result TEXT NOT NULL DEFAULT '',"
	" error TEXT NOT NULL DEFAULT '')",
	"CREATE TABLE stations ("
	" mac TEXT PRIMARY KEY NOT NULL,"
	" hostname TEXT NOT NULL DEFAULT '',"
	" serial TEXT NOT NULL DEFAULT '',"
	" product TEXT NOT NULL DEFAULT '',"
	" hwinfo TEXT NOT NULL DEFAULT '',"
	" disk_bytes INTEGER NOT NULL DEFAULT 0,"
	" mem_bytes INTEGER NOT NULL DEFAULT 0,"
	" address TEXT NOT NULL DEFAULT '',"
	" first_seen REAL NOT NULL DEFAULT 0,"
	" last_seen REAL NOT NULL DEFAULT 0,"
	" last_image TEXT NOT NULL DEFAULT '',"
	" last_image_time REAL NOT NULL DEFAULT 0)",
	"CREATE TABLE work ("
	" mac TEXT PRIMARY KEY NOT NULL,"
	" action TEXT NOT NULL,"
	" arg TEXT NOT NULL DEFAULT '',"
	" created REAL NOT NULL DEFAULT 0)",
	"PRAGMA application_id = " STR(APP_ID),
	"PRAGMA user_version = " STR(SCHEMA_VERSION),
};

struct srv_state {
	sqlite3 *db;
	pthread_mutex_t mu;	/* one operation at a time, see above */
	sqlite3_stmt *q[Q_COUNT];
	char path[PATH_MAX];
};

/* ---- errors, time, strings ------------------------------------------- */

/* Report a failed SQLite call rc while doing what.  Call with s->mu held
 * (or before s is shared) and before resetting the statement, so the
 * connection's message is still this failure's. */
static int db_err(struct srv_state *s, struct img_error *err, int rc,
		  const char *what)
{
	int prim = rc & 0xff;
	int code = prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB ?
		-IMG_E_CORRUPT : -EIO;
	return img_err_set(err, code, "state database %s: %s: %s", s->path,
			   what, s->db ? sqlite3_errmsg(s->db) :
			   sqlite3_errstr(rc));
}

/* t as ISO-8601 UTC into buf ("2026-11-23T20:21:06Z", with ms != 0
 * "2026-11-23T20:21:06.123Z"); empty if t is not a time after 1970 and
 * before 10000 (0 means "not yet"). */
static void fmt_time(char *buf, size_t cap, double t, int ms)
{
	struct tm tm;
	long long msec;
	time_t sec;

	buf[0] = 0;
	if (!(t > 0 && t <= TIME_MAX))
		return;
	msec = (long long)(t * 1000.0);
	sec = (time_t)(msec / 1000);
	if (!gmtime_r(&sec, &tm))
		return;
	if (ms)
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(msec % 1000));
	else
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Length of s cut to at most cap bytes without splitting a UTF-8
 * sequence. */
static size_t cut_len(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap + 1);

	if (n <= cap)
		return n;
	n = cap;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Copy s (NULL: "") cut to cap - 1 bytes into dst, ASCII lower-cased. */
static void lower_copy(char *dst, size_t cap, const char *s)
{
	size_t n = s ? cut_len(s, cap - 1) : 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		dst[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	dst[n] = 0;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* Normalise a workstation key into out as "aa:bb:cc:dd:ee:ff": six pairs
 * of hex digits, any case, separated by ':' or '-'.  Returns 0 or
 * -IMG_E_USAGE. */
static int mac_key(const char *in, char out[MAC_LEN + 1],
		   struct img_error *err)
{
	if (!in)
		return img_err_set(err, -IMG_E_USAGE, "no MAC address given");
	if (strnlen(in, MAC_LEN + 1) != MAC_LEN)
		goto bad;
	for (int i = 0; i < MAC_LEN; i++) {
		char c = in[i];
		if (i % 3 == 2) {
			if (c != ':' && c != '-')
				goto bad;
			out[i] = ':';
		} else {
			if (!is_hex(c))
				goto bad;
			out[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
		}
	}
	out[MAC_LEN] = 0;
	return 0;
bad:
	return img_err_set(err, -IMG_E_USAGE,
			   "\"%.40s\" is not a MAC address (expected aa:bb:cc:dd:ee:ff)",
			   in);
}

/* ---- statements -------------------------------------------------------- */

/* The bind helpers do nothing once *rc is not SQLITE_OK, so a sequence of
 * binds is checked once, by run_stmt(). */

/* Bind s cut to cap bytes; NULL binds SQL NULL (the SQL decides). */
static void bind_str(sqlite3_stmt *st, int i, const char *s, size_t cap,
		     int *rc)
{
	if (*rc != SQLITE_OK)
		return;
	if (!s)
		*rc = sqlite3_bind_null(st, i);
	else
		*rc = sqlite3_bind_text(st, i, s, (int)cut_len(s, cap),
					SQLITE_TRANSIENT);
}

static void bind_int(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(st, i, v);
}

/* SQLite integers are signed: larger sizes are stored as INT64_MAX. */
static void bind_u64(sqlite3_stmt *st, int i, uint64_t v, int *rc)
{
	bind_int(st, i, v > INT64_MAX ? INT64_MAX : (int64_t)v, rc);
}

/* A time that is not one (NaN, negative, past year 9999) is stored as 0:
 * SQLite would store NaN as NULL, which the schema refuses. */
static void bind_time(sqlite3_stmt *st, int i, double t, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_double(st, i, t > 0 && t <= TIME_MAX ? t : 0);
}

/* Put a statement back: reset (ends its read transaction) and unbind. */
static void stmt_release(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step a bound statement that returns no rows, then release it.  rc is the
 * binding's result.  Call with s->mu held. */
static int run_stmt(struct srv_state *s, sqlite3_stmt *st, int rc,
		    const char *what, struct img_error *err)
{
	int ret = 0;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		ret = db_err(s, err, rc, what);
	stmt_release(st);
	return ret;
}

/* Run one constant statement, rows ignored.  Only during open and close,
 * before s is shared. */
static int exec_const(struct srv_state *s, const char *sql,
		      struct img_error *err)
{
	sqlite3_stmt *st = NULL;
	int ret = 0, rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
	if (rc != SQLITE_DONE)
		ret = db_err(s, err, rc, sql);
	sqlite3_finalize(st);
	return ret;
}

/* The first column of the first row of a constant query: as an integer
 * into *v, and if text is not NULL as text (cut to cap). */
static int query_const(struct srv_state *s, const char *sql, int64_t *v,
		       char *text, size_t cap, struct img_error *err)
{
	sqlite3_stmt *st = NULL;
	int ret = 0, rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		if (text) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(text, cap, "%s", t ? (const char *)t : "");
		}
	} else {
		ret = db_err(s, err, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
	}
	sqlite3_finalize(st);
	return ret;
}

/* ---- open and close ---------------------------------------------------- */

/* Per-connection settings.  busy_timeout comes first so switching to WAL
 * waits for another process's lock instead of failing. */
static int setup_connection(struct srv_state *s, struct img_error *err)
{
	char mode[16];
	int64_t v;
	int ret;

	if ((ret = exec_const(s, "PRAGMA busy_timeout = 5000", err)) < 0)
		return ret;
	ret = query_const(s, "PRAGMA journal_mode = WAL", &v, mode,
			  sizeof(mode), err);
	if (ret < 0)
		return ret;
	if (strcmp(mode, "wal") != 0)
		return img_err_set(err, -EIO,
				   "state database %s: cannot use write-ahead logging (journal mode stays \"%s\")",
				   s->path, mode);
	return exec_const(s, "PRAGMA synchronous = FULL", err);
}

static int create_schema(struct srv_state *s, struct img_error *err)
{
	for (size_t i = 0; i < IMG_ARRAY_SIZE(schema); i++) {
		int ret = exec_const(s, schema[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Create the schema in an empty database, or check that the file holds
 * ours at a version we read.  Inside BEGIN IMMEDIATE so two servers
 * starting on a new file do not both create it. */
static int check_schema(struct srv_state *s, struct img_error *err)
{
	int64_t ver = 0, app = 0, objects = 0;
	int ret;

	if ((ret = exec_const(s, "BEGIN IMMEDIATE", err)) < 0)
		return ret;
	if ((ret = query_const(s, "PRAGMA user_version", &ver, NULL, 0, err)) < 0 ||
	    (ret = query_const(s, "PRAGMA application_id", &app, NULL, 0, err)) < 0 ||
	    (ret = query_const(s, "SELECT count(*) FROM sqlite_master", &objects,
			       NULL, 0, err)) < 0)
		goto out;
	if (ver == 0 && objects == 0 && (app == 0 || app == APP_ID))
		ret = create_schema(s, err);
	else if (app != APP_ID)
		ret = img_err_set(err, -IMG_E_CORRUPT,
				  "state database %s: is an SQLite database of another program (application_id %lld, user_version %lld), not imgserv's",
				  s->path, (long long)app, (long long)ver);
	else if (ver > SCHEMA_VERSION)
		ret = img_err_set(err, -IMG_E_VERSION,
				  "state database %s: schema version %lld is newer than this imgserv reads (%d); run a newer imgserv or use another file",
				  s->path, (long long)ver, SCHEMA_VERSION);
	else if (ver != SCHEMA_VERSION)
		ret = img_err_set(err, -IMG_E_CORRUPT,
				  "state database %s: unknown schema version %lld",
				  s->path, (long long)ver);
out:
	if (ret < 0) {
		struct img_error ignored;
		(void)exec_const(s, "ROLLBACK", &ignored);
		return ret;
	}
	return exec_const(s, "COMMIT", err);
}

/* A version-1 file whose tables do not fit the queries has been altered. */
static int prepare_queries(struct srv_state *s, struct img_error *err)
{
	for (int i = 0; i < Q_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, queries[i], -1,
					    SQLITE_PREPARE_PERSISTENT, &s->q[i],
					    NULL);
		if (rc != SQLITE_OK)
			return img_err_set(err, -IMG_E_CORRUPT,
					   "state database %s: tables do not match schema version %d: %s",
					   s->path, SCHEMA_VERSION,
					   sqlite3_errmsg(s->db));
	}
	return 0;
}

int srv_state_open(const char *path, struct srv_state **out,
		   struct img_error *err)
{
	struct srv_state *s;
	int ret, rc;

	if (!out || !path || !*path)
		return img_err_set(err, -IMG_E_USAGE,
				   "srv_state_open: no database path");
	*out = NULL;
	if (strlen(path) >= sizeof(s->path))
		return img_err_set(err, -ENAMETOOLONG,
				   "state database path is longer than %zu bytes",
				   sizeof(s->path) - 1);
	if (!sqlite3_threadsafe())
		return img_err_set(err, -ENOTSUP,
				   "libsqlite3 was built without thread support");
	s = calloc(1, sizeof(*s));
	if (!s)
		return img_err_set(err, -ENOMEM, "out of memory");
	snprintf(s->path, sizeof(s->path), "%s", path);
	pthread_mutex_init(&s->mu, NULL);

	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		ret = db_err(s, err, rc, "cannot open");
		goto fail;
	}
	/* SQLite falls back to read-only when the file is write-protected;
	 * a server that cannot record what it does must not start. */
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		ret = img_err_set(err, -EACCES,
				  "state database %s: is read-only", s->path);
		goto fail;
	}
	if ((ret = setup_connection(s, err)) < 0 ||
	    (ret = check_schema(s, err)) < 0 ||
	    (ret = prepare_queries(s, err)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	srv_state_close(s);
	return ret;
}

void srv_state_close(struct srv_state *s)
{
	if (!s)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	/* The last connection to close checkpoints and removes the WAL. */
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- request log ------------------------------------------------------- */

int srv_log_begin(struct srv_state *s, struct srv_logrec *rec,
		  struct img_error *err)
{
	char mac[CAP_SHORT + 1];
	sqlite3_stmt *st;
	int ret, rc = SQLITE_OK;

	if (!s || !rec)
		return img_err_set(err, -IMG_E_USAGE, "srv_log_begin: no record");
	lower_copy(mac, sizeof(mac), rec->mac);
	pthread_mutex_lock(&s->mu);
	st = s->q[Q_LOG_BEGIN];
	bind_str(st, 1, rec->source ? rec->source : "", CAP_SHORT, &rc);
	bind_str(st, 2, mac, CAP_SHORT, &rc);
	bind_str(st, 3, rec->type ? rec->type : "", CAP_SHORT, &rc);
	bind_str(st, 4, rec->path ? rec->path : "", CAP_PATH, &rc);
	bind_time(st, 5, rec->start, &rc);
	ret = run_stmt(s, st, rc, "appending to the request log", err);
	if (!ret)
		rec->id = sqlite3_last_insert_rowid(s->db);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* An end time of 0 (or no time) is taken as now: a finished record must
 * not look running. */
int srv_log_end(struct srv_state *s, const struct srv_logrec *rec,
		struct img_error *err)
{
	double end;
	sqlite3_stmt *st;
	int ret, rc = SQLITE_OK;

	if (!s || !rec)
		return img_err_set(err, -IMG_E_USAGE, "srv_log_end: no record");
	end = rec->end > 0 && rec->end <= TIME_MAX ? rec->end : img_wall();
	pthread_mutex_lock(&s->mu);
	st = s->q[Q_LOG_END];
	bind_int(st, 1, rec->id, &rc);
	bind_time(st, 2, end, &rc);
	bind_u64(st, 3, rec->bytes, &rc);
	bind_str(st, 4, rec->result ? rec->result : "", CAP_SHORT, &rc);
	bind_str(st, 5, rec->error ? rec->error : "", CAP_ERROR, &rc);
	ret = run_stmt(s, st, rc, "finishing a request log record", err);
	if (!ret && sqlite3_changes(s->db) == 0)
		ret = img_err_set(err, -IMG_E_NOTFOUND,
				  "state database %s: request log record %lld does not exist or is already finished",
				  s->path, (long long)rec->id);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* ---- listings ---------------------------------------------------------- */

/* Text listings: one line per row, so control characters (tab and
 * newline too) are written as '?'; an empty field as "-". */
static void put_text(FILE *f, const unsigned char *v)
{
	if (!v || !*v) {
		fputc('-', f);
		return;
	}
	for (; *v; v++)
		fputc(*v < 0x20 || *v == 0x7f ? '?' : *v, f);
}

static void put_text_col(FILE *f, sqlite3_stmt *st, int col)
{
	fputs("  ", f);
	put_text(f, sqlite3_column_text(st, col));
}

static void put_time_col(FILE *f, sqlite3_stmt *st, int col)
{
	char t[TIME_BUF];

	fmt_time(t, sizeof(t), sqlite3_column_double(st, col), 0);
	fputs("  ", f);
	fputs(*t ? t : "-", f);
}

/* Length of the UTF-8 sequence at p if it encodes a character XML 1.0
 * allows (shortest form, no surrogate, not U+FFFE/U+FFFF, at most
 * U+10FFFF), else 0.  Stops at a NUL, which is never a continuation. */
static size_t xml_utf8_len(const unsigned char *p)
{
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t c;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
	    c == 0xfffe || c == 0xffff)
		return 0;
	return n;
}

/* Write v as an XML attribute value (without the quotes).  & < > " ' are
 * entities; tab, newline and CR are character references, which keep them
 * through attribute-value normalisation; other C0 controls, which XML 1.0
 * forbids even as references, and bytes that are not valid UTF-8 (the
 * document says UTF-8) are written as '?'. */
static void put_xml(FILE *f, const unsigned char *v)
{
	if (!v)
		return;
	while (*v) {
		size_t n;

		switch (*v) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '\t': fputs("&#9;", f); break;
		case '\n': fputs("&#10;", f); break;
		case '\r': fputs("&#13;", f); break;
		default:
			if (*v < 0x20) {
				fputc('?', f);
				break;
			}
			n = xml_utf8_len(v);
			if (!n) {
				fputc('?', f);
				break;
			}
			fwrite(v, 1, n, f);
			v += n;
			continue;
		}
		v++;
	}
}

static void put_xml_col(FILE *f, const char *name, sqlite3_stmt *st, int col)
{
	fprintf(f, " %s=\"", name);
	put_xml(f, sqlite3_column_text(st, col));
	fputc('"', f);
}

static void put_xml_time(FILE *f, const char *name, sqlite3_stmt *st, int col)
{
	char t[TIME_BUF];

	fmt_time(t, sizeof(t), sqlite3_column_double(st, col), 1);
	fprintf(f, " %s=\"%s\"", name, t);
}

/* Columns of Q_LOG_PAGE. */
static void log_row_text(FILE *f, sqlite3_stmt *st)
{
	fprintf(f, "%lld", (long long)sqlite3_column_int64(st, 0));
	put_time_col(f, st, 1);
	put_time_col(f, st, 2);
	for (int col = 3; col <= 6; col++)
		put_text_col(f, st, col);
	fprintf(f, "  %lld", (long long)sqlite3_column_int64(st, 7));
	put_text_col(f, st, 8);
	put_text_col(f, st, 9);
	fputc('\n', f);
}

static void log_row_xml(FILE *f, sqlite3_stmt *st)
{
	fprintf(f, "  <request id=\"%lld\"",
		(long long)sqlite3_column_int64(st, 0));
	put_xml_col(f, "source", st, 3);
	put_xml_col(f, "mac", st, 4);
	put_xml_col(f, "type", st, 5);
	put_xml_col(f, "path", st, 6);
	put_xml_time(f, "start", st, 1);
	put_xml_time(f, "end", st, 2);
	fprintf(f, " bytes=\"%lld\"", (long long)sqlite3_column_int64(st, 7));
	put_xml_col(f, "result", st, 8);
	put_xml_col(f, "error", st, 9);
	fputs("/>\n", f);
}

/* Columns of Q_STATION_PAGE. */
static void station_row(FILE *f, sqlite3_stmt *st)
{
	put_text(f, sqlite3_column_text(st, 0));
	for (int col = 1; col <= 3; col++)
		put_text_col(f, st, col);
	fprintf(f, "  %lld  %lld", (long long)sqlite3_column_int64(st, 4),
		(long long)sqlite3_column_int64(st, 5));
	put_text_col(f, st, 6);
	put_time_col(f, st, 7);
	put_time_col(f, st, 8);
	put_text_col(f, st, 9);
	put_time_col(f, st, 10);
	fputc('\n', f);
}

/* Columns of Q_WORK_PAGE. */
static void work_row(FILE *f, sqlite3_stmt *st)
{
	put_text(f, sqlite3_column_text(st, 0));
	put_text_col(f, st, 1);
	put_text_col(f, st, 2);
	put_time_col(f, st, 3);
	fputc('\n', f);
}

/* A listing read in pages: the rows after a key (an id, or a MAC for
 * text_key), at most limit rows (negative: all). */
struct lister {
	int q;			/* a Q_*_PAGE query */
	int text_key;
	void (*row)(FILE *f, sqlite3_stmt *st);
	const char *what;	/* for messages */
	int64_t after_id;
	char after_mac[CAP_SHORT + 1];
	int64_t left;
};

/* Read up to want rows after l's key into mem, advancing the key; *rows
 * gets the count.  Takes s->mu. */
static int list_page(struct srv_state *s, struct lister *l, FILE *mem,
		     int64_t want, int64_t *rows, struct img_error *err)
{
	sqlite3_stmt *st;
	int ret = 0, rc = SQLITE_OK;

	*rows = 0;
	pthread_mutex_lock(&s->mu);
	st = s->q[l->q];
	if (l->text_key)
		bind_str(st, 1, l->after_mac, CAP_SHORT, &rc);
	else
		bind_int(st, 1, l->after_id, &rc);
	bind_int(st, 2, want, &rc);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			l->row(mem, st);
			++*rows;
			if (!l->text_key) {
				l->after_id = sqlite3_column_int64(st, 0);
				continue;
			}
			const unsigned char *k = sqlite3_column_text(st, 0);
			/* A longer key could not be continued after; our own
			 * keys are 17 bytes. */
			if (!k || (size_t)sqlite3_column_bytes(st, 0) > CAP_SHORT) {
				ret = img_err_set(err, -IMG_E_CORRUPT,
						  "state database %s: malformed key in %s",
						  s->path, l->what);
				break;
			}
			snprintf(l->after_mac, sizeof(l->after_mac), "%s", k);
		}
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_err(s, err, rc, l->what);
	stmt_release(st);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* Write the rows of l to out, a page at a time. */
static int list_rows(struct srv_state *s, FILE *out, struct lister *l,
		     struct img_error *err)
{
	for (;;) {
		int64_t want = PAGE_ROWS, rows = 0;
		char *buf = NULL;
		size_t len = 0;
		FILE *mem;
		int ret;

		if (l->left >= 0 && l->left < want)
			want = l->left;
		if (want == 0)
			return 0;
		mem = open_memstream(&buf, &len);
		if (!mem)
			return img_err_set(err, -ENOMEM, "out of memory listing %s",
					   l->what);
		ret = list_page(s, l, mem, want, &rows, err);
		if (fclose(mem) != 0 && !ret)
			ret = img_err_set(err, -ENOMEM, "out of memory listing %s",
					  l->what);
		if (!ret && len && fwrite(buf, 1, len, out) != len)
			ret = img_err_set(err, -EIO, "writing %s: %s", l->what,
					  strerror(errno));
		free(buf);
		if (ret < 0)
			return ret;
		if (l->left > 0)
			l->left -= rows;
		if (rows < want)
			return 0;
	}
}

static int flush_out(FILE *out, const char *what, struct img_error *err)
{
	if (fflush(out) != 0 || ferror(out))
		return img_err_set(err, -EIO, "writing %s: %s", what,
				   strerror(errno));
	return 0;
}

int srv_log_dump(struct srv_state *s, FILE *out, int xml, const char *server,
		 int64_t after_id, int64_t limit, struct img_error *err)
{
	struct lister l = {
		.q = Q_LOG_PAGE,
		.row = xml ? log_row_xml : log_row_text,
		.what = "the request log",
		.after_id = after_id,
		.left = limit > 0 ? limit : -1,
	};
	int ret;

	if (!s || !out || limit < 0)
		return img_err_set(err, -IMG_E_USAGE,
				   "srv_log_dump: no state, no output or negative limit");
	if (xml) {
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<imglog server=\"", out);
		put_xml(out, (const unsigned char *)server);
		fputs("\">\n", out);
	} else {
		fputs("ID  START  END  SOURCE  MAC  TYPE  PATH  BYTES  RESULT  ERROR\n",
		      out);
	}
	if ((ret = list_rows(s, out, &l, err)) < 0)
		return ret;
	if (xml)
		fputs("</imglog>\n", out);
	return flush_out(out, l.what, err);
}

int srv_work_list(struct srv_state *s, FILE *out, struct img_error *err)
{
	struct lister l = {
		.q = Q_WORK_PAGE,
		.text_key = 1,
		.row = work_row,
		.what = "the pending work",
		.left = -1,
	};
	int ret;

	if (!s || !out)
		return img_err_set(err, -IMG_E_USAGE, "srv_work_list: no state or output");
	fputs("MAC  ACTION  ARG  CREATED\n", out);
	if ((ret = list_rows(s, out, &l, err)) < 0)
		return ret;
	return flush_out(out, l.what, err);
}

int srv_station_list(struct srv_state *s, FILE *out, struct img_error *err)
{
	struct lister l = {
		.q = Q_STATION_PAGE,
		.text_key = 1,
		.row = station_row,
		.what = "the workstations",
		.left = -1,
	};
	int ret;

	if (!s || !out)
		return img_err_set(err, -IMG_E_USAGE, "srv_station_list: no state or output");
	fputs("MAC  HOSTNAME  SERIAL  PRODUCT  DISK_BYTES  MEM_BYTES  ADDRESS  FIRST_SEEN  LAST_SEEN  LAST_IMAGE  LAST_IMAGE_TIME\n",
	      out);
	if ((ret = list_rows(s, out, &l, err)) < 0)
		return ret;
	return flush_out(out, l.what, err);
}

/* ---- workstations ------------------------------------------------------ */

int srv_station_seen(struct srv_state *s, const struct srv_station *st,
		     struct img_error *err)
{
	char mac[MAC_LEN + 1];
	sqlite3_stmt *q;
	int ret, rc = SQLITE_OK;

	if (!s || !st)
		return img_err_set(err, -IMG_E_USAGE, "srv_station_seen: no station");
	if ((ret = mac_key(st->mac, mac, err)) < 0)
		return ret;
	pthread_mutex_lock(&s->mu);
	q = s->q[Q_STATION_SEEN];
	bind_str(q, 1, mac, MAC_LEN, &rc);
	bind_str(q, 2, st->hostname, CAP_SHORT, &rc);
	bind_str(q, 3, st->serial, CAP_SHORT, &rc);
	bind_str(q, 4, st->product, CAP_SHORT, &rc);
	bind_str(q, 5, st->hwinfo, CAP_HWINFO, &rc);
	bind_u64(q, 6, st->disk_bytes, &rc);
	bind_u64(q, 7, st->mem_bytes, &rc);
	bind_str(q, 8, st->address, CAP_SHORT, &rc);
	bind_time(q, 9, img_wall(), &rc);
	ret = run_stmt(s, q, rc, "recording a workstation", err);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* A when of 0 (or no time) is taken as now. */
int srv_station_image(struct srv_state *s, const char *mac, const char *path,
		      double when, struct img_error *err)
{
	char key[MAC_LEN + 1];
	sqlite3_stmt *q;
	int ret, rc = SQLITE_OK;

	if (!s || !path || !*path)
		return img_err_set(err, -IMG_E_USAGE, "srv_station_image: no image path");
	if ((ret = mac_key(mac, key, err)) < 0)
		return ret;
	if (strnlen(path, CAP_PATH + 1) > CAP_PATH)
		return img_err_set(err, -IMG_E_LIMIT,
				   "image path is longer than %d bytes", CAP_PATH);
	if (!(when > 0 && when <= TIME_MAX))
		when = img_wall();
	pthread_mutex_lock(&s->mu);
	q = s->q[Q_STATION_IMAGE];
	bind_str(q, 1, key, MAC_LEN, &rc);
	bind_str(q, 2, path, CAP_PATH, &rc);
	bind_time(q, 3, when, &rc);
	ret = run_stmt(s, q, rc, "recording a workstation's image", err);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* ---- pending work ------------------------------------------------------ */

static const char *const actions[] = { "restore", "make", "session" };

int srv_work_set(struct srv_state *s, const char *mac, const char *action,
		 const char *arg, struct img_error *err)
{
	char key[MAC_LEN + 1];
	sqlite3_stmt *q;
	size_t i;
	int ret, rc = SQLITE_OK;

	if (!s)
		return img_err_set(err, -IMG_E_USAGE, "srv_work_set: no state");
	if ((ret = mac_key(mac, key, err)) < 0)
		return ret;
	for (i = 0; i < IMG_ARRAY_SIZE(actions); i++)
		if (action && strcmp(action, actions[i]) == 0)
			break;
	if (i == IMG_ARRAY_SIZE(actions))
		return img_err_set(err, -IMG_E_USAGE,
				   "unknown work action \"%.40s\" (expected restore, make or session)",
				   action ? action : "");
	if (!arg)
		arg = "";
	/* A cut argument would name another image or session. */
	if (strnlen(arg, CAP_PATH + 1) > CAP_PATH)
		return img_err_set(err, -IMG_E_LIMIT,
				   "work argument is longer than %d bytes", CAP_PATH);
	pthread_mutex_lock(&s->mu);
	q = s->q[Q_WORK_SET];
	bind_str(q, 1, key, MAC_LEN, &rc);
	bind_str(q, 2, actions[i], CAP_SHORT, &rc);
	bind_str(q, 3, arg, CAP_PATH, &rc);
	bind_time(q, 4, img_wall(), &rc);
	ret = run_stmt(s, q, rc, "setting pending work", err);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

int srv_work_clear(struct srv_state *s, const char *mac, struct img_error *err)
{
	char key[MAC_LEN + 1];
	sqlite3_stmt *q;
	int ret, rc = SQLITE_OK;

	if (!s)
		return img_err_set(err, -IMG_E_USAGE, "srv_work_clear: no state");
	if ((ret = mac_key(mac, key, err)) < 0)
		return ret;
	pthread_mutex_lock(&s->mu);
	q = s->q[Q_WORK_CLEAR];
	bind_str(q, 1, key, MAC_LEN, &rc);
	ret = run_stmt(s, q, rc, "clearing pending work", err);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* Copy column col of st into dst (cap 0: nothing written). */
static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	if (!cap)
		return;
	const unsigned char *v = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", v ? (const char *)v : "");
}

/* One row by MAC from query qi: its columns 0 and 1 into c0 and c1 (a
 * cap of 0 skips one); 1 found, 0 not, or a negative code. */
static int get_by_mac(struct srv_state *s, int qi, const char *mac, char *c0,
		      size_t cap0, char *c1, size_t cap1, const char *what,
		      struct img_error *err)
{
	char key[MAC_LEN + 1];
	sqlite3_stmt *q;
	int ret, rc = SQLITE_OK;

	if (!s || (cap0 && !c0) || (cap1 && !c1))
		return img_err_set(err, -IMG_E_USAGE, "%s: no state or buffer", what);
	if ((ret = mac_key(mac, key, err)) < 0)
		return ret;
	pthread_mutex_lock(&s->mu);
	q = s->q[qi];
	bind_str(q, 1, key, MAC_LEN, &rc);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_col(c0, cap0, q, 0);
		copy_col(c1, cap1, q, 1);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		ret = db_err(s, err, rc, what);
	}
	stmt_release(q);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

int srv_work_get(struct srv_state *s, const char *mac, char *action,
		 size_t acap, char *arg, size_t argcap, struct img_error *err)
{
	return get_by_mac(s, Q_WORK_GET, mac, action, acap, arg, argcap,
			  "reading pending work", err);
}

int srv_station_last_image(struct srv_state *s, const char *mac, char *path,
			   size_t cap, struct img_error *err)
{
	if (cap)
		path[0] = 0;
	return get_by_mac(s, Q_STATION_LAST, mac, path, cap, NULL, 0,
			  "reading a workstation's last image", err);
}
