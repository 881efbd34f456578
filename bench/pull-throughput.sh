#!/usr/bin/env bash
# Pull throughput against a docker-registry on loopback for a ~1 GiB synthetic model, next to
# curl fetching the same blob, with the server's CPU time during the pull. Prints figures only.
# Usage: bench/pull-throughput.sh [build/release]
set -euo pipefail
b=${1:-build/release}
cd "$(dirname "$0")/.."
t=$(mktemp -d /tmp/ollama-pullbench-XXXXXX)
trap 'kill $(cat $t/*.pid 2>/dev/null) 2>/dev/null || true; sleep 0.5; rm -rf $t' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rp=$(port); op=$(port)
"$b/ollama-mkmodel" -o "$t/big.gguf" --vocab-from ../shared/models/llama-2-tiny-random/llama-2-tiny-random.gguf \
    --n-embd 2048 --n-layer 9 --n-head 32 --n-head-kv 4 --n-ff 5632 --n-vocab 32000 --type F16 >/dev/null
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/reg\nhttp:\n  addr: 127.0.0.1:%s\n' "$t" "$rp" > "$t/reg.yml"
docker-registry serve "$t/reg.yml" >/dev/null 2>&1 & echo $! > "$t/reg.pid"
HOME=$t OLLAMA_HOST=127.0.0.1:$op OLLAMA_MODELS=$t/models "$b/ollama" serve 2>/dev/null & echo $! > "$t/srv.pid"
sleep 1
api=http://127.0.0.1:$op
d=sha256:$(sha256sum "$t/big.gguf" | cut -d' ' -f1)
size=$(stat -c %s "$t/big.gguf")
curl -sf -X POST -T "$t/big.gguf" "$api/api/blobs/$d" >/dev/null
m=127.0.0.1:$rp/bench/big
curl -sf "$api/api/create" -d "{\"model\":\"$m\",\"files\":{\"big.gguf\":\"$d\"},\"stream\":false}" >/dev/null
s0=$(date +%s.%N)
curl -sf "$api/api/push" -d "{\"model\":\"$m\",\"insecure\":true,\"stream\":false}" >/dev/null
s1=$(date +%s.%N)
curl -sf -X DELETE "$api/api/delete" -d "{\"model\":\"$m\"}" >/dev/null
sync
pid=$(cat "$t/srv.pid")
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
c0=$(cpu "$pid"); r0=$(cpu "$(cat $t/reg.pid)"); p0=$(date +%s.%N)
curl -sf "$api/api/pull" -d "{\"model\":\"$m\",\"insecure\":true,\"stream\":false}" >/dev/null
p1=$(date +%s.%N); c1=$(cpu "$pid"); r1=$(cpu "$(cat $t/reg.pid)")
k0=$(date +%s.%N)
curl -sf -o "$t/curl.blob" "http://127.0.0.1:$rp/v2/bench/big/blobs/$d"
k1=$(date +%s.%N)
cmp -s "$t/curl.blob" "$t/models/blobs/${d/:/-}" && same=yes || same=no
python3 - "$size" "$s0" "$s1" "$p0" "$p1" "$k0" "$k1" "$c0" "$c1" "$r0" "$r1" "$tck" "$same" <<'PY'
import sys
size, s0, s1, p0, p1, k0, k1, c0, c1, r0, r1, tck = map(float, sys.argv[1:13])
mb = size / 1e6
pull, crl, push = p1 - p0, k1 - k0, s1 - s0
print(f"blob {size/2**30:.3f} GiB ({int(size)} bytes), identical to curl's copy: {sys.argv[13]}")
print(f"push  {push:.2f} s  {mb/push:.0f} MB/s")
print(f"pull  {pull:.2f} s  {mb/pull:.0f} MB/s  (download + sha256 verify + fsync + manifest)")
print(f"curl  {crl:.2f} s  {mb/crl:.0f} MB/s  (same blob to a file)")
print(f"pull/curl throughput ratio {crl/pull:.2f}")
print(f"server CPU during pull {(c1-c0)/tck:.2f} s = {(c1-c0)/tck/pull*100:.0f}% of one core; "
      f"registry CPU {(r1-r0)/tck:.2f} s")
PY
