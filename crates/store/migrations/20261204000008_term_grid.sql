-- A name term carries its person's home grid (as a number), so that a search inside one grid
-- or community reads only that range of the term index instead of every match in the district.
ALTER TABLE person_terms ADD COLUMN grid_key BIGINT;
UPDATE person_terms SET grid_key = (
    SELECT CAST(p.grid_code AS BIGINT) FROM people p WHERE p.district_code = person_terms.district_code AND p.id = person_terms.person_id
);
CREATE INDEX person_terms_grid ON person_terms (district_code, term, grid_key);
