/* base/clock.h - the one clock of every room.
 *
 * img_now() is monotonic (durations, rates, deadlines, timeouts); it never
 * jumps with the wall clock.  img_wall() is the wall clock, for timestamps a
 * person reads (logs, the state database).  img_abstime() turns a delay into
 * the CLOCK_REALTIME deadline that pthread_cond_timedwait() takes.
 * All are thread-safe.
 */
#ifndef IMG_BASE_CLOCK_H
#define IMG_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds on the monotonic clock (arbitrary origin). */
double img_now(void);
/* Milliseconds on the monotonic clock, truncated to 32 bits (wire stamps). */
uint32_t img_now_ms(void);
/* Seconds since the epoch, sub-second. */
double img_wall(void);
/* The wall-clock time seconds from now, for pthread_cond_timedwait(). */
struct timespec img_abstime(double seconds);

#endif
