#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (Debian 12's clang-14) and runs each for a while on a copy of
# its seed corpus, so that fuzz/corpus is never written to. Usage: bash fuzz/run.sh [seconds-per-target]
# (default 30). JOBS (default 2): the build's parallelism, and how many targets fuzz at once; FUZZ_TARGETS="a b" runs only those.
# Exits non-zero when a target found a crash, naming the file that reproduces it.
set -euo pipefail

seconds=${1:-30}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build/fuzz
targets=(${FUZZ_TARGETS:-env_file settings pem_key ibkr_responses http_request pacing_record tzif credential_record credential_request})

# The build's own dependencies, then clang and the libFuzzer/sanitizer runtimes (libclang_rt.fuzzer,
# .asan, .ubsan), which clang-14 does not pull in by itself. Only what is missing is installed.
bash "$root/deploy/install-deps.sh" clang libclang-rt-14-dev

mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSESSIOND_FUZZ=ON -DSESSIOND_BUILD_TESTS=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --target fuzz -j "${JOBS:-2}"

work=$build/run
rm -rf "$work"
mkdir -p "$work"

# Fresh RSA keys, so that the parsers also see keys they accept; generated here rather than committed.
keys=$work/keys
mkdir -p "$keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/pkcs8.pem" 2>/dev/null
openssl rsa -in "$keys/pkcs8.pem" -traditional -out "$keys/pkcs1.pem" 2>/dev/null
# Keys the parser must refuse (EC, encrypted in both formats) and damaged ones: no key-shaped text
# is committed, not even a stub; every such seed is made here, in the run's temporary directory.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/ec.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc -pass pass:fuzz -out "$keys/encrypted.pem" 2>/dev/null
openssl rsa -in "$keys/pkcs8.pem" -traditional -aes128 -passout pass:fuzz -out "$keys/legacy-encrypted.pem" 2>/dev/null

seed() {  # seed TARGET DIR: the repository's seeds plus the generated ones
  cp -r "$root/fuzz/corpus/$1/." "$2/"
  case $1 in
    pem_key)
      cp "$keys/pkcs8.pem" "$keys/pkcs1.pem" "$2/"
      cp "$keys/ec.pem" "$2/generated-ec.pem"
      cp "$keys/encrypted.pem" "$2/generated-encrypted.pem"
      cp "$keys/legacy-encrypted.pem" "$2/generated-legacy-encrypted.pem"
      awk '{printf "%s\\n", $0}' "$keys/pkcs8.pem" >"$2/pkcs8-one-line.pem"
      awk '{printf "%s\\n", $0}' "$keys/pkcs1.pem" >"$2/pkcs1-one-line.pem"
      { head -n 2 "$keys/pkcs8.pem"; tail -n 1 "$keys/pkcs8.pem"; } >"$2/truncated-pkcs8.pem"
      { head -n 2 "$keys/pkcs1.pem"; tail -n 1 "$keys/pkcs1.pem"; } >"$2/truncated-pkcs1.pem"
      # The findings' damage (fuzz/README.md), made from this run's key: a BEGIN line without its
      # closing dashes, and a label with a non-ASCII byte (the T of PRIVATE with its high bit set).
      begin=$(head -n 1 "$keys/pkcs1.pem") end=$(tail -n 1 "$keys/pkcs1.pem") body=$(sed -n 2p "$keys/pkcs1.pem")
      printf '%s\n%s\n%s\n' "${begin%-----}" "$body" "$end" >"$2/begin-line-without-closing-dashes.pem"
      printf '%s\\n%s\\n%s' "$(sed 's/PRIVATE/PRIVA\xd4E/' <<<"$begin")" "${body:0:17}" "$end" >"$2/label-with-non-ascii-byte.pem"
      ;;
    settings)
      { sed 's/^IBKR_PRIVATE_KEY=.*//' "$root/fuzz/corpus/settings/complete.env"
        printf 'IBKR_PRIVATE_KEY="%s"\n' "$(cat "$keys/pkcs1.pem")"; } >"$2/complete-with-key.env"
      printf 'IBKR_PRIVATE_KEY=%s\n' "$(awk '{printf "%s\\n", $0}' "$keys/pkcs1.pem")" >"$2/escaped-key.env"
      begin=$(head -n 1 "$keys/pkcs1.pem") end=$(tail -n 1 "$keys/pkcs1.pem") body=$(sed -n 2p "$keys/pkcs1.pem")
      printf 'IBKR_PRIVATE_KEY="%s\\n%s\\n%s"\n' "${begin%-----}" "${body:0:48}" "$end" \
        >"$2/pem-begin-line-without-closing-dashes.env"
      ;;
  esac
}

# One target: fuzz it, then write its row of the table to $dir/row.
fuzz_one() {
  local t=$1 dir=$work/$1 status execs cov crash result
  mkdir -p "$dir/corpus" "$dir/crashes"
  seed "$t" "$dir/corpus"
  local dict=()
  [[ -f $root/fuzz/dict/$t.dict ]] && dict=(-dict="$root/fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s" >&2
  set +e
  # TMPDIR: the settings harness writes its env file there, left behind only when the target crashes.
  (cd "$dir" && TMPDIR="$dir" "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$dir/crashes/" "${dict[@]}" corpus </dev/null >"$dir/log" 2>&1)
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1 || true)
  cov=$(grep -oE '^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+cov: [0-9]+' "$dir/log" | tail -1 | sed 's/.*cov: //' || true)
  crash=$(find "$dir/crashes" -type f | head -1)
  if ((status == 0)); then
    result=ok
  else
    result="FAILED (exit $status)${crash:+: $crash}"
    echo "fuzz: $t failed; log: $dir/log" >&2
    grep -m5 -E 'invariant broken|ERROR: |runtime error|SUMMARY' "$dir/log" >&2 || true
  fi
  printf '%-16s %12s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "$result" >"$dir/row"
}

# JOBS targets at a time (each libFuzzer process is one thread): the same seconds per target, the
# run's wall time divided by JOBS.
jobs=${JOBS:-2}
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

failed=0
printf '%-16s %12s %8s  %s\n' target executions cov result
for t in "${targets[@]}"; do
  if [[ -f $work/$t/row ]]; then cat "$work/$t/row"; else printf '%-16s  no result\n' "$t"; fi
  grep -q '  ok$' "$work/$t/row" 2>/dev/null || failed=1
done
exit $failed
