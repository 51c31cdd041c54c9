-- One schema for SQLite and PostgreSQL: only TEXT and BIGINT columns, ids made by the application.
-- Every tenant table keys on district_code first, the distribution column for a sharded PostgreSQL.

CREATE TABLE org_nodes (
    district_code TEXT NOT NULL,
    code TEXT NOT NULL,
    parent_code TEXT,
    level TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (district_code, code)
);
CREATE INDEX org_nodes_parent ON org_nodes (district_code, parent_code);

CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    org_code TEXT NOT NULL,
    district_code TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL,
    password_expires_at BIGINT,
    password_changed_at BIGINT NOT NULL,
    lang TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    locked_until BIGINT,
    totp_secret TEXT,
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE login_failures (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account_id, at);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    csrf_token TEXT NOT NULL,
    stage TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE addresses (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    road TEXT NOT NULL,
    number TEXT NOT NULL,
    building TEXT NOT NULL,
    normalized TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, grid_code) REFERENCES org_nodes (district_code, code)
);
CREATE INDEX addresses_grid ON addresses (district_code, grid_code);
-- Natural key: imports and forms find the same building again instead of adding it twice.
CREATE UNIQUE INDEX addresses_natural ON addresses (district_code, grid_code, normalized);

CREATE TABLE housing_units (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    address_id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    unit TEXT NOT NULL,
    floor BIGINT,
    room TEXT NOT NULL,
    kind TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, address_id) REFERENCES addresses (district_code, id)
);
CREATE INDEX housing_units_address ON housing_units (district_code, address_id);
CREATE INDEX housing_units_grid ON housing_units (district_code, grid_code);
CREATE UNIQUE INDEX housing_units_natural ON housing_units (district_code, address_id, unit, room);

-- Sensitive numbers are stored only sealed (*_ct: SM4-GCM or AES-256-GCM, bound to table,
-- column and row) with a keyed blind index (*_bidx: HMAC-SM3) for exact look-up.
CREATE TABLE people (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    name TEXT NOT NULL,
    gender TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    category TEXT NOT NULL,
    id_kind TEXT NOT NULL,
    id_number_ct TEXT NOT NULL,
    id_number_bidx TEXT NOT NULL,
    id_last4 TEXT NOT NULL,
    nationality TEXT NOT NULL,
    phone_ct TEXT,
    phone_bidx TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    -- The token already folds in the document kind, so it alone identifies a document.
    UNIQUE (district_code, id_number_bidx)
);
CREATE INDEX people_grid ON people (district_code, grid_code);
CREATE INDEX people_phone ON people (district_code, phone_bidx);
CREATE INDEX people_last4 ON people (district_code, id_last4);

-- Exact-match search terms of a person's name: the name, its full pinyin and its initials,
-- one row per reading where characters have several (单: dan, chan, shan).
CREATE TABLE person_terms (
    district_code TEXT NOT NULL,
    term TEXT NOT NULL,
    person_id BIGINT NOT NULL,
    PRIMARY KEY (district_code, term, person_id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id)
);

-- Data keys, each wrapped (sealed) under the operator's master key, which the database never holds.
CREATE TABLE data_keys (
    id BIGINT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE residences (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    unit_id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    from_date TEXT NOT NULL,
    to_date TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id),
    FOREIGN KEY (district_code, unit_id) REFERENCES housing_units (district_code, id)
);
CREATE INDEX residences_unit ON residences (district_code, unit_id);
CREATE INDEX residences_grid ON residences (district_code, grid_code);
CREATE UNIQUE INDEX residences_natural ON residences (district_code, person_id, unit_id, from_date);

-- Append-only and hash-chained; not a tenant table: one chain per deployment.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    account_id BIGINT,
    login TEXT NOT NULL,
    role TEXT NOT NULL,
    org_code TEXT NOT NULL,
    source TEXT NOT NULL,
    event TEXT NOT NULL,
    object TEXT NOT NULL,
    result TEXT NOT NULL,
    purpose TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
