/* session.c - multicast session names and the group each one uses
 * (man/img-protocol.7, SESSION NAMES).  The mapping is part of the
 * protocol: every img and imgserv that shares a name must reach the same
 * group, so it never changes. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/bytes.h"
#include "mcast.h"
#include "proto.h"

int proto_session_check(const char *name, struct img_error *err)
{
	size_t n = strlen(name);
	if (n < 1 || n > PROTO_MAX_SESSION)
		return img_err_set(err, -IMG_E_USAGE,
				   "a session name has 1 to %d characters", PROTO_MAX_SESSION);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return img_err_set(err, -IMG_E_USAGE,
					   "session name '%s': use letters, digits, '-', '_' and '.' only",
					   name);
	}
	return 0;
}

int proto_session_group(const char *name, char out[16], struct img_error *err)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char lower[PROTO_MAX_SESSION + 1];
	int rc = proto_session_check(name, err);
	if (rc)
		return rc;
	size_t n = strlen(name);
	for (size_t i = 0; i <= n; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? name[i] + ('a' - 'A') : name[i];
	if (!EVP_Digest(lower, n, d, &dl, EVP_sha256(), NULL) || dl < 3)
		return img_err_set(err, -IMG_E_CODEC, "SHA-256 failed");
	snprintf(out, 16, "231.%u.%u.%u", d[0], d[1], d[2]);
	return 0;
}

uint32_t mc_session_id(const char *name)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char lower[PROTO_MAX_SESSION + 1];
	size_t n = strnlen(name, PROTO_MAX_SESSION);
	for (size_t i = 0; i < n; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? name[i] + ('a' - 'A') : name[i];
	if (!EVP_Digest(lower, n, d, &dl, EVP_sha256(), NULL) || dl < 7)
		return 0;
	return img_get32(d + 3);
}
