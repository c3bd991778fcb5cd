/* conf.c - imgserv's configuration file and automatic-imaging rules.
 *
 * The file holds "key = value" lines; '#' starts a comment; an empty value
 * means the default (as the ZENworks daemons' .conf files do).  rule and
 * refer may repeat.  imgserv(8) documents every key. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/num.h"
#include "srv.h"

void srv_conf_defaults(struct srv_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->port = PROTO_PORT;
	snprintf(c->store, sizeof(c->store), "/var/lib/imgserv/images");
	snprintf(c->state, sizeof(c->state), "/var/lib/imgserv");
	snprintf(c->pidfile, sizeof(c->pidfile), "/run/imgserv.pid");
	c->timeout = 120;
	c->max_clients = 64;
	snprintf(c->boot, sizeof(c->boot), "/var/lib/imgserv/boot");
	snprintf(c->menu, sizeof(c->menu), "never");
	c->menu_wait = 3;
}

static int menu_ok(const char *v)
{
	return !strcmp(v, "never") || !strcmp(v, "always") || !strcmp(v, "hotkey");
}

void srv_conf_free(struct srv_conf *c)
{
	free(c->rules);
	free(c->refer);
	c->rules = NULL;
	c->refer = NULL;
	c->nrules = c->nrefer = 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* A whole number in [lo, hi] (base/num.h), as an int. */
static int parse_num(const char *v, long lo, long hi, int *out)
{
	long long n;
	if (img_parse_int(v, lo, hi, &n))
		return -1;
	*out = (int)n;
	return 0;
}

static int parse_subnet(const char *v, uint32_t *net, uint32_t *mask)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", v);
	char *slash = strchr(buf, '/');
	int bits = 32;
	if (slash) {
		*slash = 0;
		if (parse_num(slash + 1, 0, 32, &bits))
			return -1;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*mask = bits ? 0xffffffffu << (32 - bits) : 0;
	*net = ntohl(a.s_addr) & *mask;
	if (!bits) {           /* 0.0.0.0/0: any address, but say so */
		*mask = 0;
		*net = 0;
	}
	return 0;
}

int srv_rule_parse(struct srv_rule *r, const char *text, struct img_error *err)
{
	char buf[4096];
	memset(r, 0, sizeof(*r));
	if (strlen(text) >= sizeof(buf))
		return img_err_set(err, -IMG_E_USAGE, "rule is too long");
	snprintf(buf, sizeof(buf), "%s", text);
	char *save = NULL;
	int any_match = 0;
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		char *v;
		int ok = 1;
		int ge = !strncmp(t, "disk>=", 6), le = !strncmp(t, "disk<=", 6);
		if (ge || le) {
			if (img_parse_size(t + 6, ge ? &r->disk_min : &r->disk_max))
				return img_err_set(err, -IMG_E_USAGE,
						   "rule: bad size in '%s' (e.g. disk>=100G)", t);
			any_match = 1;
			continue;
		}
		if (!(v = strchr(t, '=')))
			return img_err_set(err, -IMG_E_USAGE,
					   "rule: '%s' is not KEY=VALUE", t);
		*v++ = 0;
#define STR(field) do { if (strlen(v) >= sizeof(r->field)) ok = 0; \
	else snprintf(r->field, sizeof(r->field), "%s", v); } while (0)
		if (!strcmp(t, "mac")) {
			STR(mac);
			any_match = 1;
		} else if (!strcmp(t, "serial")) {
			STR(serial);
			any_match = 1;
		} else if (!strcmp(t, "product")) {
			STR(product);
			any_match = 1;
		} else if (!strcmp(t, "hostname")) {
			STR(hostname);
			any_match = 1;
		} else if (!strcmp(t, "subnet")) {
			ok = !parse_subnet(v, &r->net, &r->netmask);
			any_match = 1;
		} else if (!strcmp(t, "action")) {
			STR(action);
			ok = ok && (!strcmp(v, "none") || !strcmp(v, "restore") ||
				    !strcmp(v, "make") || !strcmp(v, "session"));
		} else if (!strcmp(t, "path") || !strcmp(t, "session")) {
			STR(arg);
		} else if (!strcmp(t, "server")) {
			STR(server);
		} else if (!strcmp(t, "name")) {
			STR(name);
		} else if (!strcmp(t, "menu")) {
			STR(menu);
			ok = ok && menu_ok(v);
		} else {
			return img_err_set(err, -IMG_E_USAGE,
					   "rule: unknown key '%s' (mac, serial, product, hostname, "
					   "subnet, disk>=, disk<=, action, path, session, server, name, menu)",
					   t);
		}
#undef STR
		if (!ok)
			return img_err_set(err, -IMG_E_USAGE, "rule: bad value for %s: '%s'",
					   t, v);
	}
	if (!r->action[0])
		return img_err_set(err, -IMG_E_USAGE,
				   "rule: no action= (none, restore, make or session)");
	if (!any_match)
		return img_err_set(err, -IMG_E_USAGE,
				   "rule: nothing to match on (mac=, serial=, product=, hostname=, "
				   "subnet=, disk>=, disk<=); use mac=* to match every workstation");
	if (strcmp(r->action, "none") && !r->arg[0])
		return img_err_set(err, -IMG_E_USAGE, "rule: action=%s needs %s=",
				   r->action, strcmp(r->action, "session") ? "path" : "session");
	if (r->arg[0] && strcmp(r->action, "session") && srv_path_check(r->arg, err))
		return img_err_set(err, -IMG_E_USAGE, "rule: path=%s: %s", r->arg,
				   err ? err->msg : "bad path");
	return 0;
}

static int add_rule(struct srv_conf *c, const char *v, int line,
		    const char *path, struct img_error *err)
{
	if (c->nrules == SRV_MAX_RULES)
		return img_err_set(err, -IMG_E_LIMIT, "%s:%d: more than %d rules", path,
				   line, SRV_MAX_RULES);
	if (!c->rules && !(c->rules = calloc(SRV_MAX_RULES, sizeof(*c->rules))))
		return img_err_set(err, -ENOMEM, "out of memory");
	struct img_error e = {0};
	if (srv_rule_parse(&c->rules[c->nrules], v, &e))
		return img_err_set(err, -IMG_E_USAGE, "%s:%d: %s", path, line, e.msg);
	c->rules[c->nrules++].line = line;
	return 0;
}

static int add_refer(struct srv_conf *c, char *v, int line, const char *path,
		     struct img_error *err)
{
	char *sp = v + strcspn(v, " \t");
	if (!*sp)
		return img_err_set(err, -IMG_E_USAGE,
				   "%s:%d: refer takes PATH-PREFIX HOST[:PORT]", path, line);
	*sp++ = 0;
	sp = trim(sp);
	if (c->nrefer == SRV_MAX_REFER)
		return img_err_set(err, -IMG_E_LIMIT, "%s:%d: more than %d refer lines",
				   path, line, SRV_MAX_REFER);
	if (!c->refer && !(c->refer = calloc(SRV_MAX_REFER, sizeof(*c->refer))))
		return img_err_set(err, -ENOMEM, "out of memory");
	struct srv_refer *r = &c->refer[c->nrefer];
	if (strlen(v) >= sizeof(r->prefix) || strlen(sp) >= sizeof(r->server) || !*sp)
		return img_err_set(err, -IMG_E_USAGE, "%s:%d: bad refer line", path, line);
	snprintf(r->prefix, sizeof(r->prefix), "%s", v);
	snprintf(r->server, sizeof(r->server), "%s", sp);
	c->nrefer++;
	return 0;
}

/* ---- the key table -------------------------------------------------- */

enum key_kind { K_STR, K_INT, K_MENU, K_RESTORE, K_RULE, K_REFER };

/* Every key of imgserv.conf, and the command-line option that sets the same
 * field (NULL: the file only).  Numbers take [lo, hi]; unit ends the
 * message that states the range. */
struct srv_key {
	const char *name;
	const char *option;       /* "-port=", "-i:", ...; NULL: none */
	enum key_kind kind;
	size_t off, cap;          /* the field in struct srv_conf */
	int lo, hi;
	const char *unit;
};

#define STR_KEY(n, opt, f) { n, opt, K_STR, offsetof(struct srv_conf, f), \
	sizeof(((struct srv_conf *)0)->f), 0, 0, NULL }
#define INT_KEY(n, opt, f, lo, hi, unit) { n, opt, K_INT, \
	offsetof(struct srv_conf, f), 0, lo, hi, unit }

static const struct srv_key keys[] = {
	STR_KEY("address", "-i:", address),
	STR_KEY("name", "-s:", name),
	INT_KEY("port", "-port=", port, 1, 65535, ""),
	STR_KEY("store", "-store=", store),
	STR_KEY("state", "-state=", state),
	STR_KEY("key", "-key=", key),
	STR_KEY("pidfile", "-pidfile=", pidfile),
	INT_KEY("timeout", NULL, timeout, 5, 86400, " seconds"),
	INT_KEY("max_clients", NULL, max_clients, 1, 4096, ""),
	INT_KEY("http_port", "-http=", http_port, 0, 65535, " (0: off)"),
	STR_KEY("boot", "-boot=", boot),
	{ "menu", NULL, K_MENU, 0, 0, 0, 0, NULL },
	INT_KEY("menu_wait", NULL, menu_wait, 1, 60, " seconds"),
	STR_KEY("boot_args", NULL, boot_args),
	{ "restore", NULL, K_RESTORE, 0, 0, 0, 0, NULL },
	{ "rule", NULL, K_RULE, 0, 0, 0, 0, NULL },
	{ "refer", NULL, K_REFER, 0, 0, 0, 0, NULL },
};

const struct srv_key *srv_key_of_option(const char *arg, const char **value)
{
	for (size_t i = 0; i < IMG_ARRAY_SIZE(keys); i++) {
		const char *o = keys[i].option;
		if (o && !strncmp(arg, o, strlen(o))) {
			*value = arg + strlen(o);
			return &keys[i];
		}
	}
	return NULL;
}

const char *srv_key_option(const struct srv_key *k)
{
	return k->option;
}

static const struct srv_key *key_named(const char *name)
{
	for (size_t i = 0; i < IMG_ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* One key from the file (path:line) or the command line (line 0: path is
 * the option).  In the file an empty value means the default; on the
 * command line an empty string is the value ("-key=": no key). */
int srv_key_set(struct srv_conf *c, const struct srv_key *k, char *v,
		const char *path, int line, struct img_error *err)
{
	struct srv_conf d;
	srv_conf_defaults(&d);
	char where[1100];
	if (line)
		snprintf(where, sizeof(where), "%s:%d: %s", path, line, k->name);
	else
		snprintf(where, sizeof(where), "%.1000s", path);
	int empty = line && !*v;
	char *field = (char *)c + k->off;
	long long n;
	switch (k->kind) {
	case K_STR:
		if (empty)
			v = (char *)&d + k->off;
		if (strlen(v) >= k->cap)
			return img_err_set(err, -IMG_E_USAGE, "%s is too long", where);
		snprintf(field, k->cap, "%s", v);
		return 0;
	case K_INT:
		if (empty) {
			memcpy(field, (char *)&d + k->off, sizeof(int));
			return 0;
		}
		if (img_parse_int(v, k->lo, k->hi, &n))
			return img_err_set(err, -IMG_E_USAGE, "%s takes %d to %d%s%s%s", where,
					   k->lo, k->hi, k->unit, line ? "" : ": ", line ? "" : v);
		*(int *)(void *)field = (int)n;
		return 0;
	case K_MENU:
		if (!empty && !menu_ok(v))
			return img_err_set(err, -IMG_E_USAGE,
					   "%s takes never, always or hotkey", where);
		snprintf(c->menu, sizeof(c->menu), "%s", empty ? d.menu : v);
		return 0;
	case K_RESTORE:
		if (!empty && strcmp(v, "open") && strcmp(v, "key"))
			return img_err_set(err, -IMG_E_USAGE, "%s takes open or key", where);
		c->restore_keyed = !empty && !strcmp(v, "key");
		return 0;
	case K_RULE:
		return empty ? 0 : add_rule(c, v, line, path, err);
	case K_REFER:
		return empty ? 0 : add_refer(c, v, line, path, err);
	}
	return 0;
}

/* One "key = value" line (comment stripped); 0 or the error. */
static int conf_line(struct srv_conf *c, char *s, int n, const char *path,
		     struct img_error *err)
{
	char *eq = strchr(s, '=');
	if (!eq)
		return img_err_set(err, -IMG_E_USAGE, "%s:%d: expected KEY = VALUE", path, n);
	*eq = 0;
	char *k = trim(s), *v = trim(eq + 1);
	const struct srv_key *key = key_named(k);
	if (!key)
		return img_err_set(err, -IMG_E_USAGE,
				   "%s:%d: unknown key '%s' (see imgserv(8))", path, n, k);
	return srv_key_set(c, key, v, path, n, err);
}

int srv_conf_load(struct srv_conf *c, const char *path, int must_exist,
		  struct img_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return img_err_set(err, -errno, "cannot read configuration %s: %s",
				   path, strerror(errno));
	}
	char line[4096];
	int n = 0, rc = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: line too long", path, n);
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *s = trim(line);
		if (*s)
			rc = conf_line(c, s, n, path, err);
	}
	fclose(f);
	return rc;
}

static int glob_ok(const char *pat, const char *s, int fold)
{
	return !pat[0] || !fnmatch(pat, s, fold ? FNM_CASEFOLD : 0);
}

const struct srv_rule *srv_rule_match(const struct srv_conf *c,
				      const struct srv_ident *id)
{
	for (int i = 0; i < c->nrules; i++) {
		const struct srv_rule *r = &c->rules[i];
		if (r->mac[0]) {
			int any = 0;
			for (int m = 0; m < id->nmacs && !any; m++)
				any = !fnmatch(r->mac, id->macs[m], FNM_CASEFOLD);
			if (!any)
				continue;
		}
		if (!glob_ok(r->serial, id->serial, 1) ||
		    !glob_ok(r->product, id->product, 1) ||
		    !glob_ok(r->hostname, id->hostname, 1))
			continue;
		if (r->netmask && (id->addr & r->netmask) != r->net)
			continue;
		if (r->disk_min && id->disk < r->disk_min)
			continue;
		if (r->disk_max && id->disk > r->disk_max)
			continue;
		return r;
	}
	return NULL;
}

const struct srv_refer *srv_refer_match(const struct srv_conf *c,
					const char *path)
{
	for (int i = 0; i < c->nrefer; i++) {
		size_t n = strlen(c->refer[i].prefix);
		if (!strncmp(path, c->refer[i].prefix, n))
			return &c->refer[i];
	}
	return NULL;
}
