-- OAuth and OIDC state: sessions, single-use codes, refresh-token families,
-- revoked access tokens. Secrets are stored as SHA-256 hashes only.

-- +goose Up
CREATE TABLE sessions (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    amr        TEXT NOT NULL,
    client_ip  TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_on BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, id),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (env_id, user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE authorization_codes (
    env_id                TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    hash                  TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    amr                   TEXT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_on               BIGINT,
    PRIMARY KEY (env_id, hash),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    scope      TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    amr        TEXT NOT NULL,
    created_on BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_on    BIGINT,
    revoked_on BIGINT,
    PRIMARY KEY (env_id, hash),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (env_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (env_id, user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, jti)
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE login_flows (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    binding    TEXT NOT NULL,
    step       TEXT NOT NULL,
    request    TEXT NOT NULL,
    username   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    failures   INTEGER NOT NULL,
    created_on BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, id)
);
CREATE INDEX login_flows_expiry ON login_flows (expires_at);

-- +goose Down
DROP TABLE login_flows;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE authorization_codes;
DROP TABLE sessions;
