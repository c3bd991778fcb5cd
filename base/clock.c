/* clock.c - monotonic and wall clocks (base/clock.h). */
#include "base/clock.h"

static double ts_sec(const struct timespec *ts)
{
	return (double)ts->tv_sec + ts->tv_nsec / 1e9;
}

double img_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_sec(&ts);
}

uint32_t img_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

double img_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_sec(&ts);
}

struct timespec img_abstime(double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (seconds < 0)
		seconds = 0;
	time_t whole = (time_t)seconds;
	long ns = ts.tv_nsec + (long)((seconds - (double)whole) * 1e9);
	ts.tv_sec += whole + ns / 1000000000L;
	ts.tv_nsec = ns % 1000000000L;
	return ts;
}
