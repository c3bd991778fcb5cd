#!/bin/bash
# imgserv as a daemon through its init script (start, status, showpid,
# force-reload, restart, stop) with its parameters in a .conf file:
# force-reload (SIGHUP) picks up a new rule without a restart; statistics
# start from zero after a restart.
. "$(dirname "$0")/lib.sh"
e2e_init server_daemon

INIT="$E2E_DIR/../../server/imgserv.init"
copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
free_port
port=$PORT
D=$WORK/d
mkdir -p "$D"
write_conf() {
	cat >"$D/imgserv.conf" <<CONF
address = 127.0.0.1
port = $port
name = lab-server
store = $D/store
state = $D/state
key = $WORK/key
pidfile = $D/pid
timeout =
$1
CONF
}
write_conf ""
export IMGSERV IMGSERV_CONF="$D/imgserv.conf" IMGSERV_PIDFILE="$D/pid"
init() { note "init script $*"; sh "$INIT" "$@" >"$WORK/init.out" 2>&1; RC=$?; sed 's/^/#   /' "$WORK/init.out"; }

init start
expect_rc 0 "init start"
pid=$(cat "$D/pid" 2>/dev/null)
E2E_SERVERS+=("$pid")
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && pass "daemon runs as pid $pid" || fatal "no daemon"
init status
expect_rc 0 "init status while running"
grep -q running "$WORK/init.out" && pass "status says running" || fail "status output"
init showpid
grep -q "running $pid" "$WORK/init.out" && pass "showpid shows $pid" || fail "showpid output"
"$IMGSERV" -status -conf="$D/imgserv.conf" >"$WORK/st" 2>&1 || fail "imgserv -status (local, from the conf)"
grep -q '^Server: lab-server' "$WORK/st" && pass "-status reaches the local server, named by -s:/name=" ||
	fail "-status: $(cat "$WORK/st")"

run_img -makep "127.0.0.1:$port" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload to the daemon"
run_img -auto "127.0.0.1:$port" -mac=52:54:00:bb:00:01 -disk="$WORK/src.img"
grep -q "no imaging work" "$WORK/out" && pass "no rule: no work" || fail "auto: $(cat "$WORK/out")"

write_conf "rule = mac=52:54:00:bb:00:* action=restore path=lab/a.img"
init force-reload
expect_rc 0 "init force-reload"
sleep 0.5
blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -auto "127.0.0.1:$port" -mac=52:54:00:bb:00:01 -disk="$WORK/dst.img"
expect_rc 0 "auto after reload"
grep -q "restore lab/a.img" "$WORK/out" && pass "the reloaded rule applies" || fail "auto: $(cat "$WORK/out")"
run_check "$WORK/src.img" "$WORK/dst.img"
# the upload, two AUTO requests and the GET of the automatic restore
expect_stat "$port" "Update Requests" 4

write_conf "rule = this is not a rule"
init force-reload
sleep 0.5
kill -0 "$pid" 2>/dev/null && pass "a bad configuration on reload keeps the server running" ||
	fail "server died on a bad reload"
expect_stat "$port" "Update Requests" 4

write_conf ""
init restart
expect_rc 0 "init restart"
pid2=$(cat "$D/pid" 2>/dev/null)
E2E_SERVERS+=("$pid2")
[ -n "$pid2" ] && [ "$pid2" != "$pid" ] && pass "restarted as pid $pid2" || fail "restart kept pid $pid2"
expect_stat "$port" "Update Requests" 0
expect_stat "$port" "Images Sent" 0
init stop
expect_rc 0 "init stop"
kill -0 "$pid2" 2>/dev/null && fail "daemon still running after stop" || pass "daemon stopped"
init status
expect_rc 3 "init status when stopped"
[ -e "$D/pid" ] && fail "pid file left behind" || pass "pid file removed"
"$IMGSERV" -log -conf="$D/imgserv.conf" >"$WORK/log" 2>&1
[ "$(grep -c '  ok' "$WORK/log")" -ge 3 ] && pass "the log survived the restart" || fail "log: $(cat "$WORK/log")"
e2e_finish
