-- Users by type and by status, in id order: a console filter such as
-- "API users" or "disabled users" that few users match is read through
-- these rather than by walking the environment (issue 7's budget).

-- +goose Up
CREATE INDEX users_type ON users (env_id, type, id);
CREATE INDEX users_status ON users (env_id, status, id);

-- +goose Down
DROP INDEX users_status;
DROP INDEX users_type;
