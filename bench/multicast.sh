#!/bin/bash
# bench/multicast.sh [--size small|large] [--runs R] [--only SCENARIO,...]
#                    [--receivers LIST] [--methods LIST] [--workdir DIR]
#                    [--start sender|receivers] [--img PATH] [--imgserv PATH]
#
# Multicast restore to N receivers on the network test bed
# (tests/netbed/netbed.sh: a master and N receivers in namespaces on one
# bridge, tbf rates, nftables loss), img beside udpcast, the multicast
# engine of Clonezilla and FOG, and one TCP unicast, same image, same run.
# The image is made from the GPT fixture disk (tests/fixtures/mkdisk.sh)
# with `img -makel`.  Methods (--methods, default all four):
#
#   udpcast     udp-sender --file IMG --min-receivers N --max-wait 600
#               --interface eth0 --portbase 9000 --full-duplex
#               --nopointopoint --nokbd (FOG's flags) with
#               --mcast-rdv-address 231.77.0.1 --mcast-data-address
#               231.77.0.2; receivers udp-receiver --file OUT_i --interface
#               eth0 --portbase 9000 --mcast-rdv-address 231.77.0.1 --nokbd
#               (they only write the file: nothing is restored or verified)
#   udpcast+rb  the same with --rcvbuf 4194304 on the receivers
#   img         master img -session NAME -master -clients=N -image=IMG;
#               receivers img -session NAME -client -disk=TARGET_i, each a
#               blank file of the fixture's size: real restores, verified
#   unicast     img -restorep 198.18.0.1:PORT lab/x.img -disk=TARGET from an
#               imgserv in the master namespace (the same image in its
#               store) to receiver N, over TCP on the same kind of link
#
# Scenarios (names for --only; shell globs allowed, comma-separated):
#   RATE-nN          every receiver link at RATE (100m or 1g), no loss
#   RATE-loss1-nN    every receiver drops 1 % of its UDP packets (TCP is
#                    hit too: nftables drops 1 % of all its packets)
#   100m-lossy5-nN   receiver 1 drops 5 %, the others none
#   1g-slow1-nN      receiver 1 at 100mbit, the others at 1gbit
#   100m-kill1-nN    receiver 1 is killed (SIGKILL, every process of its
#                    namespace) once half the data has reached it
# Default: for each N of --receivers (default "1 4 8"): 100m-nN,
# 100m-loss1-nN, 1g-nN, 1g-loss1-nN; for each N >= 2 also the three
# one-bad-receiver scenarios.  --only with an exact name runs it even when
# its N is not in --receivers.
#
# Timed: from the sender's launch to each receiver's exit. --start sender
# (default, as FOG runs it: the server waits for the hosts) launches the
# receivers 0.3 s after the sender; --start receivers launches them 0.5 s
# before it (then a udp-receiver that loses the sender's one HELLO never
# connects, and udp-sender waits for it up to --max-wait 600 s). Reported
# per method: the median over --runs (default 3) of the time until the
# last receiver finished (killed receivers left out) and, in the
# one-bad-receiver scenarios, of the time until the last good receiver
# finished ("fast"). Every receiver's exit status is checked against its
# output: udpcast's file must equal the image, img's disk must equal a
# reference restore (img -restorel, made once; the image-safe data area,
# bytes 1044480-1048575, left out). An exit 0 with a wrong or empty output
# is a LIE. Every run is bounded by a timeout (10x the slowest link's time
# plus a minute, at least 4 minutes; 4 more with a killed receiver); the
# bed's namespaces are removed at the end (trap). Never asserts timings:
# exits non-zero only on a setup failure.
#
# Needs root, network namespaces, nftables, tc, ethtool, udpcast.  Only
# 198.18.0.0/24 and 231.0.0.0/8 are used.  Not part of the test suite.
set -u
set -o pipefail
export LC_ALL=C.UTF-8

runs=3 size=small only="" receivers="1 4 8" methods="udpcast udpcast+rb img unicast" startorder=sender
top=$(cd "$(dirname "$0")/.." && pwd)
workdir=/tmp/bench-multicast
IMG=${IMG:-$top/build/img}
IMGSERV=${IMGSERV:-$top/build/imgserv}
BED=$top/tests/netbed/netbed.sh
cmdline="bench/multicast.sh $*"
usage() {
	echo "usage: bench/multicast.sh [--size small|large] [--runs R] [--only SCENARIO,...]" \
		"[--receivers LIST] [--methods LIST] [--start sender|receivers] [--workdir DIR]" \
		"[--img PATH] [--imgserv PATH]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs|--size|--only|--receivers|--methods|--start|--workdir|--img|--imgserv)
		[ $# -ge 2 ] || usage; k=${1#--} v=$2; shift 2;;
	--*=*) k=${1%%=*} k=${k#--} v=${1#*=}; shift;;
	-h|--help) sed -n '2,/^set -u$/p' "$0" | sed '$d'; exit 0;;
	*) usage;;
	esac
	case $k in
	runs) runs=$v;; size) size=$v;; only) only=$v;; receivers) receivers=$v;;
	methods) methods=$v;; start) startorder=$v;; workdir) workdir=$v;; img) IMG=$v;; imgserv) IMGSERV=$v;;
	*) usage;;
	esac
done
receivers=$(echo "$receivers" | tr ',' ' ')
methods=$(echo "$methods" | tr ',' ' ')
case $runs in ''|*[!0-9]*|0) usage;; esac
case $size in small|large) ;; *) usage;; esac
for n in $receivers; do case $n in ''|*[!0-9]*|0) usage;; esac; [ "$n" -le 30 ] || usage; done
for m in $methods; do case $m in udpcast|udpcast+rb|img|unicast) ;; *) usage;; esac; done
case $startorder in sender|receivers) ;; *) usage;; esac

die() { echo "multicast.sh: $*" >&2; exit 1; }
say() { echo "$(date +%T) $*" >&2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip tc nft ethtool udp-sender udp-receiver python3 cmp ss; do
	command -v $t >/dev/null || die "missing tool $t (tools/deps.txt)"
done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (package time)"
[ -x "$IMG" ] || die "no img binary at $IMG (build it: tools/setup)"
[ -x "$IMGSERV" ] || die "no imgserv binary at $IMGSERV (build it: tools/setup)"

mkdir -p "$workdir"
work=$(mktemp -d "$workdir/run.XXXXXX")
P=mb$$
P=${P:0:7}
spid=""
cleanup() {
	"$BED" down "$P" >/dev/null 2>&1
	[ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# private copies: build/ may be relinked by a concurrent build during the run
mkdir "$work/bin"
cp "$IMG" "$work/bin/img" && cp "$IMGSERV" "$work/bin/imgserv" || die "cannot copy the binaries"
IMG=$work/bin/img IMGSERV=$work/bin/imgserv
have_session=0
{ "$IMG" 2>&1 || true; } | grep -q -- '-session' && have_session=1
if [ $have_session = 0 ]; then
	case " $methods " in *" img "*)
		say "note: $IMG has no -session yet: the img column is left out"
		methods=$(echo " $methods " | sed 's/ img / /');;
	esac
fi

# ---- fixture, image, reference restore
. "$top/bench/lib.sh"
bench_fixture "$workdir" "$size" /var/tmp/img-bench
image=$work/x.img
"$IMG" -makel "$image" -disk="$src" >"$work/makel.log" 2>&1 ||
	{ cat "$work/makel.log" >&2; die "img -makel failed"; }
imgsize=$(stat -c %s "$image")
blank() { rm -f "$1"; truncate -s "$disksize" "$1"; }
blank "$work/ref.disk"
"$IMG" -restorel "$image" -disk="$work/ref.disk" >"$work/ref.log" 2>&1 ||
	{ cat "$work/ref.log" >&2; die "reference img -restorel failed"; }
refalloc=$(($(stat -c %b "$work/ref.disk") * 512))
say "image $imgsize bytes ($size fixture, disk $disksize bytes, $refalloc bytes written on restore)"


# ---- scenarios
scenarios=()
for n in $receivers; do
	scenarios+=("100m-n$n" "100m-loss1-n$n" "1g-n$n" "1g-loss1-n$n")
done
for n in $receivers; do
	[ "$n" -ge 2 ] && scenarios+=("100m-lossy5-n$n" "1g-slow1-n$n" "100m-kill1-n$n")
done
valid() { [[ $1 =~ ^(100m|1g)(-loss1|-lossy5|-slow1|-kill1)?-n([0-9]+)$ ]]; }
if [ -n "$only" ]; then
	sel=()
	for pat in $(echo "$only" | tr ',' ' '); do
		hit=0
		for s in "${scenarios[@]}"; do
			# shellcheck disable=SC2053
			[[ $s == $pat ]] && { sel+=("$s"); hit=1; }
		done
		if [ $hit = 0 ]; then
			valid "$pat" || die "unknown scenario '$pat' (see --help)"
			sel+=("$pat")
		fi
	done
	scenarios=()
	for s in "${sel[@]}"; do
		case " ${scenarios[*]} " in *" $s "*) ;; *) scenarios+=("$s");; esac
	done
fi
for s in "${scenarios[@]}"; do
	valid "$s" || die "bad scenario $s"
	case $s in *-lossy5-n1|*-slow1-n1|*-kill1-n1) die "$s: needs at least 2 receivers";; esac
	case $s in 100m-slow1-*|1g-lossy5-*|1g-kill1-*) die "$s: not a scenario (see --help)";; esac
done
[ ${#scenarios[@]} -gt 0 ] || die "no scenario selected"

# ---- one scenario's bed: sets N, RATE_BPS (slowest link), KIND, bed options
parse() { # parse SCENARIO
	[[ $1 =~ ^(100m|1g)(-loss1|-lossy5|-slow1|-kill1)?-n([0-9]+)$ ]]
	local rate=${BASH_REMATCH[1]} i
	KIND=${BASH_REMATCH[2]#-} N=${BASH_REMATCH[3]}
	case $rate in 100m) linkrate=100mbit;; 1g) linkrate=1gbit;; esac
	bedopts=()
	RATE_BPS=$([ $rate = 1g ] && echo 1000000000 || echo 100000000)
	for ((i = 1; i <= N; i++)); do
		if [ "$KIND" = slow1 ] && [ $i = 1 ]; then
			bedopts+=(--rate "$i:100mbit"); RATE_BPS=100000000
		else
			bedopts+=(--rate "$i:$linkrate")
		fi
		[ "$KIND" = loss1 ] && bedopts+=(--loss "$i:10000")
		[ "$KIND" = lossy5 ] && [ $i = 1 ] && bedopts+=(--loss "$i:50000")
	done
	# every run bounded: 10x the slowest link's time plus a minute, at
	# least 4 minutes (udpcast stalls ~200 s for a receiver that stops
	# answering); killed receivers: 4 more minutes
	T=$(python3 -c "print(int(60 + 10 * $imgsize * 8 / $RATE_BPS))")
	[ $T -ge 240 ] || T=240
	[ "$KIND" = kill1 ] && T=$((T + 240))
}
role() { # role I: the part receiver I plays in this scenario
	if [ "$1" = 1 ] && [ -n "$KIND" ] && [ "$KIND" != loss1 ]; then
		case $KIND in lossy5) echo lossy;; slow1) echo slow;; kill1) echo killed;; esac
	else
		echo n
	fi
}
nsx() { # nsx NODE CMD...: run in the node's namespace
	local node=$1
	shift
	case $node in m) ip netns exec "$P-m" "$@";; *) ip netns exec "$P-r$node" "$@";; esac
}

# imgserv in the master namespace for the unicast column, the image in its store
ISPORT=19998
start_imgserv() {
	mkdir -p "$work/store/lab" "$work/state"
	[ -f "$work/store/lab/x.img" ] || cp "$image" "$work/store/lab/x.img"
	printf 'pidfile = %s\n' "$work/imgserv.pid" >"$work/imgserv.conf"
	nsx m "$IMGSERV" -foreground -i:198.18.0.1 -port=$ISPORT -store="$work/store" \
		-state="$work/state" -conf="$work/imgserv.conf" >>"$work/imgserv.log" 2>&1 &
	spid=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[ -n "$(nsx m ss -Hltn "sport = :$ISPORT")" ] && return 0
		sleep 0.025
	done
	tail "$work/imgserv.log" >&2
	die "imgserv does not listen in the master namespace"
}
stop_imgserv() {
	[ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	spid=""
}

# receiver I: runs CMD in its namespace under a timeout, records
# "RC END_EPOCH" and GNU time's "wall user sys" into $run/rI.*
rx() { # rx I CMD...
	local i=$1
	shift
	(
		/usr/bin/time -f "%e %U %S" -o "$run/r$i.time" \
			ip netns exec "$P-r$i" timeout -k 5 "$T" "$@" >"$run/r$i.log" 2>&1
		echo "$? $(date +%s.%N)" >"$run/r$i.rc"
	) &
	rxpids+=($!)
}
# the killer: once half of the data reached receiver 1, SIGKILL every
# process of its namespace (a machine that dies mid-way)
killer() { # killer OUTPUT PROGRESS_TOTAL
	local out=$1 total=$2 got
	(
		while [ ! -f "$run/r1.rc" ]; do
			got=0
			if [ -f "$out" ]; then
				if [ "$M" = img ] || [ "$M" = unicast ]; then got=$(($(stat -c %b "$out") * 512))
				else got=$(stat -c %s "$out"); fi
			fi
			if [ "$got" -ge $((total / 2)) ]; then
				echo "$(date +%s.%N) $got" >"$run/killed"
				ip netns pids "$P-r1" | xargs -r kill -9
				break
			fi
			sleep 0.05
		done
	) &
	killpid=$!
}

# tmcpu FILE: "wall user+sys" from GNU time's last line (a killed command
# has "Command terminated by signal 9" before it)
tmcpu() {
	tail -n1 "$1" 2>/dev/null | awk 'NF == 3 { printf "%s %.2f\n", $1, $2 + $3; ok = 1 }
		END { if (!ok) print "0 0" }'
}

# one run of method M in scenario S; appends to $work/results
run_method() { # run_method S M RUN
	local s=$1 r=$3 i t0 sname rc end good cpu w u y role_ out sender
	M=$2
	run=$work/runs/$s.$M.$r
	mkdir -p "$run"
	rxpids=() killpid=""
	local scmd=() rcmd=() spid_=""
	case $M in
	udpcast|udpcast+rb)
		rcmd=(udp-receiver --interface eth0 --portbase 9000 --mcast-rdv-address 231.77.0.1 --nokbd)
		[ $M = udpcast+rb ] && rcmd+=(--rcvbuf 4194304)
		scmd=(udp-sender --file "$image" --min-receivers "$N" --max-wait 600 --interface eth0
			--portbase 9000 --full-duplex --nopointopoint --nokbd
			--mcast-rdv-address 231.77.0.1 --mcast-data-address 231.77.0.2)
		for ((i = 1; i <= N; i++)); do rm -f "$run/out$i"; done
		;;
	img)
		sname=bench$r
		rcmd=("$IMG" -session "$sname" -client -wait=60)
		scmd=("$IMG" -session "$sname" -master -clients="$N" -timeout=1 -image="$image")
		for ((i = 1; i <= N; i++)); do blank "$run/out$i"; done
		;;
	unicast)
		blank "$run/out$N"
		;;
	esac
	receivers_() {
		for ((i = 1; i <= N; i++)); do
			case $M in
			img) rx $i "${rcmd[@]}" -disk="$run/out$i";;
			*) rx $i "${rcmd[@]}" --file "$run/out$i";;
			esac
		done
		case $M in
		img) [ "$KIND" = kill1 ] && killer "$run/out1" "$refalloc";;
		*) [ "$KIND" = kill1 ] && killer "$run/out1" "$imgsize";;
		esac
	}
	sender_() {
		t0=$(date +%s.%N)
		/usr/bin/time -f "%e %U %S" -o "$run/s.time" ip netns exec "$P-m" timeout -k 5 "$T" \
			"${scmd[@]}" </dev/null >"$run/s.log" 2>&1 &
		spid_=$!
	}
	if [ $M = unicast ]; then
		# one receiver: N, a normal link of the scenario
		t0=$(date +%s.%N)
		rx "$N" "$IMG" -restorep 198.18.0.1:$ISPORT lab/x.img -disk="$run/out$N"
		echo "0 0 0" >"$run/s.time"
	elif [ $startorder = sender ]; then
		sender_
		sleep 0.3
		receivers_
	else
		receivers_
		sleep 0.5
		sender_
	fi
	sender=0
	if [ -n "$spid_" ]; then
		wait "$spid_"
		sender=$?
	fi
	wait "${rxpids[@]}" 2>/dev/null
	[ -n "$killpid" ] && { kill "$killpid" 2>/dev/null; wait "$killpid" 2>/dev/null; }
	echo "S $s $M $r $sender $(tmcpu "$run/s.time")" >>"$work/results"
	for ((i = 1; i <= N; i++)); do
		[ -f "$run/r$i.rc" ] || continue
		read -r rc end <"$run/r$i.rc"
		role_=$(role $i)
		[ "$M" = unicast ] && role_=n
		out=$run/out$i
		# verdict on the output: good, empty, short, corrupt
		case $M in
		udpcast|udpcast+rb)
			if [ ! -s "$out" ]; then good=empty
			elif [ "$(stat -c %s "$out")" -lt "$imgsize" ]; then good=short
			elif cmp -s "$out" "$image"; then good=good
			else good=corrupt; fi;;
		*)
			if [ "$(stat -c %b "$out")" = 0 ]; then good=empty
			elif samedisk "$work/ref.disk" "$out"; then good=good
			else good=corrupt; fi;;
		esac
		read -r _ cpu <<<"$(tmcpu "$run/r$i.time")"
		echo "R $s $M $r $i $role_ $rc $(python3 -c "print('%.3f' % ($end - $t0))") $good $cpu" >>"$work/results"
		[ "$good" != good ] || [ "$rc" != 0 ] && cp "$run/r$i.log" "$work/logs/$s.$M.$r.r$i.log" 2>/dev/null
	done
	{ [ "$sender" != 0 ] || [ "$M" = img ]; } && cp "$run/s.log" "$work/logs/$s.$M.$r.sender.log"
	[ -f "$run/killed" ] && echo "K $s $M $r $(python3 -c "
a, b = open('$run/killed').read().split(); print('%.3f %s' % (float(a) - $t0, b))")" >>"$work/results"
	tail -c 2000 "$run/s.log" >"$work/logs/$s.$M.$r.sender.tail" 2>/dev/null
	rm -rf "$run"
}

mkdir -p "$work/runs" "$work/logs"
: >"$work/results"
tstart=$(date +%s)
for s in "${scenarios[@]}"; do
	parse "$s"
	say "scenario $s: $N receiver(s), ${bedopts[*]}, timeout ${T}s per run"
	"$BED" up "$P" "$N" "${bedopts[@]}" >"$work/bed.log" 2>&1 || { cat "$work/bed.log" >&2; die "netbed up failed"; }
	# wait until the master reaches every receiver
	for ((i = 1; i <= N; i++)); do
		nsx m ping -c1 -W3 "$("$BED" addr $i)" >/dev/null 2>&1 || die "$s: receiver $i unreachable"
	done
	case " $methods " in *" unicast "*) start_imgserv;; esac
	for ((r = 1; r <= runs; r++)); do
		for m in $methods; do
			run_method "$s" "$m" "$r"
			say "  run $r $m: $(awk -v s="$s" -v m="$m" -v r="$r" '$1 == "R" && $2 == s && $3 == m && $4 == r {
				printf "r%s %s rc=%s %.1fs; ", $5, $9, $7, $8 }' "$work/results")"
			sleep 1
		done
	done
	stop_imgserv
	"$BED" down "$P"
done
elapsed=$(($(date +%s) - tstart))

tree=$(git -C "$top" log -1 --format='%h %s' 2>/dev/null | cut -c1-70)
[ -n "$(git -C "$top" status --porcelain -uno 2>/dev/null)" ] && tree="$tree (+ uncommitted changes)"
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
udpv=$(dpkg-query -W -f '${Version}' udpcast 2>/dev/null || echo '?')
python3 - "$work/results" "$cmdline" "$size" "$imgsize" "$runs" "$methods" "$elapsed" \
	"$(nproc)" "$(uname -r)" "$os" "$udpv" "$tree" "$startorder" <<'EOF'
import statistics, sys
from collections import defaultdict
res, cmdline, size, imgsize, runs, methods, elapsed, ncpu, kernel, os_, udpv, tree, startorder = sys.argv[1:]
imgsize = int(imgsize); methods = methods.split()
med = statistics.median
R = defaultdict(list)      # (s, m, run) -> [(i, role, rc, end, good, cpu)]
S = {}                     # (s, m, run) -> (rc, wall, cpu)
K = {}
order = []
for l in open(res):
    w = l.split()
    if w[0] == "R":
        s, m, r, i, role, rc, end, good, cpu = w[1:]
        R[(s, m, int(r))].append((int(i), role, int(rc), float(end), good, float(cpu)))
        if s not in order: order.append(s)
    elif w[0] == "S":
        s, m, r, rc, wall, cpu = w[1:]
        S[(s, m, int(r))] = (int(rc), float(wall), float(cpu))
    elif w[0] == "K":
        K[(w[1], w[2], int(w[3]))] = float(w[4])
label = {"udpcast": "udpcast", "udpcast+rb": "udpcast+rcvbuf", "img": "img", "unicast": "unicast"}
def stats(s, m):
    """medians of last and fast, flags"""
    lasts, fasts, flag = [], [], ""
    for (s2, m2, r), recs in sorted(R.items()):
        if s2 != s or m2 != m: continue
        live = [x for x in recs if x[1] != "killed"]
        if not live: continue
        lasts.append(max(x[3] for x in live))
        nrm = [x for x in recs if x[1] == "n"]
        if nrm: fasts.append(max(x[3] for x in nrm))
        if any(x[2] in (124, 137) and x[1] != "killed" for x in recs): flag = ">"
        elif any(x[4] != "good" for x in live) and "!" not in flag: flag += "!"
    if not lasts: return None
    return med(lasts), (med(fasts) if fasts else None), flag
def truth(s, m):
    ok = lie = honest = wrongfail = killed = 0
    for (s2, m2, r), recs in R.items():
        if s2 != s or m2 != m: continue
        for i, role, rc, end, good, cpu in recs:
            if role == "killed" and rc in (137, -9) or (role == "killed" and good != "good" and rc != 0):
                killed += 1
            elif rc == 0 and good == "good": ok += 1
            elif rc == 0: lie += 1
            elif good == "good": wrongfail += 1
            else: honest += 1
    t = "%d ok" % ok
    if honest: t += " %d failed" % honest
    if lie: t += " %d LIE" % lie
    if wrongfail: t += " %d rc!=0-but-good" % wrongfail
    return t
print()
print("multicast benchmark: %s fixture image, %.1f MB (img -makel), %s run(s), medians; %s s in all"
      % (size, imgsize / 1e6, runs, elapsed))
print("machine: %s CPUs, Linux %s, %s; udpcast %s" % (ncpu, kernel, os_, udpv))
print("command: %s; receivers start %s; source tree: %s" % (cmdline,
      "0.3 s after the sender" if startorder == "sender" else "0.5 s before the sender", tree or "?"))
print("time = sender launch to the last receiver's exit (killed receivers left out); "
      "\"fast\" = the last good receiver (receivers 2..N) in the one-bad-receiver scenarios;")
print("\">\" a receiver timed out in some run, \"!\" some live receiver ended without a good output")
print()
hdr = ["scenario"] + [label[m] for m in methods]
if "img" in methods and "udpcast+rb" in methods: hdr.append("img/udpcast+rb")
if "img" in methods and "unicast" in methods: hdr.append("img/unicast")
rows = []
for s in order:
    st = {m: stats(s, m) for m in methods}
    row = [s]
    for m in methods:
        x = st[m]
        if x is None: row.append("-"); continue
        c = "%.2f%s" % (x[0], x[2])
        if x[1] is not None and s.split("-")[1] in ("lossy5", "slow1", "kill1") and m != "unicast":
            c += " (fast %.2f)" % x[1]
        row.append(c)
    def ratio(a, b):
        return "%.2f" % (st[a][0] / st[b][0]) if st.get(a) and st.get(b) else "-"
    if "img/udpcast+rb" in hdr: row.append(ratio("img", "udpcast+rb"))
    if "img/unicast" in hdr: row.append(ratio("img", "unicast"))
    rows.append(row)
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for row in rows: print("| " + " | ".join(row) + " |")
print()
print("exit status against output, per receiver over all runs (killed receivers apart):")
print("| scenario | " + " | ".join(label[m] for m in methods) + " |")
print("|" + "---|" * (len(methods) + 1))
for s in order:
    print("| %s | %s |" % (s, " | ".join(truth(s, m) for m in methods)))
print()
print("details: per run, each receiver's time s/exit status/output, sender exit and CPU s:")
for s in order:
    for m in methods:
        for r in range(1, int(runs) + 1):
            recs = sorted(R.get((s, m, r), []))
            if not recs: continue
            srv = S.get((s, m, r))
            line = " ".join("r%d:%.2f/%d/%s" % (i, e, rc, g) for i, role, rc, e, g, c in recs)
            rcpu = sum(c for *_, c in recs)
            extra = ""
            if (s, m, r) in K: extra = " killed r1 at %.2f s" % K[(s, m, r)]
            if m != "unicast" and srv:
                extra += " sender rc=%d cpu %.2f" % (srv[0], srv[2])
            print("  %-18s %-10s run %d: %s; receivers cpu %.2f%s" % (s, m, r, line, rcpu, extra))
EOF
rm -rf "$workdir/logs"
cp -r "$work/logs" "$workdir/logs" &&
	echo "sender output tails and failing receivers' logs: $workdir/logs" >&2
exit 0
