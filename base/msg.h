/* base/msg.h - the one way a room reports a message.
 *
 * Nothing below the programs prints: a library hands its text to a sink,
 * a function pointer with a context, that the program chose (a CLI line, an
 * ncurses status line, a log record).  img_msgf() formats and forwards;
 * a NULL sink drops the message.  Messages longer than IMG_MSG_MAX bytes
 * are cut.  Thread safety is the sink's.
 */
#ifndef IMG_BASE_MSG_H
#define IMG_BASE_MSG_H

#include <stdarg.h>

#define IMG_MSG_MAX 1600

/* Messages the engine reports while working. */
enum img_level { IMG_INFO = 0, IMG_WARN = 1, IMG_DEBUG = 2 };

typedef void (*img_msg_fn)(void *ctx, enum img_level level, const char *text);

void img_msgf(img_msg_fn sink, void *ctx, enum img_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void img_msgv(img_msg_fn sink, void *ctx, enum img_level level, const char *fmt,
	      va_list ap) __attribute__((format(printf, 4, 0)));

#endif
