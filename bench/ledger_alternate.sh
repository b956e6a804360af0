#!/bin/bash
# Alternate the pipeline and intake benches between a base checkout (BASE_DIR, e.g. `git archive <commit>` extracted
# with .venv linked) and this one (HERE), three runs each, emptying the ledger tables before each run.
# Usage: BASE_DIR=/tmp/ledger-base bench/ledger_alternate.sh   (results in var/bench/alternate/)
export BENCH_REDIS_BROKER_DB=3 BENCH_REDIS_CACHE_DB=4
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$HERE/var/bench/alternate
mkdir -p $OUT
truncate_ledger() {
  psql -h 127.0.0.1 -U postgres "$1" -qc "TRUNCATE ledger_entry, ledger_journaltransaction, ledger_dailybalance, ledger_balanceshard, ledger_floatcheck, ledger_fundingrequest CASCADE" || true
}
for i in 1 2 3; do
  for side in base mine; do
    if [ $side = base ]; then dir=${BASE_DIR:?set BASE_DIR}; else dir=$HERE; fi
    cd $dir
    truncate_ledger bench_ledger_pipe
    echo "== pipeline $side run $i $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    BENCH_DB=bench_ledger_pipe timeout 900 .venv/bin/python bench/payout_pipeline.py --payouts 2000 --threads 4 --timeout 400 > $OUT/pipeline-$side-$i.log 2>&1
    cp var/bench/payout_pipeline.json $OUT/pipeline-$side-$i.json 2>/dev/null
    grep -iE "payouts/s|floor|ratio" $OUT/pipeline-$side-$i.log | tail -4
  done
  for side in base mine; do
    if [ $side = base ]; then dir=${BASE_DIR:?set BASE_DIR}; else dir=$HERE; fi
    cd $dir
    truncate_ledger bench_ledger_cb
    echo "== intake $side run $i $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    BENCH_DB=bench_ledger_cb BENCH_REDIS_BROKER_DB=6 timeout 900 .venv/bin/python bench/callback_intake.py --payouts 2000 --open-seconds 5 > $OUT/intake-$side-$i.log 2>&1
    cp var/bench/callback_intake.json $OUT/intake-$side-$i.json 2>/dev/null
    tail -6 $OUT/intake-$side-$i.log
  done
done
echo DONE $(date +%T)
