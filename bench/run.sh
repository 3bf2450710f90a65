#!/usr/bin/env bash
# bench/run.sh — AiMesh's end-to-end benchmark (issue 6): what the gateway adds to a request.
#
#   bench/run.sh                    every scenario, 10 s each (about 4 minutes)
#   bench/run.sh --duration 30      longer scenarios
#   bench/run.sh --smoke            1 s per scenario, 1 connection, a few scenarios (CI; well under a minute)
#   bench/run.sh --soak 600         instead of the scenarios: 32 connections of non-streaming load for
#                                   600 s, sampling the AiMesh process's memory every 10 s
#   bench/run.sh --no-build         use the Release build that is there (built only when missing)
#   bench/run.sh --jit-warmup 90    seconds of unmeasured load on AiMesh before the scenarios (default 90)
#   bench/run.sh --db-dir /dev/shm  put AiMesh's SQLite file there (default: a temporary directory
#                                   under $TMPDIR or /tmp); on tmpfs, fsync costs nothing
#
# What it does, all on 127.0.0.1 and bounded in time:
#   1. builds services/embedded and bench/AiMesh.Bench in Release (unless --no-build);
#   2. starts a fake OpenAI-compatible upstream (`AiMesh.Bench upstream`: Kestrel answering
#      precomputed bytes — a completion, or an SSE stream with usage — so it costs almost no CPU);
#   3. starts the embedded host (all five services in one process) in front of it, with a fresh
#      SQLite file in a temporary directory, Warning-level logs and quotas too high to be reached;
#   4. drives load with wrk (Debian package `wrk`; bench/wrk/post.lua posts the body and prints
#      the percentiles) straight to the upstream and through AiMesh, for three kinds of request:
#        non-streaming   a chat completion (temperature unset: not cacheable, so never cached)
#        streaming       the same with "stream":true and usage (wrk times the whole stream)
#        cache-hit       "temperature":0, repeated: AiMesh answers from its response cache
#      each at 1 and 32 connections, after a first unmeasured load on AiMesh (--jit-warmup: .NET
#      recompiles hot code with profile data during its first minute or so under load on 2 busy
#      cores, so the rows show the steady state of a running gateway); and measures the time to the first byte of streams with
#      `AiMesh.Bench ttfb` (wrk cannot see the first byte) at 1 and 32 connections;
#   5. prints a table: requests/s, p50/p90/p99 latency direct and through AiMesh, the latency
#      AiMesh adds at p50, the server's CPU (AiMesh's, or the upstream's on direct rows) as a share
#      of one core during the load and per request (until AiMesh is idle again, so the deferred
#      ledger and health work counts), and AiMesh's peak RSS (VmHWM); then issue 6's targets.
#   It stops everything it started when it ends, fails or is interrupted. It exits non-zero when a
#   scenario had errors or no requests. Other load on the machine disturbs the figures: rerun then.
#
# Needs: the .NET 10 SDK, wrk (./test.sh installs it), curl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=10
SMOKE=0
BUILD=1
SOAK=0
DB_DIR=""
JIT_WARMUP=90
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --soak) SOAK=${2:?--soak needs seconds}; shift 2 ;;
    --db-dir) DB_DIR=${2:?--db-dir needs a directory}; shift 2 ;;
    --jit-warmup) JIT_WARMUP=${2:?--jit-warmup needs seconds}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if ! [[ "$DURATION" =~ ^[1-9][0-9]*$ && "$SOAK" =~ ^[0-9]+$ && "$JIT_WARMUP" =~ ^[0-9]+$ ]]; then
  echo "bench: --duration, --soak and --jit-warmup take whole seconds" >&2
  exit 2
fi

WARMUP=3
SETTLE_MAX=20
CONNECTIONS="1 32"
if [ "$SMOKE" -eq 1 ]; then
  DURATION=1
  WARMUP=1
  JIT_WARMUP=0
  SETTLE_MAX=3
  CONNECTIONS="1"
fi

for tool in wrk curl dotnet; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$tool" = wrk ]; then
      echo "bench: wrk is not installed: run ./test.sh (it installs it) or apt-get install wrk" >&2
    else
      echo "bench: $tool is not installed" >&2
    fi
    exit 1
  fi
done

EMBEDDED_DIR="$ROOT/services/embedded/bin/Release/net10.0"
EMBEDDED_DLL="$EMBEDDED_DIR/AiMesh.Embedded.dll"
BENCH_DLL="$ROOT/bench/AiMesh.Bench/bin/Release/net10.0/AiMesh.Bench.dll"
build() {
  echo "bench: building $1 (Release)"
  dotnet build "$ROOT/$1" -c Release -nologo -v quiet >/dev/null || { echo "bench: the build of $1 failed" >&2; exit 1; }
}
if [ "$BUILD" -eq 1 ] || [ ! -f "$EMBEDDED_DLL" ]; then build services/embedded/AiMesh.Embedded.csproj; fi
if [ "$BUILD" -eq 1 ] || [ ! -f "$BENCH_DLL" ]; then build bench/AiMesh.Bench/AiMesh.Bench.csproj; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aimesh-bench.XXXXXX")
DB_WORK="$WORK"
PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ] && [ -f "$WORK/aimesh.log" ]; then
    echo "bench: last lines of the AiMesh log:" >&2
    tail -n 20 "$WORK/aimesh.log" >&2 || true
  fi
  rm -rf "$WORK"
  if [ "$DB_WORK" != "$WORK" ]; then rm -rf "$DB_WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -n "$DB_DIR" ]; then DB_WORK=$(mktemp -d "$DB_DIR/aimesh-bench-db.XXXXXX"); fi

# A port nothing listens on (bash's /dev/tcp: a refused connection means free).
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-60999)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "bench: no free port found" >&2
  return 1
}

# Polls URL until it answers 200, while process PID lives (at most 60 s).
wait_ready() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then echo "bench: $name exited during start-up" >&2; return 1; fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; then return 0; fi
    sleep 0.1
  done
  echo "bench: $name was not ready within 60 s ($url)" >&2
  return 1
}

CLK_TCK=$(getconf CLK_TCK)
# CPU time (user + system) of a process in clock ticks; the fields after "(comm) ".
cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# A /proc/PID/status figure in kB (VmHWM: peak resident set; VmRSS: resident now).
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
# Waits until the process uses less than 10% of a core over 0.5 s (its backlog is done), at most SETTLE_MAX s.
settle() {
  local pid=$1 before after
  for _ in $(seq 1 $((SETTLE_MAX * 2))); do
    before=$(cpu_ticks "$pid"); sleep 0.5; after=$(cpu_ticks "$pid")
    if [ $(((after - before) * 100 / CLK_TCK)) -lt 5 ]; then return 0; fi
  done
}
# The value of KEY in a "RESULT key=value ..." line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v key="$2" '$1 == key { print $2 }'; }

# --- the upstream and AiMesh -------------------------------------------------------------------
KEY="bench-master-key-0123456789abcdef"
UP_PORT=$(free_port)
UP="http://127.0.0.1:$UP_PORT"
dotnet "$BENCH_DLL" upstream --urls "$UP" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_ready "$UP/v1/models" "$UP_PID" "the fake upstream"

GW_PORT=$(free_port)
GW="http://127.0.0.1:$GW_PORT"
(
  cd "$EMBEDDED_DIR"
  exec env -u ASPNETCORE_URLS -u OTEL_EXPORTER_OTLP_ENDPOINT -u OPENAI_API_KEY -u OPENAI_BASE_URL \
    -u AZURE_OPENAI_API_KEY -u AZURE_OPENAI_ENDPOINT -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL \
    -u GEMINI_API_KEY -u GEMINI_BASE_URL -u OLLAMA_HOST \
    AIMESH_MASTER_KEY="$KEY" ASPNETCORE_ENVIRONMENT=Production \
    dotnet "$EMBEDDED_DLL" --urls "$GW" \
      "--OPENAI_BASE_URL=$UP/v1" --OPENAI_API_KEY=x \
      "--AiMesh:Embedded:DatabasePath=$DB_WORK/aimesh.db" \
      --Logging:LogLevel:Default=Warning \
      --AiMesh:Quotas:Default:RequestsPerMinute=100000000 \
      --AiMesh:Quotas:Default:TokensPerMinute=100000000000
) >"$WORK/aimesh.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_ready "$GW/health/ready" "$GW_PID" "AiMesh"

BODIES="$WORK/bodies"
mkdir -p "$BODIES"
MESSAGES='"messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Say hello in five words."}]'
printf '{"model":"gpt-4o-mini",%s}' "$MESSAGES" >"$BODIES/non-streaming.json"
printf '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},%s}' "$MESSAGES" >"$BODIES/streaming.json"
printf '{"model":"gpt-4o-mini","temperature":0,%s}' "$MESSAGES" >"$BODIES/cache-hit.json"

# One request of each kind through AiMesh: fail early and clearly when the path is broken.
check() {
  local kind=$1 expect=$2 out="$WORK/check.out" headers="$WORK/check.headers" code
  code=$(curl -s -o "$out" -D "$headers" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary "@$BODIES/$kind.json" "$GW/v1/chat/completions" || true)
  if [ "$code" != 200 ] || ! grep -q -- "$expect" "$out"; then
    echo "bench: a $kind request through AiMesh answered HTTP $code:" >&2
    head -c 600 "$out" >&2 || true
    echo >&2
    exit 1
  fi
}
check non-streaming '"chat.completion"'
check streaming 'data: \[DONE\]'
check cache-hit '"chat.completion"'
check cache-hit '"chat.completion"'
if ! grep -qi '^x-aimesh-cache: hit' "$WORK/check.headers"; then
  echo "bench: the repeated temperature-0 request was not answered from the cache:" >&2
  cat "$WORK/check.headers" >&2
  exit 1
fi

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
RUNTIME=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
# How busy the machine is without load from us (AiMesh idle): other work disturbs the figures.
cpu_sample() { awk '$1 == "cpu" { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
settle "$GW_PID"
read -r total1 idle1 < <(cpu_sample); sleep 1; read -r total2 idle2 < <(cpu_sample)
BUSY=$(( (total2 - total1 - (idle2 - idle1)) * 100 / (total2 - total1 > 0 ? total2 - total1 : 1) ))
echo "AiMesh benchmark: $(nproc) cores, $CPU_MODEL, .NET $RUNTIME, $(uname -sr); machine busy before the load: ${BUSY}%"
echo "AiMesh's SQLite file: $DB_WORK/aimesh.db ($(df -PT "$DB_WORK" | awk 'NR == 2 { print $2 }'))"
if [ "$BUSY" -gt 10 ]; then
  echo "bench: other work keeps the machine ${BUSY}% busy: the figures will be disturbed" >&2
fi

# --- JIT warm-up ----------------------------------------------------------------------------------
# Half of it non-streaming, a quarter each streaming and cache-hit, at 32 connections.
if [ "$SOAK" -eq 0 ] && [ "$JIT_WARMUP" -gt 0 ]; then
  echo "bench: warming AiMesh up for ${JIT_WARMUP} s (tiered compilation) ..." >&2
  for part in non-streaming:2 streaming:4 cache-hit:4; do
    seconds=$((JIT_WARMUP / ${part#*:}))
    if [ "$seconds" -eq 0 ]; then continue; fi
    BENCH_BODY="$BODIES/${part%:*}.json" BENCH_KEY="$KEY" \
      wrk -t1 -c32 -d"${seconds}s" --timeout 5s -s "$ROOT/bench/wrk/post.lua" "$GW/v1/chat/completions" >/dev/null 2>&1 || true
  done
  settle "$GW_PID"
fi

# --- soak --------------------------------------------------------------------------------------
if [ "$SOAK" -gt 0 ]; then
  echo "soak: non-streaming, 32 connections, ${SOAK} s; AiMesh's resident memory every 10 s"
  BENCH_BODY="$BODIES/non-streaming.json" BENCH_KEY="$KEY" \
    wrk -t1 -c32 -d"${SOAK}s" --timeout 5s -s "$ROOT/bench/wrk/post.lua" "$GW/v1/chat/completions" >"$WORK/soak.out" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
  elapsed=0
  samples=()
  while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 10
    elapsed=$((elapsed + 10))
    rss=$(status_kb "$GW_PID" VmRSS)
    samples+=("$rss")
    printf 'soak: %5d s  RSS %6.1f MB  peak %6.1f MB\n' "$elapsed" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
      "$(awk -v k="$(status_kb "$GW_PID" VmHWM)" 'BEGIN { print k / 1024 }')"
  done
  wait "$WRK_PID" || true
  result=$(grep '^RESULT' "$WORK/soak.out" || true)
  echo "soak: $result"
  # Growth: the mean RSS of the last minute against that of the second minute (after warm-up).
  printf '%s\n' "${samples[@]}" | awk '
    { rss[NR] = $1 }
    END {
      if (NR < 14) { print "soak: too short to judge growth (needs 140 s or more)"; exit }
      for (i = 7; i <= 12; i++) early += rss[i] / 6
      for (i = NR - 5; i <= NR; i++) late += rss[i] / 6
      printf "soak: RSS second minute %.1f MB, last minute %.1f MB, growth %+.1f MB (%+.1f%%)\n",
        early / 1024, late / 1024, (late - early) / 1024, (late - early) * 100 / early
    }'
  [ -n "$result" ] && [ "$(field "$result" errors)" = 0 ] || { echo "bench: the soak had errors" >&2; exit 1; }
  exit 0
fi

# --- scenarios ---------------------------------------------------------------------------------
ROWS="$WORK/rows"
: >"$ROWS"
FAILED=0

# Records one row: scenario conns target result-line server-pid cpu-ticks-during cpu-ticks-total
record() {
  local scenario=$1 conns=$2 target=$3 result=$4 pid=$5 during=$6 total=$7 requests seconds rss
  requests=$(field "$result" requests)
  seconds=$(field "$result" seconds)
  rss="-"
  if [ "$target" = aimesh ]; then rss=$(awk -v k="$(status_kb "$pid" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }'); fi
  if [ -z "$requests" ] || [ "$requests" = 0 ] || [ "$(field "$result" errors)" != 0 ]; then FAILED=1; fi
  awk -v s="$scenario" -v c="$conns" -v t="$target" -v rps="$(field "$result" rps)" \
    -v p50="$(field "$result" "${P}p50_us")" -v p90="$(field "$result" "${P}p90_us")" -v p99="$(field "$result" "${P}p99_us")" \
    -v err="$(field "$result" errors)" -v req="${requests:-0}" -v sec="${seconds:-1}" -v during="$during" -v total="$total" \
    -v tck="$CLK_TCK" -v rss="$rss" 'BEGIN {
      cpu = during / tck / sec * 100
      per = req > 0 ? total / tck * 1e6 / req : 0
      printf "%s %s %s %s %s %s %s %s %.0f %.0f %s\n", s, c, t, rps, p50, p90, p99, err, cpu, per, rss
    }' >>"$ROWS"
}

# Runs one wrk load: scenario conns target
run_wrk() {
  local scenario=$1 conns=$2 target=$3 url pid key="" start mid end result
  if [ "$target" = aimesh ]; then url=$GW; pid=$GW_PID; key=$KEY; else url=$UP; pid=$UP_PID; fi
  start=$(cpu_ticks "$pid")
  result=$(BENCH_BODY="$BODIES/$scenario.json" BENCH_KEY="$key" \
    wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 5s -s "$ROOT/bench/wrk/post.lua" "$url/v1/chat/completions" 2>&1 | grep '^RESULT' || true)
  mid=$(cpu_ticks "$pid")
  settle "$pid"
  end=$(cpu_ticks "$pid")
  P="" record "$scenario" "$conns" "$target" "$result" "$pid" $((mid - start)) $((end - start))
}

# Runs the first-byte load generator: conns target
run_ttfb() {
  local conns=$1 target=$2 url pid key=() during mid end result
  if [ "$target" = aimesh ]; then url=$GW; pid=$GW_PID; key=(--key "$KEY"); else url=$UP; pid=$UP_PID; fi
  result=$(dotnet "$BENCH_DLL" ttfb --url "$url/v1/chat/completions" --body "$BODIES/streaming.json" "${key[@]}" \
    --connections "$conns" --duration "$DURATION" --warmup "$WARMUP" --pid "$pid" 2>&1 | grep '^RESULT' || true)
  # The generator measures the server's CPU during its measured part (after its own warm-up).
  during=$(field "$result" server_cpu_ticks)
  mid=$(cpu_ticks "$pid")
  settle "$pid"
  end=$(cpu_ticks "$pid")
  P="ttfb_" record stream-first-byte "$conns" "$target" "$result" "$pid" "${during:-0}" $((${during:-0} + end - mid))
}

# Unmeasured load (JIT, tiering, pools, caches), then waits until the server is idle again.
warm() {
  local scenario=$1 target=$2 url pid key=""
  if [ "$target" = aimesh ]; then url=$GW; pid=$GW_PID; key=$KEY; else url=$UP; pid=$UP_PID; fi
  BENCH_BODY="$BODIES/$scenario.json" BENCH_KEY="$key" \
    wrk -t1 -c"${CONNECTIONS##* }" -d"${WARMUP}s" --timeout 5s -s "$ROOT/bench/wrk/post.lua" "$url/v1/chat/completions" >/dev/null 2>&1 || true
  settle "$pid"
}

SCENARIOS="non-streaming streaming cache-hit"
for scenario in $SCENARIOS; do
  echo "bench: $scenario ..." >&2
  for target in direct aimesh; do
    # The smoke run skips what adds no coverage: a cache-hit body straight to the upstream.
    if [ "$SMOKE" -eq 1 ] && [ "$scenario" = cache-hit ] && [ "$target" = direct ]; then continue; fi
    warm "$scenario" "$target"
    for conns in $CONNECTIONS; do run_wrk "$scenario" "$conns" "$target"; done
  done
done
echo "bench: stream first byte ..." >&2
for target in direct aimesh; do
  for conns in $CONNECTIONS; do run_ttfb "$conns" "$target"; done
done

# --- the table -----------------------------------------------------------------------------------
echo
echo "${DURATION} s per scenario after ${WARMUP} s of warm-up (and ${JIT_WARMUP} s of JIT warm-up first); latencies in microseconds; wrk -t1, closed loop."
echo "stream-first-byte: time to the first byte of the streamed body (AiMesh.Bench ttfb); the streaming rows time whole streams."
echo "CPU: the server's (upstream on direct rows, AiMesh on aimesh rows) share of one core during the load, and its CPU"
echo "per request until it is idle again (AiMesh's deferred ledger and health work included). RSS: AiMesh's peak (VmHWM)."
awk '
  { key = $1 " " $2; if ($3 == "direct") direct[key] = $5; rows[NR] = $0 }
  END {
    printf "%-18s %5s %-7s %9s %8s %8s %8s %9s %6s %6s %8s %8s\n", "scenario", "conns", "target", "req/s", "p50", "p90", "p99", "added p50", "errors", "CPU %", "CPU us/req", "peak RSS MB"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, " ")
      key = f[1] " " f[2]
      added = (f[3] == "aimesh" && (key in direct)) ? sprintf("%+d", f[5] - direct[key]) : "-"
      printf "%-18s %5s %-7s %9s %8s %8s %8s %9s %6s %6s %8s %8s\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], added, f[8], f[9], f[10], f[11]
    }
  }' "$ROWS"

# --- issue 6's targets ----------------------------------------------------------------------------
row() { awk -v s="$1" -v c="$2" -v t="$3" '$1 == s && $2 == c && $3 == t' "$ROWS"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "NOT met"; fi; }
echo
echo "targets (issue 6, 2-core machine):"
d=$(row non-streaming 1 direct); a=$(row non-streaming 1 aimesh)
if [ -n "$d" ] && [ -n "$a" ]; then
  added=$(( $(cut -d' ' -f5 <<<"$a") - $(cut -d' ' -f5 <<<"$d") ))
  echo "  non-streaming adds <= 150 us at p50, 1 connection:      ${added} us  $(verdict "$added <= 150")"
fi
a=$(row non-streaming 32 aimesh)
if [ -n "$a" ]; then
  rps=$(cut -d' ' -f4 <<<"$a"); p99=$(cut -d' ' -f7 <<<"$a")
  echo "  non-streaming >= 8000 req/s at 32 connections:          ${rps} req/s  $(verdict "$rps >= 8000")"
  echo "  non-streaming p99 < 10 ms at 32 connections:            ${p99} us  $(verdict "$p99 < 10000")"
fi
for conns in $CONNECTIONS; do
  d=$(row stream-first-byte "$conns" direct); a=$(row stream-first-byte "$conns" aimesh)
  if [ -n "$d" ] && [ -n "$a" ]; then
    added=$(( $(cut -d' ' -f5 <<<"$a") - $(cut -d' ' -f5 <<<"$d") ))
    printf '  streaming adds <= 300 us to the first byte at p50, %2s conn.: %s us  %s\n' "$conns" "$added" "$(verdict "$added <= 300")"
  fi
done
peak=$(awk '$3 == "aimesh" && $11 > max { max = $11 } END { print max + 0 }' "$ROWS")
echo "  peak memory < 200 MB:                                    ${peak} MB  $(verdict "$peak < 200")"
echo "  no memory growth over a 10-minute soak:                  see bench/run.sh --soak 600"

if [ "$FAILED" -ne 0 ]; then
  echo "bench: a scenario had errors or no requests (see the errors column)" >&2
  exit 1
fi
