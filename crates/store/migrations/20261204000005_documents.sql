-- The documents registration needs beyond the identity document: a floating resident's
-- residence permit (居住证, number sealed), and for foreigners and Hong Kong, Macao and Taiwan
-- residents the visa or stay permit's kind and expiry and the date of entry.
ALTER TABLE people ADD COLUMN residence_permit_ct TEXT;
ALTER TABLE people ADD COLUMN residence_permit_expiry TEXT;
ALTER TABLE people ADD COLUMN visa_kind TEXT;
ALTER TABLE people ADD COLUMN visa_expiry TEXT;
ALTER TABLE people ADD COLUMN entry_date TEXT;
