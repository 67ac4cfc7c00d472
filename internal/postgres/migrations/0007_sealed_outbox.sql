-- The content of a mail (recipient, template, data: it may hold a live
-- token) is sealed under the key-encryption key into one column. recipient,
-- template and data stay empty for a sealed row; rows written before this
-- migration keep their plain columns and sealed NULL, and are still sent.
ALTER TABLE mail_outbox ADD COLUMN sealed bytea;
