/* store.c - imgserv's image store: a directory, images named by relative
 * paths inside it.  Every lookup goes through openat2(RESOLVE_BENEATH),
 * so neither ".." nor a symlink can lead out of it.  Uploads land in a
 * temporary file in the image's directory and replace the image only when
 * complete (srv_upload_commit). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err.h"
#include "srv.h"

#define UPLOAD_PREFIX ".img-upload-"

int srv_path_check(const char *path, struct img_error *err)
{
	size_t n = strlen(path);
	if (!n)
		return img_err_set(err, -IMG_E_USAGE, "empty image path");
	if (n > PROTO_MAX_PATH)
		return img_err_set(err, -IMG_E_USAGE, "image path longer than %d bytes",
				   PROTO_MAX_PATH);
	if (path[0] == '/')
		return img_err_set(err, -IMG_E_USAGE,
				   "image path '%s' is absolute; give it relative to the store",
				   path);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return img_err_set(err, -IMG_E_USAGE,
					   "image path has a control character or backslash");
	const char *c = path;
	while (*c) {
		size_t l = strcspn(c, "/");
		if (l == 0)
			return img_err_set(err, -IMG_E_USAGE,
					   "image path '%s' has an empty component", path);
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return img_err_set(err, -IMG_E_USAGE,
					   "image path '%s' has a '.' or '..' component", path);
		if (l > 255)
			return img_err_set(err, -IMG_E_USAGE,
					   "image path '%s' has a component over 255 bytes", path);
		if (!strncmp(c, UPLOAD_PREFIX, strlen(UPLOAD_PREFIX)))
			return img_err_set(err, -IMG_E_USAGE,
					   "image path '%s' uses the reserved prefix %s", path,
					   UPLOAD_PREFIX);
		c += l;
		if (*c == '/') {
			c++;
			if (!*c)
				return img_err_set(err, -IMG_E_USAGE,
						   "image path '%s' ends with '/'", path);
		}
	}
	return 0;
}

static int beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC), .mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int open_error(int e, const char *path, struct img_error *err)
{
	if (e == -EXDEV || e == -ELOOP)
		return img_err_set(err, -IMG_E_USAGE,
				   "image path '%s' leads out of the store (symlink)", path);
	if (e == -ENOENT || e == -ENOTDIR)
		return img_err_set(err, -IMG_E_NOTFOUND, "no image '%s' in the store",
				   path);
	return img_err_set(err, e, "cannot open '%s' in the store: %s", path,
			   strerror(-e));
}

int srv_store_open(int storefd, const char *path, struct img_error *err)
{
	int rc = srv_path_check(path, err);
	if (rc)
		return rc;
	int fd = beneath(storefd, path, O_RDONLY, 0);
	if (fd < 0)
		return open_error(fd, path, err);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return img_err_set(err, -IMG_E_NOTFOUND, "'%s' in the store is not an image file",
				   path);
	}
	return fd;
}

static atomic_uint upload_seq;

int srv_upload_open(struct srv_upload *u, int storefd, const char *path,
		    struct img_error *err)
{
	memset(u, 0, sizeof(*u));
	u->dirfd = u->fd = -1;
	int rc = srv_path_check(path, err);
	if (rc)
		return rc;
	/* Walk (and make) the directories one component at a time, each
	 * opened beneath its parent. */
	int dfd = dup(storefd);
	if (dfd < 0)
		return img_err_set(err, -errno, "dup: %s", strerror(errno));
	char comp[256];
	const char *c = path;
	for (;;) {
		size_t l = strcspn(c, "/");
		memcpy(comp, c, l);
		comp[l] = 0;
		if (!c[l])
			break;
		if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST) {
			rc = img_err_set(err, -errno, "cannot make directory '%s' for '%s' in the store: %s",
					 comp, path, strerror(errno));
			close(dfd);
			return rc;
		}
		int n = beneath(dfd, comp, O_RDONLY | O_DIRECTORY, 0);
		close(dfd);
		if (n < 0)
			return open_error(n, path, err);
		dfd = n;
		c += l + 1;
	}
	snprintf(u->base, sizeof(u->base), "%s", comp);
	struct stat st;
	if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		close(dfd);
		return img_err_set(err, -IMG_E_USAGE,
				   "'%s' in the store exists and is not a plain file", path);
	}
	snprintf(u->tmp, sizeof(u->tmp), UPLOAD_PREFIX "%d-%u", (int)getpid(),
		 atomic_fetch_add(&upload_seq, 1));
	u->fd = openat(dfd, u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (u->fd < 0) {
		rc = img_err_set(err, -errno, "cannot create a file for '%s' in the store: %s",
				 path, strerror(errno));
		close(dfd);
		return rc;
	}
	u->dirfd = dfd;
	return 0;
}

int srv_upload_write(struct srv_upload *u, const void *p, size_t n,
		     struct img_error *err)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(u->fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			if (e == ENOSPC || e == EDQUOT)
				return img_err_set(err, -ENOSPC,
						   "the server's image store is full after %llu bytes "
						   "of this image; free space on the server and retry",
						   (unsigned long long)u->bytes);
			return img_err_set(err, -e, "writing the image on the server: %s",
					   strerror(e));
		}
		b += w;
		n -= (size_t)w;
		u->bytes += (uint64_t)w;
	}
	return 0;
}

int srv_upload_commit(struct srv_upload *u, struct img_error *err)
{
	if (fsync(u->fd) < 0) {
		int e = errno;
		return img_err_set(err, e == ENOSPC ? -ENOSPC : -e,
				   "flushing the image on the server: %s", strerror(e));
	}
	if (close(u->fd) < 0) {
		u->fd = -1;
		return img_err_set(err, -errno, "closing the image on the server: %s",
				   strerror(errno));
	}
	u->fd = -1;
	if (renameat(u->dirfd, u->tmp, u->dirfd, u->base) < 0)
		return img_err_set(err, -errno, "renaming the image into place: %s",
				   strerror(errno));
	u->tmp[0] = 0;
	(void)fsync(u->dirfd);
	close(u->dirfd);
	u->dirfd = -1;
	return 0;
}

void srv_upload_discard(struct srv_upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->dirfd >= 0) {
		if (u->tmp[0])
			(void)unlinkat(u->dirfd, u->tmp, 0);
		close(u->dirfd);
	}
	u->fd = u->dirfd = -1;
}

static int swept;

static int sweep_one(const char *path, const struct stat *sb, int flag,
		     struct FTW *f)
{
	(void)sb;
	if (flag == FTW_F && !strncmp(path + f->base, UPLOAD_PREFIX,
				      strlen(UPLOAD_PREFIX)) && !unlink(path))
		swept++;
	return 0;
}

int srv_store_sweep(int storefd)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", storefd);
	char real[4096];
	ssize_t n = readlink(p, real, sizeof(real) - 1);
	if (n <= 0)
		return 0;
	real[n] = 0;
	swept = 0;
	(void)nftw(real, sweep_one, 16, FTW_PHYS | FTW_MOUNT);
	return swept;
}
