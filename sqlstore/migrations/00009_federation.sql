-- Corporate identity providers, the discovery rules that route usernames to
-- them, the IdP-scoped subjects users are linked to, and the upstream
-- assertions already used (DESIGN.md §2, §8).

-- +goose Up
CREATE TABLE identity_providers (
    env_id           TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    settings         TEXT NOT NULL,
    jit_provisioning BOOLEAN NOT NULL,
    mfa_required     BOOLEAN NOT NULL,
    created_on       BIGINT NOT NULL,
    updated_on       BIGINT NOT NULL,
    PRIMARY KEY (env_id, id)
);

CREATE TABLE discovery_rules (
    env_id       TEXT NOT NULL,
    id           TEXT NOT NULL,
    ord          INTEGER NOT NULL,
    email_domain TEXT NOT NULL,
    pattern      TEXT NOT NULL,
    idp_id       TEXT NOT NULL,
    created_on   BIGINT NOT NULL,
    updated_on   BIGINT NOT NULL,
    PRIMARY KEY (env_id, id),
    FOREIGN KEY (env_id, idp_id) REFERENCES identity_providers (env_id, id) ON DELETE CASCADE
);
CREATE INDEX discovery_rules_order ON discovery_rules (env_id, ord, id);

-- One link per user; a subject links to one user of an IdP.
CREATE TABLE user_identities (
    env_id  TEXT NOT NULL,
    user_id TEXT NOT NULL,
    idp_id  TEXT NOT NULL,
    subject TEXT NOT NULL,
    linked_on BIGINT NOT NULL,
    PRIMARY KEY (env_id, user_id),
    FOREIGN KEY (env_id, user_id) REFERENCES users (env_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX user_identities_subject ON user_identities (env_id, idp_id, subject);

CREATE TABLE used_assertions (
    env_id     TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    idp_id     TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, idp_id, id)
);
CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);

ALTER TABLE sessions ADD COLUMN idp_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN upstream_logout TEXT NOT NULL DEFAULT '';
ALTER TABLE login_flows ADD COLUMN upstream TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE login_flows DROP COLUMN upstream;
ALTER TABLE sessions DROP COLUMN upstream_logout;
ALTER TABLE sessions DROP COLUMN idp_id;
DROP TABLE used_assertions;
DROP TABLE user_identities;
DROP TABLE discovery_rules;
DROP TABLE identity_providers;
