-- The consolidated registry (registry.duckdb, schema main).
-- Contract tables: person, source_record, household_member, match_link,
-- pin_event, quarantine, run. The others support them.

CREATE TABLE IF NOT EXISTS person (
    person_id            VARCHAR PRIMARY KEY,  -- stable internal key (pending persons have no PIN)
    pin                  VARCHAR UNIQUE,       -- 12 digits; null while pending
    status               VARCHAR NOT NULL,     -- active / retired / pending
    merged_into_pin      VARCHAR,              -- for retired PINs: the PIN that survived
    family_name          VARCHAR,
    middle_name          VARCHAR,
    given_name           VARCHAR,
    full_name            VARCHAR,
    name_source          VARCHAR,              -- record_key the name was taken from
    date_of_birth        DATE,                 -- null when not known to the day
    birth_year           INTEGER,
    birth_month          TINYINT,
    birth_day            TINYINT,
    dob_precision        VARCHAR,              -- day / month / year / unknown
    dob_source           VARCHAR,              -- record_key the birth date was taken from
    sex                  VARCHAR,              -- M / F / null
    birth_province_code  VARCHAR,
    ethnicity            VARCHAR,
    pending_reason       VARCHAR,
    address              VARCHAR,              -- most recent address
    address_province_code VARCHAR,             -- province whose register holds it
    address_source       VARCHAR,              -- record_key the address was taken from
    record_count         INTEGER NOT NULL,
    first_batch_id       VARCHAR NOT NULL,
    last_batch_id        VARCHAR NOT NULL
);

-- Registries created before these columns existed get them here.
ALTER TABLE person ADD COLUMN IF NOT EXISTS address VARCHAR;
ALTER TABLE person ADD COLUMN IF NOT EXISTS address_province_code VARCHAR;
ALTER TABLE person ADD COLUMN IF NOT EXISTS address_source VARCHAR;

CREATE TABLE IF NOT EXISTS source_record (
    record_key           VARCHAR PRIMARY KEY,  -- province_code || ':' || local_id
    province_code        VARCHAR NOT NULL,
    local_id             VARCHAR NOT NULL,
    person_id            VARCHAR NOT NULL,
    pin                  VARCHAR,              -- null while pending
    batch_id             VARCHAR NOT NULL,
    source_file          VARCHAR NOT NULL,
    source_sheet         VARCHAR,
    source_row           BIGINT NOT NULL,
    source_encoding      VARCHAR,
    household_id         VARCHAR,
    relation_to_head     VARCHAR,
    full_name            VARCHAR,
    family_name          VARCHAR,
    middle_name          VARCHAR,
    given_name           VARCHAR,
    other_name           VARCHAR,
    date_of_birth        DATE,
    birth_year           INTEGER,
    birth_month          TINYINT,
    birth_day            TINYINT,
    dob_precision        VARCHAR,
    dob_placeholder      BOOLEAN,
    sex                  VARCHAR,
    birth_place          VARCHAR,
    birth_province_code  VARCHAR,
    native_place         VARCHAR,
    ethnicity            VARCHAR,
    religion             VARCHAR,
    nationality          VARCHAR,
    id_number            VARCHAR,
    occupation           VARCHAR,
    address              VARCHAR,
    father_name          VARCHAR,
    mother_name          VARCHAR,
    residence_type       VARCHAR,
    registered_on        DATE,
    flaws                VARCHAR,
    extras               VARCHAR,
    UNIQUE (province_code, local_id)
);

CREATE TABLE IF NOT EXISTS household_member (
    province_code        VARCHAR NOT NULL,
    household_id         VARCHAR NOT NULL,
    record_key           VARCHAR NOT NULL,
    person_id            VARCHAR NOT NULL,
    pin                  VARCHAR,
    relation_to_head     VARCHAR
);

CREATE TABLE IF NOT EXISTS match_link (
    record_key_l         VARCHAR NOT NULL,
    record_key_r         VARCHAR NOT NULL,
    province_code_l      VARCHAR NOT NULL,
    local_id_l           VARCHAR NOT NULL,
    province_code_r      VARCHAR NOT NULL,
    local_id_r           VARCHAR NOT NULL,
    match_weight         DOUBLE,
    match_probability    DOUBLE,
    decision             VARCHAR NOT NULL,     -- link / review / non_link
    decided_by           VARCHAR NOT NULL,     -- model / rule:<name> / reviewer:<name>
    explanation          VARCHAR,              -- JSON: per comparison, level and weight
    batch_id             VARCHAR NOT NULL,
    PRIMARY KEY (record_key_l, record_key_r)
);

CREATE TABLE IF NOT EXISTS pin_event (
    event_id             BIGINT PRIMARY KEY,
    event                VARCHAR NOT NULL,     -- issued / merged / split / retired / cancelled
    pin                  VARCHAR NOT NULL,
    other_pin            VARCHAR,
    person_id            VARCHAR,
    batch_id             VARCHAR NOT NULL,
    "at"                 TIMESTAMP NOT NULL,
    reason               VARCHAR,
    chain_seq            BIGINT UNIQUE,        -- audit chain (pipelines/warehouse/audit.py)
    prev_mac             VARCHAR,
    mac                  VARCHAR
);

CREATE TABLE IF NOT EXISTS pin_serial (
    prefix               VARCHAR PRIMARY KEY,  -- first six digits
    issued               INTEGER NOT NULL      -- serials drawn so far (never reused)
);

CREATE TABLE IF NOT EXISTS quarantine (
    batch_id             VARCHAR NOT NULL,
    province_code        VARCHAR,
    source_file          VARCHAR NOT NULL,
    source_sheet         VARCHAR,
    source_row           BIGINT,               -- null when the whole file is quarantined
    reason               VARCHAR NOT NULL,
    original_text        VARCHAR
);

CREATE TABLE IF NOT EXISTS ingest_file (
    batch_id             VARCHAR NOT NULL,
    province_code        VARCHAR NOT NULL,
    source_file          VARCHAR NOT NULL,
    source_encoding      VARCHAR,
    rows_read            BIGINT NOT NULL,
    rows_loaded          BIGINT NOT NULL,
    rows_quarantined     BIGINT NOT NULL,
    rows_skipped         BIGINT NOT NULL,
    PRIMARY KEY (batch_id, source_file)
);

CREATE TABLE IF NOT EXISTS match_model (
    batch_id             VARCHAR PRIMARY KEY,
    parameters           VARCHAR NOT NULL      -- JSON of the fitted Fellegi-Sunter model
);

CREATE TABLE IF NOT EXISTS run (
    run_id               VARCHAR PRIMARY KEY,
    batch_id             VARCHAR NOT NULL,
    started_at           TIMESTAMP NOT NULL,
    ended_at             TIMESTAMP NOT NULL,
    status               VARCHAR NOT NULL,     -- loaded
    rows_read            BIGINT NOT NULL,
    rows_loaded          BIGINT NOT NULL,
    rows_quarantined     BIGINT NOT NULL,
    rows_skipped         BIGINT NOT NULL,
    persons_total        BIGINT NOT NULL,
    persons_new          BIGINT NOT NULL,
    persons_merged       BIGINT NOT NULL,
    pins_issued          BIGINT NOT NULL,
    persons_pending      BIGINT NOT NULL,
    versions             VARCHAR NOT NULL,     -- JSON: dancu and library versions
    batch_fingerprint    VARCHAR NOT NULL,     -- digest of the batch's files
    chain_seq            BIGINT UNIQUE,        -- audit chain
    prev_mac             VARCHAR,
    mac                  VARCHAR
);

-- Where the batch's model came from: fitted on its records, the registry's
-- last accepted model (registry:<batch_id>), the default shipped with dancu.
ALTER TABLE run ADD COLUMN IF NOT EXISTS model_source VARCHAR;

CREATE TABLE IF NOT EXISTS province (
    code                 VARCHAR PRIMARY KEY,  -- 3-digit code, digits 1-3 of a PIN
    name                 VARCHAR NOT NULL,
    name_ascii           VARCHAR NOT NULL,
    region_en            VARCHAR
);

-- The schema this registry was last brought up to (digest of registry.sql,
-- views.sql and comments.csv): a connection skips the DDL when it matches.
CREATE TABLE IF NOT EXISTS schema_version (
    digest               VARCHAR NOT NULL
);

-- Reviewers' decisions (issues 12 and 13). Append-only: no row is ever
-- updated or deleted. A later decision on a pair supersedes the earlier one
-- (supersedes = its decision_id); the audit chain hashes the rows in
-- decision_id order. A decision on a pair that was not in the review queue
-- (queued = false) is in force only once a second reviewer confirms it.
CREATE TABLE IF NOT EXISTS review_decision (
    decision_id          BIGINT PRIMARY KEY,   -- 1, 2, 3... in the order decided
    record_key_l         VARCHAR NOT NULL,
    record_key_r         VARCHAR NOT NULL,
    verdict              VARCHAR NOT NULL,     -- same / different / unsure
    reviewer             VARCHAR NOT NULL,     -- authenticated user: OS user or workspace login
    decided_at           TIMESTAMP NOT NULL,
    note                 VARCHAR,              -- required when queued is false
    supersedes           BIGINT,               -- the pair's previous decision, if any
    queued               BOOLEAN NOT NULL,     -- the pair was in the review queue when decided
    chain_seq            BIGINT UNIQUE,        -- audit chain
    prev_mac             VARCHAR,
    mac                  VARCHAR,
    CHECK (record_key_l < record_key_r),
    CHECK (verdict IN ('same', 'different', 'unsure'))
);

-- What became of a decision, append-only like review_decision: a second
-- reviewer confirmed it, or it was applied to the register (with pin_events
-- naming decision_id). One row per decision and action.
CREATE TABLE IF NOT EXISTS review_action (
    decision_id          BIGINT NOT NULL,      -- review_decision.decision_id
    action               VARCHAR NOT NULL,     -- confirmed / applied
    actor                VARCHAR NOT NULL,     -- confirming reviewer; user or batch that applied
    "at"                 TIMESTAMP NOT NULL,
    batch_id             VARCHAR,              -- applied: the batch_id of its pin_events
    chain_seq            BIGINT UNIQUE,        -- audit chain
    prev_mac             VARCHAR,
    mac                  VARCHAR,
    PRIMARY KEY (decision_id, action),
    CHECK (action IN ('confirmed', 'applied'))
);

-- A merge or split made by applying a reviewer's decision names it (issue 13).
ALTER TABLE pin_event ADD COLUMN IF NOT EXISTS decision_id BIGINT;

CREATE TABLE IF NOT EXISTS registry_meta (
    name                 VARCHAR PRIMARY KEY,  -- pin_key_check / audit_key_check / pin_scheme
    value                VARCHAR NOT NULL
);
