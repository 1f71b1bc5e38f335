-- Branding of the hosted pages, as data.

-- +goose Up
CREATE TABLE branding (
    env_id TEXT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
    doc    TEXT NOT NULL
);

-- +goose Down
DROP TABLE branding;
