/* pipe.h - small helpers shared by the capture and restore pipelines. */
#ifndef IMG_PIPE_H
#define IMG_PIPE_H

#include <pthread.h>
#include <stdint.h>

#include "img.h"

struct img_pipe_progress {
	struct img_progress pub;   /* what the callback sees */
	double elapsed_base;       /* img_now() at the job's start */
};

/* Monotonic seconds. */

/* Worker count: requested, or one per online core (at least 1, at most 64). */
unsigned img_threads(unsigned requested);

/* Ring size for a pipeline whose slots each hold a window of chunk bytes
 * plus out bytes: two slots per worker and two more, within a budget of
 * IMG_PIPE_BUDGET bytes, fewer workers when the budget is short.  This is
 * what keeps peak memory flat whatever the disk and core count. */
#define IMG_PIPE_BUDGET (40u << 20)
void img_pipe_size(uint32_t chunk, size_t out, unsigned *workers,
		   unsigned *slots);

/* A pipeline's threads, started together and joined together: the one
 * place their lifecycle lives.  Thread i runs fn(args + i * argsize)
 * (argsize 0: every thread gets args). */
#define IMG_CREW_MAX 72
struct img_crew {
	pthread_t t[IMG_CREW_MAX];
	unsigned n;               /* running */
};
/* Start up to n more threads; returns how many now run in all. */
unsigned img_crew_start(struct img_crew *c, unsigned n, void *(*fn)(void *),
			void *args, size_t argsize);
/* Join every running thread (the caller has told them to end). */
void img_crew_join(struct img_crew *c);

/* fsync the directory holding path (after a rename), best effort. */
void img_fsync_dir(const char *path);

/* The slot ring both pipelines share: producers fill slots (each its own
 * share of the sequence numbers, in any order between them), workers take
 * them in sequence and work on them in parallel, and (capture) one
 * consumer drains them in sequence.  Chunk seq always
 * lives in slot seq % n, so memory is n slots whatever the disk size.
 * The first error stops every party. */
enum img_slot_state { IMG_SLOT_FREE, IMG_SLOT_FILLED, IMG_SLOT_WORKING,
		      IMG_SLOT_DONE };

struct img_ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned n;
	int *state;              /* n entries, enum img_slot_state */
	uint64_t *seq;           /* n entries: the seq a slot holds */
	uint64_t *next;          /* n entries: the seq that may use it next */
	uint64_t filled;         /* seqs [0, filled) are published */
	uint64_t taken;          /* seqs [0, taken) are taken by workers */
	unsigned producers;      /* producers still running */
	int stop;
	int rc;                  /* first error */
	struct img_error err;
};

int img_ring_init(struct img_ring *r, unsigned n, unsigned producers);
void img_ring_destroy(struct img_ring *r);
/* Record the first error (e may be NULL) and wake everyone to stop. */
void img_ring_fail(struct img_ring *r, int rc, const struct img_error *e);
/* Producer: wait until the slot of seq is free.  0, or -1 when stopping. */
int img_ring_acquire(struct img_ring *r, uint64_t seq);
/* Producer: the slot of seq is filled. */
void img_ring_publish(struct img_ring *r, uint64_t seq);
/* Producer: this producer will publish nothing more. */
void img_ring_finish(struct img_ring *r);
/* Worker: the next filled slot (now WORKING), with its seq; -1 when
 * stopping or when everything is taken and the producer has finished. */
int img_ring_take(struct img_ring *r, uint64_t *seq);
/* Set a slot's state and wake waiters; FREE hands it to seq + n. */
void img_ring_set(struct img_ring *r, unsigned idx, int state);
/* Consumer: wait for the slot of seq to be DONE.  1 ready, 0 end of the
 * stream (seq was never published), -1 stopping. */
int img_ring_wait_done(struct img_ring *r, uint64_t seq);
/* The first error, if any: returns its code and copies its detail. */
int img_ring_error(struct img_ring *r, struct img_error *e);

#endif
