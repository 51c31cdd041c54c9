-- Actual units (实有单位: employers, shops, hotels, homestays) at a standard address, with the
-- people they employ or host; and for a housing unit its owner, landlord and sub-landlord
-- (二房东) chain and its rental contracts.
CREATE TABLE establishments (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    address_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    credit_code TEXT,
    contact_name TEXT NOT NULL,
    contact_phone_ct TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, address_id) REFERENCES addresses (district_code, id)
);
CREATE INDEX establishments_address ON establishments (district_code, address_id);
CREATE INDEX establishments_grid ON establishments (district_code, grid_code);

CREATE TABLE establishment_people (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    establishment_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    relation TEXT NOT NULL,
    from_date TEXT NOT NULL,
    to_date TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, establishment_id) REFERENCES establishments (district_code, id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id)
);
CREATE INDEX establishment_people_establishment ON establishment_people (district_code, establishment_id);
CREATE INDEX establishment_people_person ON establishment_people (district_code, person_id);

CREATE TABLE housing_parties (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    unit_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    id_number_ct TEXT,
    phone_ct TEXT,
    since TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, unit_id) REFERENCES housing_units (district_code, id)
);
CREATE INDEX housing_parties_unit ON housing_parties (district_code, unit_id);

-- person_id is the tenant.
CREATE TABLE rental_contracts (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    unit_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    filed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, unit_id) REFERENCES housing_units (district_code, id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id)
);
CREATE INDEX rental_contracts_unit ON rental_contracts (district_code, unit_id);
CREATE INDEX rental_contracts_person ON rental_contracts (district_code, person_id);
