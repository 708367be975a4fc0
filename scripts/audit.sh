#!/usr/bin/env bash
# Dependency audit of the production set of uv.lock (no dev or generator packages)
# against OSV advisories: api.osv.dev, or an internal OSV mirror named by DANCU_OSV_URL.
# Exit 1 on a known vulnerability. Where the advisory service cannot be reached it prints
# "dependency audit: NOT RUN" and exits 0, so an offline CI still passes but its log never
# claims a clean audit. (pip-audit is not used: where only the package index is reachable it
# skips every package and still prints "No known vulnerabilities found".)
#   usage: scripts/audit.sh [UV]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
uv=${1:-.uv-bootstrap/bin/uv}
args=(audit --frozen --no-dev --no-group synth --preview-features audit-command)
[[ -n "${DANCU_OSV_URL:-}" ]] && args+=(--service-url "$DANCU_OSV_URL")
out=$("$uv" "${args[@]}" 2>&1); rc=$?
case $rc in
  0) echo "dependency audit: passed: $(grep -m1 -iE 'found|no known' <<<"$out")"; exit 0 ;;
  1) echo "$out"; echo "dependency audit: FAILED (known vulnerabilities above)"; exit 1 ;;
  *) if grep -qiE 'dns error|error sending request|connect|timed out|Request failed' <<<"$out"; then
       echo "dependency audit: NOT RUN - the advisory service (${DANCU_OSV_URL:-api.osv.dev}) cannot be reached from here"
       echo "  ($(grep -m1 -i 'cause: error sending request' <<<"$out" | sed 's/^ *//'))"
       exit 0
     fi
     echo "$out"; echo "dependency audit: ERROR (exit $rc)"; exit "$rc" ;;
esac
