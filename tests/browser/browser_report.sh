#!/usr/bin/env bash
# The report in a real browser: a short synthetic run (tests/browser/synth_run.c, the linear model
# logged through the runlog writer) is reported with `ncssl report`, then opened from the file
# system in headless Chromium, which must load the page with no console message or error and load
# every image; a screenshot of the page is kept.
#
# How it checks: a copy of report.html beside it gets two inline scripts (the report itself has
# none): one at the top of <head> records every error event (a resource that fails to load, a
# script error) and every console.error/warn; one on window "load" writes into the DOM how many
# <img> there are, which ones are not complete with a natural width, the errors, and whether the
# page overflows 1280 px. Chromium's --dump-dom prints that DOM; its stderr log (--enable-logging)
# must hold no CONSOLE line. A second copy with one figure deleted must be caught (negative
# control), so the check cannot pass vacuously.
#
#   browser_report.sh NCSSL SYNTH_RUN [SCREENSHOT.png]      exit 77 (skipped) without chromium
set -u
NCSSL=$1 SYNTH=$2 SHOT=${3:-$PWD/report-screenshot.png}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed (scripts/install-deps installs Debian's chromium)"
  exit 77
fi
fails=0; checks=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
check() { checks=$((checks+1)); if ! eval "$1"; then fail "$2"; fi; }
T=$(mktemp -d /tmp/ncssl-browser.XXXXXX)
trap 'rm -rf "$T"' EXIT
t0=$(date +%s%N)

# One headless Chromium run with a fresh profile and nothing that reaches the network.
chrome() { # chrome NAME ARGS... (stderr log in $T/NAME.log)
  local name=$1; shift
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$T/profile-$name" --enable-logging=stderr --v=0 "$@" 2>"$T/$name.log"
}

# The check page: the report with the two probes added (see the top comment); report.html has
# <head> and </body> on lines of their own.
cat > "$T/head.js" <<'JS'
<script>window.__ncErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__ncErrors.push(t && t !== window && t.tagName
      ? "failed to load " + t.tagName + " " + (t.getAttribute("src") || t.getAttribute("href"))
      : "script error: " + e.message);
}, true);
["error", "warn"].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__ncErrors.push("console." + level + ": " + Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
});</script>
JS
cat > "$T/tail.js" <<'JS'
<script>window.addEventListener("load", function () {
  var images = document.images, broken = [];
  for (var i = 0; i < images.length; i++)
    if (!images[i].complete || images[i].naturalWidth === 0) broken.push(images[i].getAttribute("src"));
  var out = document.createElement("pre");
  out.id = "nc-check";
  out.textContent = "NC-CHECK images=" + images.length + " broken=" + broken.length +
      " errors=" + window.__ncErrors.length + " overflow=" +
      (document.documentElement.scrollWidth > window.innerWidth ? 1 : 0) + "\n" +
      broken.concat(window.__ncErrors).join("\n");
  document.body.appendChild(out);
});</script>
JS
make_check_page() { # make_check_page DIR
  awk -v head="$T/head.js" -v tail="$T/tail.js" '
    $0 == "</body>" { while ((getline line < tail) > 0) print line }
    { print }
    $0 == "<head>" { while ((getline line < head) > 0) print line }' \
    "$1/report.html" > "$1/check.html"
}

# Runs the check page of DIR; prints the NC-CHECK line (empty when the page never loaded).
run_check() { # run_check NAME DIR
  make_check_page "$2"
  chrome "$1" --window-size=1280,800 --virtual-time-budget=15000 --dump-dom \
    "file://$2/check.html" > "$T/$1.dom"
  grep -oE 'NC-CHECK images=[0-9]+ broken=[0-9]+ errors=[0-9]+ overflow=[01]' "$T/$1.dom"
}

# A short run of each predictor, one page overlaying both.
"$SYNTH" "$T/runs/directpred" directpred 400 || fail "synth_run directpred"
"$SYNTH" "$T/runs/trained" trained 400 || fail "synth_run trained"
"$NCSSL" report "$T/runs/directpred" "$T/runs/trained" --out "$T/page" >/dev/null ||
  fail "ncssl report exited $?"
nimg=$(grep -o '<img ' "$T/page/report.html" | wc -l)
check "[ $nimg -eq 9 ]" "the page has $nimg <img>, expected 9"

result=$(run_check page "$T/page")
echo "page: $result"
check "[ \"$result\" = 'NC-CHECK images=$nimg broken=0 errors=0 overflow=0' ]" \
  "page check: '$result' ($(sed -n '/<pre id="nc-check">/,/<\/pre>/p' "$T/page.dom" | head -12))"
check "! grep -E ':CONSOLE|Uncaught' $T/page.log" "console messages in Chromium's log"

# Negative control: a missing figure must be caught.
cp -r "$T/page" "$T/broken"
rm "$T/broken/report-figures/loss.png"
result=$(run_check broken "$T/broken")
echo "negative control (loss.png deleted): $result"
check "[ \"$result\" = 'NC-CHECK images=$nimg broken=1 errors=1 overflow=0' ]" \
  "the check did not catch a missing image: '$result'"

# The screenshot of the real page (no probes), at laptop width.
rm -f "$SHOT"
chrome shot --hide-scrollbars --window-size=1280,2600 --screenshot="$SHOT" \
  "file://$T/page/report.html" >/dev/null
check "head -c 8 '$SHOT' 2>/dev/null | grep -q PNG" "no screenshot at $SHOT"
check "[ \$(stat -c %s '$SHOT' 2>/dev/null || echo 0) -gt 50000 ]" "screenshot suspiciously small"
echo "screenshot: $SHOT"
echo "browser test took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
