-- One person, one code: two records found to be the same person are merged. The absorbed
-- record stays (marked), its residences, registrations and clues move to the kept one, and the
-- merge records exactly what moved, so that it can be undone.
ALTER TABLE people ADD COLUMN merged_into BIGINT;

CREATE TABLE person_merges (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    kept_id BIGINT NOT NULL,
    absorbed_id BIGINT NOT NULL,
    moved TEXT NOT NULL,
    reason TEXT NOT NULL,
    merged_by BIGINT NOT NULL,
    merged_at BIGINT NOT NULL,
    undone_by BIGINT,
    undone_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX person_merges_people ON person_merges (district_code, kept_id, absorbed_id);
