#!/usr/bin/env bash
# Comparison benchmark: R1–R7 over PEOPLE registered people and as many source records.
# Needs the database of bench/import.sh (same PEOPLE) in WARDBOOK_BENCH_DIR. Generates a
# department's list about that district with its truth, receives and compares it (the source
# job, from the CLI), scores R7 against the truth, then times `check --all` for R1–R7 (first
# run, which writes the flags, and a rerun) and R8 alone.
# Usage: WARDBOOK_BENCH_DIR=/tmp/wardbook-bench.X bench/compare.sh [PEOPLE]
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-1000000}
WORK=${WARDBOOK_BENCH_DIR:?set WARDBOOK_BENCH_DIR to the directory of bench/import.sh}
cargo build --release --quiet
cargo build --release --quiet -p wardbook-gen --example source_csv
BIN=target/release/wardbook
export WARDBOOK_MASTER_KEY_FILE="$WORK/master.key" WARDBOOK_LOG=error
DB="$WORK/compare.db"
rm -f "$DB" "$DB-wal" "$DB-shm"
cp "$WORK/bench.db" "$DB"
target/release/examples/source_csv "$PEOPLE" "$PEOPLE" "$WORK/source.csv" "$WORK/source_truth.csv"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "receive and compare the source:"
/usr/bin/time -f "  %e s wall, %U s user, %S s sys, peak RSS %M KiB" $BIN --database-url "$DB" source import "$WORK/source.csv" \
  --name 公安流动人口 --department police --received-on 2026-12-01 --district 110105 2> >(grep -v '^row ' >&2)
python3 bench/r7_eval.py "$DB" "$WORK/source_truth.csv"
sqlite3 "$DB" "DELETE FROM flags"
for label in "R1–R7, first run" "R1–R7, rerun"; do
  echo "check --all --rules R1..R7 ($label):"
  /usr/bin/time -f "  %e s wall, %U s user, %S s sys, peak RSS %M KiB" $BIN --database-url "$DB" check --all --district 110105 --rules R1,R2,R3,R4,R5,R6,R7
done
echo "check --all --rules R8:"
/usr/bin/time -f "  %e s wall, %U s user, %S s sys, peak RSS %M KiB" $BIN --database-url "$DB" check --all --district 110105 --rules R8
