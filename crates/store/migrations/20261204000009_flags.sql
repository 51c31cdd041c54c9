-- Comparison flags: each rule hit waits for a person in the responsible grid's or community's
-- queue. evidence_key is the SM3 digest of the rule and the exact records behind the hit: a
-- dismissed flag does not come back for the same evidence.
CREATE TABLE flags (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    grid_key BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    evidence_key TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    clue_id BIGINT,
    created_at BIGINT NOT NULL,
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE UNIQUE INDEX flags_evidence ON flags (district_code, evidence_key);
CREATE INDEX flags_queue ON flags (district_code, state, grid_key);
CREATE INDEX flags_subject ON flags (district_code, subject_kind, subject_id);
