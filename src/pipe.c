/* pipe.c - helpers shared by the pipelines. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "pipe.h"

unsigned img_threads(unsigned requested)
{
	long n = requested ? (long)requested : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	return (unsigned)n;
}

void img_pipe_size(uint32_t chunk, size_t out, unsigned *workers,
		   unsigned *slots)
{
	size_t per = chunk + out;
	unsigned max = (unsigned)(IMG_PIPE_BUDGET / per);
	if (max < 3)
		max = 3;
	if (*workers < 1)
		*workers = 1;
	if (2 * *workers + 2 > max)
		*workers = (max - 2) / 2 ? (max - 2) / 2 : 1;
	*slots = 2 * *workers + 2 < max ? 2 * *workers + 2 : max;
}

void img_fsync_dir(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int img_ring_init(struct img_ring *r, unsigned n, unsigned producers)
{
	memset(r, 0, sizeof(*r));
	r->state = calloc(n, sizeof(*r->state));
	r->seq = calloc(n, sizeof(*r->seq));
	r->next = calloc(n, sizeof(*r->next));
	if (!r->state || !r->seq || !r->next) {
		free(r->state);
		free(r->seq);
		free(r->next);
		r->state = NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		r->next[i] = i;
	r->n = n;
	r->producers = producers;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	return 0;
}

void img_ring_destroy(struct img_ring *r)
{
	if (!r->state)
		return;
	free(r->state);
	free(r->seq);
	free(r->next);
	r->state = NULL;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}

void img_ring_fail(struct img_ring *r, int rc, const struct img_error *e)
{
	pthread_mutex_lock(&r->mu);
	if (!r->rc) {
		r->rc = rc;
		if (e)
			r->err = *e;
		else
			snprintf(r->err.msg, sizeof(r->err.msg), "%s", img_strerror(rc));
		r->err.code = rc;
	}
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

int img_ring_acquire(struct img_ring *r, uint64_t seq)
{
	unsigned i = (unsigned)(seq % r->n);
	pthread_mutex_lock(&r->mu);
	while (!r->stop && (r->state[i] != IMG_SLOT_FREE || r->next[i] != seq))
		pthread_cond_wait(&r->cv, &r->mu);
	int stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop ? -1 : 0;
}

void img_ring_publish(struct img_ring *r, uint64_t seq)
{
	pthread_mutex_lock(&r->mu);
	r->state[seq % r->n] = IMG_SLOT_FILLED;
	r->seq[seq % r->n] = seq;
	/* Workers take in order: publish the run of consecutive seqs. */
	for (;;) {
		unsigned j = (unsigned)(r->filled % r->n);
		if (r->state[j] != IMG_SLOT_FILLED || r->seq[j] != r->filled)
			break;
		r->filled++;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void img_ring_finish(struct img_ring *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->producers)
		r->producers--;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

int img_ring_take(struct img_ring *r, uint64_t *seq)
{
	int idx = -1;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (r->stop)
			break;
		if (r->taken < r->filled) {
			*seq = r->taken;
			idx = (int)(r->taken % r->n);
			r->taken++;
			r->state[idx] = IMG_SLOT_WORKING;
			break;
		}
		if (!r->producers)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return idx;
}

void img_ring_set(struct img_ring *r, unsigned idx, int state)
{
	pthread_mutex_lock(&r->mu);
	r->state[idx] = state;
	if (state == IMG_SLOT_FREE)
		r->next[idx] = r->seq[idx] + r->n;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

int img_ring_wait_done(struct img_ring *r, uint64_t seq)
{
	unsigned i = (unsigned)(seq % r->n);
	int res;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (r->stop) {
			res = -1;
			break;
		}
		/* The slot of seq cannot be refilled before the consumer frees
		 * it, so DONE here is seq's own. */
		if (seq < r->filled && r->state[i] == IMG_SLOT_DONE) {
			res = 1;
			break;
		}
		if (!r->producers && seq >= r->filled) {
			res = 0;
			break;
		}
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return res;
}

int img_ring_error(struct img_ring *r, struct img_error *e)
{
	pthread_mutex_lock(&r->mu);
	int rc = r->rc;
	if (rc && e)
		*e = r->err;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

unsigned img_crew_start(struct img_crew *c, unsigned n, void *(*fn)(void *),
			void *args, size_t argsize)
{
	for (unsigned i = 0; i < n && c->n < IMG_CREW_MAX; i++) {
		void *a = (char *)args + (size_t)i * argsize;
		if (pthread_create(&c->t[c->n], NULL, fn, a))
			break;
		c->n++;
	}
	return c->n;
}

void img_crew_join(struct img_crew *c)
{
	for (unsigned i = 0; i < c->n; i++)
		pthread_join(c->t[i], NULL);
	c->n = 0;
}
