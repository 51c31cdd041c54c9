#!/usr/bin/env python3
"""Scores rule R7 against the generator's truth: which source records the flags name, per kind
of injected disagreement and near miss. Usage: bench/r7_eval.py DB.sqlite TRUTH.csv"""
import csv, json, sqlite3, sys

db, truth_path = sys.argv[1], sys.argv[2]
truth = {r["record_id"]: r for r in csv.DictReader(open(truth_path, encoding="utf-8"))}
con = sqlite3.connect(db)
# The latest version of each source is what R7 reads.
ids = dict(con.execute(
    "SELECT r.id, r.record_no FROM source_records r JOIN sources s ON s.district_code = r.district_code AND s.id = r.source_id "
    "WHERE s.version = (SELECT MAX(version) FROM sources l WHERE l.district_code = s.district_code AND l.name = s.name)"))
flagged = set()
for (evidence,) in con.execute("SELECT evidence FROM flags WHERE rule = 'R7'"):
    for e in json.loads(evidence):
        if e["table"] == "source_records" and e["id"] in ids:
            flagged.add(ids[e["id"]])
stored = set(ids.values())
kinds = {}
for no, t in truth.items():
    if no not in stored:
        continue  # rejected at receipt (reported by the import)
    k = kinds.setdefault(t["kind"], [0, 0, t["r7"] == "1"])
    k[0] += 1
    k[1] += no in flagged
tp = sum(v[1] for v in kinds.values() if v[2])
fn = sum(v[0] - v[1] for v in kinds.values() if v[2])
fp = sum(v[1] for v in kinds.values() if not v[2])
print(f"{'kind':<24}{'records':>10}{'flagged':>10}  R7 must")
for k, (n, f, must) in sorted(kinds.items()):
    print(f"{k:<24}{n:>10}{f:>10}  {'fire' if must else 'not fire'}")
p = tp / (tp + fp) if tp + fp else 1.0
r = tp / (tp + fn) if tp + fn else 1.0
print(f"R7: precision {p:.5f}, recall {r:.5f}, F1 {2 * p * r / (p + r) if p + r else 0:.5f} (tp {tp}, fp {fp}, fn {fn})")
