/* stream.c - the one reader of an image stream: DATA frames, then END
 * with the byte count (img-protocol(7), "Image streams").  The client's
 * download and the server's upload both read through it (proto.h). */
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "proto.h"

/* Read the next frame into s; 0 when it was DATA (s->left set), 1 at a
 * good END, or a negative code. */
static int next_frame(struct proto_stream *s)
{
	struct proto_msg m;
	int rc = proto_recv(s->c, &m, &s->err);
	if (rc)
		return rc;
	if (m.type == PROTO_DATA) {
		if (s->on_data && (rc = s->on_data(s->ctx, &m, &s->err)))
			return rc;
		s->p = m.payload;
		s->left = m.len;
		return 0;
	}
	if (m.type == PROTO_END) {
		uint64_t n = 0;
		if (proto_get_u64(&m, PT_BYTES, &n, NULL) != 1 || n != s->total)
			return img_err_set(&s->err, -IMG_E_PROTO,
					   "%s ended the image after %llu bytes, but END says %llu",
					   s->peer, (unsigned long long)s->total,
					   (unsigned long long)n);
		s->ended = 1;
		return 1;
	}
	if (s->on_other) {
		rc = s->on_other(s->ctx, &m, &s->err);
		return rc < 0 ? rc : img_err_set(&s->err, -IMG_E_PROTO,
						 "%s: message type %u inside the image",
						 s->peer, m.type);
	}
	return img_err_set(&s->err, -IMG_E_PROTO, "%s sent message type %u inside the image",
			   s->peer, m.type);
}

ssize_t proto_stream_read(struct proto_stream *s, void *buf, size_t len)
{
	while (!s->left) {
		if (s->ended)
			return 0;
		int rc = next_frame(s);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return 0;
	}
	size_t k = len < s->left ? len : s->left;
	memcpy(buf, s->p, k);
	s->p += k;
	s->left -= k;
	s->total += k;
	return (ssize_t)k;
}
