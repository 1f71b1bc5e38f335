-- Second factors (DESIGN.md §2 "MFA policies"): enrolled devices, recovery
-- codes, one-time codes sent by email (second factor and password reset),
-- each user's failure counter, block and bypass, and the environment's MFA
-- and sign-on policies.

-- +goose Up
CREATE TABLE environment_policies (
    env_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    kind   TEXT NOT NULL,
    policy TEXT NOT NULL,
    PRIMARY KEY (env_id, kind)
);

CREATE TABLE mfa_devices (
    env_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_on    BIGINT NOT NULL,
    last_used_on  BIGINT,
    confirmed     BOOLEAN NOT NULL,
    secret        BYTEA,
    credential    BYTEA,
    credential_id BYTEA,
    counter       BIGINT NOT NULL,
    PRIMARY KEY (env_id, id),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX mfa_devices_user ON mfa_devices (env_id, user_id, created_on);
-- A WebAuthn credential belongs to one user of an environment.
CREATE UNIQUE INDEX mfa_devices_credential ON mfa_devices (env_id, credential_id) WHERE credential_id IS NOT NULL;

CREATE TABLE recovery_codes (
    env_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    created_on BIGINT NOT NULL,
    used_on    BIGINT,
    PRIMARY KEY (env_id, user_id, hash),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);

CREATE TABLE one_time_codes (
    env_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    attempts   INTEGER NOT NULL,
    created_on BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, user_id, purpose),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX one_time_codes_expiry ON one_time_codes (expires_at);

ALTER TABLE login_flows ADD COLUMN mfa TEXT NOT NULL DEFAULT '';

CREATE TABLE user_mfa_state (
    env_id        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    failures      INTEGER NOT NULL,
    blocked_until BIGINT,
    bypass_until  BIGINT,
    PRIMARY KEY (env_id, user_id),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE user_mfa_state;
ALTER TABLE login_flows DROP COLUMN mfa;
DROP TABLE one_time_codes;
DROP TABLE recovery_codes;
DROP TABLE mfa_devices;
DROP TABLE environment_policies;
