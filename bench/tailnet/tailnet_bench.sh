#!/usr/bin/env bash
# Issue 6's benchmark: bulk TCP throughput and round-trip time from node A to node B through our
# suites (SOCKS5 → netstackd → wgd → magicsockd ⇄ magicsockd → wgd → netstackd → B's loopback),
# side by side with Debian's wireguard-go in the same namespace topology (iperf3 and ping through
# its TUN), plus each suite's PSS idle and after the transfer. Root only; creates and deletes its
# own network namespaces; talks to nothing outside them.
#   bench/tailnet/tailnet_bench.sh [BIN_DIR] [MEGABYTES]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$top/build/release/bin}
mb=${2:-200}
[[ $(id -u) -eq 0 ]] || { echo "tailnet_bench: needs root (network namespaces)" >&2; exit 1; }
for b in tailnetd tnet testcontrol testderp tnet-test-httpd; do
  [[ -x $bin/$b ]] || { echo "tailnet_bench: $bin/$b is not built" >&2; exit 1; }
done
tag=tb$$
work=$(mktemp -d /tmp/tailnet-bench.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  for ns in hub a b wa wb; do ip netns del "$tag-$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
inns() { local ns=$1; shift; ip netns exec "$tag-$ns" "$@"; }
bg() { local name=$1; shift; setsid "$@" >"$work/$name.log" 2>&1 </dev/null & pids+=($!); disown; }
wait_file() { for _ in $(seq 1 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "no $1" >&2; exit 1; }
pss_of_suite() {  # the summed Pss (kB) of a tailnetd and its services
  local pgid=$1 total=0
  for p in $(pgrep -g "$pgid"); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo $total
}

# ---- topology: hub routes between a (10.99.1.2) and b (10.99.2.2) -----------------------------
for ns in hub a b; do ip netns add "$tag-$ns"; inns "$ns" ip link set lo up; done
for side in a:1 b:2; do
  n=${side%:*} i=${side#*:}
  ip -n "$tag-hub" link add "h$n$tag" type veth peer name "n$n$tag"
  ip -n "$tag-hub" link set "n$n$tag" netns "$tag-$n"
  ip -n "$tag-hub" addr add "10.99.$i.1/24" dev "h$n$tag"; ip -n "$tag-hub" link set "h$n$tag" up
  ip -n "$tag-$n" addr add "10.99.$i.2/24" dev "n$n$tag"; ip -n "$tag-$n" link set "n$n$tag" up
  ip -n "$tag-$n" route add default via "10.99.$i.1"
done
inns hub sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'

bg testderp ip netns exec "$tag-hub" "$bin/testderp" --listen 0.0.0.0:8443 --stun-port 3478 --port-file "$work/derp.port"
wait_file "$work/derp.port"
bg testcontrol ip netns exec "$tag-hub" "$bin/testcontrol" --listen 0.0.0.0:8080 --derp-url http://10.99.1.1:8443 \
  --derp-stun-port 3478 --port-file "$work/control.port"
wait_file "$work/control.port"
bg page ip netns exec "$tag-b" "$bin/tnet-test-httpd" --listen 127.0.0.1:8088 --name b --port-file "$work/page.port"
wait_file "$work/page.port"

declare -A suite_pid
for n in a b; do
  mkdir -p "$work/$n"; chmod 0755 "$work/$n"
  TS_DEBUG_USE_DERP_HTTP=1 TS_DEBUG_OMIT_LOCAL_ADDRS=1 bg "suite-$n" ip netns exec "$tag-$n" "$bin/tailnetd" \
    --statedir "$work/$n/state" --socket "$work/$n/sock" --runtime-dir "$work/$n/run" \
    --socks5-server 127.0.0.1:1080
  suite_pid[$n]=${pids[-1]}
done
tnet() { local n=$1; shift; "$bin/tnet" --socket "$work/$n/sock" "$@"; }
for n in a b; do for _ in $(seq 1 100); do tnet "$n" status --json >/dev/null 2>&1 && break; sleep 0.1; done; done
key=$(inns hub curl -sS -X POST -d '{"reusable":true}' http://127.0.0.1:8080/admin/keys | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
for n in a b; do tnet "$n" up --login-server http://10.99.1.1:8080 --auth-key "$key" --hostname "$n" --timeout 30s; done
b_ip=$(tnet b status --json | python3 -c 'import json,sys; print([i for i in json.load(sys.stdin)["Self"]["TailscaleIPs"] if "." in i][0])')
sleep 2
idle_a=$(pss_of_suite "${suite_pid[a]}") idle_b=$(pss_of_suite "${suite_pid[b]}")

# Warm up: the first request builds the WireGuard session and lets disco find the direct path.
for _ in $(seq 1 20); do
  inns a curl -sS --max-time 5 --socks5-hostname 127.0.0.1:1080 "http://$b_ip:8088/" >/dev/null 2>&1 && break
  sleep 0.5
done
sleep 3
path=$(tnet a status --json | python3 -c 'import json,sys
s=json.load(sys.stdin)
p=[v for v in s.get("Peer",{}).values() if v.get("HostName")=="b"]
print(("direct " + p[0]["CurAddr"]) if p and p[0].get("CurAddr") else ("DERP " + (p[0].get("Relay","?") if p else "?")))')

bytes=$((mb * 1048576))
t=$(inns a curl -sS --max-time 600 --socks5-hostname 127.0.0.1:1080 -o /dev/null -w '%{time_total}' \
  "http://$b_ip:8088/bytes/$bytes")
ours_mbs=$(python3 -c "print(f'{$bytes / $t / 1e6:.1f}')")
lat=$(for _ in $(seq 1 30); do
  inns a curl -sS --max-time 5 --socks5-hostname 127.0.0.1:1080 -o /dev/null -w '%{time_starttransfer}\n' "http://$b_ip:8088/"
done | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] * 1000}')
ping_line=$(tnet a ping -c 5 b 2>&1 | tail -1 || true)
# Round trips in µs from the LocalAPI (tnet prints Go's whole milliseconds): median of 10 per type.
# disco goes magicsockd to magicsockd; TSMP wgd to wgd; ICMP through B's netstack (like the
# wireguard-go ping below, which goes through both kernels).
rtts=""
for type in disco TSMP ICMP; do
  r=$(for _ in $(seq 1 10); do
    curl -sS --max-time 5 --unix-socket "$work/a/sock" -X POST \
      "http://local-tailscaled.sock/localapi/v0/ping?ip=$b_ip&type=$type" 2>/dev/null || echo '{}'
    echo
  done | python3 -c 'import json,sys
v=[]; err=""
for line in sys.stdin:
    line=line.strip()
    if not line: continue
    try: j=json.loads(line)
    except ValueError: err="bad reply"; continue
    if j.get("Err"): err=j["Err"]
    elif "LatencySeconds" in j: v.append(j["LatencySeconds"]*1e6)
v.sort()
print(f"{v[len(v)//2]:.0f} µs" if v else "n/a (" + (err or "no reply") + ")")')
  rtts+="$type $r, "
done
after_a=$(pss_of_suite "${suite_pid[a]}") after_b=$(pss_of_suite "${suite_pid[b]}")

# ---- wireguard-go in the same shape (its own two namespaces, one hop through a hub veth) --------
wg_result="skipped (no wireguard-go/wg/iperf3)"
if command -v wireguard-go >/dev/null && command -v wg >/dev/null && command -v iperf3 >/dev/null; then
  for ns in wa wb; do ip netns add "$tag-$ns"; inns "$ns" ip link set lo up; done
  ip -n "$tag-wa" link add "wv$tag" type veth peer name "wu$tag"
  ip -n "$tag-wa" link set "wu$tag" netns "$tag-wb"
  ip -n "$tag-wa" addr add 10.98.0.1/24 dev "wv$tag"; ip -n "$tag-wa" link set "wv$tag" up
  ip -n "$tag-wb" addr add 10.98.0.2/24 dev "wu$tag"; ip -n "$tag-wb" link set "wu$tag" up
  for n in wa wb; do
    (umask 077; wg genkey >"$work/$n.key"); wg pubkey <"$work/$n.key" >"$work/$n.pub"
    bg "wggo-$n" ip netns exec "$tag-$n" wireguard-go -f "wg$n$tag"
  done
  sleep 1
  inns wa wg set "wgwa$tag" private-key "$work/wa.key" listen-port 51820 peer "$(cat "$work/wb.pub")" \
    allowed-ips 10.97.0.2/32 endpoint 10.98.0.2:51820
  inns wb wg set "wgwb$tag" private-key "$work/wb.key" listen-port 51820 peer "$(cat "$work/wa.pub")" \
    allowed-ips 10.97.0.1/32 endpoint 10.98.0.1:51820
  inns wa ip addr add 10.97.0.1/24 dev "wgwa$tag"; inns wa ip link set "wgwa$tag" mtu 1280 up
  inns wb ip addr add 10.97.0.2/24 dev "wgwb$tag"; inns wb ip link set "wgwb$tag" mtu 1280 up
  bg iperf ip netns exec "$tag-wb" iperf3 -s -1
  sleep 0.5
  gbps=$(inns wa iperf3 -c 10.97.0.2 -t 5 -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
  wg_rtt=$(inns wa ping -c 10 -i 0.2 -q 10.97.0.2 | awk -F/ '/rtt/ {print $5}')
  wg_result="$gbps Gbit/s ($(python3 -c "print(f'{$gbps*1e9/8/1e6:.1f}')") MB/s) iperf3 TUN to TUN, ping RTT avg $wg_rtt ms"
fi

echo
echo "tailnet_bench ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "  ours:        $mb MB through A's SOCKS5 from B's loopback: $ours_mbs MB/s (path: $path)"
echo "  ours:        request latency via SOCKS5 (TCP connect through the tunnel + GET), median of 30: $lat ms"
echo "  ours:        tnet ping: ${ping_line:-n/a}"
echo "  ours:        ping RTT median of 10 (LocalAPI): ${rtts%, }"
echo "  wireguard-go: $wg_result"
echo "  PSS idle:    A $((idle_a / 1024)) MB, B $((idle_b / 1024)) MB (summed smaps_rollup Pss of tailnetd + services)"
echo "  PSS after:   A $((after_a / 1024)) MB, B $((after_b / 1024)) MB"
