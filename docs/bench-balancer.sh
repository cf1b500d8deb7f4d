#!/bin/bash
# Used for docs/relay-benchmark.md, "Behind nginx". Needs release builds: cargo build --release --bin mailroom --example bench;
# set B and the bench path below to them. Runs only on loopback.
# Two release instances behind nginx (docs/deploy.md's block), N sandbox sessions (started) through nginx.
set -e
N=${1:-4000}
D=$(mktemp -d)
B=${MAILROOM_BIN:-target/release/mailroom}
ulimit -n 20000
$B --data-dir $D/a --port-base mx1=0 --port-base mx2=0 --http-port 38081 --max-sessions 100000 --max-worlds 100000 --forwarded-header x-forwarded-for --trusted-proxy 127.0.0.1 >/dev/null 2>&1 & PA=$!
$B --data-dir $D/b --port-base mx1=0 --port-base mx2=0 --http-port 38082 --max-sessions 100000 --max-worlds 100000 --forwarded-header x-forwarded-for --trusted-proxy 127.0.0.1 >/dev/null 2>&1 & PB=$!
python3 - "$D" <<'PY'
import sys
d=sys.argv[1]
doc=open('docs/deploy.md').read()
i=doc.index("```nginx\n")+9; blk=doc[i:doc.index("```",i)]
blk=blk.replace("127.0.0.1:8081","127.0.0.1:38081").replace("127.0.0.1:8082","127.0.0.1:38082").replace("listen 8080;","listen 127.0.0.1:38080;")
conf=f"user root;\nworker_processes 1;\nworker_rlimit_nofile 20000;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 16000; }}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{blk}\n}}\n"
open(d+"/nginx.conf","w").write(conf)
PY
nginx -p $D -c $D/nginx.conf -e $D/error.log & PN=$!
sleep 2
rss() { grep VmRSS /proc/$1/status | awk '{print $2}'; }
A0=$(rss $PA); B0=$(rss $PB)
(sleep 900 | ${BENCH_BIN:-target/release/examples/bench} --client ws://127.0.0.1:38080/ws --sessions $N --started > $D/client.log 2>&1) & 
CP=0
# wait for "ready": poll sessions via metrics
for i in $(seq 600); do
  S=$(( $(curl -s 127.0.0.1:38081/metrics | awk '/^mailroom_sessions /{print $2}') + $(curl -s 127.0.0.1:38082/metrics | awk '/^mailroom_sessions /{print $2}') ))
  [ "$S" -ge "$N" ] && break; sleep 0.5
done
sleep 1
A1=$(rss $PA); B1=$(rss $PB)
SA=$(curl -s 127.0.0.1:38081/metrics | awk '/^mailroom_sessions /{print $2}'); SB=$(curl -s 127.0.0.1:38082/metrics | awk '/^mailroom_sessions /{print $2}')
echo "sessions: a=$SA b=$SB (of $N)"
echo "a: $A0 -> $A1 KiB: $(( (A1-A0) / (SA>0?SA:1) )) KiB per session"
echo "b: $B0 -> $B1 KiB: $(( (B1-B0) / (SB>0?SB:1) )) KiB per session"
echo "nginx worker: $(for p in $(pgrep -P $PN); do rss $p; done) KiB"
pkill -f "bench --client" ; pkill -f "sleep 900"; kill $PN $PA $PB; wait 2>/dev/null
rm -rf $D
