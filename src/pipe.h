/* pipe.h - small helpers shared by the capture and restore pipelines. */
#ifndef IMG_PIPE_H
#define IMG_PIPE_H

#include "img.h"

struct img_pipe_progress {
	struct img_progress pub;   /* what the callback sees */
	double elapsed_base;       /* img_now() at the job's start */
};

/* Monotonic seconds. */
double img_now(void);

/* Worker count: requested, or one per online core (at least 1, at most 64). */
unsigned img_threads(unsigned requested);

/* fsync the directory holding path (after a rename), best effort. */
void img_fsync_dir(const char *path);

#endif
