-- Saved column mappings for ledgers that arrive in the same shape again.
CREATE TABLE import_templates (
    district_code TEXT NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, name)
);
