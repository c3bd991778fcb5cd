/* msg.c - formatted messages to a sink (base/msg.h). */
#include <stdio.h>

#include "base/msg.h"

void img_msgv(img_msg_fn sink, void *ctx, enum img_level level, const char *fmt,
	      va_list ap)
{
	char text[IMG_MSG_MAX];
	if (!sink)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	sink(ctx, level, text);
}

void img_msgf(img_msg_fn sink, void *ctx, enum img_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	img_msgv(sink, ctx, level, fmt, ap);
	va_end(ap);
}
