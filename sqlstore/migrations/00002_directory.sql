-- The directory: user lookups and filters, lockout, password history, role
-- definitions, fuller applications, and the hash-chained audit log.

-- +goose Up
ALTER TABLE users ADD COLUMN primary_email_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN first_name_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN last_name_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT;
UPDATE users SET primary_email_lower = lower(primary_email), first_name_lower = lower(first_name),
    last_name_lower = lower(last_name);
CREATE INDEX users_email ON users (env_id, primary_email_lower, id);
CREATE INDEX users_first_name ON users (env_id, first_name, id);
CREATE INDEX users_last_name ON users (env_id, last_name, id);
CREATE INDEX users_created ON users (env_id, created_on, id);
CREATE INDEX users_updated ON users (env_id, updated_on, id);

CREATE TABLE password_history (
    env_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_on BIGINT NOT NULL,
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE INDEX password_history_user ON password_history (env_id, user_id, created_on);

CREATE TABLE roles (
    env_id      TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    builtin     BOOLEAN NOT NULL,
    created_on  BIGINT NOT NULL,
    updated_on  BIGINT NOT NULL,
    PRIMARY KEY (env_id, name)
);

ALTER TABLE applications ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

CREATE TABLE audit_heads (
    env_id TEXT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);

CREATE TABLE audit_events (
    env_id      TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    occurred_on BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (env_id, seq)
);
CREATE INDEX audit_events_time ON audit_events (env_id, occurred_on);
CREATE INDEX audit_events_actor ON audit_events (env_id, actor_id, seq);
CREATE INDEX audit_events_target ON audit_events (env_id, target_id, seq);
CREATE INDEX audit_events_action ON audit_events (env_id, action, seq);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE audit_heads;
DROP TABLE roles;
DROP TABLE password_history;
DROP INDEX users_updated;
DROP INDEX users_created;
DROP INDEX users_last_name;
DROP INDEX users_first_name;
DROP INDEX users_email;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users DROP COLUMN failed_attempts;
ALTER TABLE users DROP COLUMN primary_email_lower;
ALTER TABLE users DROP COLUMN first_name_lower;
ALTER TABLE users DROP COLUMN last_name_lower;
ALTER TABLE applications DROP COLUMN settings;
