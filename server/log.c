/* log.c - imgserv's one message writer (srv_say: syslog when daemonised,
 * else a timestamped line on stderr) and its one request log writer
 * (srv_log_request: the record in the state database, state.c, and the
 * operator's line).  Protocol requests, boot requests and sessions all end
 * their records here. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "srv.h"

int srv_use_syslog;

void srv_say(int prio, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (srv_use_syslog) {
		syslog(prio, "%s", buf);
		return;
	}
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&t, &tm));
	fprintf(stderr, "%s imgserv: %s\n", ts, buf);
}

void srv_log_request(struct srv *s, struct srv_logrec *rec)
{
	struct img_error e = {0};
	if (!rec->end)
		rec->end = img_wall();
	if ((!rec->id && srv_log_begin(s->state, rec, &e)) || srv_log_end(s->state, rec, &e))
		srv_say(LOG_ERR, "request log: %s", e.msg);
	const char *error = rec->error ? rec->error : "";
	srv_say(LOG_INFO, "%s %s %s %s: %s%s%s (%llu bytes, %.1f s)", rec->source,
		rec->mac && rec->mac[0] ? rec->mac : "-", rec->type,
		rec->path && rec->path[0] ? rec->path : "-", rec->result,
		error[0] ? ": " : "", error, (unsigned long long)rec->bytes,
		rec->end - rec->start);
}
