-- One schema for both engines: only types and syntax that SQLite and
-- PostgreSQL read alike. Times are BIGINT microseconds since the Unix epoch.

-- +goose Up
CREATE TABLE environments (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_on   BIGINT NOT NULL,
    updated_on   BIGINT NOT NULL
);

CREATE TABLE users (
    env_id              TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    ref                 TEXT,
    username            TEXT NOT NULL,
    username_lower      TEXT NOT NULL,
    title               TEXT NOT NULL,
    first_name          TEXT NOT NULL,
    last_name           TEXT NOT NULL,
    primary_email       TEXT NOT NULL,
    primary_phone       TEXT NOT NULL,
    type                TEXT NOT NULL,
    status              TEXT NOT NULL,
    timezone            TEXT NOT NULL,
    language            TEXT NOT NULL,
    department          TEXT NOT NULL,
    country             TEXT NOT NULL,
    promotion_opt_in    BOOLEAN NOT NULL,
    primary_retailer    TEXT NOT NULL,
    primary_location    TEXT NOT NULL,
    attributes          TEXT NOT NULL,
    identity_provider   TEXT NOT NULL,
    password_state      TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    password_changed_on BIGINT,
    created_on          BIGINT NOT NULL,
    updated_on          BIGINT NOT NULL,
    last_sign_on        BIGINT,
    PRIMARY KEY (env_id, id)
);
CREATE UNIQUE INDEX users_username ON users (env_id, username_lower);
CREATE UNIQUE INDEX users_ref ON users (env_id, ref) WHERE ref IS NOT NULL;

CREATE TABLE user_roles (
    env_id       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL,
    context_type TEXT NOT NULL,
    context_id   TEXT NOT NULL,
    PRIMARY KEY (env_id, user_id, role, context_type, context_id),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);

CREATE TABLE applications (
    env_id        TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    roles         TEXT NOT NULL,
    secret_hash   BYTEA,
    created_on    BIGINT NOT NULL,
    updated_on    BIGINT NOT NULL,
    PRIMARY KEY (env_id, id)
);
CREATE UNIQUE INDEX applications_client_id ON applications (env_id, client_id);

CREATE TABLE password_policies (
    env_id TEXT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
    policy TEXT NOT NULL
);

CREATE TABLE signing_keys (
    env_id      TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    kid         TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    state       TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    secret_name TEXT NOT NULL,
    created_on  BIGINT NOT NULL,
    PRIMARY KEY (env_id, kid)
);

CREATE TABLE secrets (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (env_id, name)
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE password_policies;
DROP TABLE applications;
DROP TABLE user_roles;
DROP TABLE users;
DROP TABLE environments;
