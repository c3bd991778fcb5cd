/* conf.c - imgserv's configuration file and automatic-imaging rules.
 *
 * The file holds "key = value" lines; '#' starts a comment; an empty value
 * means the default (as the ZENworks daemons' .conf files do).  rule and
 * refer may repeat.  imgserv(8) documents every key. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int set_str(char *dst, size_t cap, const char *v, const char *key,
		   int line, const char *path, struct img_error *err)
{
	if (strlen(v) >= cap)
		return img_err_set(err, -IMG_E_USAGE, "%s:%d: %s is too long", path,
				   line, key);
	snprintf(dst, cap, "%s", v);
	return 0;
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
	struct srv_conf d;
	srv_conf_defaults(&d);
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
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = img_err_set(err, -IMG_E_USAGE,
					 "%s:%d: expected KEY = VALUE", path, n);
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		int empty = !*v;
		if (!strcmp(k, "address"))
			rc = set_str(c->address, sizeof(c->address), empty ? d.address : v, k, n, path, err);
		else if (!strcmp(k, "name"))
			rc = set_str(c->name, sizeof(c->name), empty ? d.name : v, k, n, path, err);
		else if (!strcmp(k, "store"))
			rc = set_str(c->store, sizeof(c->store), empty ? d.store : v, k, n, path, err);
		else if (!strcmp(k, "state"))
			rc = set_str(c->state, sizeof(c->state), empty ? d.state : v, k, n, path, err);
		else if (!strcmp(k, "key"))
			rc = set_str(c->key, sizeof(c->key), empty ? d.key : v, k, n, path, err);
		else if (!strcmp(k, "pidfile"))
			rc = set_str(c->pidfile, sizeof(c->pidfile), empty ? d.pidfile : v, k, n, path, err);
		else if (!strcmp(k, "port")) {
			c->port = d.port;
			if (!empty && parse_num(v, 1, 65535, &c->port))
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: port takes 1 to 65535", path, n);
		} else if (!strcmp(k, "timeout")) {
			c->timeout = d.timeout;
			if (!empty && parse_num(v, 5, 86400, &c->timeout))
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: timeout takes 5 to 86400 seconds", path, n);
		} else if (!strcmp(k, "max_clients")) {
			c->max_clients = d.max_clients;
			if (!empty && parse_num(v, 1, 4096, &c->max_clients))
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: max_clients takes 1 to 4096", path, n);
		} else if (!strcmp(k, "http_port")) {
			c->http_port = d.http_port;
			if (!empty && parse_num(v, 0, 65535, &c->http_port))
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: http_port takes 0 (off) to 65535", path, n);
		} else if (!strcmp(k, "boot")) {
			rc = set_str(c->boot, sizeof(c->boot), empty ? d.boot : v, k, n, path, err);
		} else if (!strcmp(k, "menu")) {
			snprintf(c->menu, sizeof(c->menu), "%s", d.menu);
			if (!empty && menu_ok(v))
				snprintf(c->menu, sizeof(c->menu), "%s", v);
			else if (!empty)
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: menu takes never, always or hotkey", path, n);
		} else if (!strcmp(k, "menu_wait")) {
			c->menu_wait = d.menu_wait;
			if (!empty && parse_num(v, 1, 60, &c->menu_wait))
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: menu_wait takes 1 to 60 seconds", path, n);
		} else if (!strcmp(k, "boot_args")) {
			rc = set_str(c->boot_args, sizeof(c->boot_args), empty ? d.boot_args : v, k, n, path, err);
		} else if (!strcmp(k, "restore")) {
			if (empty || !strcmp(v, "open"))
				c->restore_keyed = 0;
			else if (!strcmp(v, "key"))
				c->restore_keyed = 1;
			else
				rc = img_err_set(err, -IMG_E_USAGE, "%s:%d: restore takes open or key", path, n);
		} else if (!strcmp(k, "rule")) {
			if (!empty)
				rc = add_rule(c, v, n, path, err);
		} else if (!strcmp(k, "refer")) {
			if (!empty)
				rc = add_refer(c, v, n, path, err);
		} else {
			rc = img_err_set(err, -IMG_E_USAGE,
					 "%s:%d: unknown key '%s' (see imgserv(8))", path, n, k);
		}
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
