/* err.c - error codes and detail text (base/err.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static const char *const msgs[] = {
	[IMG_E_USAGE - IMG_E_BASE] = "invalid arguments",
	[IMG_E_FORMAT - IMG_E_BASE] = "not an img image",
	[IMG_E_VERSION - IMG_E_BASE] = "unsupported image version or feature",
	[IMG_E_CORRUPT - IMG_E_BASE] = "image is corrupt",
	[IMG_E_TRUNCATED - IMG_E_BASE] = "image is truncated",
	[IMG_E_DIGEST - IMG_E_BASE] = "chunk digest mismatch",
	[IMG_E_TOOSMALL - IMG_E_BASE] = "target too small",
	[IMG_E_SECTOR - IMG_E_BASE] = "logical sector sizes differ",
	[IMG_E_BUSY - IMG_E_BASE] = "target is in use",
	[IMG_E_FS - IMG_E_BASE] = "filesystem unreadable or dirty",
	[IMG_E_TABLE - IMG_E_BASE] = "partition table unusable",
	[IMG_E_NOTFOUND - IMG_E_BASE] = "no such partition or disk",
	[IMG_E_CANCELLED - IMG_E_BASE] = "cancelled",
	[IMG_E_NODISK - IMG_E_BASE] = "no disk to work on",
	[IMG_E_MISMATCH - IMG_E_BASE] = "image does not fit the target",
	[IMG_E_LIMIT - IMG_E_BASE] = "size limit exceeded",
	[IMG_E_CODEC - IMG_E_BASE] = "compression library error",
	[IMG_E_PROTO - IMG_E_BASE] = "protocol error",
	[IMG_E_CLOSED - IMG_E_BASE] = "connection closed by the peer",
	[IMG_E_AUTH - IMG_E_BASE] = "authentication failed",
	[IMG_E_REFUSED - IMG_E_BASE] = "refused by the server",
	[IMG_E_REFERRED - IMG_E_BASE] = "image is on another imaging server",
	[IMG_E_DROPPED - IMG_E_BASE] = "dropped from the multicast session",
	[IMG_E_LATE - IMG_E_BASE] = "the multicast session had already started",
	[IMG_E_TIMEOUT - IMG_E_BASE] = "timed out",
};

const char *img_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code >= IMG_E_BASE && code < IMG_E_END && msgs[code - IMG_E_BASE])
		return msgs[code - IMG_E_BASE];
	return strerror(code);
}

int img_err_set(struct img_error *err, int code, const char *fmt, ...)
{
	if (code > 0)
		code = -code;
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
