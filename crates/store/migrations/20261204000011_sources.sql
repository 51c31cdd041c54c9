-- Outside sources (外部数据源): lists other departments send, each a named, versioned delivery
-- with its provenance. Their records are evidence for comparison (rule R7) only: a record
-- enters the registry when a person accepts it, never by itself.
CREATE TABLE sources (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    department TEXT NOT NULL,
    version BIGINT NOT NULL,
    received_on TEXT NOT NULL,
    -- A person's account or a machine account (its login says which).
    imported_by BIGINT NOT NULL,
    imported_by_login TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    records BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE UNIQUE INDEX sources_version ON sources (district_code, name, version);

CREATE TABLE source_records (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    source_id BIGINT NOT NULL,
    record_no TEXT NOT NULL,
    event TEXT NOT NULL,
    event_date TEXT,
    id_kind TEXT,
    id_number_ct TEXT,
    id_number_bidx TEXT,
    name TEXT NOT NULL,
    gender TEXT,
    birth_date TEXT,
    nationality TEXT NOT NULL,
    phone_ct TEXT,
    phone_bidx TEXT,
    -- Whereabouts are sensitive: the address is sealed; the unit it names here is kept clear,
    -- as a residence's is, for the rules.
    address_ct TEXT,
    unit_id BIGINT,
    grid_code TEXT,
    -- What the comparison job matched: the person, how (id, linkage) and why.
    person_id BIGINT,
    match_kind TEXT NOT NULL,
    match_detail TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by BIGINT,
    decided_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE UNIQUE INDEX source_records_no ON source_records (district_code, source_id, record_no);

-- Background work (comparison with a source) and its progress, so that a page or another
-- department's system can follow it, and a restart resumes it.
CREATE TABLE jobs (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    done BIGINT NOT NULL,
    total BIGINT NOT NULL,
    message TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX jobs_state ON jobs (state, created_at);

-- Machine accounts: another department's system, with its own token (only its SM3 digest is
-- kept) and scopes, limited to an org subtree like a person's account.
CREATE TABLE machine_accounts (
    id BIGINT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    department TEXT NOT NULL,
    org_code TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    disabled BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX source_records_person ON source_records (district_code, person_id);
