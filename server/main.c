/* main.c - the imgserv command: run the imaging server, or ask one.
 *
 *   imgserv [-i:IP] [-s:NAME] [-port=N] [-store=DIR] [-state=DIR]
 *           [-key=FILE] [-conf=FILE] [-foreground]
 *   imgserv -status [-i HOST[:PORT]]
 *   imgserv -log [-xml]
 *   imgserv -stations
 *   imgserv -work MAC restore PATH | make PATH | session NAME | clear
 *   imgserv -work list
 *   imgserv -session start NAME PATH [-clients=N] [-timeout=MIN]
 *           [-throttle=MS] [-iface=IF]
 *   imgserv -session list | delete NAME
 *
 * Exit status: 0 success, 1 failure, 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/num.h"
#include "srv.h"

#define DEFAULT_CONF "/etc/imgserv.conf"

static volatile sig_atomic_t got_stop, got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
}

struct opts {
	const char *conf;
	int conf_given;
	struct { const struct srv_key *key; const char *opt, *value; } set[32];
	int nset;                 /* conf keys set on the command line */
	int foreground;
	const char *cmd;          /* NULL: run the server */
	const char *remote;       /* -i HOST[:PORT] for -status, -work, -session */
	int xml;
	const char *clients, *timeout, *throttle, *iface;   /* -session start */
	const char *args[3];
	int nargs;
};

static void usage(FILE *f)
{
	fprintf(f,
		"imgserv %s - the img imaging server\n\n"
		"usage:\n"
		"  imgserv [-i:IP] [-s:NAME] [-port=N] [-store=DIR] [-state=DIR]\n"
		"          [-key=FILE] [-conf=FILE] [-pidfile=FILE] [-http=PORT]\n"
		"          [-boot=DIR] [-foreground]\n"
		"      run the server (a daemon unless -foreground); SIGHUP reloads the\n"
		"      configuration, SIGTERM stops it; -http=PORT also answers iPXE\n"
		"      (GET /boot.ipxe?mac=...) and serves the imaging environment\n"
		"      (vmlinuz, initrd.img) from -boot=DIR\n"
		"  imgserv -status [-i HOST[:PORT]]\n"
		"      statistics since the server started: the local one, or HOST's\n"
		"  imgserv -log [-xml]\n"
		"      the request log, as text or as XML (zimglog.xml style)\n"
		"  imgserv -stations\n"
		"      the workstations seen by automatic imaging\n"
		"  imgserv -work MAC restore PATH | make PATH | session NAME | clear\n"
		"  imgserv -work list\n"
		"      set, clear or list pending one-shot work (needs -key=FILE);\n"
		"      -i HOST[:PORT] talks to another server\n"
		"  imgserv -session start NAME PATH [-clients=N] [-timeout=MIN]\n"
		"          [-throttle=MS] [-iface=IF]\n"
		"  imgserv -session list | delete NAME\n"
		"      the running server masters a multicast session from the image\n"
		"      PATH in its store; start and delete need -key=FILE\n\n"
		"-conf=FILE defaults to " DEFAULT_CONF " (used when it exists); the\n"
		"command line wins over it.  Port %d unless -port= or port= says\n"
		"otherwise.  See imgserv(8).\n", IMG_VERSION_STRING, PROTO_PORT);
}

static int bad(const char *fmt, const char *a)
{
	fprintf(stderr, "imgserv: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\ntry: imgserv -help\n");
	return 2;
}

static int parse(struct opts *o, int argc, char **argv)
{
	o->conf = DEFAULT_CONF;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;
		const struct srv_key *k = srv_key_of_option(a, &v);
		if (k) {
			if (o->nset == (int)IMG_ARRAY_SIZE(o->set))
				return bad("too many settings: %s", a);
			o->set[o->nset].key = k;
			o->set[o->nset].opt = a;
			o->set[o->nset++].value = v;
		} else if (!strcmp(a, "-i") && i + 1 < argc)
			o->remote = argv[++i];
		else if (!strncmp(a, "-conf=", 6)) {
			o->conf = a + 6;
			o->conf_given = 1;
		} else if (!strcmp(a, "-foreground") || !strcmp(a, "-f"))
			o->foreground = 1;
		else if (!strcmp(a, "-xml"))
			o->xml = 1;
		else if (!strncmp(a, "-clients=", 9))
			o->clients = a + 9;
		else if (!strncmp(a, "-timeout=", 9))
			o->timeout = a + 9;
		else if (!strncmp(a, "-throttle=", 10))
			o->throttle = a + 10;
		else if (!strncmp(a, "-iface=", 7))
			o->iface = a + 7;
		else if (!strcmp(a, "-help") || !strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "-version") || !strcmp(a, "--version")) {
			printf("imgserv %s\n", IMG_VERSION_STRING);
			exit(0);
		} else if (!strcmp(a, "-status") || !strcmp(a, "-log") ||
			   !strcmp(a, "-work") || !strcmp(a, "-stations") ||
			   !strcmp(a, "-session")) {
			if (o->cmd)
				return bad("one command at a time: %s", a);
			o->cmd = a + 1;
		} else if (a[0] != '-' && o->cmd && o->nargs < 3 &&
			   (!strcmp(o->cmd, "work") || !strcmp(o->cmd, "session"))) {
			o->args[o->nargs++] = a;
		} else {
			return bad("unknown argument %s", a);
		}
	}
	if (o->remote && (!o->cmd || (strcmp(o->cmd, "status") && strcmp(o->cmd, "work") &&
				      strcmp(o->cmd, "session"))))
		return bad("%s", "-i HOST goes with -status, -work or -session (to bind, "
			   "write -i:IP)");
	if ((o->clients || o->timeout || o->throttle || o->iface) &&
	    (!o->cmd || strcmp(o->cmd, "session")))
		return bad("%s", "-clients=, -timeout=, -throttle= and -iface= go with "
			   "-session start");
	return 0;
}

/* Defaults, then the conf file, then the command line. */
static int load_conf(const struct opts *o, struct srv_conf *c, struct img_error *e)
{
	srv_conf_defaults(c);
	int rc = srv_conf_load(c, o->conf, o->conf_given, e);
	if (rc)
		return rc;
	for (int i = 0; i < o->nset; i++) {
		char opt[64], v[1100];
		snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(o->set[i].opt, "=:"),
			 o->set[i].opt);
		snprintf(v, sizeof(v), "%s", o->set[i].value);
		if ((rc = srv_key_set(c, o->set[i].key, v, opt, 0, e)))
			return rc;
	}
	if (!c->name[0]) {
		(void)gethostname(c->name, sizeof(c->name) - 1);
	}
	return 0;
}

static int open_state(const struct srv_conf *c, struct srv_state **st,
		      struct img_error *e)
{
	char path[1100];
	if (mkdir(c->state, 0700) < 0 && errno != EEXIST) {
		snprintf(e->msg, sizeof(e->msg), "cannot make state directory %.400s: %s",
			 c->state, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/state.db", c->state);
	return srv_state_open(path, st, e);
}

/* -status and -work talk to a server: -i HOST, else this machine's. */
static void target(const struct opts *o, const struct srv_conf *c, char *buf,
		   size_t cap)
{
	if (o->remote)
		snprintf(buf, cap, "%s", o->remote);
	else if (c->address[0] && strcmp(c->address, "0.0.0.0") && strcmp(c->address, "::"))
		snprintf(buf, cap, strchr(c->address, ':') ? "[%s]:%d" : "%s:%d",
			 c->address, c->port);
	else
		snprintf(buf, cap, "127.0.0.1:%d", c->port);
}

static int cmd_status(const struct opts *o, const struct srv_conf *c)
{
	char where[400];
	struct img_error e = {0};
	char *buf = malloc(PROTO_MAX_TEXT + 1);
	if (!buf) {
		fprintf(stderr, "imgserv: out of memory\n");
		return 1;
	}
	target(o, c, where, sizeof(where));
	struct img_net n = { .server = where, .timeout = 10 };
	int rc = img_server_stats(&n, buf, PROTO_MAX_TEXT + 1, &e);
	if (rc)
		fprintf(stderr, "imgserv: %s\n", e.msg);
	else
		printf("Address: %s\n%s", where, buf);
	free(buf);
	return rc ? 1 : 0;
}

static int cmd_work(const struct opts *o, const struct srv_conf *c)
{
	char where[400], buf[PROTO_MAX_TEXT + 1] = "";
	struct img_error e = {0};
	const char *mac = "", *action, *arg = "";
	if (o->nargs == 1 && !strcmp(o->args[0], "list")) {
		action = "list";
	} else if (o->nargs == 2 && !strcmp(o->args[1], "clear")) {
		mac = o->args[0];
		action = "clear";
	} else if (o->nargs == 3 && (!strcmp(o->args[1], "restore") ||
				     !strcmp(o->args[1], "make") ||
				     !strcmp(o->args[1], "session"))) {
		mac = o->args[0];
		action = o->args[1];
		arg = o->args[2];
	} else {
		return bad("%s", "-work takes: MAC restore PATH | MAC make PATH | "
			   "MAC session NAME | MAC clear | list");
	}
	if (!c->key[0]) {
		fprintf(stderr, "imgserv: -work needs the site key: -key=FILE (or key= in %s)\n",
			o->conf);
		return 2;
	}
	target(o, c, where, sizeof(where));
	struct img_net n = { .server = where, .keyfile = c->key, .timeout = 10 };
	if (img_server_work(&n, mac, action, arg, buf, sizeof(buf), &e)) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	if (!strcmp(action, "list"))
		fputs(buf, stdout);
	else
		printf("%s: %s%s%s\n", mac, action, arg[0] ? " " : "", arg);
	return 0;
}

/* A number option of -session start: 0..max, or bad.  frac allows a
 * fraction (minutes). */
static int session_num(const char *opt, const char *v, double max, int frac,
		       double *out)
{
	long long n;
	double d = 0;
	int bad = 0;
	if (v && frac)
		bad = img_parse_real(v, 0, max, 0, &d);
	else if (v && !(bad = img_parse_int(v, 0, (long long)max, &n)))
		d = (double)n;
	if (bad) {
		fprintf(stderr, "imgserv: %s takes %s 0 to %g: %s\ntry: imgserv -help\n",
			opt, frac ? "a number of minutes from" : "a whole number from",
			max, v);
		return -1;
	}
	*out = d;
	return 0;
}

static int cmd_session(const struct opts *o, const struct srv_conf *c)
{
	const char *action = o->nargs ? o->args[0] : "";
	struct img_error e = {0};
	double clients = 0, timeout = 0, throttle = 0;
	int keyed = 1;
	if (o->nargs == 3 && !strcmp(action, "start")) {
		if (session_num("-clients=", o->clients, IMG_SESSION_MAX_CLIENTS, 0, &clients) ||
		    session_num("-timeout=", o->timeout, IMG_SESSION_MAX_TIMEOUT_MIN, 1, &timeout) ||
		    session_num("-throttle=", o->throttle, IMG_SESSION_MAX_THROTTLE_MS, 0,
				&throttle))
			return 2;
	} else if (o->nargs == 1 && !strcmp(action, "list")) {
		keyed = 0;
	} else if (!(o->nargs == 2 && !strcmp(action, "delete"))) {
		return bad("%s", "-session takes: start NAME PATH [-clients=N] [-timeout=MIN] "
			   "[-throttle=MS] [-iface=IF] | list | delete NAME");
	}
	if ((o->clients || o->timeout || o->throttle || o->iface) && strcmp(action, "start"))
		return bad("%s", "-clients=, -timeout=, -throttle= and -iface= go with "
			   "-session start");
	if (o->nargs >= 2 && proto_session_check(o->args[1], &e))
		return bad("%s", e.msg);
	if (keyed && !c->key[0]) {
		fprintf(stderr, "imgserv: -session %s needs the site key: -key=FILE (or key= "
			"in %s)\n", action, o->conf);
		return 2;
	}
	char where[400];
	target(o, c, where, sizeof(where));
	struct proto_client cl;
	if (proto_client_connect(&cl, where, keyed ? c->key : NULL, 10000, &e)) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	struct proto_out *m = malloc(sizeof(*m));
	char *text = malloc(PROTO_MAX_TEXT + 1);
	int rc = -ENOMEM;
	if (m && text) {
		proto_out_init(m, PROTO_SESSION);
		proto_put_str(m, PT_ACTION, action);
		if (o->nargs >= 2)
			proto_put_str(m, PT_SESSION, o->args[1]);
		if (o->nargs >= 3)
			proto_put_str(m, PT_PATH, o->args[2]);
		if (o->clients)
			proto_put_u32(m, PT_CLIENTS, (uint32_t)clients);
		if (o->timeout)
			proto_put_u32(m, PT_TIMEOUT, (uint32_t)(timeout * 60000.0 + 0.5));
		if (o->throttle)
			proto_put_u32(m, PT_THROTTLE, (uint32_t)throttle);
		if (o->iface && *o->iface)
			proto_put_str(m, PT_IFACE, o->iface);
		rc = proto_send(&cl.c, m, &e);
		if (!rc)
			rc = proto_client_status(&cl, text, PROTO_MAX_TEXT + 1, NULL, &e);
	} else {
		snprintf(e.msg, sizeof(e.msg), "out of memory");
	}
	proto_client_close(&cl);
	if (!rc)
		fputs(text, stdout);
	else
		fprintf(stderr, "imgserv: %s\n", e.msg);
	free(m);
	free(text);
	return rc ? 1 : 0;
}

static int cmd_local(const struct opts *o, const struct srv_conf *c)
{
	struct srv_state *st;
	struct img_error e = {0};
	int rc = open_state(c, &st, &e);
	if (rc) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	if (!strcmp(o->cmd, "log"))
		rc = srv_log_dump(st, stdout, o->xml, c->name, 0, 0, &e);
	else
		rc = srv_station_list(st, stdout, &e);
	srv_state_close(st);
	if (rc) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	return 0;
}

/* Load (or reload) the key named in c; NULL key when none is set. */
static int load_key(const struct srv_conf *c, uint8_t **key, size_t *len,
		    struct img_error *e)
{
	*key = NULL;
	*len = 0;
	if (!c->key[0])
		return 0;
	return proto_key_load(c->key, key, len, e);
}

static void reload(struct srv *s, const struct opts *o)
{
	struct srv_conf c;
	struct img_error e = {0};
	uint8_t *key;
	size_t len;
	if (load_conf(o, &c, &e) || load_key(&c, &key, &len, &e)) {
		srv_say(LOG_ERR, "reload failed, keeping the running configuration: %s", e.msg);
		srv_conf_free(&c);
		return;
	}
	pthread_rwlock_wrlock(&s->lock);
	if (c.port != s->conf.port || strcmp(c.address, s->conf.address) ||
	    strcmp(c.store, s->conf.store) || strcmp(c.state, s->conf.state) ||
	    c.http_port != s->conf.http_port)
		srv_say(LOG_WARNING, "reload: address, port, http_port, store and state "
			"change only with a restart");
	c.port = s->conf.port;
	c.http_port = s->conf.http_port;
	snprintf(c.address, sizeof(c.address), "%s", s->conf.address);
	snprintf(c.store, sizeof(c.store), "%s", s->conf.store);
	snprintf(c.state, sizeof(c.state), "%s", s->conf.state);
	srv_conf_free(&s->conf);
	s->conf = c;
	if (s->key) {
		memset(s->key, 0, s->keylen);
		free(s->key);
	}
	s->key = key;
	s->keylen = len;
	pthread_rwlock_unlock(&s->lock);
	srv_say(LOG_INFO, "configuration reloaded: %d rules, %d referrals, %s",
		c.nrules, c.nrefer, key ? "site key set" : "no site key (writes refused)");
}

static void *run_thread(void *arg)
{
	srv_run(arg);
	return NULL;
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	int rc = write(fd, buf, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	return rc;
}

static int serve(const struct opts *o)
{
	static struct srv s;
	struct img_error e = {0};
	int rc = load_conf(o, &s.conf, &e);
	if (!rc)
		rc = load_key(&s.conf, &s.key, &s.keylen, &e);
	if (rc) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return rc == -IMG_E_USAGE ? 2 : 1;
	}
	if (mkdir(s.conf.store, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "imgserv: cannot make image store %s: %s\n", s.conf.store,
			strerror(errno));
		return 1;
	}
	s.storefd = open(s.conf.store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.storefd < 0) {
		fprintf(stderr, "imgserv: cannot open image store %s: %s\n", s.conf.store,
			strerror(errno));
		return 1;
	}
	if (open_state(&s.conf, &s.state, &e)) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	if (srv_listen(&s, &e)) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return 1;
	}
	pthread_rwlock_init(&s.lock, NULL);
	pthread_mutex_init(&s.tok_lock, NULL);
	s.tokens = calloc(SRV_MAX_TOKENS, sizeof(*s.tokens));
	if (!s.tokens || srv_sessions_init(&s)) {
		fprintf(stderr, "imgserv: out of memory\n");
		return 1;
	}
	s.started = img_wall();
	int swept = srv_store_sweep(s.storefd);

	if (!o->foreground) {
		if (daemon(0, 0) < 0) {
			fprintf(stderr, "imgserv: cannot become a daemon: %s\n", strerror(errno));
			return 1;
		}
		openlog("imgserv", LOG_PID, LOG_DAEMON);
		srv_use_syslog = 1;
	}
	if (s.conf.pidfile[0] && write_pidfile(s.conf.pidfile))
		srv_say(LOG_WARNING, "cannot write pid file %s", s.conf.pidfile);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv_say(LOG_INFO, "imgserv %s '%s' serving %s on %s port %d; %s; restores %s%s",
		IMG_VERSION_STRING, s.conf.name, s.conf.store,
		s.conf.address[0] ? s.conf.address : "all addresses", s.conf.port,
		s.key ? "site key set" : "no site key: every write is refused "
		"(set key= in imgserv.conf or -key=FILE)",
		s.conf.restore_keyed ? "need the key" : "are open",
		swept ? "; removed unfinished uploads of an earlier run" : "");
	/* After daemon(): its threads would not survive the fork. */
	if (srv_boot_start(&s, &e)) {
		srv_say(LOG_ERR, "%s", e.msg);
		return 1;
	}
	if (s.conf.http_port)
		srv_say(LOG_INFO, "boot endpoint for iPXE on port %d: http://<this server>:%d/"
			"boot.ipxe?mac=${netX/mac}; environment in %s; menu %s",
			s.conf.http_port, s.conf.http_port, s.conf.boot, s.conf.menu);
	pthread_t t;
	if (pthread_create(&t, NULL, run_thread, &s)) {
		srv_say(LOG_ERR, "cannot start the server thread");
		return 1;
	}
	while (!got_stop) {
		usleep(100000);
		if (got_hup) {
			got_hup = 0;
			reload(&s, o);
		}
	}
	atomic_store(&s.stop, 1);
	pthread_join(t, NULL);
	close(s.listenfd);
	srv_boot_stop(&s);
	srv_sessions_stop(&s, 5);
	for (int i = 0; i < 50 && atomic_load(&s.st.clients); i++)
		usleep(100000);
	srv_say(LOG_INFO, "stopping (%d connections still open)", atomic_load(&s.st.clients));
	if (s.conf.pidfile[0])
		unlink(s.conf.pidfile);
	/* Connection threads may still run: leave the state open to them. */
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	int rc = parse(&o, argc, argv);
	if (rc)
		return rc;
	if (!o.cmd)
		return serve(&o);
	struct srv_conf c;
	struct img_error e = {0};
	if ((rc = load_conf(&o, &c, &e))) {
		fprintf(stderr, "imgserv: %s\n", e.msg);
		return rc == -IMG_E_USAGE ? 2 : 1;
	}
	if (!strcmp(o.cmd, "status"))
		rc = cmd_status(&o, &c);
	else if (!strcmp(o.cmd, "work"))
		rc = cmd_work(&o, &c);
	else if (!strcmp(o.cmd, "session"))
		rc = cmd_session(&o, &c);
	else
		rc = cmd_local(&o, &c);
	srv_conf_free(&c);
	return rc;
}
