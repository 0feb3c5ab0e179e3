#!/usr/bin/env bash
# A real S3 server with Object Lock for the tests and benches: a single-node
# Ceph 16 (Pacific) cluster (1 mon, 1 memstore OSD, radosgw with the beast
# frontend on 127.0.0.1), entirely under one directory.
#
#   scripts/ceph-rgw.sh start DIR [--watch PID]   prints one JSON line, writes DIR/s3.json
#   scripts/ceph-rgw.sh stop DIR                  kills exactly the recorded PIDs, removes DIR
#
# Measured here (Debian 12, 2 cores shared, Ceph 16.2.15): cold start to S3
# answering with both users created 2.1 s on an idle machine, 3.1-3.5 s at load
# average 4 (two starts in parallel: 3.2 and 3.4 s); stop 0.5 s. RSS of the three
# daemons 136 MiB right after start (mon 38, osd 52, radosgw 46), 141 MiB after
# tests/vault/test_s3_server.py; idle CPU 0.35 % of one core. Memstore keeps
# objects in the OSD's RAM: RSS grows by what is stored, and the OSD reports
# CEPH_RGW_MEMSTORE_BYTES (default 4 GiB) of capacity, full at 95 %.
#
# Bash, not Python: it runs daemons and CLIs and must work before the venv
# exists (make system-deps); the few computations (free port, random keys, JSON,
# waiting for a PID) use Debian's /usr/bin/python3, which ceph-common needs anyway.
#
# Everything lives in DIR: ceph.conf, keyring, mon/osd data, admin sockets, logs,
# pid files. The mon port comes from the kernel (bind to port 0); radosgw listens
# on port 0 itself and the script reads the port the kernel gave it, so several
# clusters run side by side. Daemons run with -f in the background, their PIDs
# in DIR/pids; `stop` kills only those (TERM, then KILL), and only while
# /proc/PID/cmdline still names DIR (a recycled PID is left alone). `start` first
# stops a cluster left over in DIR. --watch PID starts a watcher that stops the
# cluster when PID exits, so a killed test run leaves no daemons behind.
#
# Users in DIR/s3.json: "owner" (access_key/secret_key) creates the buckets and,
# as on AWS, may bypass GOVERNANCE retention; "other" (other_access_key/
# other_secret_key) owns nothing and gets rights only through a bucket policy
# (tests/s3server.py). Pacific lets anyone allowed s3:DeleteObjectVersion
# bypass GOVERNANCE unless s3:BypassGovernanceRetention is explicitly denied:
# the bucket policy must say Deny (tests/vault/test_s3_server.py measures it).
set -euo pipefail

SELF=$(readlink -f "$0")
PY=/usr/bin/python3
MEMSTORE_BYTES=${CEPH_RGW_MEMSTORE_BYTES:-4294967296}  # capacity the OSD reports; data is in RAM
START_TIMEOUT=${CEPH_RGW_START_TIMEOUT:-60}

die() { echo "ceph-rgw: $*" >&2; exit 1; }
log() { echo "ceph-rgw: $*" >&2; }

usage() { die "usage: $0 start DIR [--watch PID] | stop DIR"; }

require_packages() {
  local missing=()
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  [ -x "$PY" ] || missing+=("$PY")
  if [ ${#missing[@]} -ne 0 ]; then
    die "missing ${missing[*]} (install: scripts/install-system-deps.sh as root)"
  fi
}

# True while PID is alive and its command line names DIR (so it is ours).
owned() {
  local pid=$1 dir=$2 arg
  [ -r "/proc/$pid/cmdline" ] || return 1
  while IFS= read -r -d '' arg; do
    case $arg in "$dir" | "$dir"/*) return 0 ;; esac
  done <"/proc/$pid/cmdline" 2>/dev/null
  return 1
}

# TERM, up to 3 s, then KILL: one process at a time.
stop_pid() {
  local pid=$1 dir=$2 group=${3:-}
  owned "$pid" "$dir" || return 0
  if [ -n "$group" ]; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 60); do owned "$pid" "$dir" || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 40); do owned "$pid" "$dir" || return 0; sleep 0.05; done
  log "process $pid did not exit"
}

# The watcher and a running start first, then the daemons in reverse start
# order: radosgw and the OSD exit at once on TERM while the mon runs, but wait
# minutes for a mon that is gone.
kill_recorded() {
  local dir=$1 name pid
  [ -f "$dir/pids" ] || return 0
  while read -r name pid; do
    [ "$pid" != "$$" ] || continue
    case $name in
      watcher) stop_pid "$pid" "$dir" group ;;
      start) stop_pid "$pid" "$dir" ;;      # a start still running spawns no more
    esac
  done <"$dir/pids"
  while read -r name pid; do
    case $name in watcher|start) ;; *) stop_pid "$pid" "$dir" ;; esac
  done < <(tac "$dir/pids")
}

cmd_stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  kill_recorded "$dir"
  rm -rf -- "$dir"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_key() {  # random_key NCHARS: upper-case letters and digits, as AWS keys look
  "$PY" -c 'import secrets, string, sys; a = string.ascii_uppercase + string.digits; print("".join(secrets.choice(a) for _ in range(int(sys.argv[1]))))' "$1"
}

random_secret() {
  "$PY" -c 'import secrets; print(secrets.token_urlsafe(30)[:40])'
}

# listen_port PID: the TCP port PID listens on (127.0.0.1), or nothing yet.
listen_port() {
  "$PY" - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
try:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open(f"/proc/{pid}/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and inode in inodes and local.startswith("0100007F:"):
                print(int(local.split(":")[1], 16))
                break
except (OSError, StopIteration):
    pass
EOF
}

spawn() {  # spawn NAME CMD...: run a daemon in the background, record its PID
  local name=$1; shift
  # Recorded before it runs: a stop at any moment finds every daemon.
  ( echo "$name $BASHPID" >>"$DIR/pids" && exec "$@" </dev/null >"$DIR/log/$name.out" 2>&1 ) &
  eval "PID_${name//[^a-z]/_}=$!"
}

alive_or_die() {  # alive_or_die NAME PID
  kill -0 "$2" 2>/dev/null && return 0
  die "$1 exited during start-up; see $DIR/log/ (last lines: $(tail -n 5 "$DIR/log/$1.out" 2>/dev/null | tr '\n' ' '))"
}

write_conf() {
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
ms bind msgr1 = false
public addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring
run dir = $DIR/run
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $DIR/log/cluster.log
pid file =
admin socket = $DIR/run/\$name.\$pid.asok
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
auth allow insecure global id reclaim = false

[mon]
mon data = $DIR/mon.\$id
paxos propose interval = 0.1
mon allow pool delete = true

[osd]
osd data = $DIR/osd.\$id
keyring = $DIR/osd.\$id/keyring
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:0
rgw thread pool size = 32
rgw data = $DIR/rgw
rgw enable usage log = false
rgw dns name = 127.0.0.1
EOF
}

wait_for() {  # wait_for WHAT CMD...: poll CMD every 0.1 s until it succeeds
  local what=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out waiting for $what; see $DIR/log/"
    sleep 0.1
  done
}

s3_answers() {
  "$PY" -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass' "$ENDPOINT"
}

make_user() {  # make_user UID ACCESS SECRET
  timeout 30 radosgw-admin -c "$DIR/ceph.conf" user create --uid "$1" --display-name "$1" \
    --access-key "$2" --secret-key "$3" >/dev/null
}

# The one-shot commands below run under `timeout`: a start killed half-way (its
# mon gone) must not leave a mkfs waiting for that mon forever.
cmd_start() {
  local watch=${1:-}
  require_packages
  if [ -d "$DIR" ]; then
    [ -f "$DIR/pids" ] && log "stopping the cluster left over in $DIR"
    kill_recorded "$DIR"
    find "$DIR" -mindepth 1 -delete
  fi
  mkdir -p "$DIR"
  mkdir -p "$DIR/run" "$DIR/log" "$DIR/crash" "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw"
  echo "start $$" >"$DIR/pids"
  local started
  started=$(date +%s.%N)

  if [ -n "$watch" ]; then
    # Stops the cluster when PID exits (pidfd: no polling). setsid: its own
    # process group, so stop can end the waiting python with it.
    setsid bash -c 'exec 0</dev/null >/dev/null 2>&1
      "$0" -c "import os, select, sys; select.select([os.pidfd_open(int(sys.argv[1]))], [], [])" "$1" || true
      exec bash "$2" stop "$3"' "$PY" "$watch" "$SELF" "$DIR" &
    echo "watcher $!" >>"$DIR/pids"
  fi

  FSID=$("$PY" -c 'import uuid; print(uuid.uuid4())')
  MON_PORT=$(free_port)
  write_conf
  local conf=$DIR/ceph.conf

  ceph-authtool --create-keyring --gen-key --name=mon. --cap mon 'allow *' "$DIR/keyring" >/dev/null
  ceph-authtool --gen-key --name=client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' "$DIR/keyring" >/dev/null
  ceph-authtool --gen-key --name=client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' \
    "$DIR/keyring" >/dev/null
  monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
    "$DIR/monmap" >/dev/null
  timeout 30 ceph-mon -c "$conf" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
    >"$DIR/log/mkfs-mon.out" 2>&1 || die "ceph-mon --mkfs failed: $(tail -n 3 "$DIR/log/mkfs-mon.out")"
  spawn mon ceph-mon -c "$conf" -i a -f
  sleep 0.1
  alive_or_die mon "$PID_mon"

  local osd_uuid osd_key
  osd_uuid=$("$PY" -c 'import uuid; print(uuid.uuid4())')
  osd_key=$(ceph-authtool --gen-print-key)
  local osd_id
  osd_id=$(echo "{\"cephx_secret\": \"$osd_key\"}" |
    timeout 30 ceph -c "$conf" --connect-timeout 20 osd new "$osd_uuid" -i - 2>"$DIR/log/osd-new.out") ||
    die "ceph osd new failed: $(tail -n 3 "$DIR/log/osd-new.out")"
  [ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id'"
  ceph-authtool --create-keyring --name=osd.0 --add-key "$osd_key" "$DIR/osd.0/keyring" >/dev/null
  timeout 30 ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/mkfs-osd.out" 2>&1 ||
    die "ceph-osd --mkfs failed: $(tail -n 3 "$DIR/log/mkfs-osd.out")"
  spawn osd ceph-osd -c "$conf" -i 0 -f

  spawn rgw radosgw -c "$conf" -n client.rgw.a -f
  local port="" deadline=$((SECONDS + START_TIMEOUT))
  while [ -z "$port" ]; do
    alive_or_die rgw "$PID_rgw"
    alive_or_die osd "$PID_osd"
    [ $SECONDS -lt $deadline ] || die "timed out waiting for radosgw to listen; see $DIR/log/"
    sleep 0.1
    port=$(listen_port "$PID_rgw")
  done
  ENDPOINT="http://127.0.0.1:$port"
  wait_for "S3 at $ENDPOINT" s3_answers

  local access secret other_access other_secret
  access=$(random_key 20); secret=$(random_secret)
  other_access=$(random_key 20); other_secret=$(random_secret)
  make_user owner "$access" "$secret"
  make_user other "$other_access" "$other_secret"

  local elapsed
  elapsed=$("$PY" -c 'import sys, time; print(round(time.time() - float(sys.argv[1]), 2))' "$started")
  "$PY" - "$DIR/s3.json" "$ENDPOINT" "$access" "$secret" "$other_access" "$other_secret" \
    "$DIR" "$elapsed" "$PID_mon" "$PID_osd" "$PID_rgw" <<'EOF'
import json, os, sys
path, endpoint, access, secret, other_access, other_secret, dir, elapsed, mon, osd, rgw = sys.argv[1:]
facts = {"endpoint": endpoint, "region": "default",
         "access_key": access, "secret_key": secret, "owner_uid": "owner",
         "other_access_key": other_access, "other_secret_key": other_secret,
         "other_uid": "other", "dir": dir, "start_seconds": float(elapsed),
         "pids": {"mon": int(mon), "osd": int(osd), "rgw": int(rgw)}}
line = json.dumps(facts)
fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds secrets
with os.fdopen(fd, "w") as f:
    f.write(line + "\n")
os.replace(path + ".tmp", path)
print(line)
EOF
}

[ $# -ge 2 ] || usage
action=$1; DIR=$2; shift 2
# Absolute from here on: `stop` recognises our processes by DIR in their command lines.
if [ "$DIR" != "$(readlink -m -- "$DIR")" ]; then
  exec bash "$SELF" "$action" "$(readlink -m -- "$DIR")" "$@"
fi
case "$action" in
  start)
    watch=""
    if [ $# -gt 0 ]; then
      [ "$1" = --watch ] && [ $# -eq 2 ] || usage
      watch=$2
    fi
    # A failed start leaves nothing running.
    trap 'rc=$?; if [ $rc -ne 0 ]; then kill_recorded "$DIR"; fi' EXIT
    cmd_start "$watch"
    ;;
  stop)
    [ $# -eq 0 ] || usage
    cmd_stop "$DIR"
    ;;
  *) usage ;;
esac
