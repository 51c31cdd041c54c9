-- Foreigners' accommodation registrations (境外人员住宿登记), due 24 h after arrival.
CREATE TABLE accommodation_registrations (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    unit_id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    arrived_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    filed_at BIGINT,
    entry_date TEXT NOT NULL,
    visa_kind TEXT NOT NULL,
    visa_number_ct TEXT,
    visa_expiry TEXT NOT NULL,
    departure_date TEXT,
    host_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id),
    FOREIGN KEY (district_code, unit_id) REFERENCES housing_units (district_code, id)
);
CREATE INDEX accommodation_open ON accommodation_registrations (district_code, filed_at, due_at);
CREATE INDEX accommodation_person ON accommodation_registrations (district_code, person_id);
