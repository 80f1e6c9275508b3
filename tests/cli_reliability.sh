#!/usr/bin/env bash
# A run directory nothing can hurt (docs/reliability.md): a refused --resume leaves the directory
# byte for byte as it was, an existing run is not overwritten without --force, signals stop a run
# with a checkpoint, symbolic links, FIFOs and devices are refused by name, damaged or hostile
# files are refused before they cost memory, numeric options are bounded, LAPACK failures are
# named, monitor records survive a resume, stale temporaries are removed, eval notices a backbone
# that disagrees with the checkpoint, config files reject NUL bytes and scale to many keys.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-rel.XXXXXX)
# only the script itself cleans up: a killed background subshell (a watchdog) runs EXIT traps too
trap '[ "$BASHPID" = "$$" ] && rm -rf "$T"' EXIT
TINY=(--width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 96 --threads 1 --loader-threads 1)
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$(timeout 60 "$NCSSL" "$@" 2>"$T/err"); rc=$?
  local err; err=$(cat "$T/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code (stderr: $err)"; fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/: $out $err"; fails=$((fails+1)); return
  fi
  if [ "$code" -ne 0 ] && [ "$(printf '%s' "$err" | wc -l)" -gt 0 ]; then
    echo "FAIL: ncssl $*: more than one error line: $err"; fails=$((fails+1))
  fi
}
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
snapshot() { (cd "$1" && find . -printf '%p %s %y\n' | sort && cat -- $(find . -type f | sort)) | md5sum; }

# 1. A refused --resume (another width, seed, data directory, subset) changes nothing.
expect 0 'done: 20 steps' -- train "${TINY[@]}" --max-steps 20 --epochs 4 --checkpoint-every 1 --out "$T/R"
before=$(snapshot "$T/R")
expect 1 'different network' -- train --resume "$T/R" --width 8
expect 1 'seed' -- train --resume "$T/R" --seed 5
expect 1 'nowhere' -- train --resume "$T/R" --data-dir /nowhere
expect 1 'batches per epoch' -- train --resume "$T/R" --subset 64
check "refused resumes leave the run directory byte for byte" test "$(snapshot "$T/R")" = "$before"
expect 0 'done: 22 steps' -- train --resume "$T/R" --max-steps 22
# A run stopped before its first checkpoint (config.txt only) resumes by starting over.
mkdir -p "$T/N" && cp "$T/R/config.txt" "$T/N/"
expect 0 'no checkpoint yet .*starting at step 0' -- train --resume "$T/N" --max-steps 2

# 2. --out of an existing run: refused naming --resume and --force; --force replaces it.
lines=$(wc -l <"$T/R/metrics.jsonl")
expect 2 'already holds a run.*--resume.*--force' -- train "${TINY[@]}" --max-steps 3 --out "$T/R"
check "the refused run left metrics.jsonl alone" test "$(wc -l <"$T/R/metrics.jsonl")" -eq "$lines"
expect 2 '^ncssl: --force: cannot be combined with --resume' -- train --resume "$T/R" --force
expect 0 'done: 3 steps' -- train "${TINY[@]}" --max-steps 3 --out "$T/R" --force
check "--force replaced the run" test "$(grep -c '"type": "step"' "$T/R/metrics.jsonl")" -eq 3

# 3. Signals: the first finishes the step, checkpoints and exits 130/143 with a resume hint.
interrupt() { # interrupt SIGNAL COUNT DIR [ARGS]: signals a long run after its first record
  "$NCSSL" train "${TINY[@]}" --epochs 200 "${@:4}" --out "$3" >"$T/sig.out" 2>"$T/sig.err" &
  local pid=$! i
  for i in $(seq 600); do
    grep -q '"type": "step"' "$3/metrics.jsonl" 2>/dev/null && break
    sleep 0.05
  done
  for i in $(seq "$2"); do kill -"$1" "$pid"; sleep 0.05; done # (signals sent at once merge)
  (sleep 60; kill -KILL "$pid" 2>/dev/null) & # a run that ignores the signal fails, not hangs
  local watchdog=$!
  wait "$pid"
  local rc=$?
  kill "$watchdog" 2>/dev/null
  return "$rc"
}
interrupt INT 1 "$T/S"; rc=$?
check "SIGINT exits 130 (got $rc)" test "$rc" -eq 130
check "SIGINT names the step and how to resume" \
  grep -qE '^ncssl: SIGINT: stopped at step [0-9]+ of 1200; the checkpoint at step [0-9]+ is saved; continue with: ncssl train --resume' "$T/sig.err"
check "SIGINT left a checkpoint (the default --checkpoint-every 0 too)" test -s "$T/S/checkpoint.safetensors"
steps=$(grep -c '"type": "step"' "$T/S/metrics.jsonl")
expect 0 "done: $((steps + 2)) steps" -- train --resume "$T/S" --max-steps $((steps + 2))
interrupt TERM 1 "$T/S2"; rc=$?
check "SIGTERM exits 143 (got $rc)" test "$rc" -eq 143
interrupt INT 2 "$T/S3" --width 48; rc=$? # (steps long enough for a second signal to land)
check "a second SIGINT exits at once with 130 (got $rc)" test "$rc" -eq 130
check "a second SIGINT says it stopped at once" grep -q 'second signal: stopped at once' "$T/sig.err"
# (10000 probe epochs: about 36 s, so the signal at 2 s lands during the probe on a fast machine)
"$NCSSL" eval --random-init --width 4 --data fashion-mnist --subset 2000 --probe-epochs 10000 \
  --threads 1 >/dev/null 2>"$T/eval.err" &
pid=$!; sleep 2; kill -INT $pid; wait $pid; rc=$?
check "eval stops on SIGINT with 130 (got $rc)" test "$rc" -eq 130
check "eval says nothing was written" grep -q 'nothing was written' "$T/eval.err"

# 4. Symbolic links inside a run or report directory are refused, their targets untouched.
echo "victim" >"$T/victim"
mkdir -p "$T/L" && cp "$T/R/"* "$T/L/" && rm "$T/L/metrics.jsonl" && ln -s "$T/victim" "$T/L/metrics.jsonl"
expect 1 'metrics.jsonl: is a symbolic link' -- train --resume "$T/L" --max-steps 4
expect 1 'metrics.jsonl: is a symbolic link' -- eval "$T/L" --data fashion-mnist --subset 200 \
  --test-subset 100 --probe-epochs 1 --knn-k 5 --log
check "the symlink's target is unchanged" test "$(cat "$T/victim")" = "victim"
mkdir -p "$T/D" "$T/elsewhere" && ln -s "$T/elsewhere" "$T/D/report-figures"
"$NCSSL" report "$T/R" --out "$T/D" >/dev/null 2>"$T/err"; rc=$?
check "report refuses a report-figures symlink (exit $rc)" test "$rc" -eq 1
check "report names the symlink" grep -q '^ncssl: .*report-figures: is a symbolic link' "$T/err"
check "nothing written through the report-figures link" test -z "$(ls "$T/elsewhere")"
"$NCSSL" report "$T/R" --out "$T/D2" >/dev/null 2>&1
fig=$(ls "$T/D2/report-figures" | grep -m1 '\.png$')
ln -s "$T/victim" "$T/D2/report-figures/$fig.partial"
"$NCSSL" report "$T/R" --out "$T/D2" >/dev/null 2>&1
check "a figure's planted temporary link is not written through" test "$(cat "$T/victim")" = "victim"
check "the figure was still written ($fig)" test -s "$T/D2/report-figures/$fig"

# 5. FIFOs and devices are refused by name, never waited on or read without end.
mkfifo "$T/fifo"
expect 1 'fifo: is a FIFO' -- train --config "$T/fifo" --out "$T/x"
mkdir -p "$T/F" && cp "$T/R/"* "$T/F/" && rm "$T/F/checkpoint.safetensors" && mkfifo "$T/F/checkpoint.safetensors"
expect 1 'checkpoint.safetensors: is a FIFO' -- train --resume "$T/F"
rm "$T/F/checkpoint.safetensors" && ln -s /dev/zero "$T/F/checkpoint.safetensors"
expect 1 'checkpoint.safetensors: is a symbolic link' -- train --resume "$T/F"
expect 1 'is a character device' -- eval /dev/zero --data fashion-mnist
mkdir -p "$T/fifodata" && mkfifo "$T/fifodata/train-images-idx3-ubyte" "$T/fifodata/train-labels-idx1-ubyte"
expect 1 'is a FIFO' -- train "${TINY[@]}" --data-dir "$T/fifodata" --out "$T/fd"

# 6. Sizes against headers before allocating: a 3 GiB file with a bad header; a gzip IDX that
# inflates far past what its header declares.
truncate -s 3G "$T/big.safetensors"
printf '\xff\xff\xff\xff\xff\x00\x00\x00' | dd of="$T/big.safetensors" conv=notrunc status=none
if command -v /usr/bin/time >/dev/null; then
  /usr/bin/time -f '%M' -o "$T/rss" "$NCSSL" eval "$T/big.safetensors" --data fashion-mnist \
    >/dev/null 2>"$T/err"
  check "bad 3 GiB checkpoint refused in < 64 MB (max RSS $(cat "$T/rss") kB)" \
    test "$(tail -1 "$T/rss")" -lt 65536
fi
expect 1 'header length .* exceeds' -- eval "$T/big.safetensors" --data fashion-mnist
mkdir -p "$T/bomb"
for s in train t10k; do
  { printf '\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c 67108864 /dev/zero; } |
    gzip -1 >"$T/bomb/$s-images-idx3-ubyte.gz"
  cp /usr/share/datasets/fashion-mnist/$s-labels-idx1-ubyte.gz "$T/bomb/"
done
expect 1 'decompresses to more than the 7856 bytes its IDX header declares' -- \
  train "${TINY[@]}" --data-dir "$T/bomb" --out "$T/b"

# 7. Numeric options are bounded before use.
expect 2 '^ncssl: --warmup-epochs: ' -- train --schedule cosine --warmup-epochs 1e300 --out "$T/x"
expect 2 '^ncssl: --threads: 1024 is more than 4 per core' -- train --threads 1024 --out "$T/x"
expect 2 '^ncssl: --threads: 1024 is more than 4 per core' -- eval --random-init --threads 1024

# 9. Monitor records of a resumed run equal the uninterrupted run's, and so does the checkpoint
# (both runs are called "M", in their own folders, so that config.txt's out is the same). Step 6
# is not an epoch end (12 steps per epoch): the stopped run's record there only looks, and the
# record at step 8 must still cover steps 5-8.
mkdir -p "$T/one" "$T/two"
in_dir() { local d=$1; shift; (cd "$d" && "$NCSSL" "$@" >/dev/null 2>&1); }
M=("${TINY[@]}" --subset 192 --epochs 2 --monitor-every 4)
check "uninterrupted run" in_dir "$T/one" train "${M[@]}" --max-steps 8 --out M
check "first part" in_dir "$T/two" train "${M[@]}" --max-steps 6 --out M
check "resumed part" in_dir "$T/two" train --resume M --max-steps 8
check "the stopped run wrote a record at step 6" grep -q '"type": "monitor", "step": 6,' "$T/two/M/metrics.jsonl"
check "monitor records bit-identical after resume" \
  cmp -s <(grep '"type": "monitor"' "$T/one/M/metrics.jsonl") \
  <(grep '"type": "monitor"' "$T/two/M/metrics.jsonl" | grep -v '"step": 6,')
check "checkpoint bytes identical after resume" \
  cmp -s "$T/one/M/checkpoint.safetensors" "$T/two/M/checkpoint.safetensors"
cp -r "$T/one/M" "$T/M1" && cp -r "$T/two/M" "$T/M2"

# 10. Stale temporaries removed at start; eval names a backbone that lags the checkpoint.
touch "$T/M2/checkpoint.safetensors.tmp.Ab12Cd" "$T/M2/backbone.safetensors.tmp.xYz789" "$T/M2/keep.tmp.Ab12Cd"
expect 0 'already finished at step 8' -- train --resume "$T/M2" --max-steps 8
check "stale checkpoint temporaries removed" test ! -e "$T/M2/checkpoint.safetensors.tmp.Ab12Cd" \
  -a ! -e "$T/M2/backbone.safetensors.tmp.xYz789"
check "other files kept" test -e "$T/M2/keep.tmp.Ab12Cd"
cp "$T/M2/backbone.safetensors" "$T/bb8"
expect 0 'done: 9 steps' -- train --resume "$T/M2" --max-steps 9
cp "$T/M2/backbone.safetensors" "$T/bb9"
cp "$T/bb8" "$T/M2/backbone.safetensors"
expect 0 'backbone.safetensors is at step 8 but .*checkpoint.safetensors at step 9' -- \
  eval "$T/M2" --data fashion-mnist --subset 200 --test-subset 100 --probe-epochs 1 --knn-k 5
expect 0 'already finished at step 9' -- train --resume "$T/M2" --max-steps 9
check "resume brought the lagging backbone to the checkpoint's step" \
  cmp -s "$T/M2/backbone.safetensors" "$T/bb9"

# 11. Config files: NUL bytes, 50,000 keys (O(n log n)), a flipped bit in a checkpoint.
printf 'batch = 3\0 2\n' >"$T/nul.cfg"
expect 2 'nul.cfg:1: a NUL byte' -- train --config "$T/nul.cfg" --out "$T/x"
seq 50000 | sed 's/.*/k& = 1/' >"$T/many.cfg"; echo 'k77 = 2' >>"$T/many.cfg"
start=$(date +%s%N)
expect 2 "many.cfg:50001: 'k77' is set twice" -- train --config "$T/many.cfg" --out "$T/x"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "50,001 config lines checked in under 2 s (took $ms ms)" test "$ms" -lt 2000
cp -r "$T/M1" "$T/bit"
size=$(stat -c %s "$T/bit/checkpoint.safetensors")
off=$((size - 1000))
byte=$(od -An -tu1 -j "$off" -N1 "$T/bit/checkpoint.safetensors" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of="$T/bit/checkpoint.safetensors" bs=1 seek="$off" conv=notrunc status=none
expect 1 "checkpoint.safetensors: tensor '.*' is damaged \(checksum" -- train --resume "$T/bit" --max-steps 9

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
