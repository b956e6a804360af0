#!/bin/bash
# Alternate the pipeline and intake benches between checkouts, in one sitting, so the machine's drift falls on
# every side alike. Each side is NAME=DIR (a worktree with .venv linked to this one's); each has its own
# databases (bench_alt_NAME_pipe, bench_alt_NAME_cb), and its ledger tables, where it has them, are emptied
# before each run. The order of the sides rotates each round. Results: var/bench/alternate/*.json, and one
# line per run in var/bench/alternate/summary.tsv.
# Usage: bench/alternate.sh ROUNDS NAME=DIR [NAME=DIR ...]
#   e.g. git worktree add --detach /tmp/base 40a49b7 && ln -s "$PWD/.venv" /tmp/base/.venv
#        bench/alternate.sh 5 base=/tmp/base head=$PWD
# PIPELINE_PAYOUTS (3000) and INTAKE_PAYOUTS (2000) set the sizes; every run is bounded by `timeout 900`.
set -u
ROUNDS=${1:?usage: bench/alternate.sh ROUNDS NAME=DIR [NAME=DIR ...]}
shift
SIDES=("$@")
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$HERE/var/bench/alternate
mkdir -p "$OUT"
SUMMARY=$OUT/summary.tsv
[ -f "$SUMMARY" ] || printf "round\tside\tbench\tload1\tresult\tfloor\tratio\tcpu_ms_whole\tcpu_ms_postgres\n" > "$SUMMARY"

truncate_ledger() {  # whatever ledger tables the side's schema has, but the accounts
  local tables
  tables=$(psql -h 127.0.0.1 -U postgres "$1" -Atc "SELECT string_agg(tablename, ', ') FROM pg_tables
    WHERE tablename LIKE 'ledger\_%' AND tablename <> 'ledger_account'" 2>/dev/null)
  [ -n "$tables" ] && psql -h 127.0.0.1 -U postgres "$1" -qc "TRUNCATE $tables CASCADE" >/dev/null
}

summarise() {  # round side bench json
  "$HERE/.venv/bin/python" - "$@" <<'EOF' >> "$SUMMARY"
import json, sys
rnd, side, bench, path, load = sys.argv[1:6]
try:
    data = json.load(open(path))
except (OSError, ValueError):
    print(f"{rnd}\t{side}\t{bench}\t{load}\tFAILED"); sys.exit()
if bench == "pipeline":
    run, floor = data["pipeline"], data["floor"]["tasks_per_s"]
    result, ratio = run["payouts_per_s"], data["ratio_to_floor"]
else:
    run, floor = data["first_results"], data["floor"]["req_per_s"]
    result, ratio = run["req_per_s"], data["ratio_first_to_floor"]
cpu = run.get("cpu_ms_per_payout") or run.get("cpu_ms_per_request") or {}
print(f"{rnd}\t{side}\t{bench}\t{load}\t{result}\t{floor}\t{ratio}\t{cpu.get('whole machine')}\t{cpu.get('postgres')}")
EOF
}

for round in $(seq 1 "$ROUNDS"); do
  count=${#SIDES[@]}
  for bench in pipeline intake; do
    for k in $(seq 0 $((count - 1))); do
      side=${SIDES[$(((k + round - 1) % count))]}
      name=${side%%=*}; dir=${side#*=}
      load=$(cut -d' ' -f1 /proc/loadavg)
      cd "$dir" || exit 1
      if [ "$bench" = pipeline ]; then
        db=bench_alt_${name}_pipe; truncate_ledger "$db"
        BENCH_DB=$db timeout 900 .venv/bin/python bench/payout_pipeline.py --payouts "${PIPELINE_PAYOUTS:-3000}" \
          --threads 4 --timeout 400 > "$OUT/$bench-$name-$round.log" 2>&1
        json=var/bench/payout_pipeline.json
      else
        db=bench_alt_${name}_cb; truncate_ledger "$db"
        BENCH_DB=$db timeout 900 .venv/bin/python bench/callback_intake.py --payouts "${INTAKE_PAYOUTS:-2000}" \
          --open-seconds 5 > "$OUT/$bench-$name-$round.log" 2>&1
        json=var/bench/callback_intake.json
      fi
      cp "$json" "$OUT/$bench-$name-$round.json" 2>/dev/null && rm -f "$json"
      summarise "$round" "$name" "$bench" "$OUT/$bench-$name-$round.json" "$load"
      tail -1 "$SUMMARY"
    done
  done
done
echo "DONE $(date +%T)"
