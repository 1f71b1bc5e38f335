package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Policy kinds of the environment_policies table.
const (
	policyMFA    = "mfa"
	policySignOn = "sign-on"
)

func (r repos) putPolicy(ctx context.Context, envID, kind string, v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO environment_policies (env_id, kind, policy) VALUES ($1, $2, $3)
		ON CONFLICT (env_id, kind) DO UPDATE SET policy = excluded.policy`, envID, kind, string(doc))
	return err
}

// getPolicy reads a policy into v, leaving v as it is when the environment
// set none.
func (r repos) getPolicy(ctx context.Context, envID, kind string, v any) error {
	var doc string
	err := r.q.QueryRowContext(ctx, `SELECT policy FROM environment_policies WHERE env_id = $1 AND kind = $2`, envID, kind).Scan(&doc)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(doc), v)
}

func (r repos) PutMFAPolicy(ctx context.Context, envID string, p *gatehouse.MFAPolicy) (err error) {
	defer r.observed("PutMFAPolicy")(&err)
	return r.putPolicy(ctx, envID, policyMFA, p)
}

func (r repos) GetMFAPolicy(ctx context.Context, envID string) (_ *gatehouse.MFAPolicy, err error) {
	defer r.observed("GetMFAPolicy")(&err)
	p := gatehouse.DefaultMFAPolicy()
	return &p, r.getPolicy(ctx, envID, policyMFA, &p)
}

func (r repos) PutSignOnPolicy(ctx context.Context, envID string, p *gatehouse.SignOnPolicy) (err error) {
	defer r.observed("PutSignOnPolicy")(&err)
	return r.putPolicy(ctx, envID, policySignOn, p)
}

func (r repos) GetSignOnPolicy(ctx context.Context, envID string) (_ *gatehouse.SignOnPolicy, err error) {
	defer r.observed("GetSignOnPolicy")(&err)
	var p gatehouse.SignOnPolicy
	return &p, r.getPolicy(ctx, envID, policySignOn, &p)
}

const mfaDeviceColumns = `env_id, id, user_id, type, name, created_on, last_used_on, confirmed, secret, credential, credential_id, counter`

func scanMFADevice(row interface{ Scan(...any) error }) (*gatehouse.MFADevice, error) {
	var d gatehouse.MFADevice
	var created int64
	var used sql.NullInt64
	if err := row.Scan(&d.EnvironmentID, &d.ID, &d.UserID, &d.Type, &d.Name, &created, &used, &d.Confirmed, &d.Secret,
		&d.Credential, &d.CredentialID, &d.Counter); err != nil {
		return nil, err
	}
	d.CreatedOn, d.LastUsedOn = fromMicros(created), fromNullMicros(used)
	return &d, nil
}

func mfaDeviceValues(d *gatehouse.MFADevice) []any {
	return []any{d.EnvironmentID, d.ID, d.UserID, d.Type, d.Name, micros(d.CreatedOn), microsPtr(d.LastUsedOn), d.Confirmed,
		d.Secret, d.Credential, d.CredentialID, d.Counter}
}

func (r repos) CreateMFADevice(ctx context.Context, d *gatehouse.MFADevice) (err error) {
	defer r.observed("CreateMFADevice")(&err)
	_, err = r.exec(ctx, "a device with id "+d.ID+" already exists", `INSERT INTO mfa_devices (`+mfaDeviceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, mfaDeviceValues(d)...)
	if r.isForeignKeyViolation(err) {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "user not found")
	}
	return err
}

func (r repos) GetMFADevice(ctx context.Context, envID, id string) (_ *gatehouse.MFADevice, err error) {
	defer r.observed("GetMFADevice")(&err)
	d, err := scanMFADevice(r.q.QueryRowContext(ctx, `SELECT `+mfaDeviceColumns+` FROM mfa_devices WHERE env_id = $1 AND id = $2`, envID, id))
	return d, notFound(err, "device not found")
}

func (r repos) ListMFADevices(ctx context.Context, envID, userID string) (_ []*gatehouse.MFADevice, err error) {
	defer r.observed("ListMFADevices")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT `+mfaDeviceColumns+` FROM mfa_devices WHERE env_id = $1 AND user_id = $2
		ORDER BY created_on, id`, envID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.MFADevice{}
	for rows.Next() {
		d, err := scanMFADevice(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, d)
	}
	return list, rows.Err()
}

func (r repos) UpdateMFADevice(ctx context.Context, d *gatehouse.MFADevice) (err error) {
	defer r.observed("UpdateMFADevice")(&err)
	return r.execOne(ctx, "device not found", `UPDATE mfa_devices SET user_id = $3, type = $4, name = $5, created_on = $6,
		last_used_on = $7, confirmed = $8, secret = $9, credential = $10, credential_id = $11, counter = $12
		WHERE env_id = $1 AND id = $2`, mfaDeviceValues(d)...)
}

func (r repos) UseMFADeviceCounter(ctx context.Context, envID, id string, counter int64, at time.Time) (err error) {
	defer r.observed("UseMFADeviceCounter")(&err)
	res, err := r.q.ExecContext(ctx, `UPDATE mfa_devices SET counter = $3, last_used_on = $4
		WHERE env_id = $1 AND id = $2 AND counter < $3`, envID, id, counter, micros(at))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := r.GetMFADevice(ctx, envID, id); err != nil {
			return err
		}
		return gatehouse.Errorf(gatehouse.ECONFLICT, "this code or signature was already used")
	}
	return nil
}

func (r repos) DeleteMFADevice(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteMFADevice")(&err)
	return r.execOne(ctx, "device not found", `DELETE FROM mfa_devices WHERE env_id = $1 AND id = $2`, envID, id)
}

func (r repos) ReplaceRecoveryCodes(ctx context.Context, envID, userID string, hashes [][]byte, at time.Time) (err error) {
	defer r.observed("ReplaceRecoveryCodes")(&err)
	return r.atomically(ctx, func(r repos) error {
		if _, err := r.q.ExecContext(ctx, `DELETE FROM recovery_codes WHERE env_id = $1 AND user_id = $2`, envID, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			_, err := r.exec(ctx, "a recovery code repeats", `INSERT INTO recovery_codes (env_id, user_id, hash, created_on)
				VALUES ($1, $2, $3, $4)`, envID, userID, h, micros(at))
			if r.isForeignKeyViolation(err) {
				return gatehouse.Errorf(gatehouse.ENOTFOUND, "user not found")
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (r repos) UseRecoveryCode(ctx context.Context, envID, userID string, hash []byte, at time.Time) (err error) {
	defer r.observed("UseRecoveryCode")(&err)
	return r.execOne(ctx, "not an unused recovery code", `UPDATE recovery_codes SET used_on = $4
		WHERE env_id = $1 AND user_id = $2 AND hash = $3 AND used_on IS NULL`, envID, userID, hash, micros(at))
}

func (r repos) CountRecoveryCodes(ctx context.Context, envID, userID string) (n int, err error) {
	defer r.observed("CountRecoveryCodes")(&err)
	err = r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE env_id = $1 AND user_id = $2 AND used_on IS NULL`,
		envID, userID).Scan(&n)
	return n, err
}

func (r repos) PutOneTimeCode(ctx context.Context, c *gatehouse.OneTimeCode) (err error) {
	defer r.observed("PutOneTimeCode")(&err)
	_, err = r.q.ExecContext(ctx, `INSERT INTO one_time_codes (env_id, user_id, purpose, hash, attempts, created_on, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (env_id, user_id, purpose) DO UPDATE SET hash = excluded.hash,
		attempts = excluded.attempts, created_on = excluded.created_on, expires_at = excluded.expires_at`,
		c.EnvironmentID, c.UserID, c.Purpose, c.Hash, c.Attempts, micros(c.CreatedOn), micros(c.ExpiresAt))
	if r.isForeignKeyViolation(err) {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "user not found")
	}
	return err
}

func (r repos) UseOneTimeCode(ctx context.Context, envID, userID, purpose string, hash []byte, maxAttempts int, at time.Time) (err error) {
	defer r.observed("UseOneTimeCode")(&err)
	used := false
	// A wrong guess is committed, not rolled back with an error: it counts.
	err = r.atomically(ctx, func(r repos) error {
		res, err := r.q.ExecContext(ctx, `DELETE FROM one_time_codes WHERE env_id = $1 AND user_id = $2 AND purpose = $3
			AND hash = $4 AND expires_at > $5 AND attempts < $6`, envID, userID, purpose, hash, micros(at), maxAttempts)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			used = true
			return nil
		}
		if _, err := r.q.ExecContext(ctx, `UPDATE one_time_codes SET attempts = attempts + 1
			WHERE env_id = $1 AND user_id = $2 AND purpose = $3`, envID, userID, purpose); err != nil {
			return err
		}
		_, err = r.q.ExecContext(ctx, `DELETE FROM one_time_codes WHERE env_id = $1 AND user_id = $2 AND purpose = $3
			AND (attempts >= $4 OR expires_at <= $5)`, envID, userID, purpose, maxAttempts, micros(at))
		return err
	})
	if err == nil && !used {
		err = gatehouse.Errorf(gatehouse.ENOTFOUND, "the code is not right, or has expired")
	}
	return err
}

func (r repos) DeleteOneTimeCodes(ctx context.Context, envID, userID string) (err error) {
	defer r.observed("DeleteOneTimeCodes")(&err)
	_, err = r.q.ExecContext(ctx, `DELETE FROM one_time_codes WHERE env_id = $1 AND user_id = $2`, envID, userID)
	return err
}

// ensureMFAState makes the user's state row, so that updates find one.
func (r repos) ensureMFAState(ctx context.Context, envID, userID string) error {
	_, err := r.q.ExecContext(ctx, `INSERT INTO user_mfa_state (env_id, user_id, failures) VALUES ($1, $2, 0)
		ON CONFLICT (env_id, user_id) DO NOTHING`, envID, userID)
	if r.isForeignKeyViolation(err) {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "user not found")
	}
	return err
}

func (r repos) RegisterMFAFailure(ctx context.Context, envID, userID string, limit int, blockUntil time.Time) (n int, err error) {
	defer r.observed("RegisterMFAFailure")(&err)
	err = r.atomically(ctx, func(r repos) error {
		if err := r.ensureMFAState(ctx, envID, userID); err != nil {
			return err
		}
		if err := r.q.QueryRowContext(ctx, `UPDATE user_mfa_state SET failures = failures + 1
			WHERE env_id = $1 AND user_id = $2 RETURNING failures`, envID, userID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			_, err := r.q.ExecContext(ctx, `UPDATE user_mfa_state SET failures = 0, blocked_until = $3
				WHERE env_id = $1 AND user_id = $2`, envID, userID, micros(blockUntil))
			return err
		}
		return nil
	})
	return n, err
}

func (r repos) ResetMFAFailures(ctx context.Context, envID, userID string) (err error) {
	defer r.observed("ResetMFAFailures")(&err)
	_, err = r.q.ExecContext(ctx, `UPDATE user_mfa_state SET failures = 0, blocked_until = NULL
		WHERE env_id = $1 AND user_id = $2`, envID, userID)
	return err
}

func (r repos) SetMFABypass(ctx context.Context, envID, userID string, until *time.Time) (err error) {
	defer r.observed("SetMFABypass")(&err)
	return r.atomically(ctx, func(r repos) error {
		if err := r.ensureMFAState(ctx, envID, userID); err != nil {
			return err
		}
		_, err := r.q.ExecContext(ctx, `UPDATE user_mfa_state SET bypass_until = $3 WHERE env_id = $1 AND user_id = $2`,
			envID, userID, microsPtr(until))
		return err
	})
}

func (r repos) GetMFAState(ctx context.Context, envID, userID string) (_ *gatehouse.MFAState, err error) {
	defer r.observed("GetMFAState")(&err)
	var st gatehouse.MFAState
	var blocked, bypass sql.NullInt64
	err = r.q.QueryRowContext(ctx, `SELECT failures, blocked_until, bypass_until FROM user_mfa_state
		WHERE env_id = $1 AND user_id = $2`, envID, userID).Scan(&st.Failures, &blocked, &bypass)
	if err == sql.ErrNoRows {
		return &st, nil
	}
	if err != nil {
		return nil, err
	}
	st.BlockedUntil, st.BypassUntil = fromNullMicros(blocked), fromNullMicros(bypass)
	return &st, nil
}

func (r repos) isForeignKeyViolation(err error) bool {
	return err != nil && r.d.IsForeignKeyViolation != nil && r.d.IsForeignKeyViolation(err)
}
