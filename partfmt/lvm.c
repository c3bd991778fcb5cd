/* lvm.c - an LVM2 physical volume: its label and metadata areas, and each
 * logical volume on it by the handler for the filesystem inside; the
 * physical extents no LV uses are left out.
 *
 * Read here without activating anything: the label ("LABELONE", type
 * "LVM2 001") in one of the first four sectors points to the PV header
 * (its UUID, data and metadata areas); each metadata area starts with a
 * header whose first location holds the current metadata, a text in
 * LVM2's own small format (key = value, [arrays], nested { sections }).
 * An LV whose segments are all linear ("striped", one stripe) on this PV
 * is handed to the scan the registry passes in (any handler: ext4, XFS,
 * swap, ...), as one source of several pieces when it has several (the
 * handlers follow them through pf_read, ext2/3/4 by an I/O manager of
 * libext2fs; libntfs-3g reads one range and refuses); every other LV on
 * this PV (thin pools, RAID, mirrors, striped, snapshot and cache
 * volumes, hidden sub-LVs) is kept whole, and the note says which and
 * why. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "pf.h"

#define LVM_SECTOR 512u
#define LVM_MDA_HDR 512u
#define LVM_MAX_TEXT (1u << 20)   /* metadata text read at most */
#define LVM_MAX_DEPTH 8
#define LVM_MAX_AREAS 8
static const char lvm_mda_magic[16] = " LVM2 x[5A%r0N*>";

/* ---- the metadata text ------------------------------------------------ */

/* A parsed node: a section (kids), or a value (text: a number or string,
 * or for an array its items as kids). */
struct node {
	const char *name;        /* in the parser's arena */
	int section, array;
	const char *text;        /* in the arena; NULL for a section */
	struct node *kids;       /* first child */
	struct node *next;       /* next sibling */
};

struct parser {
	const char *p, *end;
	struct node *pool;       /* every node, at most cap */
	size_t npool, cap;
	char *arena;             /* every token's text, NUL-terminated */
	size_t alen, acap;
};

static struct node *node_new(struct parser *ps)
{
	if (ps->npool == ps->cap)
		return NULL;
	struct node *n = &ps->pool[ps->npool++];
	memset(n, 0, sizeof(*n));
	return n;
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end) {
		if (*ps->p == '#')
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		else if (isspace((unsigned char)*ps->p) || *ps->p == ',')
			ps->p++;
		else
			break;
	}
}

/* A word (name or number) or a "string", copied into the arena. */
static const char *token(struct parser *ps)
{
	skip_space(ps);
	if (ps->p >= ps->end)
		return NULL;
	const char *t = ps->p, *e;
	if (*t == '"') {
		e = memchr(t + 1, '"', (size_t)(ps->end - t - 1));
		if (!e)
			return NULL;
		ps->p = e + 1;
		t++;
	} else {
		while (ps->p < ps->end && (isalnum((unsigned char)*ps->p) || strchr("_-.+", *ps->p)))
			ps->p++;
		e = ps->p;
		if (e == t)
			return NULL;
	}
	size_t n = (size_t)(e - t);
	if (n + 1 > ps->acap - ps->alen)
		return NULL;
	char *w = ps->arena + ps->alen;
	memcpy(w, t, n);
	w[n] = 0;
	ps->alen += n + 1;
	return w;
}

/* Parse "name = value" and "name { ... }" items until '}' or the end. */
static int parse_items(struct parser *ps, struct node *parent, int depth)
{
	struct node **tail = &parent->kids;
	if (depth > LVM_MAX_DEPTH)
		return -1;
	for (;;) {
		skip_space(ps);
		if (ps->p >= ps->end)
			return depth ? -1 : 0;
		if (*ps->p == '}') {
			ps->p++;
			return depth ? 0 : -1;
		}
		const char *name = token(ps);
		skip_space(ps);
		struct node *n = node_new(ps);
		if (!name || !n || ps->p >= ps->end)
			return -1;
		n->name = name;
		*tail = n;
		tail = &n->next;
		char c = *ps->p++;
		if (c == '{') {
			n->section = 1;
			if (parse_items(ps, n, depth + 1))
				return -1;
			continue;
		}
		if (c != '=')
			return -1;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == '[') {
			ps->p++;
			n->array = 1;
			struct node **it = &n->kids;
			for (;;) {
				skip_space(ps);
				if (ps->p >= ps->end)
					return -1;
				if (*ps->p == ']') {
					ps->p++;
					break;
				}
				struct node *v = node_new(ps);
				if (!v || !(v->text = token(ps)))
					return -1;
				*it = v;
				it = &v->next;
			}
		} else if (!(n->text = token(ps))) {
			return -1;
		}
	}
}

static const struct node *kid(const struct node *n, const char *name)
{
	for (const struct node *k = n ? n->kids : NULL; k; k = k->next)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

static int num(const struct node *n, const char *name, uint64_t *v)
{
	const struct node *k = kid(n, name);
	char *end;
	if (!k || !k->text || !isdigit((unsigned char)k->text[0]))
		return -1;
	errno = 0;
	unsigned long long x = strtoull(k->text, &end, 10);
	if (*end || errno)
		return -1;
	*v = x;
	return 0;
}

static const char *str(const struct node *n, const char *name)
{
	const struct node *k = kid(n, name);
	return k && k->text ? k->text : "";
}

/* Whether the array name of n holds item. */
static int has(const struct node *n, const char *name, const char *item)
{
	const struct node *k = kid(n, name);
	for (const struct node *i = k && k->array ? k->kids : NULL; i; i = i->next)
		if (!strcmp(i->text, item))
			return 1;
	return 0;
}

/* ---- the label and metadata area ----------------------------------------- */

struct pv {
	char uuid[33];
	uint64_t mda[LVM_MAX_AREAS][2];  /* metadata areas: offset, size */
	unsigned nmda;
};

static int lvm_label(const struct pf_source *s, struct pv *pv, struct img_error *err)
{
	uint8_t b[4 * LVM_SECTOR];
	if (pf_read(s, b, sizeof(b), 0) < 0)
		return img_err_set(err, -IMG_E_FS, "lvm: cannot read the label");
	for (unsigned sec = 0; sec < 4; sec++) {
		const uint8_t *l = b + sec * LVM_SECTOR;
		if (memcmp(l, "LABELONE", 8) || memcmp(l + 24, "LVM2 001", 8) || img_get64(l + 8) != sec)
			continue;
		uint32_t off = img_get32(l + 20);
		if (off < 32 || off > LVM_SECTOR - 48)
			break;
		const uint8_t *h = l + off, *end = l + LVM_SECTOR;
		memcpy(pv->uuid, h, 32);
		pv->uuid[32] = 0;
		const uint8_t *d = h + 40;
		int list = 0;  /* 0: data areas, 1: metadata areas */
		for (; d + 16 <= end && list < 2; d += 16) {
			uint64_t o = img_get64(d), n = img_get64(d + 8);
			if (!o && !n) {
				list++;
				continue;
			}
			if (list == 1 && pv->nmda < LVM_MAX_AREAS) {
				pv->mda[pv->nmda][0] = o;
				pv->mda[pv->nmda++][1] = n;
			}
		}
		if (!pv->nmda)
			return img_err_set(err, -IMG_E_FS, "lvm: the PV has no metadata area");
		return 0;
	}
	return img_err_set(err, -IMG_E_FS, "lvm: no valid LVM2 label in the first four sectors");
}

/* The current metadata text of the first readable area, malloc'd. */
static char *lvm_text(const struct pf_source *s, const struct pv *pv, size_t *len,
		      struct img_error *err)
{
	for (unsigned i = 0; i < pv->nmda; i++) {
		uint64_t mo = pv->mda[i][0], ms = pv->mda[i][1];
		uint8_t h[LVM_MDA_HDR];
		if (ms <= LVM_MDA_HDR || mo > s->length || ms > s->length - mo ||
		    pf_read(s, h, sizeof(h), mo) < 0 || memcmp(h + 4, lvm_mda_magic, 16))
			continue;
		uint64_t off = img_get64(h + 40), n = img_get64(h + 48);
		if (off < LVM_MDA_HDR || off >= ms || !n || n > LVM_MAX_TEXT || n > ms - LVM_MDA_HDR)
			continue;
		char *t = malloc(n + 1);
		if (!t) {
			img_err_set(err, -ENOMEM, "out of memory");
			return NULL;
		}
		/* circular: what does not fit before the end goes on after the header */
		uint64_t first = ms - off < n ? ms - off : n;
		if (pf_read(s, t, first, mo + off) < 0 ||
		    (first < n && pf_read(s, t + first, n - first, mo + LVM_MDA_HDR) < 0)) {
			free(t);
			continue;
		}
		t[n] = 0;
		*len = strnlen(t, n);
		return t;
	}
	img_err_set(err, -IMG_E_FS, "lvm: no readable metadata area");
	return NULL;
}

/* ---- the volumes ---------------------------------------------------------- */

struct lvm {
	const struct pf_source *s;
	pf_scan_fn scan;
	struct pf_extents *e;
	char *note;
	size_t cap;
	const char *pvname;      /* this PV's key in physical_volumes */
	uint64_t pe_start, ext;  /* bytes */
	uint64_t pe_count;
};

static void say(struct lvm *v, const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(v->note);
	if (n + 4 < v->cap)
		snprintf(v->note + n, v->cap - n, fmt, n ? "; " : "", a, b);
}

#define LVM_MAX_SEGS 64

/* Why a segment cannot be read as part of a volume: its type, striping,
 * or another PV; NULL when it is linear here. */
static const char *seg_why(const struct lvm *v, const struct node *seg)
{
	const char *type = str(seg, "type");
	if (strcmp(type, "striped"))
		return !strcmp(type, "thin-pool") ? "thin pool" : !strncmp(type, "raid", 4) ? "RAID" :
		       !strcmp(type, "snapshot") ? "snapshot" : !strcmp(type, "thin") ? "thin volume" :
		       !strcmp(type, "cache") ? "cache" : !strcmp(type, "mirror") ? "mirror" : type;
	uint64_t stripes;
	const struct node *st = kid(seg, "stripes");
	if (num(seg, "stripe_count", &stripes) || stripes != 1 || !st || !st->kids ||
	    !st->kids->next || strcmp(st->kids->text, v->pvname))
		return "striped or on another PV";
	return NULL;
}

/* The reason an LV is kept whole, or NULL when its filesystem can be read
 * through its segments (all linear on this PV, in order): then g holds
 * them, in volume bytes and partition offsets. */
static const char *whole_why(const struct lvm *v, const struct node *lv, struct pf_seg *g,
			     size_t *ng)
{
	uint64_t nseg;
	*ng = 0;
	if (!has(lv, "status", "VISIBLE"))
		return "part of another volume";
	if (num(lv, "segment_count", &nseg) || !nseg || nseg > LVM_MAX_SEGS)
		return "no segments, or too many";
	for (uint64_t k = 1; k <= nseg; k++) {
		char name[32];
		snprintf(name, sizeof(name), "segment%llu", (unsigned long long)k);
		const struct node *seg = kid(lv, name);
		if (!seg)
			return "a segment is missing";
		const char *why = seg_why(v, seg);
		if (why)
			return why;
		uint64_t start, count, pe;
		char *end;
		pe = strtoull(kid(seg, "stripes")->kids->next->text, &end, 10);
		if (num(seg, "start_extent", &start) || num(seg, "extent_count", &count) || *end ||
		    !count || pe > v->pe_count || count > v->pe_count - pe ||
		    start != (*ng ? (g[*ng - 1].at + g[*ng - 1].len) / v->ext : 0))
			return "segments out of order or outside the PV";
		g[*ng] = (struct pf_seg){ start * v->ext, v->pe_start + pe * v->ext, count * v->ext };
		(*ng)++;
	}
	return NULL;
}

/* Add segment seg's extents on this PV whole (all stripes on it). */
static int add_whole(struct lvm *v, const struct node *seg)
{
	uint64_t count, stripes;
	const struct node *st = kid(seg, "stripes");
	if (num(seg, "extent_count", &count) || num(seg, "stripe_count", &stripes) || !stripes)
		return 0;  /* segments that hold no extents of their own */
	for (const struct node *p = st ? st->kids : NULL; p && p->next; p = p->next->next) {
		char *end;
		uint64_t pe = strtoull(p->next->text, &end, 10);
		uint64_t per = (count + stripes - 1) / stripes;
		if (strcmp(p->text, v->pvname) || *end || pe > v->pe_count || per > v->pe_count - pe)
			continue;
		int ret = pf_extents_push(v->e, v->pe_start + pe * v->ext, per * v->ext);
		if (ret)
			return ret;
	}
	return 0;
}

/* Map the volume range [at, at+len) back to the PV through g. */
static int append_mapped(struct lvm *v, const struct pf_seg *g, size_t ng, uint64_t at,
			 uint64_t len)
{
	for (size_t i = 0; i < ng && len; i++) {
		if (at >= g[i].at + g[i].len)
			continue;
		uint64_t in = at - g[i].at, k = g[i].len - in < len ? g[i].len - in : len;
		if (pf_extents_push(v->e, g[i].off + in, k))
			return -ENOMEM;
		at += k;
		len -= k;
	}
	return 0;
}

/* One LV: through the scan when its segments are linear on this PV (one
 * source of several pieces when there are several), else whole. */
static int lvm_volume(struct lvm *v, const struct node *lv, struct img_error *err)
{
	struct pf_seg g[LVM_MAX_SEGS];
	size_t ng;
	const char *why = whole_why(v, lv, g, &ng);
	if (why) {
		for (const struct node *k = lv->kids; k; k = k->next)
			if (k->section && !strncmp(k->name, "segment", 7) && add_whole(v, k))
				return img_err_set(err, -ENOMEM, "out of memory");
		if (has(lv, "status", "VISIBLE"))
			say(v, "%s%s kept whole (%s)", lv->name, why);
		return 0;
	}
	struct pf_seg abs[LVM_MAX_SEGS];
	for (size_t i = 0; i < ng; i++)
		abs[i] = (struct pf_seg){ g[i].at, v->s->offset + g[i].off, g[i].len };
	struct pf_source sub = *v->s;
	sub.offset = abs[0].off;
	sub.length = g[ng - 1].at + g[ng - 1].len;
	sub.seg = ng > 1 ? abs : NULL;
	sub.nseg = ng > 1 ? ng : 0;
	struct pf_result r;
	int raw;
	char note[160];
	int ret = v->scan(&sub, &r, &raw, note, sizeof(note), err);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < r.next; i++)
		ret = append_mapped(v, g, ng, r.ext[i].start, r.ext[i].len);
	free(r.ext);
	if (ret)
		return img_err_set(err, -ENOMEM, "out of memory");
	char what[64];
	snprintf(what, sizeof(what), ng > 1 ? "%s (%zu segments)" : "%s", r.fs, ng);
	if (raw)
		say(v, "%s%s raw (%s)", lv->name, note);
	else
		say(v, "%s%s %s", lv->name, what);
	return 0;
}

/* The VG section of the parsed text, this PV's entry, and the geometry. */
static int lvm_geometry(struct lvm *v, const struct node *root, const struct pv *pv,
			const struct node **vg, struct img_error *err)
{
	*vg = NULL;
	for (const struct node *k = root->kids; k && !*vg; k = k->next)
		if (k->section)
			*vg = k;
	uint64_t es;
	const struct node *pvs = kid(*vg, "physical_volumes");
	if (!*vg || num(*vg, "extent_size", &es) || !es || es > (1ull << 32) || !pvs)
		return img_err_set(err, -IMG_E_FS, "lvm: the metadata names no volume group");
	v->ext = es * LVM_SECTOR;
	for (const struct node *p = pvs->kids; p; p = p->next) {
		char id[40] = "";
		size_t n = 0;
		for (const char *c = str(p, "id"); *c && n < 32; c++)
			if (*c != '-')
				id[n++] = *c;
		uint64_t ps;
		if (n != 32 || memcmp(id, pv->uuid, 32))
			continue;
		if (num(p, "pe_start", &ps) || num(p, "pe_count", &v->pe_count))
			break;
		v->pvname = p->name;
		v->pe_start = ps * LVM_SECTOR;
		if (v->pe_start > v->s->length || v->pe_count > (v->s->length - v->pe_start) / v->ext)
			return img_err_set(err, -IMG_E_FS, "lvm: the PV's extents lie outside the partition");
		return 0;
	}
	return img_err_set(err, -IMG_E_FS, "lvm: the metadata does not list this PV");
}

int pf_lvm_used(const struct pf_source *s, struct pf_result *r, pf_scan_fn scan,
		char *note, size_t notecap, struct img_error *err)
{
	struct pv pv = { .nmda = 0 };
	struct pf_extents e = { 0 };
	size_t len = 0;
	int ret = lvm_label(s, &pv, err);
	char *text = ret ? NULL : lvm_text(s, &pv, &len, err);
	if (!text)
		return ret ? ret : -IMG_E_FS;
	struct parser ps = { text, text + len, NULL, 0, len / 3 + 16, NULL, 0, len + len / 2 + 16 };
	struct node root = { .section = 1 };
	const struct node *vg = NULL;
	struct lvm v = { .s = s, .scan = scan, .e = &e, .note = note, .cap = notecap };
	note[0] = 0;
	ps.arena = malloc(ps.acap);
	if (!(ps.pool = malloc(ps.cap * sizeof(*ps.pool))) || !ps.arena)
		ret = img_err_set(err, -ENOMEM, "out of memory");
	else if (parse_items(&ps, &root, 0))
		ret = img_err_set(err, -IMG_E_FS, "lvm: the metadata text does not parse");
	else
		ret = lvm_geometry(&v, &root, &pv, &vg, err);
	/* the label, the metadata areas, everything before the first extent */
	if (!ret && pf_extents_push(&e, 0, v.pe_start))
		ret = img_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; !ret && i < pv.nmda; i++)
		if (pv.mda[i][0] <= s->length && pv.mda[i][1] <= s->length - pv.mda[i][0] &&
		    pf_extents_push(&e, pv.mda[i][0], pv.mda[i][1]))
			ret = img_err_set(err, -ENOMEM, "out of memory");
	const struct node *lvs = ret ? NULL : kid(vg, "logical_volumes");
	for (const struct node *lv = lvs ? lvs->kids : NULL; !ret && lv; lv = lv->next)
		if (lv->section)
			ret = lvm_volume(&v, lv, err);
	free(ps.pool);
	free(ps.arena);
	free(text);
	pf_extents_settle(&e);
	snprintf(r->fs, sizeof(r->fs), "LVM2_member");
	return pf_result_take(r, &e, (uint32_t)(v.ext < (1u << 20) ? v.ext : (1u << 20)), ret);
}
