#!/usr/bin/env bash
# Proves that each regression test catches its bug: for every line of
# cases.txt (patch, package, test regexp), apply the patch (a deliberate
# bug), run the test and expect it to FAIL, revert, run it again and expect
# it to PASS. Prints the failure line each bug produced.
#
# Usage: docs/regressions/prove.sh [name-filter]
# Run from a clean tree; the patches are against the tree they were written
# for (see docs/regressions.md) and may need refreshing after refactors.
# Not part of `make test`: it rebuilds and reruns tests once per bug.
set -euo pipefail
cd "$(dirname "$0")/../.."
filter=${1:-}
if [[ -n "$(git status --porcelain -- '*.go')" ]]; then
	echo "prove.sh: uncommitted Go changes; run it on a clean tree" >&2
	exit 2
fi
status=0
while read -r patch pkg run; do
	[[ -z "$patch" || "$patch" == \#* ]] && continue
	[[ -n "$filter" && "$patch" != *"$filter"* ]] && continue
	git apply "docs/regressions/$patch"
	out=$(go test -count=1 -run "$run" "$pkg" 2>&1) && rc=0 || rc=$?
	git apply -R "docs/regressions/$patch"
	line=$(grep -E '^\s+[a-z_]+_test\.go:[0-9]+: ' <<<"$out" | grep -v 'process.go\|helpers_test.go' | head -1 | sed -E 's/^\s+//')
	if [[ $rc -eq 0 ]]; then
		echo "NOT CAUGHT $patch: $run passed with the bug"
		status=1
		continue
	fi
	if clean=$(go test -count=1 -run "$run" "$pkg" 2>&1); then
		echo "caught     $patch by $run: $line"
	else
		echo "FLAKY?     $patch: $run fails without the bug too:"
		grep -E '^\s+[a-z_]+_test\.go:[0-9]+: ' <<<"$clean" | grep -v 'process.go\|helpers_test.go' | head -3
		status=1
	fi
done <docs/regressions/cases.txt
exit $status
