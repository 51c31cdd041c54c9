-- "Who lives in this unit" reads only person ids: with person_id in the index SQLite answers it
-- from the index alone, instead of preferring the natural-key index and walking the district.
DROP INDEX residences_unit;
CREATE INDEX residences_unit ON residences (district_code, unit_id, person_id);
