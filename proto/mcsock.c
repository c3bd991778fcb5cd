/* mcsock.c - the multicast transport's sockets: the interface, the
 * session's group and its membership, socket buffers, batched receive
 * and send (recvmmsg, sendmmsg).  Everything here talks to the kernel;
 * nothing here knows what a packet means.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/err.h"
#include "mcast_int.h"

uint32_t mc_rand32(void)
{
	uint32_t v = 0;
	while (getrandom(&v, sizeof(v), 0) != sizeof(v) || v == 0)
		;
	return v;
}

void mc_addr_str(const struct sockaddr_in *a, char *buf, size_t cap)
{
	inet_ntop(AF_INET, &a->sin_addr, buf, cap);
}

int mc_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* ---- interfaces --------------------------------------------------------- */

static int default_route_if(char *name, size_t cap)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifn[64];
	unsigned long dst, mask;
	int found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			snprintf(name, cap, "%s", ifn);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

int mc_iface(const char *want, struct mc_ifc *out, struct img_error *err)
{
	struct ifaddrs *ifa, *i;
	char def[64] = "", list[256] = "";
	int n = 0;
	memset(out, 0, sizeof(*out));
	if (getifaddrs(&ifa))
		return img_err_set(err, -errno, "cannot list network interfaces: %s",
				   strerror(errno));
	if (!want && default_route_if(def, sizeof(def)))
		want = def;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (want) {
			if (strcmp(i->ifa_name, want))
				continue;
		} else if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) {
			continue;
		}
		if (!n++) {
			snprintf(out->name, sizeof(out->name), "%s", i->ifa_name);
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				  out->addr, sizeof(out->addr));
		}
		if (strlen(list) + strlen(i->ifa_name) + 3 < sizeof(list))
			strcat(strcat(list, list[0] ? ", " : ""), i->ifa_name);
		if (want)
			break;
	}
	freeifaddrs(ifa);
	if (!n)
		return img_err_set(err, -IMG_E_NOTFOUND, want ?
				   "network interface %s has no IPv4 address (or does not exist)" :
				   "no network interface with an IPv4 address is up%s",
				   want ? want : "");
	if (n > 1)
		return img_err_set(err, -IMG_E_USAGE,
				   "several network interfaces are up (%s) and none has the default "
				   "route: choose one with -iface=IF", list);
	out->index = (int)if_nametoindex(out->name);
	return 0;
}

/* ---- sockets and groups ------------------------------------------------- */

static void big_buffers(int fd, int rcv, int snd)
{
	if (rcv && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (snd && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
}

int mc_ctl_socket(const struct mc_ifc *ifc, int rcv, int snd, struct img_error *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct ip_mreqn mr = { .imr_ifindex = ifc->index };
	unsigned char ttl = 1;
	if (fd < 0)
		return img_err_set(err, -errno, "socket: %s", strerror(errno));
	inet_pton(AF_INET, ifc->addr, &a.sin_addr);
	inet_pton(AF_INET, ifc->addr, &mr.imr_address);
	big_buffers(fd, rcv, snd);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl))) {
		int e = errno;
		close(fd);
		return img_err_set(err, -e, "UDP socket on %s (%s): %s", ifc->name,
				   ifc->addr, strerror(e));
	}
	return fd;
}

int mc_group_socket(const struct mc_ifc *ifc, const struct sockaddr_in *g,
		    struct img_error *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	struct ip_mreqn mr = { .imr_multiaddr = g->sin_addr, .imr_ifindex = ifc->index };
	char gs[16];
	if (fd < 0)
		return img_err_set(err, -errno, "socket: %s", strerror(errno));
	big_buffers(fd, 8 << 20, 0);
	mc_addr_str(g, gs, sizeof(gs));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)g, sizeof(*g)) ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		int e = errno;
		close(fd);
		return img_err_set(err, -e, "cannot join group %s port %d on %s: %s", gs,
				   MC_PORT, ifc->name, strerror(e));
	}
	return fd;
}

int mc_group_addr(const char *name, struct sockaddr_in *g, struct img_error *err)
{
	char gs[16];
	int rc = proto_session_group(name, gs, err);
	if (rc)
		return rc;
	memset(g, 0, sizeof(*g));
	g->sin_family = AF_INET;
	g->sin_port = htons(MC_PORT);
	inet_pton(AF_INET, gs, &g->sin_addr);
	return 0;
}

/* ---- datagrams ---------------------------------------------------------- */

int mc_pk_send(int fd, const struct mc_pk *k, const struct sockaddr_in *to)
{
	ssize_t r = sendto(fd, k->b, k->n, 0, (const struct sockaddr *)to, sizeof(*to));
	return r == (ssize_t)k->n ? 0 : -1;
}

ssize_t mc_recv1(int fd, uint8_t *b, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);
	return recvfrom(fd, b, MC_DGRAM, MSG_DONTWAIT, (struct sockaddr *)from, &fl);
}

int mc_recv_batch(int fd, uint8_t (*buf)[MC_DGRAM], struct mmsghdr *mh,
		  struct iovec *iov, struct sockaddr_in *from)
{
	for (int i = 0; i < MC_BATCH; i++) {
		iov[i] = (struct iovec){ buf[i], MC_DGRAM };
		mh[i].msg_hdr = (struct msghdr){ .msg_name = &from[i],
			.msg_namelen = sizeof(from[i]), .msg_iov = &iov[i],
			.msg_iovlen = 1 };
	}
	return recvmmsg(fd, mh, MC_BATCH, MSG_DONTWAIT, NULL);
}

void mc_send_batch(int fd, struct mmsghdr *mh, unsigned n)
{
	unsigned done = 0;
	while (done < n) {
		int r = sendmmsg(fd, mh + done, n - done, 0);
		if (r <= 0) {
			if (r < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
				struct pollfd pf = { fd, POLLOUT, 0 };
				poll(&pf, 1, 2);
				continue;
			}
			break;
		}
		done += (unsigned)r;
	}
}
