#!/usr/bin/env bash
# Issue 4's benchmark: a full suite joins a testcontrol tailnet of N synthetic peers (default
# 10,000) on loopback; prints start → Running (from `tnet up` to Running, and from tailnetd's
# start), the time until a 100-peer delta shows in `tnet status`, and the PSS of controld and
# ipnd (and the whole suite) after each step.
#   bench/control/join10k_bench.sh [BIN_DIR] [PEERS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$top/build/release/bin}
peers=${2:-10000}
work=$(mktemp -d /tmp/join10k.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
bg() { local name=$1; shift; setsid "$@" >"$work/$name.log" 2>&1 </dev/null & pids+=($!); disown; }
now_ms() { date +%s%3N; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
svc_pid() { pgrep -g "$suite" -x "$1" | head -1; }
report_pss() {
  local total=0
  for p in $(pgrep -g "$suite"); do total=$((total + $(pss_kb "$p"))); done
  local each=""
  for s in controld ipnd wgd magicsockd netstackd apid tailnetd; do
    each+="$s $(( $(pss_kb "$(svc_pid "$s")") / 1024 )) MB, "
  done
  echo "  PSS $1: ${each}suite $((total / 1024)) MB"
}
peer_count() {
  "$bin/tnet" --socket "$work/sock" status --json 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("Peer") or {}))' 2>/dev/null || echo 0
}

# A DERP server too: Running needs a home DERP (docs/ipnd.md).
bg testderp "$bin/testderp" --listen 127.0.0.1:0 --stun-port 0 --port-file "$work/derp.port"
for _ in $(seq 1 100); do [[ -s $work/derp.port ]] && break; sleep 0.1; done
read -r derp_port stun_port < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["derpPort"], j["stunPort"])' "$work/derp.port")
bg testcontrol "$bin/testcontrol" --listen 127.0.0.1:0 --synthetic-peers "$peers" --port-file "$work/control.port" \
  --derp-url "http://127.0.0.1:$derp_port" --derp-stun-port "$stun_port"
for _ in $(seq 1 600); do [[ -s $work/control.port ]] && break; sleep 0.1; done
control=http://127.0.0.1:$(tr -d '\n' <"$work/control.port")
key=$(curl -sS -X POST -d '{"reusable":true}' "$control/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

t0=$(now_ms)
TS_DEBUG_USE_DERP_HTTP=1 TS_DEBUG_OMIT_LOCAL_ADDRS=1 bg suite "$bin/tailnetd" --statedir "$work/state" --socket "$work/sock" --runtime-dir "$work/run"
suite=${pids[-1]}
for _ in $(seq 1 200); do "$bin/tnet" --socket "$work/sock" status --json >/dev/null 2>&1 && break; sleep 0.05; done
t1=$(now_ms)
"$bin/tnet" --socket "$work/sock" up --login-server "$control" --auth-key "$key" --hostname bench --timeout 120s >/dev/null
t2=$(now_ms)
n=$(peer_count)
echo "join10k: $peers synthetic peers, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  suite start → LocalAPI answering: $((t1 - t0)) ms"
echo "  tnet up → Running: $((t2 - t1)) ms (start → Running $((t2 - t0)) ms); peers in status: $n"
report_pss "after join"
t3=$(now_ms)
curl -sS -X POST -d '{"add":100}' "$control/admin/synthetic" >/dev/null
want=$((n + 100))
for _ in $(seq 1 600); do [[ $(peer_count) -ge $want ]] && break; sleep 0.05; done
t4=$(now_ms)
echo "  100-peer delta → visible in tnet status: $((t4 - t3)) ms (peers now $(peer_count))"
report_pss "after delta"
