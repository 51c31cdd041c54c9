-- Patrols, tips and the clue workflow (1 h / 4 h / 24 h). Same rules as before: TEXT and BIGINT
-- only, district_code first in every key. grid_key is the grid's code as a number so that
-- "everything under this org node" is an index range scan on both backends.

CREATE TABLE weather_alerts (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    note TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX weather_alerts_ends ON weather_alerts (district_code, ends_at);

CREATE TABLE patrols (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX patrols_grid_day ON patrols (district_code, grid_code, started_at);
CREATE INDEX patrols_account ON patrols (district_code, account_id, ended_at);

CREATE TABLE patrol_visits (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    patrol_id BIGINT NOT NULL,
    unit_id BIGINT NOT NULL,
    documents_seen BIGINT NOT NULL,
    occupants_match BIGINT NOT NULL,
    notes TEXT NOT NULL,
    visited_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, patrol_id) REFERENCES patrols (district_code, id),
    FOREIGN KEY (district_code, unit_id) REFERENCES housing_units (district_code, id)
);
CREATE INDEX patrol_visits_patrol ON patrol_visits (district_code, patrol_id);
CREATE INDEX patrol_visits_unit ON patrol_visits (district_code, unit_id);

-- Photos may show people: sealed like any personal data, bound to their row.
CREATE TABLE patrol_photos (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    visit_id BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes_ct TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, visit_id) REFERENCES patrol_visits (district_code, id)
);
CREATE INDEX patrol_photos_visit ON patrol_photos (district_code, visit_id);

-- A tip keeps nothing of an anonymous reporter: no source address, no account. The receipt
-- code is shown once; only its SM3 digest is kept.
CREATE TABLE tips (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    receipt_hash TEXT NOT NULL,
    community_code TEXT NOT NULL,
    channel TEXT NOT NULL,
    what TEXT NOT NULL,
    address TEXT NOT NULL,
    happened_at BIGINT,
    entered_by BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE UNIQUE INDEX tips_receipt ON tips (district_code, receipt_hash);

-- A named reporter's contact, stored apart from the tip and sealed; `id` is the tip's id.
-- Shown to police roles only, never exported.
CREATE TABLE tip_reporters (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    contact_ct TEXT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, id) REFERENCES tips (district_code, id)
);

CREATE TABLE drills (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    name TEXT NOT NULL,
    started_by BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (district_code, id)
);

CREATE TABLE clues (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    grid_code TEXT NOT NULL,
    grid_key BIGINT NOT NULL,
    source TEXT NOT NULL,
    tip_id BIGINT,
    unit_id BIGINT,
    person_id BIGINT,
    summary TEXT NOT NULL,
    warning TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_due_at BIGINT,
    overdue BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    closed_at BIGINT,
    red_report_due_at BIGINT,
    red_reported_at BIGINT,
    drill_id BIGINT,
    created_by BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX clues_inbox ON clues (district_code, stage, grid_key, stage_due_at);
CREATE INDEX clues_tip ON clues (district_code, tip_id);
CREATE INDEX clues_received ON clues (district_code, grid_key, received_at);

-- The timeline of a clue: every step, by whom, when. Never updated.
CREATE TABLE clue_events (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    clue_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    account_id BIGINT,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX clue_events_clue ON clue_events (district_code, clue_id, at);

CREATE TABLE clue_outcomes (
    district_code TEXT NOT NULL,
    clue_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (district_code, clue_id, outcome)
);

-- Every running deadline of a clue (its stage, a red warning's report). The scheduler sleeps
-- until the earliest pending one; a restart finds the missed ones in the same index.
CREATE TABLE clue_deadlines (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    clue_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    fired_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX clue_deadlines_pending ON clue_deadlines (due_at) WHERE state = 'pending';
CREATE INDEX clue_deadlines_clue ON clue_deadlines (district_code, clue_id);

-- Escalations, addressed to a role at an org node; cleared when the clue moves on.
CREATE TABLE notifications (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    role TEXT NOT NULL,
    clue_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    cleared_at BIGINT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX notifications_open ON notifications (district_code, role, cleared_at, org_code);
CREATE INDEX notifications_clue ON notifications (district_code, clue_id);

CREATE TABLE disposal_reports (
    district_code TEXT NOT NULL,
    clue_id BIGINT NOT NULL,
    timeline TEXT NOT NULL,
    actions TEXT NOT NULL,
    outcome TEXT NOT NULL,
    lessons TEXT NOT NULL,
    updated_by BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, clue_id)
);

-- People a clue found may be victims of trafficking or exploitation: hidden from every role
-- but the police ones while protection runs.
CREATE TABLE protected_people (
    district_code TEXT NOT NULL,
    person_id BIGINT NOT NULL,
    clue_id BIGINT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (district_code, person_id)
);

-- Clues handed to police, waiting to be pushed to a dispatch system. Written in the same
-- transaction as the step, sent later by a worker, so the request never waits on the network.
CREATE TABLE webhook_outbox (
    district_code TEXT NOT NULL,
    id BIGINT NOT NULL,
    clue_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL;
