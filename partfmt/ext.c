/* ext.c - used blocks of ext2/ext3/ext4 from the block bitmap (libext2fs):
 * opened with its Unix I/O manager at the partition's offset, or, for an
 * LVM2 volume of several segments, with an I/O manager of ours that reads
 * through pf_read. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "base/err.h"
#include "pf.h"

static pthread_once_t pf_ext_once = PTHREAD_ONCE_INIT;

/* libext2fs reports some problems (e.g. a bitmap bit out of range) with
 * com_err(), which prints to stderr by default; the engine never prints. */
static void pf_ext_quiet(const char *whoami, long code, const char *fmt,
			 va_list ap)
{
	(void)whoami, (void)code, (void)fmt, (void)ap;
}

/* libext2fs codes have text only once their table is registered, and the
 * com_err hook is process-wide: both once per process. */
static void pf_ext_init(void)
{
	initialize_ext2_error_table();
	set_com_err_hook(pf_ext_quiet);
}

/* ---- a volume of several segments: libext2fs reads through pf_read ---- */

static struct struct_io_manager pf_io_manager;

/* The channel's source travels in its name ("pf:<address>"): libext2fs
 * hands the manager nothing else. */
static errcode_t pfio_open(const char *name, int flags, io_channel *out)
{
	void *p = NULL;
	if (sscanf(name, "pf:%p", &p) != 1 || !p || (flags & IO_FLAG_RW))
		return EXT2_ET_BAD_DEVICE_NAME;
	io_channel ch = calloc(1, sizeof(*ch));
	char *n = strdup(name);
	if (!ch || !n) {
		free(ch);
		free(n);
		return EXT2_ET_NO_MEMORY;
	}
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->name = n;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = p;
	ch->manager = &pf_io_manager;
	*out = ch;
	return 0;
}

static errcode_t pfio_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t pfio_set_blksize(io_channel ch, int blksize)
{
	ch->block_size = blksize;
	return 0;
}

static errcode_t pfio_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	uint64_t n = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)ch->block_size;
	uint64_t at = block * (uint64_t)ch->block_size;
	if (block > UINT64_MAX / (uint64_t)ch->block_size || n > SIZE_MAX)
		return EXT2_ET_SHORT_READ;
	return pf_read(ch->private_data, data, (size_t)n, at) ? EXT2_ET_SHORT_READ : 0;
}

static errcode_t pfio_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return pfio_read_blk64(ch, block, count, data);
}

static errcode_t pfio_write_blk64(io_channel ch, unsigned long long block, int count,
				  const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t pfio_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t pfio_flush(io_channel ch)
{
	return 0;
}

static struct struct_io_manager pf_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "img pf_read I/O manager",
	.open = pfio_open,
	.close = pfio_close,
	.set_blksize = pfio_set_blksize,
	.read_blk = pfio_read_blk,
	.write_blk = pfio_write_blk,
	.flush = pfio_flush,
	.read_blk64 = pfio_read_blk64,
	.write_blk64 = pfio_write_blk64,
};

/* Refuse a filesystem whose bitmaps cannot be trusted: a journal still to
 * replay (mounted, or crashed) or a state other than "cleanly unmounted,
 * no errors".  Returns 0 or -IMG_E_FS with err->msg set. */
static int pf_ext_check_state(ext2_filsys fs, const char *name,
			      struct img_error *err)
{
	struct ext2_super_block *sb = fs->super;

	if (ext2fs_has_feature_journal_needs_recovery(sb))
		return img_err_set(err, -IMG_E_FS,
				   "%s needs journal recovery (mounted or crashed?)",
				   name);
	if (sb->s_state & EXT2_ERROR_FS)
		return img_err_set(err, -IMG_E_FS,
				   "%s has errors recorded, run e2fsck", name);
	if (!(sb->s_state & EXT2_VALID_FS))
		return img_err_set(err, -IMG_E_FS,
				   "%s was not cleanly unmounted (mounted or crashed?)",
				   name);
	return 0;
}

/* Append the runs of set bits in the block bitmap as byte extents.  Uses
 * the library's run search, so the cost follows the number of runs, not
 * the number of blocks. */
static int pf_ext_walk(ext2_filsys fs, struct pf_extents *e,
		       struct img_error *err)
{
	ext2fs_block_bitmap bm = fs->block_map;
	uint64_t bs = fs->blocksize;
	blk64_t start = fs->super->s_first_data_block;
	blk64_t end = ext2fs_blocks_count(fs->super) - 1;
	blk64_t first, next;
	errcode_t rc;
	int ret;

	while (start <= end) {
		rc = ext2fs_find_first_set_block_bitmap2(bm, start, end, &first);
		if (rc == ENOENT)
			break;
		if (rc)
			return img_err_set(err, -IMG_E_FS, "block bitmap: %s",
					   error_message(rc));
		rc = ext2fs_find_first_zero_block_bitmap2(bm, first, end, &next);
		if (rc == ENOENT)
			next = end + 1;
		else if (rc)
			return img_err_set(err, -IMG_E_FS, "block bitmap: %s",
					   error_message(rc));
		if (next <= first)	/* never loop forever on a bad answer */
			return img_err_set(err, -IMG_E_FS,
					   "block bitmap: inconsistent runs");
		ret = pf_extents_add(e, first * bs, (next - first) * bs);
		if (ret < 0)
			return img_err_set(err, ret, "out of memory");
		start = next;
	}
	return 0;
}

static int pf_ext_used(const struct pf_source *s, struct pf_result *r,
		       struct img_error *err)
{
	struct pf_extents e = { 0 };
	ext2_filsys fs = NULL;
	char opts[40];
	const char *name = r->fs[0] ? r->fs : "ext";
	uint64_t bs, blocks, head;
	errcode_t rc;
	int ret;

	pthread_once(&pf_ext_once, pf_ext_init);
	if (s->nseg > 1) {  /* an LV of several segments: through pf_read */
		char pname[64];
		snprintf(pname, sizeof(pname), "pf:%p", (const void *)s);
		rc = ext2fs_open2(pname, NULL, EXT2_FLAG_64BITS, 0, 0, &pf_io_manager, &fs);
	} else {
		snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)s->offset);
		rc = ext2fs_open2(s->path, opts, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
	}
	if (rc) {
		fs = NULL;
		ret = img_err_set(err, -IMG_E_FS, "%s: cannot open: %s", name,
				  error_message(rc));
		goto out;
	}
	ret = pf_ext_check_state(fs, name, err);
	if (ret < 0)
		goto out;
	/* A read-only open does not check the group descriptors; bitmaps
	 * found through bad ones would be garbage. */
	rc = ext2fs_check_desc(fs);
	if (rc) {
		ret = img_err_set(err, -IMG_E_FS, "%s: bad group descriptors: %s",
				  name, error_message(rc));
		goto out;
	}

	bs = fs->blocksize;
	blocks = ext2fs_blocks_count(fs->super);
	if (blocks == 0 || blocks > s->length / bs) {
		ret = img_err_set(err, -IMG_E_FS,
				  "%s: %llu blocks of %llu bytes do not fit in the partition (%llu bytes)",
				  name, (unsigned long long)blocks,
				  (unsigned long long)bs,
				  (unsigned long long)s->length);
		goto out;
	}
	rc = ext2fs_read_block_bitmap(fs);
	if (rc) {
		ret = img_err_set(err, -IMG_E_FS, "%s: cannot read block bitmap: %s",
				  name, error_message(rc));
		goto out;
	}

	/* Boot block and primary superblock: with 1 KiB blocks block 0 lies
	 * outside the bitmap, which starts at s_first_data_block. */
	head = (uint64_t)fs->super->s_first_data_block * bs + 1024;
	head = (head + bs - 1) / bs * bs;
	ret = pf_extents_add(&e, 0, head);
	if (ret < 0) {
		ret = img_err_set(err, ret, "out of memory");
		goto out;
	}
	ret = pf_ext_walk(fs, &e, err);
	if (ret < 0)
		goto out;

	r->unit = (uint32_t)bs;
	r->ext = e.v;
	r->next = e.n;
	e.v = NULL;
out:
	free(e.v);
	if (fs)
		ext2fs_close_free(&fs);
	return ret;
}

const struct pf_ops pf_ext_ops = {
	.name = "ext2 ext3 ext4",
	.used = pf_ext_used,
};
