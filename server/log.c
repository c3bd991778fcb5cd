/* log.c - imgserv's one message writer: syslog when daemonised, else a
 * timestamped line on stderr.  Every part of the server reports through
 * srv_say(); the request log proper is the state database (state.c). */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

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
