/* mcqueue.c - messages of the multicast transport's network threads,
 * queued for the thread that calls mc_* (the engine's messages go
 * through the front end's callback, from that thread only).
 */
#include <stdarg.h>
#include <stdio.h>

#include "mcast_int.h"

void mc_mq_add(struct mc_mq *q, int level, const char *fmt, ...)
{
	if (q->n >= 16)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->text[q->n], sizeof(q->text[0]), fmt, ap);
	va_end(ap);
	q->level[q->n++] = level;
}

void mc_mq_flush(struct mc_mq *q, pthread_mutex_t *mu, mc_log_fn log, void *ctx)
{
	struct mc_mq copy;
	pthread_mutex_lock(mu);
	copy = *q;
	q->n = 0;
	pthread_mutex_unlock(mu);
	for (unsigned i = 0; i < copy.n; i++)
		if (log)
			log(ctx, copy.level[i], copy.text[i]);
}
