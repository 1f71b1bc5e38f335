-- The access token an authorization code was exchanged for, so that a
-- second use of the code can revoke it (RFC 6749 §4.1.2).

-- +goose Up
ALTER TABLE authorization_codes ADD COLUMN access_jti TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN access_expires_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE authorization_codes DROP COLUMN access_expires_at;
ALTER TABLE authorization_codes DROP COLUMN access_jti;
