#!/bin/bash
# netbed.sh - a network test bed of namespaces for the imaging tests: one
# master and N receivers, each in its own network namespace, joined by veth
# pairs to a Linux bridge that lives in a namespace of its own (the host's
# network is never touched).  Per receiver: a rate limit (tbf) and random
# loss (nftables numgen: this kernel has no netem).  Addresses come from
# 198.18.0.0/24 only; multicast routes cover 231.0.0.0/8 only.
#
#   netbed.sh up PREFIX N [--rate I:RATE ...] [--loss I:PPM ...]
#   netbed.sh down PREFIX
#   netbed.sh exec PREFIX NODE CMD...     NODE: m (master) or 1..N
#   netbed.sh addr NODE                   198.18.0.1 (m), 198.18.0.(10+I)
#
# PREFIX names the namespaces (PREFIX-br, PREFIX-m, PREFIX-r1 ...), so
# concurrent beds do not collide; keep it short (interface names are
# PREFIX-based and limited to 15 bytes).  RATE is a tc rate (100mbit);
# PPM is the share of packets dropped on the way into that receiver, in
# millionths (50000 = 5 %).  Offloads are turned off so that loss hits
# real packets, not 64 KiB super-packets (FIELD-NOTES).  `down` removes
# every namespace of the prefix; `up` first removes leftovers.
set -u

addr() {
	case "$1" in
	m) echo 198.18.0.1 ;;
	*) echo "198.18.0.$((10 + $1))" ;;
	esac
}

ns() { echo "$1-$2"; }   # ns PREFIX NODE -> namespace name

down() {
	local p=$1 n
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$p-(br|m|r[0-9]+)$"); do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	return 0
}

die() { echo "netbed: $*" >&2; down "$PREFIX"; exit 1; }

# link NODE NAMESPACE: a veth pair from the bridge namespace into NAMESPACE
link() {
	local node=$1 target=$2 br=$PREFIX-br a
	local outer="b$node-$PREFIX" inner="e$node-$PREFIX"
	outer=${outer:0:15}
	inner=${inner:0:15}
	ip netns exec "$br" ip link add "$outer" type veth peer name "$inner" netns "$target" ||
		die "veth for $node"
	ip netns exec "$br" ip link set "$outer" master br0 up || die "bridge port $outer"
	a=$(addr "$node")
	ip netns exec "$target" ip link set "$inner" name eth0 || die "rename $inner"
	ip netns exec "$target" ip link set lo up
	ip netns exec "$target" ip link set eth0 up
	ip netns exec "$target" ip addr add "$a/24" dev eth0 || die "address $a"
	ip netns exec "$target" ip route add 231.0.0.0/8 dev eth0 || die "multicast route"
	for d in "$outer@$br" "eth0@$target"; do
		ip netns exec "${d#*@}" ethtool -K "${d%@*}" gso off gro off tso off >/dev/null 2>&1
	done
	LAST_OUTER=$outer
}

up() {
	local n=$1 i
	shift
	declare -A rate loss
	while [ $# -gt 0 ]; do
		case "$1" in
		--rate) rate[${2%%:*}]=${2#*:}; shift 2 ;;
		--loss) loss[${2%%:*}]=${2#*:}; shift 2 ;;
		*) die "unknown option $1" ;;
		esac
	done
	[ "$n" -ge 1 ] && [ "$n" -le 60 ] || die "receivers: 1 to 60"
	down "$PREFIX"
	ip netns add "$PREFIX-br" || die "cannot make namespaces (root? CONFIG_NET_NS?)"
	ip netns exec "$PREFIX-br" ip link add br0 type bridge || die "bridge"
	# IGMP snooping with IGMPv3 (v2 report suppression loses receivers)
	ip netns exec "$PREFIX-br" ip link set br0 type bridge mcast_snooping 1 \
		mcast_igmp_version 3 mcast_querier 1 2>/dev/null ||
		ip netns exec "$PREFIX-br" ip link set br0 type bridge mcast_snooping 0
	ip netns exec "$PREFIX-br" ip link set br0 up
	ip netns exec "$PREFIX-br" ip link set lo up
	ip netns add "$PREFIX-m" || die "namespace $PREFIX-m"
	link m "$PREFIX-m"
	for i in $(seq "$n"); do
		ip netns add "$PREFIX-r$i" || die "namespace $PREFIX-r$i"
		link "$i" "$PREFIX-r$i"
		if [ -n "${rate[$i]:-}" ]; then
			# the bridge's port toward receiver i: its egress is the
			# receiver's ingress
			ip netns exec "$PREFIX-br" tc qdisc add dev "$LAST_OUTER" root tbf \
				rate "${rate[$i]}" burst 64kb latency 200ms || die "tbf ${rate[$i]}"
		fi
		if [ -n "${loss[$i]:-}" ]; then
			ip netns exec "$PREFIX-r$i" nft -f - <<EOF || die "nftables loss rule"
table netdev netbed {
	chain ingress {
		type filter hook ingress device eth0 priority -500; policy accept;
		meta l4proto udp numgen random mod 1000000 < ${loss[$i]} drop
	}
}
EOF
		fi
	done
	return 0
}

cmd=${1:-}
case "$cmd" in
up)
	[ $# -ge 3 ] || { echo "usage: netbed.sh up PREFIX N [--rate I:RATE] [--loss I:PPM]" >&2; exit 2; }
	PREFIX=$2
	shift 2
	up "$@"
	;;
down)
	[ $# -eq 2 ] || { echo "usage: netbed.sh down PREFIX" >&2; exit 2; }
	PREFIX=$2
	down "$PREFIX"
	;;
exec)
	[ $# -ge 4 ] || { echo "usage: netbed.sh exec PREFIX NODE CMD..." >&2; exit 2; }
	PREFIX=$2 node=$3
	shift 3
	case "$node" in m) n=$PREFIX-m ;; *) n=$PREFIX-r$node ;; esac
	exec ip netns exec "$n" "$@"
	;;
addr)
	addr "$2"
	;;
*)
	sed -n '2,20s/^# \{0,1\}//p' "$0"
	exit 2
	;;
esac
