-- The analysts' database (analyst.duckdb): built from the registry after each
-- load, into a new file renamed into place. No direct identifiers: no names, PINs,
-- ID numbers, addresses, parents' names, birth dates or record keys; persons are
-- known by person_key, a keyed pseudonym (HMAC-SHA256 of the internal person_id
-- under a key derived from the PIN key; not computable from anything here).
-- Ethnicity and religion appear only as counts per province, cells below 10 hidden.
-- Run with the registry attached as `registry`, this database as `analyst`, and
-- the pseudonyms registered as `_pseudonym(person_id, person_key)`.

CREATE TABLE analyst.province AS
SELECT code, name, name_ascii, region_en FROM registry.province ORDER BY code;

CREATE TABLE analyst.person AS
SELECT k.person_key, p.status, p.sex, p.birth_year, p.birth_province_code,
       p.address_province_code, p.record_count, p.first_batch_id, p.last_batch_id,
       p.pending_reason
FROM registry.person p JOIN _pseudonym k USING (person_id)
ORDER BY k.person_key;

CREATE TABLE analyst.population_by_province_sex_year AS
SELECT province_code, province_name, sex, birth_year, persons
FROM registry.population_by_province_sex_year
ORDER BY province_code, sex, birth_year;

CREATE TABLE analyst.duplicates_by_province AS
SELECT province_code, province_name, records, persons, duplicate_records, shared_persons
FROM registry.duplicates_by_province
ORDER BY province_code;

CREATE TABLE analyst.movers AS
SELECT k.person_key, m.birth_year, m.provinces, m.registrations,
       m.first_province_code, m.last_province_code
FROM registry.movers m JOIN _pseudonym k USING (person_id)
ORDER BY k.person_key;

CREATE TABLE analyst.mover_flows AS
SELECT from_province_code, from_province_name, to_province_code, to_province_name, persons
FROM registry.mover_flows
ORDER BY ALL;

CREATE TABLE analyst.pending_verification AS
SELECT k.person_key, v.pending_reason, v.birth_year, v.sex, v.birth_province_code,
       v.record_count, v.first_batch_id, v.last_batch_id
FROM registry.pending_verification v JOIN _pseudonym k USING (person_id)
ORDER BY k.person_key;

CREATE TABLE analyst.ethnicity_by_province AS
SELECT birth_province_code AS province_code, ethnicity,
       CASE WHEN count(*) >= 10 THEN count(*) END AS persons
FROM registry.person
WHERE status = 'active' AND ethnicity IS NOT NULL
GROUP BY ALL ORDER BY ALL;

CREATE TABLE analyst.religion_by_province AS
WITH per_person AS (
    SELECT s.person_id, p.birth_province_code, mode(s.religion) AS religion
    FROM registry.source_record s JOIN registry.person p USING (person_id)
    WHERE p.status = 'active' AND s.religion IS NOT NULL
    GROUP BY ALL
)
SELECT birth_province_code AS province_code, religion,
       CASE WHEN count(*) >= 10 THEN count(*) END AS persons
FROM per_person GROUP BY ALL ORDER BY ALL;
