/* test_state.c - imgserv's SQLite state: persistence across reopen, the
 * request log and its text and XML dumps (escaping included), pending
 * work, workstations, concurrent log writers, and refusal of files that
 * are not our database. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* A failure after which the rest cannot run. */
#define REQUIRE(cond, ...) do { int ok_ = !!(cond); CHECK(ok_, __VA_ARGS__); \
	if (!ok_) { fprintf(stderr, "test_state: giving up after %s\n", #cond); \
	exit(1); } } while (0)

#define OK(call) do { int rc_ = (call); \
	REQUIRE(rc_ == 0, "returned %d (%s)", rc_, err.msg); } while (0)

#define T0 1795465266.123	/* 2026-11-23T20:21:06.123Z */
#define NASTY_PATH "img/a<&>\"'.img"

static char dir[64];
static char dbpath[128];
static struct img_error err;

/* The output of a dump or listing as a string (caller frees). */
#define CAPTURE(buf, call) do { size_t n_; FILE *f_ = open_memstream(&(buf), &n_); \
	REQUIRE(f_, "open_memstream"); int rc_ = (call); fclose(f_); \
	REQUIRE(rc_ == 0, "%s returned %d (%s)", #call, rc_, err.msg); } while (0)
#define OUT f_

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One value from the database, read behind the state module's back. */
static double peek_real(const char *sql, const char *mac)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	double v = -1;

	REQUIRE(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
		"open %s", dbpath);
	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s",
		sql, sqlite3_errmsg(db));
	if (mac)
		sqlite3_bind_text(st, 1, mac, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void peek_text(const char *sql, const char *mac, char *buf, size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	buf[0] = 0;
	REQUIRE(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
		"open %s", dbpath);
	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s",
		sql, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, mac, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_log(struct srv_state *s, int64_t *first)
{
	struct srv_logrec r = {
		.source = "198.18.0.5:40312",
		.mac = "52:54:00:AB:CD:EF",
		.type = "put",
		.path = NASTY_PATH,
		.start = T0,
	};
	struct srv_logrec run = {
		.source = "198.18.0.6:1000", .mac = NULL, .type = "status",
		.path = NULL, .start = T0 + 1,
	};
	struct srv_logrec bad = {
		.source = "198.18.0.7:1", .mac = "", .type = "get",
		.path = "img/b.img", .start = T0 + 2,
	};
	char *text = NULL, *xml = NULL, *part = NULL;

	OK(srv_log_begin(s, &r, &err));
	CHECK(r.id > 0, "id %lld", (long long)r.id);
	*first = r.id;
	r.end = T0 + 60;
	r.bytes = 123;
	r.result = "ok";
	r.error = "";
	OK(srv_log_end(s, &r, &err));
	CHECK(srv_log_end(s, &r, &err) == -IMG_E_NOTFOUND,
	      "a finished record was completed twice");
	OK(srv_log_begin(s, &run, &err));
	CHECK(run.id == r.id + 1, "ids %lld then %lld", (long long)r.id,
	      (long long)run.id);
	OK(srv_log_begin(s, &bad, &err));
	bad.end = T0 + 3;
	bad.result = "failed";
	bad.error = "line1\nx\001y\tz";
	OK(srv_log_end(s, &bad, &err));
	struct srv_logrec ghost = { .id = 999999, .end = T0 };
	CHECK(srv_log_end(s, &ghost, &err) == -IMG_E_NOTFOUND,
	      "a record that does not exist was completed");

	CAPTURE(text, srv_log_dump(s, OUT, 0, "srv1", 0, 0, &err));
	CHECK(strncmp(text, "ID  START  END  SOURCE  MAC  TYPE  PATH  BYTES  RESULT  ERROR\n",
		      62) == 0, "text header:\n%s", text);
	CHECK(count_lines(text) == 4, "text dump has %d lines:\n%s",
	      count_lines(text), text);
	char want[512];
	snprintf(want, sizeof(want),
		 "%lld  2026-11-23T20:21:06Z  2026-11-23T20:22:06Z  198.18.0.5:40312  52:54:00:ab:cd:ef  put  "
		 NASTY_PATH "  123  ok  -\n", (long long)r.id);
	CHECK(strstr(text, want), "text dump lacks\n%s\nin\n%s", want, text);
	snprintf(want, sizeof(want),
		 "%lld  2026-11-23T20:21:07Z  -  198.18.0.6:1000  -  status  -  0  running  -\n",
		 (long long)run.id);
	CHECK(strstr(text, want), "text dump lacks\n%s\nin\n%s", want, text);
	CHECK(strstr(text, "  failed  line1?x?y?z\n"),
	      "control characters not replaced in text:\n%s", text);

	CAPTURE(xml, srv_log_dump(s, OUT, 1, "srv&1", 0, 0, &err));
	CHECK(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<imglog server=\"srv&amp;1\">\n",
		      strlen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<imglog server=\"srv&amp;1\">\n")) == 0,
	      "XML prologue:\n%s", xml);
	snprintf(want, sizeof(want),
		 "  <request id=\"%lld\" source=\"198.18.0.5:40312\" mac=\"52:54:00:ab:cd:ef\" type=\"put\""
		 " path=\"img/a&lt;&amp;&gt;&quot;&apos;.img\" start=\"2026-11-23T20:21:06.123Z\""
		 " end=\"2026-11-23T20:22:06.123Z\" bytes=\"123\" result=\"ok\" error=\"\"/>\n",
		 (long long)r.id);
	CHECK(strstr(xml, want), "XML lacks\n%s\nin\n%s", want, xml);
	snprintf(want, sizeof(want), "<request id=\"%lld\" source=\"198.18.0.6:1000\" mac=\"\""
		 " type=\"status\" path=\"\" start=\"2026-11-23T20:21:07.123Z\" end=\"\""
		 " bytes=\"0\" result=\"running\" error=\"\"/>", (long long)run.id);
	CHECK(strstr(xml, want), "XML lacks\n%s\nin\n%s", want, xml);
	CHECK(strstr(xml, "error=\"line1&#10;x?y&#9;z\""),
	      "control characters not escaped in XML:\n%s", xml);
	CHECK(!strchr(xml, '\001'), "raw control character in XML");
	size_t xl = strlen(xml);
	CHECK(xl > 10 && strcmp(xml + xl - 10, "</imglog>\n") == 0,
	      "XML does not end with </imglog>:\n%s", xml);

	/* after_id and limit */
	CAPTURE(part, srv_log_dump(s, OUT, 0, NULL, r.id, 1, &err));
	CHECK(count_lines(part) == 2, "after/limit gave %d lines:\n%s",
	      count_lines(part), part);
	snprintf(want, sizeof(want), "\n%lld  ", (long long)run.id);
	CHECK(strstr(part, want), "after/limit gave the wrong record:\n%s", part);
	free(part);
	part = NULL;
	CAPTURE(part, srv_log_dump(s, OUT, 1, NULL, bad.id, 0, &err));
	CHECK(!strstr(part, "<request"), "records after the last:\n%s", part);
	CHECK(strstr(part, "<imglog server=\"\">"), "no server name:\n%s", part);

	free(text);
	free(xml);
	free(part);
}

static void test_work(struct srv_state *s)
{
	char action[16], arg[64], small[4];
	char *list = NULL;

	CHECK(srv_work_get(s, "52:54:00:12:34:56", action, sizeof(action), arg,
			   sizeof(arg), &err) == 0, "work pending on a new database");
	OK(srv_work_set(s, "52:54:00:12:34:5A", "restore", "img/a.img", &err));
	CHECK(srv_work_get(s, "52-54-00-12-34-5a", action, sizeof(action), arg,
			   sizeof(arg), &err) == 1, "work not found: %s", err.msg);
	CHECK(strcmp(action, "restore") == 0 && strcmp(arg, "img/a.img") == 0,
	      "got %s %s", action, arg);
	OK(srv_work_set(s, "52:54:00:12:34:5a", "make", "img/b.img", &err));
	CHECK(srv_work_get(s, "52:54:00:12:34:5A", action, sizeof(action), arg,
			   sizeof(arg), &err) == 1, "work not found: %s", err.msg);
	CHECK(strcmp(action, "make") == 0 && strcmp(arg, "img/b.img") == 0,
	      "replace gave %s %s", action, arg);
	CHECK(srv_work_get(s, "52:54:00:12:34:5a", small, sizeof(small), NULL, 0,
			   &err) == 1 && strcmp(small, "mak") == 0,
	      "truncated action \"%s\"", small);

	int rc = srv_work_set(s, "52:54:00:12:34:5a", "format", "img/c.img", &err);
	CHECK(rc == -IMG_E_USAGE, "invalid action gave %d", rc);
	CHECK(strstr(err.msg, "format"), "message does not name the action: %s",
	      err.msg);
	rc = srv_work_set(s, "52:54:00:12:34:5a", NULL, "x", &err);
	CHECK(rc == -IMG_E_USAGE, "NULL action gave %d", rc);
	rc = srv_work_set(s, "52:54:00:12:34", "make", "x", &err);
	CHECK(rc == -IMG_E_USAGE, "short MAC gave %d", rc);
	rc = srv_work_set(s, "52:54:00:12:34:5g", "make", "x", &err);
	CHECK(rc == -IMG_E_USAGE, "non-hex MAC gave %d", rc);
	CHECK(srv_work_get(s, "52:54:00:12:34:5a", action, sizeof(action), arg,
			   sizeof(arg), &err) == 1 && strcmp(action, "make") == 0,
	      "a refused set changed the pending work to %s", action);

	OK(srv_work_set(s, "52:54:00:00:00:01", "session", "lab-a", &err));
	CAPTURE(list, srv_work_list(s, OUT, &err));
	CHECK(count_lines(list) == 3, "work list has %d lines:\n%s",
	      count_lines(list), list);
	CHECK(strncmp(list, "MAC  ACTION  ARG  CREATED\n", 26) == 0,
	      "work list header:\n%s", list);
	CHECK(strstr(list, "\n52:54:00:00:00:01  session  lab-a  ") &&
	      strstr(list, "\n52:54:00:12:34:5a  make  img/b.img  "),
	      "work list:\n%s", list);
	CHECK(strstr(list, "52:54:00:00:00:01") < strstr(list, "52:54:00:12:34:5a"),
	      "work list not sorted:\n%s", list);
	free(list);

	OK(srv_work_clear(s, "52:54:00:00:00:01", &err));
	OK(srv_work_clear(s, "52:54:00:00:00:01", &err));
	CHECK(srv_work_get(s, "52:54:00:00:00:01", action, sizeof(action), arg,
			   sizeof(arg), &err) == 0, "cleared work still pending");
}

static void test_stations(struct srv_state *s)
{
	struct srv_station st = {
		.mac = "52:54:00:AA:BB:CC",
		.hostname = "ws1",
		.serial = "SN1",
		.product = "Box 1",
		.hwinfo = "CPU: x\nMemory: 8G\n",
		.disk_bytes = 500ull << 30,
		.mem_bytes = 8ull << 30,
		.address = "198.18.0.9:1",
	};
	const char *key = "52:54:00:aa:bb:cc";
	char buf[256], *list = NULL;

	OK(srv_station_seen(s, &st, &err));
	double first = peek_real("SELECT first_seen FROM stations WHERE mac = ?1", key);
	double last = peek_real("SELECT last_seen FROM stations WHERE mac = ?1", key);
	CHECK(first > 1e9 && first == last, "first_seen %f last_seen %f", first, last);
	usleep(20000);
	st.hostname = "ws1-renamed";
	st.serial = NULL;		/* not reported: kept */
	st.address = "198.18.0.10:2";
	st.disk_bytes = 0;		/* not reported: kept */
	OK(srv_station_seen(s, &st, &err));
	double first2 = peek_real("SELECT first_seen FROM stations WHERE mac = ?1", key);
	double last2 = peek_real("SELECT last_seen FROM stations WHERE mac = ?1", key);
	CHECK(first2 == first, "first_seen moved from %f to %f", first, first2);
	CHECK(last2 > last, "last_seen %f not after %f", last2, last);
	peek_text("SELECT hostname FROM stations WHERE mac = ?1", key, buf, sizeof(buf));
	CHECK(strcmp(buf, "ws1-renamed") == 0, "hostname %s", buf);
	peek_text("SELECT address FROM stations WHERE mac = ?1", key, buf, sizeof(buf));
	CHECK(strcmp(buf, "198.18.0.10:2") == 0, "address %s", buf);
	peek_text("SELECT serial FROM stations WHERE mac = ?1", key, buf, sizeof(buf));
	CHECK(strcmp(buf, "SN1") == 0, "serial %s", buf);
	CHECK(peek_real("SELECT disk_bytes FROM stations WHERE mac = ?1", key) ==
	      (double)(500ull << 30), "disk_bytes not kept");
	CHECK(peek_real("SELECT count(*) FROM stations WHERE mac <> ?1", key) == 0,
	      "seen twice made two rows");

	OK(srv_station_image(s, "52:54:00:AA:BB:CC", "img/w.img", T0 + 100, &err));
	peek_text("SELECT last_image FROM stations WHERE mac = ?1", key, buf, sizeof(buf));
	CHECK(strcmp(buf, "img/w.img") == 0, "last_image %s", buf);
	CHECK(peek_real("SELECT last_image_time FROM stations WHERE mac = ?1", key) ==
	      T0 + 100, "last_image_time");
	CHECK(peek_real("SELECT first_seen FROM stations WHERE mac = ?1", key) == first,
	      "station_image moved first_seen");
	/* A station that never reported gets a row. */
	OK(srv_station_image(s, "52:54:00:aa:bb:cd", "img/v.img", 0, &err));
	peek_text("SELECT last_image FROM stations WHERE mac = ?1",
		  "52:54:00:aa:bb:cd", buf, sizeof(buf));
	CHECK(strcmp(buf, "img/v.img") == 0, "last_image of a new station %s", buf);
	CHECK(srv_station_image(s, "nonsense", "img/v.img", 0, &err) == -IMG_E_USAGE,
	      "bad MAC accepted");
	/* What the boot endpoint reads back. */
	CHECK(srv_station_last_image(s, "52:54:00:AA:BB:CC", buf, sizeof(buf), &err) == 1 &&
	      strcmp(buf, "img/w.img") == 0, "last image read back: %s", buf);
	CHECK(srv_station_last_image(s, "52:54:00:aa:bb:ce", buf, sizeof(buf), &err) == 0 &&
	      buf[0] == 0, "unknown station: '%s'", buf);
	CHECK(srv_station_last_image(s, "nonsense", buf, sizeof(buf), &err) == -IMG_E_USAGE,
	      "bad MAC accepted for the last image");
	struct srv_station nomac = { .hostname = "x" };
	CHECK(srv_station_seen(s, &nomac, &err) == -IMG_E_USAGE, "NULL MAC accepted");

	CAPTURE(list, srv_station_list(s, OUT, &err));
	CHECK(count_lines(list) == 3, "station list has %d lines:\n%s",
	      count_lines(list), list);
	CHECK(strstr(list, "\n52:54:00:aa:bb:cc  ws1-renamed  SN1  Box 1  536870912000  8589934592  198.18.0.10:2  "),
	      "station list:\n%s", list);
	CHECK(strstr(list, "  img/w.img  2026-11-23T20:22:46Z\n"),
	      "station list last image:\n%s", list);
	free(list);
}

/* ---- concurrent writers ---------------------------------------------- */

#define THREADS 8
#define PER_THREAD 200

struct worker {
	struct srv_state *s;
	int64_t ids[PER_THREAD];
	int rc;
	struct img_error err;
};

static void *writer(void *p)
{
	struct worker *w = p;
	char path[64];

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(path, sizeof(path), "img/t%p-%d.img", p, i);
		struct srv_logrec r = {
			.source = "198.18.0.1:1", .mac = "52:54:00:00:00:02",
			.type = "get", .path = path, .start = T0 + i,
		};
		if ((w->rc = srv_log_begin(w->s, &r, &w->err)) < 0)
			return NULL;
		w->ids[i] = r.id;
		r.end = T0 + i + 1;
		r.bytes = (uint64_t)i;
		r.result = "ok";
		if ((w->rc = srv_log_end(w->s, &r, &w->err)) < 0)
			return NULL;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_threads(struct srv_state *s)
{
	static struct worker w[THREADS];
	static int64_t all[THREADS * PER_THREAD];
	pthread_t t[THREADS];
	int n = 0;

	double before = peek_real("SELECT count(*) FROM log", NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i].s = s;
		REQUIRE(pthread_create(&t[i], NULL, writer, &w[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].rc == 0, "thread %d: %d %s", i, w[i].rc, w[i].err.msg);
		for (int j = 0; j < PER_THREAD; j++)
			all[n++] = w[i].ids[j];
	}
	qsort(all, (size_t)n, sizeof(all[0]), cmp_id);
	int distinct = all[0] > 0;
	for (int i = 1; i < n; i++)
		distinct += all[i] != all[i - 1] && all[i] > 0;
	CHECK(distinct == THREADS * PER_THREAD, "%d distinct ids of %d", distinct,
	      THREADS * PER_THREAD);
	double after = peek_real("SELECT count(*) FROM log", NULL);
	CHECK(after - before == THREADS * PER_THREAD, "%f records added", after - before);
	CHECK(peek_real("SELECT count(*) FROM log WHERE mac = ?1 AND result <> 'ok'",
			"52:54:00:00:00:02") == 0, "a threaded record was not finished");
}

/* ---- files that are not ours ----------------------------------------- */

static void test_refused(void)
{
	struct srv_state *s = NULL;
	char path[160];
	int rc;

	/* A newer schema. */
	sqlite3 *db;
	REQUIRE(sqlite3_open(dbpath, &db) == SQLITE_OK, "open %s", dbpath);
	REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) ==
		SQLITE_OK, "set user_version: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
	rc = srv_state_open(dbpath, &s, &err);
	CHECK(rc == -IMG_E_VERSION && !s, "user_version 99 gave %d", rc);
	CHECK(strstr(err.msg, dbpath) && strstr(err.msg, "99"),
	      "message does not name the file and version: %s", err.msg);

	/* Not an SQLite file at all; it must be left as it was. */
	static const char junk[] = "this is not a database, it is a text file\n";
	snprintf(path, sizeof(path), "%s/junk.db", dir);
	FILE *f = fopen(path, "w");
	REQUIRE(f, "create %s", path);
	for (int i = 0; i < 200; i++)
		fputs(junk, f);
	fclose(f);
	rc = srv_state_open(path, &s, &err);
	CHECK(rc == -IMG_E_CORRUPT && !s, "a text file gave %d", rc);
	CHECK(strstr(err.msg, path), "message does not name the file: %s", err.msg);
	char head[sizeof(junk)] = "";
	f = fopen(path, "r");
	REQUIRE(f, "reopen %s", path);
	CHECK(fread(head, 1, sizeof(junk) - 1, f) == sizeof(junk) - 1 &&
	      strcmp(head, junk) == 0, "the text file was changed");
	fclose(f);
	unlink(path);

	/* Another program's SQLite database. */
	snprintf(path, sizeof(path), "%s/other.db", dir);
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	REQUIRE(sqlite3_exec(db, "CREATE TABLE log (x)", NULL, NULL, NULL) ==
		SQLITE_OK, "create: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
	rc = srv_state_open(path, &s, &err);
	CHECK(rc == -IMG_E_CORRUPT && !s, "a foreign database gave %d", rc);
	CHECK(strstr(err.msg, "another program"), "message: %s", err.msg);
	unlink(path);

	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/no/such/dir/state.db", dir);
	rc = srv_state_open(path, &s, &err);
	CHECK(rc == -EIO && !s, "a missing directory gave %d", rc);
	CHECK(strstr(err.msg, path), "message does not name the file: %s", err.msg);
}

static void cleanup(void)
{
	static const char *const names[] = { "state.db", "state.db-wal",
					     "state.db-shm", "junk.db",
					     "other.db", "other.db-journal" };
	char path[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	if (rmdir(dir) != 0)
		fprintf(stderr, "test_state: cannot remove %s: %s\n", dir,
			strerror(errno));
}

int main(void)
{
	struct srv_state *s = NULL;
	int64_t first = 0;
	char *text = NULL, action[16], arg[64];

	snprintf(dir, sizeof(dir), "/tmp/test_state.XXXXXX");
	REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);

	OK(srv_state_open(dbpath, &s, &err));
	test_log(s, &first);
	test_work(s);
	test_stations(s);
	srv_state_close(s);
	s = NULL;

	/* Everything survives a reopen. */
	OK(srv_state_open(dbpath, &s, &err));
	CAPTURE(text, srv_log_dump(s, OUT, 0, "srv1", 0, 0, &err));
	CHECK(count_lines(text) == 4 && strstr(text, NASTY_PATH),
	      "log after reopen:\n%s", text);
	free(text);
	CHECK(srv_work_get(s, "52:54:00:12:34:5a", action, sizeof(action), arg,
			   sizeof(arg), &err) == 1 && strcmp(arg, "img/b.img") == 0,
	      "work lost on reopen");
	CHECK(peek_real("SELECT count(*) FROM stations", NULL) == 2,
	      "stations lost on reopen");
	/* New ids continue after the old ones. */
	struct srv_logrec r = { .type = "status", .start = T0 };
	OK(srv_log_begin(s, &r, &err));
	CHECK(r.id > first + 2, "id %lld reused after reopen", (long long)r.id);

	test_threads(s);
	srv_state_close(s);

	test_refused();
	cleanup();
	if (failures) {
		fprintf(stderr, "test_state: %d of %d checks failed\n", failures,
			checks);
		return 1;
	}
	printf("test_state: %d checks passed\n", checks);
	return 0;
}
