package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

// SearchProbeLimit is how many users an index may find for a search to be
// read through that index; from that many on, walking the users in list
// order fills a page sooner.
const SearchProbeLimit = 500

// A clause is a piece of SQL with ? placeholders, and their values.
type clause struct {
	sql  string
	args []any
}

func cl(sql string, args ...any) clause { return clause{sql, args} }

// render joins clauses with sep and numbers their placeholders $1, $2, …
// in order, as both engines take them.
func render(sep string, clauses ...clause) (string, []any) {
	var b strings.Builder
	var args []any
	for i, c := range clauses {
		if i > 0 {
			b.WriteString(sep)
		}
		rest := c.sql
		for {
			before, after, found := strings.Cut(rest, "?")
			b.WriteString(before)
			if !found {
				break
			}
			args = append(args, c.args[0])
			c.args = c.args[1:]
			b.WriteString("$" + strconv.Itoa(len(args)))
			rest = after
		}
	}
	return b.String(), args
}

// valuePlanned are the arguments of a query whose plan depends on their
// values, with what the engine needs to plan it for them.
func (r repos) valuePlanned(args []any) []any {
	return append(slices.Clone(r.d.PlanWithValues), args...)
}

// A userTerm is one condition of a user search, in the forms a plan may
// take it.
type userTerm struct {
	// indexed is the condition as an index may serve it.
	indexed clause
	// plain is the same condition, which no index serves: the form it
	// takes when another index, or the walk in list order, leads.
	plain clause
	// probe counts, up to SearchProbeLimit, the users that indexed finds;
	// nil when no index narrows the condition. unique says that at most one
	// user can match, so that the probe is not needed.
	probe  *clause
	unique bool
	// inIDOrder says that indexed reads its users in id order (an
	// (env_id, column, id) index and an equality), so that it can lead a
	// walk in id order, reading only its own matches.
	inIDOrder bool
}

// userTerms are the filter's conditions, but the time range of the list's
// own order, which the walk serves.
func (r repos) userTerms(envID string, f gatehouse.UserFilter) []userTerm {
	var terms []userTerm
	unindexed := func(column string) string {
		if r.d.Unindexed == nil {
			return column
		}
		return r.d.Unindexed(column)
	}
	probe := func(c clause) *clause {
		p := cl(`SELECT count(*) FROM (SELECT 1 FROM users WHERE env_id = ? AND `+c.sql+
			` LIMIT `+strconv.Itoa(SearchProbeLimit)+`) AS probe`, append([]any{envID}, c.args...)...)
		return &p
	}
	equal := func(column string, v any) userTerm {
		c := cl(column+" = ?", v)
		return userTerm{indexed: c, plain: cl(unindexed(column)+" = ?", v), probe: probe(c), inIDOrder: true}
	}
	// Text matches: equality where a value has no wildcard (the
	// (env_id, column, id) indexes serve it), else LIKE case-insensitively
	// against columns lower-cased in Go, so that both engines agree beyond
	// ASCII.
	text := func(column, lowerColumn, value string) {
		if value == "" {
			return
		}
		if !strings.Contains(value, "%") {
			if column == lowerColumn {
				value = strings.ToLower(value)
			}
			t := equal(column, value)
			t.unique = column == "username_lower"
			terms = append(terms, t)
			return
		}
		lower := strings.ToLower(value)
		like := cl(lowerColumn+` LIKE ? ESCAPE '\'`, likePattern(lower))
		t := userTerm{indexed: like, plain: cl(unindexed(lowerColumn)+` LIKE ? ESCAPE '\'`, likePattern(lower))}
		prefix, _, _ := strings.Cut(lower, "%")
		switch {
		case prefix != "":
			if r.d.BytewisePrefix {
				t.indexed = cl(lowerColumn+" >= ? AND "+lowerColumn+" < ? AND "+like.sql, prefix, prefixEnd(prefix), like.args[0])
			}
			t.probe = probe(t.indexed)
		case hasTrigram(lower) && r.d.SubstringProbe != nil:
			// A trigram index takes LIKE without ESCAPE, where _ is a
			// wildcard: it finds a few more users than the pattern, which
			// the exact LIKE then drops.
			p := cl(r.d.SubstringProbe(lowerColumn), lower)
			t.probe = &p
			if r.d.Substring != nil {
				t.indexed = cl(r.d.Substring(lowerColumn)+" AND "+t.plain.sql, envID, lower, t.plain.args[0])
			}
		}
		terms = append(terms, t)
	}
	text("username_lower", "username_lower", f.Username)
	text("primary_email_lower", "primary_email_lower", f.PrimaryEmail)
	text("first_name", "first_name_lower", f.FirstName)
	text("last_name", "last_name_lower", f.LastName)
	if f.Type != "" {
		terms = append(terms, equal("type", f.Type))
	}
	if f.Status != "" {
		terms = append(terms, equal("status", f.Status))
	}
	for _, t := range []struct {
		column, op string
		at         *time.Time
	}{{"created_on", ">=", f.CreatedFrom}, {"created_on", "<", f.CreatedTo}, {"updated_on", ">=", f.UpdatedFrom}, {"updated_on", "<", f.UpdatedTo}} {
		if t.at != nil && t.column != orderColumn(f.Order) {
			c := cl(t.column+" "+t.op+" ?", micros(*t.at))
			terms = append(terms, userTerm{indexed: c, plain: c})
		}
	}
	return terms
}

// orderColumn is the time column a list order follows, or "" for id.
func orderColumn(order string) string {
	switch order {
	case gatehouse.OrderByCreated:
		return "created_on"
	case gatehouse.OrderByUpdated:
		return "updated_on"
	}
	return ""
}

// A userWalk reads the users of one environment in list order: by id, or
// by a time and then id, within the filter's range of that time. One index
// serves it: the primary key, or (env_id, time, id).
type userWalk struct {
	column string   // the time column, or "" for id order
	ranges []clause // the filter's range of that time
}

// A userPosition is a place in a walk: the users after it come next.
type userPosition struct {
	id string // "" is the start
	at time.Time
}

func newUserWalk(f gatehouse.UserFilter) userWalk {
	w := userWalk{column: orderColumn(f.Order)}
	from, to := f.CreatedFrom, f.CreatedTo
	if w.column == "updated_on" {
		from, to = f.UpdatedFrom, f.UpdatedTo
	}
	if w.column != "" && from != nil {
		w.ranges = append(w.ranges, cl(w.column+" >= ?", micros(*from)))
	}
	if w.column != "" && to != nil {
		w.ranges = append(w.ranges, cl(w.column+" < ?", micros(*to)))
	}
	return w
}

// key is the list order's columns.
func (w userWalk) key() string {
	if w.column == "" {
		return "id"
	}
	return w.column + ", id"
}

// after is the condition for the users after p, none at the start.
func (w userWalk) after(p userPosition) []clause {
	switch {
	case p.id == "":
		return nil
	case w.column == "":
		return []clause{cl("id > ?", p.id)}
	}
	return []clause{cl("("+w.column+", id) > (?, ?)", micros(p.at), p.id)}
}

// through is the condition for the users up to p, p included.
func (w userWalk) through(p userPosition) clause {
	if w.column == "" {
		return cl("id <= ?", p.id)
	}
	return cl("("+w.column+", id) <= (?, ?)", micros(p.at), p.id)
}

// end finds where a walk of n users from p stops: the nth user's position,
// when more users follow it (more), for a walk bounded there.
func (r repos) walkEnd(ctx context.Context, envID string, w userWalk, p userPosition, n int) (end userPosition, more bool, err error) {
	conds := append(append([]clause{cl("env_id = ?", envID)}, w.ranges...), w.after(p)...)
	where, args := render(" AND ", conds...)
	query := `SELECT ` + w.key() + ` FROM users WHERE ` + where + ` ORDER BY ` + w.key() +
		` LIMIT 2 OFFSET ` + strconv.Itoa(n-1)
	rows, err := r.q.QueryContext(ctx, query, r.valuePlanned(args)...)
	if err != nil {
		return end, false, err
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		if found++; found > 1 {
			continue
		}
		if w.column == "" {
			err = rows.Scan(&end.id)
		} else {
			var t int64
			err = rows.Scan(&t, &end.id)
			end.at = time.UnixMicro(t).UTC()
		}
		if err != nil {
			return end, false, err
		}
	}
	return end, found == 2, rows.Err()
}

// firstStretch is how many users a bounded walk reads before the rest of
// its bound: enough to fill a page of a search that many users match, so
// that such a page does not pay for finding the end of the whole bound.
const firstStretch = 1000

// ListUsers plans the search from the filter. When one condition's index
// holds few matches (a probe counts them), the users are read through that
// index, every other condition checked on the way. Otherwise they are read
// in list order, which fills a page soonest when many match, through an
// equality's index when one serves that order; with f.Scan set, the walk
// covers at most f.Scan users of the list, so that a search that matches
// few users of a big environment answers in bounded time and goes on at
// the next page.
func (r repos) ListUsers(ctx context.Context, envID string, f gatehouse.UserFilter) (_ gatehouse.UserList, err error) {
	defer r.observed("ListUsers")(&err)
	terms := r.userTerms(envID, f)
	walk := newUserWalk(f)
	narrow, lead := -1, -1
	for i, t := range terms {
		if t.unique || t.probe != nil && r.fewMatches(ctx, *t.probe) {
			narrow = i
			break
		}
		if lead < 0 && t.inIDOrder && walk.column == "" {
			lead = i
		}
	}
	conds := append([]clause{cl("env_id = ?", envID)}, walk.ranges...)
	for i, t := range terms {
		if i == narrow || narrow < 0 && i == lead {
			conds = append(conds, t.indexed)
		} else {
			conds = append(conds, t.plain)
		}
	}
	list := gatehouse.UserList{Users: []*gatehouse.User{}}
	from := userPosition{f.After, f.AfterTime}
	if narrow >= 0 || f.Scan <= 0 || len(terms) == 0 {
		err := r.listUsersInto(ctx, envID, &list, append(conds, walk.after(from)...), walk, f.Limit)
		return list, err
	}
	for _, n := range []int{min(firstStretch, f.Scan), f.Scan - firstStretch} {
		if n <= 0 {
			continue
		}
		end, more, err := r.walkEnd(ctx, envID, walk, from, n)
		if err != nil {
			return list, err
		}
		stretch := append(slices.Clone(conds), walk.after(from)...)
		if more {
			stretch = append(stretch, walk.through(end))
		}
		if err := r.listUsersInto(ctx, envID, &list, stretch, walk, f.Limit-len(list.Users)); err != nil || !more || len(list.Users) >= f.Limit {
			return list, err
		}
		from = end
	}
	list.Stopped, list.StoppedAt, list.StoppedAtTime = true, from.id, from.at
	return list, nil
}

// listUsersInto appends to list, with their roles, at most limit users
// that meet every condition, in the walk's order.
func (r repos) listUsersInto(ctx context.Context, envID string, list *gatehouse.UserList, conds []clause, w userWalk, limit int) error {
	where, args := render(" AND ", conds...)
	args = append(args, limit)
	query := `SELECT ` + userColumns + ` FROM users WHERE ` + where +
		` ORDER BY ` + w.key() + ` LIMIT $` + strconv.Itoa(len(args))
	rows, err := r.q.QueryContext(ctx, query, r.valuePlanned(args)...)
	if err != nil {
		return err
	}
	var users []*gatehouse.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return err
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	list.Users = append(list.Users, users...)
	return r.loadRolesOf(ctx, envID, users)
}

// fewMatches runs a probe: whether an index finds fewer than
// SearchProbeLimit users.
func (r repos) fewMatches(ctx context.Context, probe clause) bool {
	query, args := render("", probe)
	var n int
	if err := r.q.QueryRowContext(ctx, query, r.valuePlanned(args)...).Scan(&n); err != nil {
		return false // the walk is always right, only slower
	}
	return n < SearchProbeLimit
}

// hasTrigram reports whether a LIKE pattern holds three characters in a row
// without a wildcard (% or _), which a trigram index needs to narrow a
// search.
func hasTrigram(pattern string) bool {
	for _, part := range strings.FieldsFunc(pattern, func(r rune) bool { return r == '%' || r == '_' }) {
		if utf8.RuneCountInString(part) >= 3 {
			return true
		}
	}
	return false
}

// prefixEnd is the least string greater than every string starting with
// prefix, bytewise.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return string(b) + "\xff"
}

// likePattern keeps % as the wildcard and makes _ and \ literal.
func likePattern(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	return strings.ReplaceAll(v, "_", `\_`)
}
