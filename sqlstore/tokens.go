package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/gatehouse/gatehouse"
)

func amrJSON(amr []string) string {
	if amr == nil {
		amr = []string{}
	}
	b, _ := json.Marshal(amr)
	return string(b)
}

func (r repos) CreateSession(ctx context.Context, s *gatehouse.Session) (err error) {
	defer r.observed("CreateSession")(&err)
	_, err = r.exec(ctx, "session exists", `INSERT INTO sessions (env_id, id, user_id, auth_time, amr, client_ip,
		user_agent, created_on, expires_at, idp_id, upstream_logout) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.EnvironmentID, s.ID, s.UserID, micros(s.AuthTime), amrJSON(s.AMR), s.ClientIP, s.UserAgent,
		micros(s.CreatedOn), micros(s.ExpiresAt), s.IdentityProviderID, s.UpstreamLogout)
	return err
}

func (r repos) GetSession(ctx context.Context, envID, id string) (_ *gatehouse.Session, err error) {
	defer r.observed("GetSession")(&err)
	s := gatehouse.Session{EnvironmentID: envID, ID: id}
	var auth, created, expires int64
	var amr string
	err = r.q.QueryRowContext(ctx, `SELECT user_id, auth_time, amr, client_ip, user_agent, created_on, expires_at,
		idp_id, upstream_logout FROM sessions WHERE env_id = $1 AND id = $2`, envID, id).Scan(&s.UserID, &auth, &amr,
		&s.ClientIP, &s.UserAgent, &created, &expires, &s.IdentityProviderID, &s.UpstreamLogout)
	if err != nil {
		return nil, notFound(err, "session not found")
	}
	s.AuthTime, s.CreatedOn, s.ExpiresAt = fromMicros(auth), fromMicros(created), fromMicros(expires)
	return &s, json.Unmarshal([]byte(amr), &s.AMR)
}

func (r repos) ListUserSessions(ctx context.Context, envID, userID string) (_ []*gatehouse.Session, err error) {
	defer r.observed("ListUserSessions")(&err)
	rows, err := r.q.QueryContext(ctx, `SELECT id, auth_time, amr, client_ip, user_agent, created_on, expires_at, idp_id,
		upstream_logout FROM sessions WHERE env_id = $1 AND user_id = $2 ORDER BY created_on DESC, id`, envID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*gatehouse.Session{}
	for rows.Next() {
		s := gatehouse.Session{EnvironmentID: envID, UserID: userID}
		var auth, created, expires int64
		var amr string
		if err := rows.Scan(&s.ID, &auth, &amr, &s.ClientIP, &s.UserAgent, &created, &expires, &s.IdentityProviderID,
			&s.UpstreamLogout); err != nil {
			return nil, err
		}
		s.AuthTime, s.CreatedOn, s.ExpiresAt = fromMicros(auth), fromMicros(created), fromMicros(expires)
		if err := json.Unmarshal([]byte(amr), &s.AMR); err != nil {
			return nil, err
		}
		list = append(list, &s)
	}
	return list, rows.Err()
}

func (r repos) DeleteSession(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteSession")(&err)
	_, err = r.q.ExecContext(ctx, `DELETE FROM sessions WHERE env_id = $1 AND id = $2`, envID, id)
	return err
}

func (r repos) DeleteUserSessions(ctx context.Context, envID, userID string, at time.Time) (err error) {
	defer r.observed("DeleteUserSessions")(&err)
	return r.atomically(ctx, func(r repos) error {
		if _, err := r.q.ExecContext(ctx, `DELETE FROM sessions WHERE env_id = $1 AND user_id = $2`, envID, userID); err != nil {
			return err
		}
		_, err := r.q.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_on = $3
			WHERE env_id = $1 AND user_id = $2 AND revoked_on IS NULL`, envID, userID, micros(at))
		return err
	})
}

const codeColumns = `env_id, hash, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge,
	code_challenge_method, auth_time, amr, expires_at, used_on, access_jti, access_expires_at`

func (r repos) CreateAuthorizationCode(ctx context.Context, c *gatehouse.AuthorizationCode) (err error) {
	defer r.observed("CreateAuthorizationCode")(&err)
	_, err = r.exec(ctx, "code exists", `INSERT INTO authorization_codes (`+codeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		c.EnvironmentID, c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, c.Scope, c.Nonce,
		c.CodeChallenge, c.CodeChallengeMethod, micros(c.AuthTime), amrJSON(c.AMR), micros(c.ExpiresAt), microsPtr(c.UsedOn),
		c.AccessJTI, accessExpiry(c.AccessExpiresAt))
	return err
}

func (r repos) UseAuthorizationCode(ctx context.Context, envID, hash string, at time.Time) (_ *gatehouse.AuthorizationCode, err error) {
	defer r.observed("UseAuthorizationCode")(&err)
	var c gatehouse.AuthorizationCode
	err = r.atomically(ctx, func(r repos) error {
		var auth, expires, accessExpires int64
		var used sql.NullInt64
		var amr string
		err := r.q.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM authorization_codes
			WHERE env_id = $1 AND hash = $2`+r.d.ForUpdate, envID, hash).Scan(&c.EnvironmentID, &c.Hash, &c.ClientID,
			&c.UserID, &c.SessionID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod,
			&auth, &amr, &expires, &used, &c.AccessJTI, &accessExpires)
		if err != nil {
			return notFound(err, "authorization code not found")
		}
		c.AuthTime, c.ExpiresAt, c.UsedOn = fromMicros(auth), fromMicros(expires), fromNullMicros(used)
		if accessExpires != 0 {
			c.AccessExpiresAt = fromMicros(accessExpires)
		}
		if err := json.Unmarshal([]byte(amr), &c.AMR); err != nil {
			return err
		}
		if c.UsedOn != nil {
			return nil
		}
		_, err = r.q.ExecContext(ctx, `UPDATE authorization_codes SET used_on = $3 WHERE env_id = $1 AND hash = $2`,
			envID, hash, micros(at))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// accessExpiry stores a zero time as 0.
func accessExpiry(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func (r repos) SetCodeAccessToken(ctx context.Context, envID, hash, jti string, expiresAt time.Time) (err error) {
	defer r.observed("SetCodeAccessToken")(&err)
	return r.execOne(ctx, "authorization code not found", `UPDATE authorization_codes SET access_jti = $3, access_expires_at = $4
		WHERE env_id = $1 AND hash = $2`, envID, hash, jti, micros(expiresAt))
}

const refreshColumns = `env_id, hash, family_id, client_id, user_id, session_id, scope, auth_time, amr,
	created_on, expires_at, used_on, revoked_on`

func (r repos) CreateRefreshToken(ctx context.Context, t *gatehouse.RefreshToken) (err error) {
	defer r.observed("CreateRefreshToken")(&err)
	_, err = r.exec(ctx, "refresh token exists", `INSERT INTO refresh_tokens (`+refreshColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		t.EnvironmentID, t.Hash, t.FamilyID, t.ClientID, t.UserID, t.SessionID, t.Scope, micros(t.AuthTime),
		amrJSON(t.AMR), micros(t.CreatedOn), micros(t.ExpiresAt), microsPtr(t.UsedOn), microsPtr(t.RevokedOn))
	return err
}

func (r repos) scanRefresh(row interface{ Scan(...any) error }) (*gatehouse.RefreshToken, error) {
	var t gatehouse.RefreshToken
	var auth, created, expires int64
	var used, revoked sql.NullInt64
	var amr string
	if err := row.Scan(&t.EnvironmentID, &t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID, &t.Scope,
		&auth, &amr, &created, &expires, &used, &revoked); err != nil {
		return nil, notFound(err, "refresh token not found")
	}
	t.AuthTime, t.CreatedOn, t.ExpiresAt = fromMicros(auth), fromMicros(created), fromMicros(expires)
	t.UsedOn, t.RevokedOn = fromNullMicros(used), fromNullMicros(revoked)
	return &t, json.Unmarshal([]byte(amr), &t.AMR)
}

func (r repos) GetRefreshToken(ctx context.Context, envID, hash string) (_ *gatehouse.RefreshToken, err error) {
	defer r.observed("GetRefreshToken")(&err)
	return r.scanRefresh(r.q.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens
		WHERE env_id = $1 AND hash = $2`, envID, hash))
}

func (r repos) UseRefreshToken(ctx context.Context, envID, hash string, at time.Time) (_ *gatehouse.RefreshToken, err error) {
	defer r.observed("UseRefreshToken")(&err)
	var t *gatehouse.RefreshToken
	err = r.atomically(ctx, func(r repos) error {
		var err error
		t, err = r.scanRefresh(r.q.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens
			WHERE env_id = $1 AND hash = $2`+r.d.ForUpdate, envID, hash))
		if err != nil || t.UsedOn != nil {
			return err
		}
		_, err = r.q.ExecContext(ctx, `UPDATE refresh_tokens SET used_on = $3 WHERE env_id = $1 AND hash = $2`,
			envID, hash, micros(at))
		return err
	})
	return t, err
}

func (r repos) RevokeRefreshFamily(ctx context.Context, envID, familyID string, at time.Time) (err error) {
	defer r.observed("RevokeRefreshFamily")(&err)
	_, err = r.q.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_on = $3
		WHERE env_id = $1 AND family_id = $2 AND revoked_on IS NULL`, envID, familyID, micros(at))
	return err
}

func (r repos) RevokeAccessToken(ctx context.Context, t *gatehouse.RevokedToken) (err error) {
	defer r.observed("RevokeAccessToken")(&err)
	_, err = r.q.ExecContext(ctx, `INSERT INTO revoked_tokens (env_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (env_id, jti) DO NOTHING`, t.EnvironmentID, t.JTI, micros(t.ExpiresAt))
	return err
}

func (r repos) IsAccessTokenRevoked(ctx context.Context, envID, jti string) (_ bool, err error) {
	defer r.observed("IsAccessTokenRevoked")(&err)
	var one int
	err = r.q.QueryRowContext(ctx, `SELECT 1 FROM revoked_tokens WHERE env_id = $1 AND jti = $2`, envID, jti).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

func (r repos) DeleteExpired(ctx context.Context, at time.Time) (n int64, err error) {
	defer r.observed("DeleteExpired")(&err)
	for _, table := range []string{"sessions", "authorization_codes", "refresh_tokens", "revoked_tokens", "login_flows", "used_assertions", "one_time_codes"} {
		res, err := r.q.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at < $1`, micros(at))
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

func (r repos) CreateLoginFlow(ctx context.Context, f *gatehouse.LoginFlow) (err error) {
	defer r.observed("CreateLoginFlow")(&err)
	req, err := json.Marshal(f.Request)
	if err != nil {
		return err
	}
	upstream, err := optionalJSON(f.Upstream)
	if err != nil {
		return err
	}
	mfa, err := optionalJSON(f.MFA)
	if err != nil {
		return err
	}
	_, err = r.exec(ctx, "login flow exists", `INSERT INTO login_flows (env_id, id, binding, step, request, username,
		user_id, failures, created_on, expires_at, upstream, mfa) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		f.EnvironmentID, f.ID, f.Binding, f.Step, string(req), f.Username, f.UserID, f.Failures, micros(f.CreatedOn),
		micros(f.ExpiresAt), upstream, mfa)
	return err
}

func (r repos) GetLoginFlow(ctx context.Context, envID, id string) (_ *gatehouse.LoginFlow, err error) {
	defer r.observed("GetLoginFlow")(&err)
	f := gatehouse.LoginFlow{EnvironmentID: envID, ID: id}
	var req, upstream, mfa string
	var created, expires int64
	err = r.q.QueryRowContext(ctx, `SELECT binding, step, request, username, user_id, failures, created_on, expires_at,
		upstream, mfa FROM login_flows WHERE env_id = $1 AND id = $2`, envID, id).Scan(&f.Binding, &f.Step, &req, &f.Username,
		&f.UserID, &f.Failures, &created, &expires, &upstream, &mfa)
	if err != nil {
		return nil, notFound(err, "sign-in not found")
	}
	f.CreatedOn, f.ExpiresAt = fromMicros(created), fromMicros(expires)
	if upstream != "" {
		f.Upstream = new(gatehouse.UpstreamLogin)
		if err := json.Unmarshal([]byte(upstream), f.Upstream); err != nil {
			return nil, err
		}
	}
	if mfa != "" {
		f.MFA = new(gatehouse.MFALogin)
		if err := json.Unmarshal([]byte(mfa), f.MFA); err != nil {
			return nil, err
		}
	}
	return &f, json.Unmarshal([]byte(req), &f.Request)
}

func (r repos) UpdateLoginFlow(ctx context.Context, f *gatehouse.LoginFlow) (err error) {
	defer r.observed("UpdateLoginFlow")(&err)
	upstream, err := optionalJSON(f.Upstream)
	if err != nil {
		return err
	}
	mfa, err := optionalJSON(f.MFA)
	if err != nil {
		return err
	}
	return r.execOne(ctx, "sign-in not found", `UPDATE login_flows SET step = $3, username = $4, user_id = $5,
		failures = $6, upstream = $7, mfa = $8 WHERE env_id = $1 AND id = $2`, f.EnvironmentID, f.ID, f.Step, f.Username, f.UserID,
		f.Failures, upstream, mfa)
}

func (r repos) DeleteLoginFlow(ctx context.Context, envID, id string) (err error) {
	defer r.observed("DeleteLoginFlow")(&err)
	_, err = r.q.ExecContext(ctx, `DELETE FROM login_flows WHERE env_id = $1 AND id = $2`, envID, id)
	return err
}

// optionalJSON is a flow's optional part as a column: empty when the
// sign-in has none (it never left for an IdP, or has no second factor yet).
func optionalJSON[T any](v *T) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}
