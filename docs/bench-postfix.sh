#!/usr/bin/env bash
# Compare Mailroom's SMTP intake with Postfix's on this machine, both driven by the same clients.
#
#   bash docs/bench-postfix.sh       # as root, on a throwaway VM or container: it reconfigures the system Postfix
#   SESSIONS=10 MESSAGES=2000 SIZE=2048 REPEAT=3 bash docs/bench-postfix.sh
#
# Postfix (Debian's package, installed if missing) keeps its default durability: the queue file is fsynced before
# the 250 reply, and qmgr then hands the message to virtual(8), which writes it into a Maildir under
# /var/mail/vhosts and fsyncs it. Its smtpd listens on 127.0.0.1:2525 (the system's port-25 service is not touched
# beyond what main.cf changes below). Recipients alice/bob/admin@example.com are virtual mailboxes, as in Mailroom.
# Mailroom runs from $CARGO_TARGET_DIR/release (default target/release) with its durable Maildir store, its own
# fresh data directory per run, on port base 30000 (SMTP on 127.0.0.1:30025), so a world on the default ports is
# left alone. Mailroom delivers into the Maildir before it answers 250; Postfix only queues, so for Postfix the time
# until the last message sits in its Maildir is reported as well ("delivered").
#
# Each comparison runs Postfix and Mailroom back to back, REPEAT times, and prints every run and the median.
# The script is idempotent: it can be run again, and each run starts from empty Maildirs and an empty queue.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-10}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-2048}
REPEAT=${REPEAT:-3}
PF_PORT=${PF_PORT:-2525}
MR_BASE=${MR_BASE:-30000}
MR_PORT=$((MR_BASE + 25))
VHOSTS=/var/mail/vhosts
BIN=${CARGO_TARGET_DIR:-target}/release

if [ "$(id -u)" != 0 ]; then
    echo "needs root (configures and starts the system Postfix)" >&2
    exit 1
fi

# --- Postfix ---------------------------------------------------------------------------------------------------
if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
    apt-get update -qq
    # Debconf would otherwise ask for the mail configuration type.
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
postconf -e "inet_interfaces = loopback-only" "inet_protocols = ipv4" "mydestination = localhost" \
    "virtual_mailbox_domains = example.com" "virtual_mailbox_base = $VHOSTS" \
    "virtual_mailbox_maps = hash:/etc/postfix/vmailbox" "virtual_uid_maps = static:5000" \
    "virtual_gid_maps = static:5000" "mynetworks = 127.0.0.0/8" \
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination" \
    "smtpd_banner = \$myhostname ESMTP" "default_process_limit = 100" \
    "maillog_file = /var/log/postfix-bench.log"
printf 'alice@example.com example.com/alice/\nbob@example.com example.com/bob/\nadmin@example.com example.com/admin/\n' \
    >/etc/postfix/vmailbox
postmap /etc/postfix/vmailbox
# A second smtpd on $PF_PORT, not chrooted: a chroot needs files that only Debian's init script copies in, and
# Postfix is started here with `postfix start`. (postconf -M replaces the entry, so a rerun does not add another.)
postconf -M "$PF_PORT/inet=$PF_PORT inet n - n - - smtpd"
# The virtual delivery agent runs as uid 5000; its base directory must be writable by it.
mkdir -p "$VHOSTS"
chown 5000:5000 "$VHOSTS"
postfix check
postfix stop >/dev/null 2>&1 || true
# `postfix stop` returns before the master has exited; start refuses while it still runs.
for _ in $(seq 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
postfix start >/dev/null 2>&1
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PF_PORT") 2>/dev/null && break; sleep 0.2; done

# --- Mailroom ----------------------------------------------------------------------------------------------------
cargo build --release --bin mailroom --bin mailroom-bench >/dev/null 2>&1
MR_PID=
MR_DATA=
mailroom_start() {
    MR_DATA=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" bench-smtp.XXXXXX)
    RUST_LOG=warn "$BIN/mailroom" --data-dir "$MR_DATA" --port-base mx1="$MR_BASE" \
        --port-base mx2="$((MR_BASE + 1000))" --http-port 0 >/dev/null 2>&1 &
    MR_PID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MR_PORT") 2>/dev/null && return; sleep 0.1; done
    echo "mailroom did not start" >&2
    exit 1
}
mailroom_stop() {
    if [ -n "$MR_PID" ]; then
        kill "$MR_PID" 2>/dev/null || true
        wait "$MR_PID" 2>/dev/null || true
    fi
    [ -n "$MR_DATA" ] && rm -rf "$MR_DATA"
    MR_PID=
    MR_DATA=
}
trap mailroom_stop EXIT

# --- helpers -----------------------------------------------------------------------------------------------------
now() { date +%s.%N; }
# Message files in a set of Maildirs.
count() { find "$@" -type f 2>/dev/null | wc -l; }
pf_queue_empty() { [ "$(find /var/spool/postfix/{incoming,active,deferred,maildrop} -type f | wc -l)" = 0 ]; }
pf_reset() {
    for _ in $(seq 600); do pf_queue_empty && break; sleep 0.1; done
    rm -rf "${VHOSTS:?}/example.com"
}
# Before each timed run: flush what the previous run (and its cleanup) left dirty and wait until ext4 stops treating
# the inodes it freed as "recently deleted" (the allocator skips them for a few seconds, which showed up as 10-17% of
# kernel time in `perf`): otherwise each run pays for its predecessor's files, and the order decides the result.
settle() { sync; sleep "${SETTLE:-8}"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# smtp-source run against one server; prints "intake_seconds delivered_seconds".
source_run() {
    local addr=$1 maildirs=$2 opts=$3 t0 t1 t2 n
    t0=$(now)
    # shellcheck disable=SC2086 # opts is a list of flags
    smtp-source $opts -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f carol@example.net -t alice@example.com "$addr" \
        >/dev/null
    t1=$(now)
    for _ in $(seq 6000); do
        n=$(count "$maildirs")
        [ "$n" -ge "$MESSAGES" ] && break
        sleep 0.02
    done
    t2=$(now)
    if [ "$n" -lt "$MESSAGES" ]; then
        echo "only $n of $MESSAGES messages arrived in $maildirs" >&2
        exit 1
    fi
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc)"
}

rate() { echo "scale=0; $MESSAGES / $1" | bc; }

compare_source() {
    local label=$1 opts=$2 i r pf_in=() pf_del=() mr_in=()
    echo "== smtp-source $opts -s $SESSIONS -m $MESSAGES -l $SIZE ($label); load before: $(load)"
    for i in $(seq "$REPEAT"); do
        pf_reset
        settle
        r=$(source_run "127.0.0.1:$PF_PORT" "$VHOSTS/example.com/alice" "$opts")
        read -r a b <<<"$r"
        pf_in+=("$a")
        pf_del+=("$b")
        mailroom_start
        settle
        r=$(source_run "127.0.0.1:$MR_PORT" "$MR_DATA/mx1/mail/alice/Maildir/new" "$opts")
        read -r c _ <<<"$r"
        mr_in+=("$c")
        mailroom_stop
        echo "  run $i: postfix $(rate "$a") msg/s accepted ($a s), $(rate "$b") msg/s delivered ($b s);" \
            "mailroom $(rate "$c") msg/s accepted = delivered ($c s); load $(load)"
    done
    a=$(printf '%s\n' "${pf_in[@]}" | median)
    b=$(printf '%s\n' "${pf_del[@]}" | median)
    c=$(printf '%s\n' "${mr_in[@]}" | median)
    echo "  median: postfix $(rate "$a") msg/s accepted, $(rate "$b") msg/s delivered; mailroom $(rate "$c") msg/s"
}

# mailroom-bench smtp (persistent sessions, 1-4 KiB, round-robin alice/bob/admin): p50/p99 latency to 250.
compare_bench() {
    local per=$((MESSAGES / SESSIONS)) i
    echo "== mailroom-bench smtp --sessions $SESSIONS --messages $per; load before: $(load)"
    for i in $(seq "$REPEAT"); do
        pf_reset
        settle
        echo "  run $i postfix:  $("$BIN/mailroom-bench" smtp --addr "127.0.0.1:$PF_PORT" --sessions "$SESSIONS" \
            --messages "$per" | tail -1)"
        mailroom_start
        settle
        echo "  run $i mailroom: $("$BIN/mailroom-bench" smtp --addr "127.0.0.1:$MR_PORT" --sessions "$SESSIONS" \
            --messages "$per" | tail -1)"
        mailroom_stop
        echo "  load $(load)"
    done
}

echo "$(nproc) cores; $(uptime)"
compare_source "one connection per session" "-d"
compare_source "a new connection per message" ""
compare_bench
pf_reset
