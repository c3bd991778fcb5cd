/* boot.c - imgserv's boot endpoint for iPXE: the preboot question "has
 * this workstation imaging work?" answered over HTTP with an iPXE script,
 * and the imaging environment (kernel and initrd) it then loads.
 * libmicrohttpd does the HTTP; this file only decides and writes scripts.
 *
 * The script never repeats text the client sent except a checked MAC,
 * and names this server by the address the request came in on (not by
 * the client's Host header). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/num.h"
#include "srv.h"

#define SCRIPT_MAX 4096

static const char *const boot_files[] = { "vmlinuz", "initrd.img" };

static void lower_copy(char *dst, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	dst[i] = 0;
}

/* A query argument, or "" when absent; NULL when absent and want_null. */
static const char *arg(struct MHD_Connection *c, const char *name, int want_null)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	return v && *v ? v : want_null ? NULL : "";
}

static void peer_text(struct MHD_Connection *c, char *buf, size_t cap, uint32_t *addr)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, cap, "?");
	*addr = 0;
	if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET)
		return;
	const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
	snprintf(buf, cap, "%s:%u", a, ntohs(in->sin_port));
	*addr = ntohl(in->sin_addr.s_addr);
}

/* This server's address as the client reached it: "198.18.0.1". */
static int local_addr(struct MHD_Connection *c, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf,
				 (socklen_t)cap) ? 0 : -1;
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			return inet_ntop(AF_INET, &a6->s6_addr[12], buf, (socklen_t)cap) ? 0 : -1;
		if (!inet_ntop(AF_INET6, a6, a, sizeof(a)))
			return -1;
		snprintf(buf, cap, "[%s]", a);
		return 0;
	}
	return -1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void log_request(struct srv *s, const char *source, const char *mac,
			const char *path, double start, uint64_t bytes,
			const char *result, const char *text)
{
	struct srv_logrec rec = {
		.source = source, .mac = mac, .type = "boot", .path = path,
		.start = start, .bytes = bytes, .result = result, .error = text,
	};
	srv_log_request(s, &rec);
}

/* Are both files of the imaging environment in the boot directory? */
static int have_environment(const char *dir)
{
	char p[1200];
	struct stat st;
	for (size_t i = 0; i < sizeof(boot_files) / sizeof(boot_files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, boot_files[i]);
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			return 0;
	}
	return 1;
}

/* The lines that load the environment with img=MODE, falling back to the
 * local disk when it cannot be loaded. */
static void env_lines(char *b, size_t cap, const char *self, int http_port,
		      int port, const char *mode, const char *args)
{
	size_t n = strlen(b);
	snprintf(b + n, cap - n,
		 "kernel http://%s:%d/boot/vmlinuz initrd=initrd.img img=%s "
		 "imgserver=%s:%d%s%s || goto failed\n"
		 "initrd http://%s:%d/boot/initrd.img || goto failed\n"
		 "boot || goto failed\n"
		 ":failed\n"
		 "echo img: cannot load the imaging environment from %s:%d; "
		 "booting the local disk\n"
		 "sleep 3\n"
		 "exit\n",
		 self, http_port, mode, self, port, args[0] ? " " : "", args,
		 self, http_port, self, http_port);
}

/* GET /boot.ipxe?mac=...: decide and answer with a script. */
/* Register the workstation with what iPXE knows of its hardware, so an
 * admin can give an unknown machine work; absent fields keep what img
 * -auto reported earlier, and its fuller hardware report is not replaced
 * by this one.  Returns 1 if the station was known, its last image in
 * last. */
static int boot_register(struct srv *s, struct MHD_Connection *c, const char *mac,
			 const char *source, char *last, size_t cap)
{
	struct img_error e = {0};
	char hw[1024];
	long long mib = 0;
	int known = srv_station_last_image(s->state, mac, last, cap, &e) == 1;
	if (img_parse_int(arg(c, "memsize", 0), 0, 1LL << 40, &mib))
		mib = 0;
	snprintf(hw, sizeof(hw),
		 "Manufacturer: %.100s\nProduct: %.100s\nSerial: %.100s\nUUID: %.40s\n"
		 "Memory: %llu MiB\nPlatform: %.20s\nRegistered by: iPXE boot request\n",
		 arg(c, "manufacturer", 0), arg(c, "product", 0), arg(c, "serial", 0),
		 arg(c, "uuid", 0), (unsigned long long)mib, arg(c, "platform", 0));
	struct srv_station st = {
		.mac = mac, .hostname = arg(c, "hostname", 1),
		.serial = arg(c, "serial", 1), .product = arg(c, "product", 1),
		.hwinfo = known ? NULL : hw,
		.mem_bytes = mib < (1ll << 40) ? (uint64_t)mib << 20 : 0,
		.address = source,
	};
	if (srv_station_seen(s->state, &st, &e))
		srv_say(LOG_ERR, "state: %s", e.msg);
	return known;
}

/* The script for a decision: local disk, imaging environment with work
 * (auto) or with the menu, or the hot-key prompt.  b gets the script, what
 * the log text; returns the log result. */
static const char *boot_answer(struct srv *s, const struct srv_work *w, int work,
			       int done, const char *last, const char *self,
			       const char *mac, char *b, size_t cap, char *what,
			       size_t wcap)
{
	pthread_rwlock_rdlock(&s->lock);
	char menu[8], args[512], dir[1024];
	snprintf(menu, sizeof(menu), "%s", w->menu[0] ? w->menu : s->conf.menu);
	snprintf(args, sizeof(args), "%s", s->conf.boot_args);
	snprintf(dir, sizeof(dir), "%s", s->conf.boot);
	int port = s->conf.port, http_port = s->conf.http_port, wait = s->conf.menu_wait;
	pthread_rwlock_unlock(&s->lock);

	snprintf(b, cap, "#!ipxe\n");
	size_t n = strlen(b);
	if (!work && !strcmp(menu, "never")) {
		snprintf(what, wcap, "local disk (no work: %s%.300s)",
			 done ? "already has " : w->src, done ? last : "");
		snprintf(b + n, cap - n,
			 "echo img: no imaging work for %s; booting the local disk\n"
			 "exit\n", mac);
	} else if (!have_environment(dir)) {
		snprintf(what, wcap, "local disk: the imaging environment is "
			 "missing (put vmlinuz and initrd.img in %.200s: initramfs/mkimage)",
			 dir);
		snprintf(b + n, cap - n,
			 "echo img: the imaging server has no imaging environment; "
			 "booting the local disk\nsleep 3\nexit\n");
		return "failed";
	} else if (work) {
		snprintf(what, wcap, "imaging environment: %s%s%.300s (%s)",
			 w->action, w->arg[0] ? " " : "", w->arg, w->src);
		snprintf(b + n, cap - n, "echo img: imaging work for %s: %s\n", mac,
			 w->action);
		env_lines(b, cap, self, http_port, port, "auto", args);
	} else if (!strcmp(menu, "always")) {
		snprintf(what, wcap, "imaging menu (menu=always)");
		env_lines(b, cap, self, http_port, port, "menu", args);
	} else {
		snprintf(what, wcap, "hot key for the imaging menu, else local disk");
		snprintf(b + n, cap - n,
			 "prompt --key m --timeout %d img: press m within %d s for the "
			 "imaging menu && goto menu || exit\n"
			 ":menu\n", wait * 1000, wait);
		env_lines(b, cap, self, http_port, port, "menu", args);
	}
	return "ok";
}

static enum MHD_Result boot_script(struct srv *s, struct MHD_Connection *c)
{
	double t0 = img_wall();
	char source[64], mac[18] = "", self[64], what[400], b[SCRIPT_MAX];
	char last[PROTO_MAX_PATH + 1] = "";
	struct srv_ident id;

	memset(&id, 0, sizeof(id));
	peer_text(c, source, sizeof(source), &id.addr);
	atomic_fetch_add(&s->st.requests, 1);
	const char *m = arg(c, "mac", 0);
	if (!srv_mac_ok(m)) {
		log_request(s, source, "", "", t0, 0, "failed",
			    "boot.ipxe without a valid mac= argument");
		return reply(c, MHD_HTTP_BAD_REQUEST, "text/plain",
			     "imgserv: boot.ipxe needs mac=aa:bb:cc:dd:ee:ff "
			     "(iPXE: mac=${netX/mac})\n");
	}
	if (local_addr(c, self, sizeof(self)) < 0) {
		log_request(s, source, "", "", t0, 0, "failed", "cannot tell the local address");
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     "imgserv: cannot tell which address this request came in on\n");
	}
	lower_copy(mac, sizeof(mac), m);
	snprintf(id.macs[0], sizeof(id.macs[0]), "%s", mac);
	id.nmacs = 1;
	snprintf(id.serial, sizeof(id.serial), "%s", arg(c, "serial", 0));
	snprintf(id.product, sizeof(id.product), "%s", arg(c, "product", 0));
	snprintf(id.hostname, sizeof(id.hostname), "%s", arg(c, "hostname", 0));
	int known = boot_register(s, c, mac, source, last, sizeof(last));

	struct srv_work w;
	srv_decide(s, &id, &w);
	int work = strcmp(w.action, "none") != 0;
	/* A rule's restore or make that this workstation has already done is
	 * not done again at every boot; pending work always is. */
	int done = work && known && !w.pending && strcmp(w.action, "session") &&
		   !strcmp(last, w.arg) && !w.server[0];
	if (done)
		work = 0;
	const char *result = boot_answer(s, &w, work, done, last, self, mac, b, sizeof(b),
					 what, sizeof(what));
	log_request(s, source, mac, work ? w.arg : "", t0, 0, result, what);
	return reply(c, MHD_HTTP_OK, "text/plain", b);
}

/* GET /boot/vmlinuz or /boot/initrd.img. */
static enum MHD_Result boot_file(struct srv *s, struct MHD_Connection *c,
				 const char *name)
{
	char dir[1024], p[1200], source[64];
	uint32_t addr;
	double t0 = img_wall();
	peer_text(c, source, sizeof(source), &addr);
	pthread_rwlock_rdlock(&s->lock);
	snprintf(dir, sizeof(dir), "%s", s->conf.boot);
	pthread_rwlock_unlock(&s->lock);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		char t[1400];
		snprintf(t, sizeof(t), "cannot open %s: %s", p,
			 fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		log_request(s, source, "", name, t0, 0, "failed", t);
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
			     "imgserv: the imaging environment is missing on the server\n");
	}
	struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	log_request(s, source, "", name, t0, (uint64_t)st.st_size,
		    ret == MHD_YES ? "ok" : "failed", "");
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version,
			      const char *upload, size_t *upload_size, void **req)
{
	struct srv *s = cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     "imgserv: only GET\n");
	if (*upload_size)
		return reply(c, MHD_HTTP_BAD_REQUEST, "text/plain", "imgserv: no body\n");
	if (!strcmp(url, "/boot.ipxe"))
		return boot_script(s, c);
	for (size_t i = 0; i < sizeof(boot_files) / sizeof(boot_files[0]); i++) {
		char p[64];
		snprintf(p, sizeof(p), "/boot/%s", boot_files[i]);
		if (!strcmp(url, p))
			return boot_file(s, c, boot_files[i]);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
		     "imgserv: unknown path (the boot endpoint serves /boot.ipxe, "
		     "/boot/vmlinuz and /boot/initrd.img)\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char t[512];
	vsnprintf(t, sizeof(t), fmt, ap);
	t[strcspn(t, "\n")] = 0;
	srv_say(LOG_WARNING, "http: %s", t);
}

int srv_boot_start(struct srv *s, struct img_error *err)
{
	int port = s->conf.http_port;
	if (!port)
		return 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	int one_addr = s->conf.address[0] && strcmp(s->conf.address, "0.0.0.0");
	if (one_addr && inet_pton(AF_INET, s->conf.address, &sa.sin_addr) != 1)
		return img_err_set(err, -IMG_E_USAGE,
				   "the boot endpoint binds IPv4 only: %s is not an IPv4 address",
				   s->conf.address);
	if (!one_addr)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	s->http = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, s,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->conf.max_clients,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->conf.timeout,
				   MHD_OPTION_END);
	if (!s->http)
		return img_err_set(err, -EADDRINUSE,
				   "cannot serve the boot endpoint on %s port %d (in use? "
				   "set http_port= to a free port, or 0 to turn it off)",
				   one_addr ? s->conf.address : "all addresses", port);
	return 0;
}

void srv_boot_stop(struct srv *s)
{
	if (s->http)
		MHD_stop_daemon(s->http);
	s->http = NULL;
}
