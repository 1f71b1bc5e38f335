-- Signing-key rotation: when a key last changed state, to know when the
-- next may be promoted and when a previous one may retire.

-- +goose Up
ALTER TABLE signing_keys ADD COLUMN state_changed_on BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET state_changed_on = created_on;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN state_changed_on;
