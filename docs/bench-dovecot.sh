#!/usr/bin/env bash
# Compare Mailroom's IMAP server with Dovecot's on this machine, on the same seeded Maildir, with mailroom-bench.
#
#   bash docs/bench-dovecot.sh            # as root (installs dovecot-imapd if missing; runs it on 127.0.0.1:11143)
#   MESSAGES=50000 CLIENTS=20 ROUNDS=10 REPEAT=3 bash docs/bench-dovecot.sh
#
# Dovecot runs from a private configuration in $WORK (default /tmp/mailroom-dovecot): its own base_dir, log and
# passwd-file (alice:password), plaintext LOGIN allowed (loopback only, ssl = no), mail in $WORK/home/alice/Maildir
# owned by uid 5000, everything else at Dovecot's defaults (mail_fsync = optimized, a new imap-login process per
# connection). Only mail_max_userip_connections is raised: the mixed load logs in 20 times as alice from 127.0.0.1,
# over Dovecot's default of 10. The system's Dovecot service (if any) is not touched.
# Mailroom runs from $CARGO_TARGET_DIR/release (default target/release) with the durable Maildir store, on port base
# 30000 (IMAP on 127.0.0.1:30143), with the same seed written into its data directory before it starts.
#
# Each server gets a fresh copy of the seed per run; before the timed part, each has already taken the files in
# (Dovecot: `doveadm mailbox status` builds its index and dovecot-uidlist; Mailroom: the store reads every folder at
# start and writes its UID list), so the first SELECT measures a server that knows the folder, not the first import.
# Servers run back to back, REPEAT times; every run is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-50000}
CLIENTS=${CLIENTS:-20}
ROUNDS=${ROUNDS:-10}
REPEAT=${REPEAT:-3}
WORK=${WORK:-/tmp/mailroom-dovecot}
DV_PORT=${DV_PORT:-11143}
MR_BASE=${MR_BASE:-30000}
MR_PORT=$((MR_BASE + 143))
BIN=${CARGO_TARGET_DIR:-target}/release

if [ "$(id -u)" != 0 ]; then
    echo "needs root (dovecot drops privileges to its own users)" >&2
    exit 1
fi
if ! command -v dovecot >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
cargo build --release --bin mailroom --bin mailroom-bench >/dev/null 2>&1

CONF=$WORK/dovecot.conf
dovecot_stop() {
    if [ -f "$WORK/run/master.pid" ]; then
        dovecot -c "$CONF" stop 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$WORK/run/master.pid" ] || break; sleep 0.1; done
    fi
}
dovecot_stop
rm -rf "$WORK"
mkdir -p "$WORK/run" "$WORK/home"
# Dovecot's login processes must be able to reach base_dir.
chmod 755 "$WORK" "$WORK/run"
echo 'alice:{PLAIN}password::::::' >"$WORK/passwd"
cat >"$CONF" <<EOF
base_dir = $WORK/run
log_path = $WORK/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $WORK/passwd
}
userdb {
  driver = static
  args = uid=5000 gid=5000 home=$WORK/home/%n
}
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DV_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
EOF

SEED=$WORK/seed
"$BIN/mailroom-bench" imap --seed-only "$SEED" --messages "$MESSAGES" >/dev/null

load() { cut -d' ' -f1-3 /proc/loadavg; }
wait_port() {
    for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
    echo "nothing listens on $1" >&2
    exit 1
}

MR_PID=
MR_DATA=
mailroom_stop() {
    if [ -n "$MR_PID" ]; then
        kill "$MR_PID" 2>/dev/null || true
        wait "$MR_PID" 2>/dev/null || true
    fi
    [ -n "$MR_DATA" ] && rm -rf "$MR_DATA"
    MR_PID=
    MR_DATA=
}
cleanup() {
    mailroom_stop
    dovecot_stop
}
trap cleanup EXIT

echo "$(nproc) cores; $(uptime); $MESSAGES messages in Big, $CLIENTS clients x $ROUNDS rounds"
for i in $(seq "$REPEAT"); do
    # Dovecot
    rm -rf "$WORK/home/alice"
    mkdir -p "$WORK/home/alice"
    cp -a "$SEED" "$WORK/home/alice/Maildir"
    chown -R 5000:5000 "$WORK/home/alice"
    dovecot -c "$CONF"
    wait_port "$DV_PORT"
    t0=$(date +%s.%N)
    doveadm -c "$CONF" mailbox status -u alice messages INBOX Big Load >/dev/null
    echo "run $i dovecot (load $(load)): index built in $(echo "$(date +%s.%N) - $t0" | bc) s"
    sleep 1.2
    "$BIN/mailroom-bench" imap --addr "127.0.0.1:$DV_PORT" --server-rss imap --clients "$CLIENTS" \
        --rounds "$ROUNDS" | sed 's/^/  /'
    dovecot_stop

    # Mailroom
    MR_DATA=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" bench-imap.XXXXXX)
    mkdir -p "$MR_DATA/mx1/mail/alice"
    cp -a "$SEED" "$MR_DATA/mx1/mail/alice/Maildir"
    t0=$(date +%s.%N)
    RUST_LOG=warn "$BIN/mailroom" --data-dir "$MR_DATA" --port-base mx1="$MR_BASE" \
        --port-base mx2="$((MR_BASE + 1000))" --http-port 0 >/dev/null 2>&1 &
    MR_PID=$!
    wait_port "$MR_PORT"
    echo "run $i mailroom (load $(load)): started and imported in $(echo "$(date +%s.%N) - $t0" | bc) s"
    "$BIN/mailroom-bench" imap --addr "127.0.0.1:$MR_PORT" --server-rss mailroom --clients "$CLIENTS" \
        --rounds "$ROUNDS" | sed 's/^/  /'
    mailroom_stop
done
rm -rf "$SEED" "$WORK/home/alice"
