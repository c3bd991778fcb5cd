/* state.h - imgserv's durable state in one SQLite database: the request
 * log, the workstations seen, pending one-shot work, the last image each
 * workstation received.
 *
 * One struct srv_state per server process.  All functions are thread safe
 * (one connection, serialised by a mutex inside).  They return 0 or a
 * negative code (-errno or -IMG_E_*) with text in err.  Writes are
 * durable when the function returns (WAL, synchronous=FULL): a killed
 * server loses no record it has acknowledged.
 */
#ifndef SRV_STATE_H
#define SRV_STATE_H

#include <stdint.h>
#include <stdio.h>

#include "img.h"

struct srv_state;

/* Open (create if missing) the database at path; the schema is created or
 * checked (a newer schema version is refused with a clear error). */
int srv_state_open(const char *path, struct srv_state **out,
		   struct img_error *err);
void srv_state_close(struct srv_state *s);

/* One request log record.  Strings may be NULL (stored as empty). */
struct srv_logrec {
	int64_t id;          /* set by srv_log_begin */
	const char *source;  /* client address "198.18.0.5:40312" */
	const char *mac;     /* client MAC "52:54:00:12:34:56", or "" */
	const char *type;    /* "put", "get", "auto", "report", "work", "auth",
			      * "session" */
	const char *path;    /* image path inside the store, or "" */
	double start;        /* unix time, sub-second */
	double end;          /* 0 while running */
	uint64_t bytes;      /* image bytes moved */
	const char *result;  /* "ok", "failed", "denied", "referred", "running" */
	const char *error;   /* error text, "" on success */
};

/* Append a record with result "running" (end 0); sets rec->id.  Finish it
 * with srv_log_end, which sets end, bytes, result and error.  A record
 * left "running" by a killed server stays as it is: the log is append-only
 * except for this one completion update. */
int srv_log_begin(struct srv_state *s, struct srv_logrec *rec,
		  struct img_error *err);
int srv_log_end(struct srv_state *s, const struct srv_logrec *rec,
		struct img_error *err);

/* Write the log, oldest first, records with id > after_id, at most limit
 * (0: all): as text, one line per record (xml == 0), or as an XML document
 * in the spirit of ZENworks' zimglog.xml (xml == 1):
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <imglog server="NAME">
 *     <request id="1" source="..." mac="..." type="put" path="..."
 *              start="2026-11-23T20:21:06.123Z" end="..." bytes="123"
 *              result="ok" error=""/>
 *   </imglog>
 * Text and attribute values are XML-escaped. */
int srv_log_dump(struct srv_state *s, FILE *out, int xml, const char *server,
		 int64_t after_id, int64_t limit, struct img_error *err);

/* A workstation as it reported itself (img -auto).  Strings may be NULL. */
struct srv_station {
	const char *mac;       /* key: lower-case "aa:bb:cc:dd:ee:ff" */
	const char *hostname;
	const char *serial;
	const char *product;
	const char *hwinfo;    /* free text, "Name: value" lines */
	uint64_t disk_bytes;   /* first disk's size */
	uint64_t mem_bytes;
	const char *address;   /* last source address */
};

/* Insert or update (first_seen kept, last_seen set to now). */
int srv_station_seen(struct srv_state *s, const struct srv_station *st,
		     struct img_error *err);

/* Record that the workstation received (or made) an image. */
int srv_station_image(struct srv_state *s, const char *mac, const char *path,
		      double when, struct img_error *err);

/* The image the workstation last received or made ("" if none known);
 * returns 1 known station, 0 unknown, or a negative code. */
int srv_station_last_image(struct srv_state *s, const char *mac, char *path,
			   size_t cap, struct img_error *err);

/* Pending one-shot work for one MAC: action is "restore", "make" or
 * "session"; arg is an image path or a session name.  Setting replaces
 * what was pending for that MAC. */
int srv_work_set(struct srv_state *s, const char *mac, const char *action,
		 const char *arg, struct img_error *err);
int srv_work_clear(struct srv_state *s, const char *mac, struct img_error *err);

/* The pending work of mac into action/arg (NUL-terminated, truncated to
 * the caps).  Returns 1 if there is some, 0 if none, negative on error. */
int srv_work_get(struct srv_state *s, const char *mac, char *action,
		 size_t acap, char *arg, size_t argcap, struct img_error *err);

/* Text listings for imgserv -work list / imgserv -stations: one line per
 * entry, columns separated by two spaces, a header line first. */
int srv_work_list(struct srv_state *s, FILE *out, struct img_error *err);
int srv_station_list(struct srv_state *s, FILE *out, struct img_error *err);

#endif
