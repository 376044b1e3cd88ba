#!/usr/bin/env bash
# The advisory audit (issue 18), run by .github/workflows/audit.yml and by hand the same way:
# pip-audit on each Python lock in versions/ (the hub's and the notebook image's packages) and
# npm audit on package-lock.json, each writing a JSON report, then scripts/advisory-verdict.ts,
# which decides: it fails on any advisory that versions/accepted-advisories.yaml does not accept
# (or accepts past its expiry) and on any package a report could not audit.
#
#   bash scripts/advisory-audit.sh [report folder]
#
# Needs pip-audit on PATH (the workflow pins its version), npm, and the npm dependencies installed
# (npm ci) for the verdict. The tools' exit codes are not the verdict: pip-audit exits 1 both on a
# finding and on a failure, and exits 0 when it could reach no advisory service and skipped every
# package; the verdict reads what the reports say, and a report that is missing fails it.
set -euo pipefail
reports=$(realpath -m "${1:-$(mktemp -d)}")
cd "$(dirname "$0")/.."

mkdir -p "$reports"
# A report left from an earlier run must not stand in for one this run failed to write.
rm -f "$reports"/pip-audit-*.json "$reports/npm-audit.json" "$reports/verdict.txt"

verdict_args=(--accepted versions/accepted-advisories.yaml)
for lock in versions/*.lock; do
  report="$reports/pip-audit-$(basename "$lock" .lock).json"
  # The locks are pip-compile output with every package pinned and hashed: audit them as they are
  # (--disable-pip: no resolver, no install; --require-hashes: every requirement must carry hashes,
  # which the PyPI service also checks against the files PyPI serves). --desc off: the verdict
  # needs ids, aliases and fix versions only.
  echo "pip-audit $lock"
  pip-audit --requirement "$lock" --require-hashes --disable-pip --vulnerability-service pypi \
    --format json --aliases on --desc off --progress-spinner off --output "$report" ||
    echo "pip-audit exited $? on $lock (the verdict reads its report)"
  verdict_args+=(--pip "$lock=$report")
done

# --package-lock-only: the tree package-lock.json describes, whatever node_modules holds.
echo "npm audit package-lock.json"
npm audit --json --package-lock-only >"$reports/npm-audit.json" ||
  echo "npm audit exited $? (the verdict reads its report)"
verdict_args+=(--npm "package-lock.json=$reports/npm-audit.json")

echo "reports in $reports"
status=0
node --import tsx scripts/advisory-verdict.ts "${verdict_args[@]}" >"$reports/verdict.txt" || status=$?
cat "$reports/verdict.txt"
# In GitHub Actions, the verdict on the run's summary page too.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  { echo '```'; cat "$reports/verdict.txt"; echo '```'; } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
