package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
)

const auditColumns = `env_id, seq, id, occurred_on, actor_type, actor_id, action, target_type,
	target_id, outcome, client_ip, user_agent, details, prev_hash, hash`

// AppendAuditEvent links e to its environment's chain under the head row's
// lock, so concurrent appends queue and the chain never forks.
func (r repos) AppendAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) (err error) {
	defer r.observed("AppendAuditEvent")(&err)
	return r.atomically(ctx, func(r repos) error { return r.appendAudit(ctx, []*gatehouse.AuditEvent{e}) })
}

// AppendAuditEvents appends a batch, reading and moving each
// environment's head once.
func (r repos) AppendAuditEvents(ctx context.Context, events []*gatehouse.AuditEvent) (err error) {
	defer r.observed("AppendAuditEvents")(&err)
	return r.atomically(ctx, func(r repos) error { return r.appendAudit(ctx, events) })
}

type auditHead struct {
	seq  int64
	hash string
}

func (r repos) appendAudit(ctx context.Context, events []*gatehouse.AuditEvent) error {
	heads := map[string]*auditHead{}
	var order []string
	for _, e := range events {
		h := heads[e.EnvironmentID]
		if h == nil {
			if _, err := r.q.ExecContext(ctx, `INSERT INTO audit_heads (env_id, seq, hash) VALUES ($1, 0, $2)
				ON CONFLICT (env_id) DO NOTHING`, e.EnvironmentID, gatehouse.AuditGenesis); err != nil {
				return err
			}
			h = &auditHead{}
			if err := r.q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_heads WHERE env_id = $1`+r.d.ForUpdate,
				e.EnvironmentID).Scan(&h.seq, &h.hash); err != nil {
				return err
			}
			heads[e.EnvironmentID] = h
			order = append(order, e.EnvironmentID)
		}
		e.Seq, e.PrevHash = h.seq+1, h.hash
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Hash = e.ComputeHash()
		details, err := json.Marshal(e.Details)
		if err != nil {
			return err
		}
		if _, err := r.q.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			e.EnvironmentID, e.Seq, e.ID, micros(e.Time), e.ActorType, e.ActorID, e.Action, e.TargetType,
			e.TargetID, e.Outcome, e.ClientIP, e.UserAgent, string(details), e.PrevHash, e.Hash); err != nil {
			return err
		}
		h.seq, h.hash = e.Seq, e.Hash
	}
	for _, envID := range order {
		h := heads[envID]
		if _, err := r.q.ExecContext(ctx, `UPDATE audit_heads SET seq = $2, hash = $3 WHERE env_id = $1`, envID, h.seq, h.hash); err != nil {
			return err
		}
	}
	return nil
}

// atomically runs fn in a transaction of its own, or in the caller's.
func (r repos) atomically(ctx context.Context, fn func(repos) error) error {
	db, ok := r.q.(*sql.DB)
	if !ok {
		return fn(r)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(repos{q: tx, d: r.d}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func scanAudit(row interface{ Scan(...any) error }) (*gatehouse.AuditEvent, error) {
	var e gatehouse.AuditEvent
	var at int64
	var details string
	if err := row.Scan(&e.EnvironmentID, &e.Seq, &e.ID, &at, &e.ActorType, &e.ActorID, &e.Action,
		&e.TargetType, &e.TargetID, &e.Outcome, &e.ClientIP, &e.UserAgent, &details, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = fromMicros(at)
	return &e, json.Unmarshal([]byte(details), &e.Details)
}

func (r repos) ListAuditEvents(ctx context.Context, envID string, f gatehouse.AuditFilter) (_ []*gatehouse.AuditEvent, err error) {
	defer r.observed("ListAuditEvents")(&err)
	where := []string{"env_id = $1"}
	args := []any{envID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	for _, eq := range []struct{ column, value string }{
		{"actor_id", f.ActorID}, {"target_id", f.TargetID}, {"action", f.Action}, {"outcome", f.Outcome},
	} {
		if eq.value != "" {
			add(eq.column+" = ?", eq.value)
		}
	}
	if f.From != nil {
		add("occurred_on >= ?", micros(*f.From))
	}
	if f.To != nil {
		add("occurred_on < ?", micros(*f.To))
	}
	if f.Before > 0 {
		add("seq < ?", f.Before)
	}
	args = append(args, f.Limit)
	rows, err := r.q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := []*gatehouse.AuditEvent{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

func (r repos) WalkAuditEvents(ctx context.Context, envID string, fn func(*gatehouse.AuditEvent) error) (err error) {
	defer r.observed("WalkAuditEvents")(&err)
	const batch = 1000
	after := int64(0)
	for {
		rows, err := r.q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE env_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, envID, after, batch)
		if err != nil {
			return err
		}
		var page []*gatehouse.AuditEvent
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			page = append(page, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(page) < batch {
			return nil
		}
	}
}

func (r repos) AuditHead(ctx context.Context, envID string) (_ int64, _ string, err error) {
	defer r.observed("AuditHead")(&err)
	var seq int64
	var hash string
	err = r.q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_heads WHERE env_id = $1`, envID).Scan(&seq, &hash)
	if err == sql.ErrNoRows {
		return 0, gatehouse.AuditGenesis, nil
	}
	return seq, hash, err
}
