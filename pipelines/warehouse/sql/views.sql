-- Analyst views over the registry (run after registry.sql on every write
-- connection; CREATE OR REPLACE keeps them in step with the code).
-- Documented in docs/registry.md and with COMMENT ON (comments.sql).

-- Active persons by birth province, sex and birth year.
CREATE OR REPLACE VIEW population_by_province_sex_year AS
SELECT
    p.birth_province_code           AS province_code,
    pr.name                         AS province_name,
    p.sex,
    p.birth_year,
    count(*)                        AS persons
FROM person p
LEFT JOIN province pr ON pr.code = p.birth_province_code
WHERE p.status = 'active'
GROUP BY ALL;

-- One row per household (province_code, household_id), its head and size.
CREATE OR REPLACE VIEW household AS
SELECT
    hm.province_code,
    hm.household_id,
    count(DISTINCT hm.person_id)                                   AS members,
    min(p.full_name) FILTER (WHERE strip_accents(lower(trim(hm.relation_to_head))) = 'chu ho')
                                                                   AS head_full_name,
    min(hm.pin) FILTER (WHERE strip_accents(lower(trim(hm.relation_to_head))) = 'chu ho')
                                                                   AS head_pin,
    list(DISTINCT hm.pin ORDER BY hm.pin) FILTER (WHERE hm.pin IS NOT NULL) AS member_pins
FROM household_member hm
JOIN person p USING (person_id)
GROUP BY hm.province_code, hm.household_id;

-- Every member of every household with the person's golden record.
CREATE OR REPLACE VIEW household_members AS
SELECT
    hm.province_code,
    hm.household_id,
    hm.relation_to_head,
    hm.record_key,
    p.person_id,
    p.pin,
    p.status,
    p.full_name,
    p.date_of_birth,
    p.birth_year,
    p.sex
FROM household_member hm
JOIN person p USING (person_id);

-- Duplicates found, per province of the source records.
-- duplicate_records: records of a person already counted once in that province;
-- shared_persons: persons of the province with records in another province too.
CREATE OR REPLACE VIEW duplicates_by_province AS
WITH per_person AS (
    SELECT person_id, count(DISTINCT province_code) AS provinces
    FROM source_record
    GROUP BY person_id
)
SELECT
    s.province_code,
    pr.name                                               AS province_name,
    count(*)                                              AS records,
    count(DISTINCT s.person_id)                           AS persons,
    count(*) - count(DISTINCT s.person_id)                AS duplicate_records,
    count(DISTINCT s.person_id) FILTER (WHERE pp.provinces > 1) AS shared_persons
FROM source_record s
JOIN per_person pp USING (person_id)
LEFT JOIN province pr ON pr.code = s.province_code
GROUP BY s.province_code, pr.name;

-- Persons registered in more than one province, with the provinces in the
-- order of their registrations (registration date, then batch, then record).
CREATE OR REPLACE VIEW movers AS
SELECT
    p.person_id,
    p.pin,
    p.full_name,
    p.birth_year,
    count(DISTINCT s.province_code)                                         AS provinces,
    list(s.province_code ORDER BY s.registered_on NULLS LAST, s.batch_id, s.record_key)
                                                                            AS registrations,
    arg_min(s.province_code, (s.registered_on, s.batch_id, s.record_key))   AS first_province_code,
    arg_max(s.province_code, (s.registered_on, s.batch_id, s.record_key))   AS last_province_code
FROM person p
JOIN source_record s USING (person_id)
WHERE p.status <> 'retired'
GROUP BY p.person_id, p.pin, p.full_name, p.birth_year
HAVING count(DISTINCT s.province_code) > 1;

-- Flows between provinces: movers counted by first and last province.
CREATE OR REPLACE VIEW mover_flows AS
SELECT
    m.first_province_code               AS from_province_code,
    f.name                              AS from_province_name,
    m.last_province_code                AS to_province_code,
    t.name                              AS to_province_name,
    count(*)                            AS persons
FROM movers m
LEFT JOIN province f ON f.code = m.first_province_code
LEFT JOIN province t ON t.code = m.last_province_code
GROUP BY ALL;

-- Persons without a PIN because the sex or the year of birth is unknown.
CREATE OR REPLACE VIEW pending_verification AS
SELECT
    p.person_id,
    p.pending_reason,
    p.full_name,
    p.date_of_birth,
    p.birth_year,
    p.sex,
    p.birth_province_code,
    p.record_count,
    p.first_batch_id,
    p.last_batch_id,
    list(s.record_key ORDER BY s.record_key)   AS record_keys
FROM person p
JOIN source_record s USING (person_id)
WHERE p.status = 'pending'
GROUP BY ALL;

-- The decision in force on each decided pair: its latest decision that was
-- made on a queued pair or confirmed by a second reviewer.
CREATE OR REPLACE VIEW review_decision_in_force AS
SELECT
    d.decision_id,
    d.record_key_l,
    d.record_key_r,
    d.verdict,
    d.reviewer,
    d.decided_at,
    d.note,
    c.actor             AS confirmed_by,
    a."at"              AS applied_at
FROM review_decision d
LEFT JOIN review_action c ON c.decision_id = d.decision_id AND c.action = 'confirmed'
LEFT JOIN review_action a ON a.decision_id = d.decision_id AND a.action = 'applied'
WHERE d.queued OR c.decision_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY d.record_key_l, d.record_key_r ORDER BY d.decision_id DESC) = 1;

-- Pairs the model could not decide, with both records side by side, that no
-- reviewer has decided yet (a pair marked "not sure" stays, with that verdict).
CREATE OR REPLACE VIEW review_queue AS
SELECT
    m.record_key_l,
    m.record_key_r,
    m.match_probability,
    m.match_weight,
    l.full_name         AS full_name_l,
    r.full_name         AS full_name_r,
    l.date_of_birth     AS date_of_birth_l,
    r.date_of_birth     AS date_of_birth_r,
    l.birth_year        AS birth_year_l,
    r.birth_year        AS birth_year_r,
    l.sex               AS sex_l,
    r.sex               AS sex_r,
    l.pin               AS pin_l,
    r.pin               AS pin_r,
    m.explanation,
    m.batch_id,
    m.decided_by,
    d.verdict           AS last_verdict
FROM match_link m
JOIN source_record l ON l.record_key = m.record_key_l
JOIN source_record r ON r.record_key = m.record_key_r
LEFT JOIN review_decision_in_force d
    ON d.record_key_l = m.record_key_l AND d.record_key_r = m.record_key_r
WHERE m.decision = 'review' AND (d.verdict IS NULL OR d.verdict = 'unsure');
