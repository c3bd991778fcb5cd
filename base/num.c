/* num.c - strict number parsing (base/num.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/num.h"

/* strtoll and friends skip leading blanks and take a sign: refuse both
 * unless a negative range asks for the sign. */
static int plain_start(const char *s, int sign_ok)
{
	if (!s || !*s)
		return 0;
	if (*s == '-' || *s == '+')
		return sign_ok && isdigit((unsigned char)s[1]);
	return isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]));
}

int img_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	if (!plain_start(s, min < 0))
		return -IMG_E_USAGE;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -IMG_E_USAGE;
	*out = v;
	return 0;
}

int img_parse_real(const char *s, double min, double max, int open_min, double *out)
{
	char *end;
	if (!plain_start(s, min < 0))
		return -IMG_E_USAGE;
	for (const char *p = s; *p; p++)   /* no hex, exponents, inf or nan */
		if (!isdigit((unsigned char)*p) && *p != '.' && p != s)
			return -IMG_E_USAGE;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min) || v > max || (open_min && v == min))
		return -IMG_E_USAGE;
	*out = v;
	return 0;
}

int img_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!plain_start(s, 0) || *s == '.')
		return -IMG_E_USAGE;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s)
		return -IMG_E_USAGE;
	uint64_t mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1000ULL; end++; break;
	case 'M': mul = 1000000ULL; end++; break;
	case 'G': mul = 1000000000ULL; end++; break;
	case 'T': mul = 1000000000000ULL; end++; break;
	default: return -IMG_E_USAGE;
	}
	if (*end || n > UINT64_MAX / mul)
		return -IMG_E_USAGE;
	*out = n * mul;
	return 0;
}
