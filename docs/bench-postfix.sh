#!/usr/bin/env bash
# Compare Mailroom's SMTP intake with Postfix's on this machine, both driven by Postfix's smtp-source.
#
#   bash docs/bench-postfix.sh            # needs root: installs and configures Debian's postfix on 127.0.0.1:2525
#
# Postfix keeps its default durability (queue files fsynced before 250) and delivers to virtual Maildirs for
# alice/bob/admin@example.com, as Mailroom does. Mailroom runs from target/release with its durable Maildir store.
# Both get the same load: SESSIONS concurrent sessions, MESSAGES messages in total, SIZE-byte messages.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-10}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-2048}

if ! command -v smtp-source >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
postconf -e "inet_interfaces = loopback-only" "mydestination = localhost" \
    "virtual_mailbox_domains = example.com" "virtual_mailbox_base = /var/mail/vhosts" \
    "virtual_mailbox_maps = hash:/etc/postfix/vmailbox" "virtual_uid_maps = static:5000" \
    "virtual_gid_maps = static:5000" "smtpd_recipient_restrictions = permit_mynetworks,reject_unauth_destination" \
    "mynetworks = 127.0.0.0/8" "smtpd_banner = \$myhostname ESMTP" "default_process_limit = 100"
printf 'alice@example.com example.com/alice/\nbob@example.com example.com/bob/\nadmin@example.com example.com/admin/\n' \
    > /etc/postfix/vmailbox
postmap /etc/postfix/vmailbox
mkdir -p /var/mail/vhosts && chown -R 5000:5000 /var/mail/vhosts
# A second smtpd on 2525 so that port 25 is left alone.
grep -q '^2525 ' /etc/postfix/master.cf || echo '2525 inet n - y - - smtpd' >> /etc/postfix/master.cf
postfix stop >/dev/null 2>&1 || true
postfix start >/dev/null 2>&1
sleep 1

cargo build --release --bin mailroom >/dev/null 2>&1
DATA=$(mktemp -d -p target)
./target/release/mailroom --data-dir "$DATA" --http-port 0 >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null && break; sleep 0.2; done

run() {
    local name=$1 addr=$2
    local start end
    start=$(date +%s.%N)
    smtp-source -c -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f carol@example.net -t alice@example.com "$addr" >/dev/null
    end=$(date +%s.%N)
    echo "$name: $MESSAGES messages of $SIZE bytes over $SESSIONS sessions in $(echo "$end - $start" | bc) s =" \
         "$(echo "$MESSAGES / ($end - $start)" | bc) messages/s"
}
run "postfix  " 127.0.0.1:2525
run "mailroom " 127.0.0.1:10025
