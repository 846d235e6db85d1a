#!/usr/bin/env bash
# The suite as two pytest processes at once, each with its own PostgreSQL and RabbitMQ: the
# stack suites (they run Chorus's services, a browser or Prometheus as processes and spend most
# of their time waiting on them) beside everything else. Both always run to the end; the run
# fails if either failed. The stack suites' report is printed after the rest's, and kept in
# .run/stack-suites.log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Chosen by measured duration (`pytest --durations`, a loaded run of 81 min): about 2,200 s of
# the 4,840, the fault matrix, the SIGKILL suite, the schema fuzzing, the Prometheus and the
# browser tests; the rest, with the Bluesky network's tests last, about 2,600 s.
STACK_SUITES=(
  tests/integration/test_fault_matrix.py
  tests/integration/test_end_to_end.py
  tests/integration/test_schema_fuzzing.py
  tests/integration/test_dashboards_prometheus.py
  tests/integration/test_colleague_page_browser.py
)

mkdir -p .run
log=.run/stack-suites.log
ignores=()
for suite in "${STACK_SUITES[@]}"; do
  [ -f "$suite" ] || { echo "scripts/test.sh: $suite is listed but missing" >&2; exit 2; }
  ignores+=("--ignore=$suite")
done

"$PY" -m pytest -q -p no:cacheprovider "${STACK_SUITES[@]}" >"$log" 2>&1 &
stack_pid=$!
# Interrupted (Ctrl-C, CI's timeout): the stack suites stop too, their servers with them.
trap 'kill -INT "$stack_pid" 2>/dev/null; wait "$stack_pid"; exit 130' INT TERM

"$PY" -m pytest -q -p no:cacheprovider "${ignores[@]}"
rest=$?
wait "$stack_pid"
stack=$?
trap - INT TERM

echo
echo "== the stack suites (${STACK_SUITES[*]##*/}), run beside the rest:"
cat "$log"
if [ "$rest" -ne 0 ] || [ "$stack" -ne 0 ]; then
  echo "FAILED: the rest exited $rest, the stack suites $stack" >&2
  exit 1
fi
