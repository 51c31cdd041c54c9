#!/usr/bin/env bash
# Linkage benchmark (issue: Comparison, R8): N records in list A against N in list B from the
# generator (typos, homophones, traditional forms, pinyin, swapped dates, missing IDs, several
# corruptions at once, foreign word order; twins, family members and strangers that must not
# link), linked by `wardbook link`, scored against the truth. Usage: bench/link.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
WORK=${WARDBOOK_BENCH_DIR:-$(mktemp -d /tmp/wardbook-link.XXXXXX)}
cargo build --release --quiet
cargo build --release --quiet -p wardbook-gen --example linkage_csv --example link_eval
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
[ -f "$WORK/a.csv" ] || target/release/examples/linkage_csv "$N" "$WORK"
echo "lists: $(($(wc -l < "$WORK/a.csv") - 1)) + $(($(wc -l < "$WORK/b.csv") - 1)) records"
/usr/bin/time -f "wall %e s, user %U s, system %S s, peak RSS %M KiB" \
  target/release/wardbook link "$WORK/a.csv" "$WORK/b.csv" --out "$WORK/pairs.csv" --review-out "$WORK/review.csv"
target/release/examples/link_eval "$WORK" "$WORK/pairs.csv"
