/* base/num.h - the one strict number parser of every option and conf key.
 *
 * Strict: the whole string must be the number (no sign unless min < 0, no
 * leading or trailing blanks, no empty string), decimal only, and within
 * [min, max] inclusive.  Each returns 0 and sets *out, or -IMG_E_USAGE and
 * leaves *out alone; the caller names the option and its range in its own
 * message, from the same limits it passed here.
 */
#ifndef IMG_BASE_NUM_H
#define IMG_BASE_NUM_H

#include <stdint.h>

/* A whole number. */
int img_parse_int(const char *s, long long min, long long max, long long *out);
/* A number with an optional fraction ("0.5"); open_min excludes min itself
 * ("more than 0"). */
int img_parse_real(const char *s, double min, double max, int open_min, double *out);
/* A byte count with an optional decimal unit, as disks are sold: K, M, G, T
 * (10^3 .. 10^12, either case); "120G", "500M", "1000000". */
int img_parse_size(const char *s, uint64_t *out);

#endif
