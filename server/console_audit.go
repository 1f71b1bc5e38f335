package server

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// consoleAuditPageSize is the audit page's length; consoleAuditExportMax
// bounds an export.
const (
	consoleAuditPageSize  = 50
	consoleAuditExportMax = 100_000
)

// consoleAuditActions are offered as the action filter's suggestions.
var consoleAuditActions = []string{
	service.ActionAuthenticated, service.ActionAuthenticationFailed, service.ActionUserLockedOut, service.ActionTokenIssued,
	service.ActionClientAuthFailed, service.ActionSessionEnded, service.ActionMFASucceeded, service.ActionMFAFailed,
	service.ActionUserCreated, service.ActionUserUpdated, service.ActionUserDeleted, service.ActionUserPasswordSet,
	service.ActionUserPasswordChanged, service.ActionUserForceChange, service.ActionUserUnlocked, service.ActionUserRolesSet,
	service.ActionAppCreated, service.ActionAppUpdated, service.ActionAppDeleted, service.ActionAppSecretRotated,
	service.ActionIdPCreated, service.ActionIdPUpdated, service.ActionIdPDeleted, service.ActionPasswordPolicyChanged,
	service.ActionMFAPolicyChanged, service.ActionSignOnPolicyChanged, service.ActionBrandingChanged, service.ActionKeyRotated,
}

func (s *Server) mountConsoleAudit() {
	s.consoleRoute("GET /console/{env}/audit", envRead, s.consoleAudit)
	s.consoleRoute("GET /console/{env}/audit/export", envRead, s.consoleAuditExport)
	s.consoleRoute("GET /console/{env}/reports", envRead, s.consoleReports)
	s.consoleRoute("GET /console/{env}/reports/{chart}", envRead, s.consoleReportFile)
}

// consoleAuditSearch is the audit page's search, as typed.
type consoleAuditSearch struct {
	User, As, Action, Outcome, From, To string
}

// values are the search's query parameters, for links.
func (f consoleAuditSearch) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"user": f.User, "as": f.As, "action": f.Action, "outcome": f.Outcome, "from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// auditSearch reads the search from the query and makes the store's filter
// of it: the user is a user's id or username (or any actor's or target's
// id), the dates are UTC days, "to" included.
func (s *Server) auditSearch(r *http.Request, c *console) (consoleAuditSearch, gatehouse.AuditFilter, error) {
	q := r.URL.Query()
	f := consoleAuditSearch{User: strings.TrimSpace(q.Get("user")), As: q.Get("as"), Action: strings.ToUpper(strings.TrimSpace(q.Get("action"))),
		Outcome: q.Get("outcome"), From: q.Get("from"), To: q.Get("to")}
	var filter gatehouse.AuditFilter
	if f.As != "actor" {
		f.As = "target"
	}
	if id := s.svc.AuditSubject(r.Context(), c.envID, f.User); f.As == "actor" {
		filter.ActorID = id
	} else {
		filter.TargetID = id
	}
	filter.Action = f.Action
	switch f.Outcome {
	case gatehouse.OutcomeSuccess, gatehouse.OutcomeFailure:
		filter.Outcome = f.Outcome
	default:
		f.Outcome = ""
	}
	for _, d := range []struct {
		name, value string
		to          **time.Time
		next        bool
	}{{"From", f.From, &filter.From, false}, {"To", f.To, &filter.To, true}} {
		if d.value == "" {
			continue
		}
		day, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			return f, filter, gatehouse.Errorf(gatehouse.EINVALID, "%s must be a date (YYYY-MM-DD)", d.name)
		}
		if d.next {
			day = day.AddDate(0, 0, 1)
		}
		*d.to = &day
	}
	if filter.From != nil && filter.To != nil && !filter.From.Before(*filter.To) {
		return f, filter, gatehouse.Errorf(gatehouse.EINVALID, "From must not be after To")
	}
	return f, filter, nil
}

// consoleAuditRow is an event as the audit page shows it.
type consoleAuditRow struct {
	*gatehouse.AuditEvent
	Details []string
	// Subject and Actor are the usernames of the users the event names.
	Subject, Actor string
}

// Day and Clock are the event's day and time of day, UTC.
func (r consoleAuditRow) Day() string   { return r.Time.UTC().Format("2 Jan 2006") }
func (r consoleAuditRow) Clock() string { return r.Time.UTC().Format("15:04:05") }

// ActionParts are the action's words, for a line to break between them.
func (r consoleAuditRow) ActionParts() []string { return strings.Split(r.Action, "_") }

func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request, c *console) {
	search, filter, err := s.auditSearch(r, c)
	p := c.page("Audit log", "audit", nil)
	status := http.StatusOK
	page := &service.AuditPage{}
	if err == nil {
		filter.Limit = consoleAuditPageSize
		if v := r.URL.Query().Get("cursor"); v != "" {
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || n < 1 {
				err = gatehouse.Errorf(gatehouse.EINVALID, "this page's link is not one the console gave: search again")
			}
			filter.Before = n
		}
	}
	if err == nil {
		page, err = s.svc.ListAuditEvents(r.Context(), c.envID, filter)
	}
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			s.writeError(w, r, err)
			return
		}
		p.Error, page, status = gatehouse.ErrorMessage(err), &service.AuditPage{}, http.StatusBadRequest
	}
	names := map[string]string{}
	username := func(typ, id string) string {
		if typ != gatehouse.ActorUser || id == "" {
			return ""
		}
		if n, ok := names[id]; ok {
			return n
		}
		if u, err := s.svc.GetUser(r.Context(), c.envID, id); err == nil {
			names[id] = u.Username
		} else {
			names[id] = ""
		}
		return names[id]
	}
	rows := make([]consoleAuditRow, len(page.Items))
	for i, e := range page.Items {
		rows[i] = consoleAuditRow{AuditEvent: e, Details: auditDetailsText(e.Details),
			Subject: username(e.TargetType, e.TargetID), Actor: username(e.ActorType, e.ActorID)}
	}
	base := "/console/" + c.envID + "/audit"
	link := func(path, k, v string) string {
		q := search.values()
		q.Set(k, v)
		return base + path + "?" + q.Encode()
	}
	data := map[string]any{"Search": search, "Events": rows, "Actions": consoleAuditActions, "ExportMax": consoleAuditExportMax,
		"CSV": link("/export", "format", "csv"), "JSON": link("/export", "format", "json"), "Verify": link("", "verify", "1")}
	if page.NextCursor != "" {
		data["Next"] = link("", "cursor", page.NextCursor)
	}
	if r.URL.Query().Get("verify") == "1" {
		report, err := s.svc.VerifyAuditChain(r.Context(), c.envID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data["Chain"] = report
	}
	p.Data = data
	s.renderConsole(w, r, status, "audit", p)
}

// auditDetailsText writes an event's details as k=v, by key.
func auditDetailsText(d map[string]string) []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if d[k] != "" {
			parts = append(parts, k+"="+d[k])
		}
	}
	return parts
}

// auditCSVHeader are the columns of the CSV export.
var auditCSVHeader = []string{"seq", "time", "actorType", "actorId", "action", "targetType", "targetId", "outcome",
	"clientIp", "userAgent", "details", "id", "prevHash", "hash"}

// csvCell keeps a spreadsheet from reading a value as a formula: a cell
// that starts with = + - @ (or a tab or carriage return) gets a leading '.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// consoleAuditExport streams the current search as CSV or JSON, newest
// first, at most consoleAuditExportMax events.
func (s *Server) consoleAuditExport(w http.ResponseWriter, r *http.Request, c *console) {
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "json" {
		http.Error(w, "format must be csv or json", http.StatusBadRequest)
		return
	}
	_, filter, err := s.auditSearch(r, c)
	if err != nil {
		http.Error(w, gatehouse.ErrorMessage(err), http.StatusBadRequest)
		return
	}
	name := fmt.Sprintf("audit-%s-%s.%s", c.envID, time.Now().UTC().Format("20060102-150405"), format)
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Export-Limit", strconv.Itoa(consoleAuditExportMax))
	var more bool
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write(auditCSVHeader)
		_, err = s.svc.EachAuditEvent(r.Context(), c.envID, filter, consoleAuditExportMax, func(e *gatehouse.AuditEvent) error {
			details, _ := json.Marshal(e.Details)
			row := []string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.ActorType, e.ActorID, e.Action,
				e.TargetType, e.TargetID, e.Outcome, e.ClientIP, e.UserAgent, string(details), e.ID, e.PrevHash, e.Hash}
			for i := range row {
				row[i] = csvCell(row[i])
			}
			cw.Write(row)
			return cw.Error()
		})
		cw.Flush()
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"environment":`)
		env, _ := json.Marshal(c.envID)
		w.Write(env)
		io.WriteString(w, `,"items":[`)
		n := 0
		enc := json.NewEncoder(w)
		more, err = s.svc.EachAuditEvent(r.Context(), c.envID, filter, consoleAuditExportMax, func(e *gatehouse.AuditEvent) error {
			if n > 0 {
				io.WriteString(w, ",")
			}
			n++
			return enc.Encode(e)
		})
		fmt.Fprintf(w, `],"truncated":%t}`+"\n", more)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "exporting the audit log", "env", c.envID, "err", err)
	}
}

// consoleReportMonths and consoleReportDays are how far back the reports
// look.
const (
	consoleReportMonths = 12
	consoleReportDays   = 30
)

func (s *Server) consoleReports(w http.ResponseWriter, r *http.Request, c *console) {
	mau, signIns, err := s.reports(r, c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var total, ok, failed int64
	var peak gatehouse.MonthCount
	for _, m := range mau {
		if m.Users >= peak.Users {
			peak = m
		}
	}
	for _, d := range signIns {
		ok, failed = ok+d.Successes, failed+d.Failures
	}
	total = ok + failed
	data := map[string]any{"MAU": reverse(mau), "SignIns": reverse(signIns), "Current": mau[len(mau)-1], "Peak": peak,
		"Successes": ok, "Failures": failed, "Total": total, "Months": consoleReportMonths, "Days": consoleReportDays}
	s.renderConsole(w, r, http.StatusOK, "reports", c.page("Reports", "reports", data))
}

func reverse[T any](v []T) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[len(v)-1-i] = x
	}
	return out
}

// reports are the last 12 months' active users and the last 30 days'
// sign-ins, counted by the service.
func (s *Server) reports(r *http.Request, c *console) ([]gatehouse.MonthCount, []gatehouse.SignInCount, error) {
	now := time.Now()
	from, to := service.LastMonths(now, consoleReportMonths)
	mau, err := s.svc.MonthlyActiveUsers(r.Context(), c.envID, from, to)
	if err != nil {
		return nil, nil, err
	}
	from, to = service.LastDays(now, consoleReportDays)
	signIns, err := s.svc.SignInCounts(r.Context(), c.envID, from, to)
	return mau, signIns, err
}

// consoleReportFile serves a report's chart (SVG) or data (CSV).
func (s *Server) consoleReportFile(w http.ResponseWriter, r *http.Request, c *console) {
	chart := r.PathValue("chart")
	switch chart {
	case "mau.svg", "mau.csv", "signins.svg", "signins.csv":
	default:
		http.NotFound(w, r)
		return
	}
	mau, signIns, err := s.reports(r, c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(chart, ".csv") {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+strings.TrimSuffix(chart, ".csv")+"-"+c.envID+`.csv"`)
		cw := csv.NewWriter(w)
		if chart == "mau.csv" {
			cw.Write([]string{"month", "monthlyActiveUsers"})
			for _, m := range mau {
				cw.Write([]string{m.Month.Format("2006-01"), strconv.FormatInt(m.Users, 10)})
			}
		} else {
			cw.Write([]string{"day", "successes", "failures"})
			for _, d := range signIns {
				cw.Write([]string{d.Day.Format(time.DateOnly), strconv.FormatInt(d.Successes, 10), strconv.FormatInt(d.Failures, 10)})
			}
		}
		cw.Flush()
		return
	}
	h.Set("Content-Type", "image/svg+xml")
	var bars []chartBar
	var title string
	if chart == "mau.svg" {
		title = "Monthly active users, last 12 months"
		for _, m := range mau {
			bars = append(bars, chartBar{Label: m.Month.Format("Jan"), Sub: m.Month.Format("2006"), Values: []int64{m.Users}})
		}
	} else {
		title = "Sign-ins per day, last 30 days: successes and failures"
		for _, d := range signIns {
			bars = append(bars, chartBar{Label: d.Day.Format("2"), Sub: d.Day.Format("Jan"), Values: []int64{d.Successes, d.Failures}})
		}
	}
	writeBarChart(w, title, bars)
}

// chartBar is one group of bars of a chart: one value per series.
type chartBar struct {
	Label, Sub string
	Values     []int64
}

// chartColors are the series' colours: the console's accent, then red.
var chartColors = []string{"#1f5fbf", "#b3261e"}

// writeBarChart draws a bar chart as SVG, with presentation attributes
// only (no style), so that it renders as an image under the console's CSP.
func writeBarChart(w io.Writer, title string, bars []chartBar) {
	const width, height, left, right, top, bottom = 760.0, 260.0, 48.0, 12.0, 16.0, 40.0
	var max int64
	for _, b := range bars {
		for _, v := range b.Values {
			max = maxInt(max, v)
		}
	}
	scale := niceCeiling(max)
	plotW, plotH := width-left-right, height-top-bottom
	esc := template.HTMLEscapeString
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" font-family="system-ui, sans-serif" font-size="11">`,
		width, height, width, height)
	fmt.Fprintf(w, "<title>%s</title>", esc(title))
	fmt.Fprintf(w, `<rect width="%.0f" height="%.0f" fill="#ffffff"/>`, width, height)
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dde2ea"/>`, left, y, width-right, y)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#5b6475">%d</text>`, left-6, y+4, scale*int64(i)/4)
	}
	if len(bars) == 0 {
		io.WriteString(w, "</svg>")
		return
	}
	slot := plotW / float64(len(bars))
	series := len(bars[0].Values)
	barW := slot * 0.7 / float64(series)
	every := 1
	if len(bars) > 15 {
		every = 3
	}
	for i, b := range bars {
		x0 := left + slot*float64(i) + slot*0.15
		for j, v := range b.Values {
			h := plotH * float64(v) / float64(scale)
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x0+barW*float64(j), top+plotH-h, barW, h, chartColors[j%len(chartColors)], esc(b.Label), esc(b.Sub), v)
		}
		if i%every == 0 || i == len(bars)-1 {
			cx := left + slot*float64(i) + slot/2
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#1d2330">%s</text>`, cx, height-bottom+16, esc(b.Label))
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#5b6475">%s</text>`, cx, height-bottom+30, esc(b.Sub))
		}
	}
	io.WriteString(w, "</svg>")
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// niceCeiling is the chart's top: 4 or more, a multiple of 4 and of a
// round step, at least max.
func niceCeiling(max int64) int64 {
	if max <= 4 {
		return 4
	}
	step := int64(1)
	for {
		for _, m := range []int64{1, 2, 5} {
			if 4*step*m >= max {
				return 4 * step * m
			}
		}
		step *= 10
	}
}
