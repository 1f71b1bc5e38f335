package server_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// hostile is a value a spreadsheet would run as a formula, with the CSV's
// separators in it.
const hostile = "=cmd|' /C calc'!A0,\"quoted\"\nsecond line"

func appendEvent(t *testing.T, h *apiHarness, e *gatehouse.AuditEvent) {
	t.Helper()
	if e.ID == "" {
		e.ID = gatehouse.NewID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Outcome == "" {
		e.Outcome = gatehouse.OutcomeSuccess
	}
	if err := h.svc.Store.AppendAuditEvent(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

var auditRow = regexp.MustCompile(`<td class="when" title="event (\d+)"`)

// TestConsoleAuditLog: the audit page lists an environment's events newest
// first, 50 a page, filters them by user, action, outcome and day, exports
// the search as CSV (formulas defused) and JSON, and verifies the chain,
// reporting an event altered in the database.
func TestConsoleAuditLog(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	eve := consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	for range 55 {
		h.newUser("acme", nil, "")
	}
	appendEvent(t, h, &gatehouse.AuditEvent{EnvironmentID: "acme", ActorType: gatehouse.ActorAnonymous, ActorID: hostile,
		Action: service.ActionAuthenticationFailed, TargetType: "USER", Outcome: gatehouse.OutcomeFailure, UserAgent: hostile,
		Details: map[string]string{"username": hostile}})
	if _, err := h.svc.CreateUser(ctx, service.OperatorActor(), "globex", service.NewUser{
		User: gatehouse.User{Username: "globex-secret-user"}, Password: consolePassword, KeepPassword: true}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, h)
	p := consoleSignIn(t, b, "acme", "/console/acme/audit", "eve@acme.example")
	if p.status != 200 || !strings.Contains(p.body, "<h1>Audit log</h1>") || !strings.Contains(p.body, `aria-current="page">Audit log`) {
		t.Fatalf("audit page: %d\n%s", p.status, p.body)
	}
	seqs := func(p page) []string {
		var out []string
		for _, m := range auditRow.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	first := seqs(p)
	if a, _ := strconv.Atoi(first[0]); len(first) != 50 || int64(a) != h.auditHead("acme") {
		t.Fatalf("the first page: %v", first)
	}
	if strings.Contains(p.body, "globex-secret-user") || !strings.Contains(p.body, "=cmd|&#39; /C calc&#39;!A0,&#34;quoted&#34;\nsecond") {
		t.Fatalf("the page shows another environment's events, or not the hostile one (escaped)")
	}
	if strings.Contains(p.body, hostile) {
		t.Fatal("a hostile value is written unescaped")
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no next page")
	}
	second := seqs(b.do("GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil))
	if len(second) == 0 || second[0] == first[0] {
		t.Fatalf("the second page: %v", second)
	}

	// Filters.
	byUser := b.do("GET", "/console/acme/audit?user=eve@acme.example", nil)
	if n := len(seqs(byUser)); n < 2 || !strings.Contains(byUser.body, ">AUTHENTICATED<") || strings.Contains(byUser.body, ">AUTHENTICATION_<wbr>FAILED<") {
		t.Fatalf("eve's events: %d\n%s", n, byUser.body)
	}
	if byID := b.do("GET", "/console/acme/audit?user="+eve.ID, nil); len(seqs(byID)) != len(seqs(byUser)) {
		t.Fatal("searching by id and by username differ")
	}
	if asActor := b.do("GET", "/console/acme/audit?as=actor&user=eve@acme.example", nil); len(seqs(asActor)) != 0 {
		t.Fatalf("eve did nothing yet as an actor: %d events", len(seqs(asActor)))
	}
	failures := b.do("GET", "/console/acme/audit?outcome=FAILURE", nil)
	if n := len(seqs(failures)); n != 1 {
		t.Fatalf("failures: %d", n)
	}
	if created := b.do("GET", "/console/acme/audit?action=user_created", nil); strings.Contains(created.body, ">AUTHENTICATED<") || len(seqs(created)) != 50 {
		t.Fatalf("USER_CREATED: %d", len(seqs(created)))
	}
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	today := time.Now().UTC().Format(time.DateOnly)
	if old := b.do("GET", "/console/acme/audit?to="+yesterday, nil); len(seqs(old)) != 0 || !strings.Contains(old.body, "No events match") {
		t.Fatalf("events until yesterday: %d", len(seqs(old)))
	}
	if recent := b.do("GET", "/console/acme/audit?from="+today+"&to="+today, nil); len(seqs(recent)) != 50 {
		t.Fatalf("events of today: %d", len(seqs(recent)))
	}
	if bad := b.do("GET", "/console/acme/audit?from=yesterday", nil); bad.status != 400 || !strings.Contains(bad.body, "must be a date") {
		t.Fatalf("a bad date: %d", bad.status)
	}

	// CSV export.
	csvPage := b.do("GET", "/console/acme/audit/export?format=csv", nil)
	if csvPage.status != 200 || !strings.HasPrefix(csvPage.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(csvPage.header.Get("Content-Disposition"), `attachment; filename="audit-acme-`) {
		t.Fatalf("CSV export: %d %v", csvPage.status, csvPage.header)
	}
	records, err := csv.NewReader(strings.NewReader(csvPage.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(records[0], ",") != "seq,time,actorType,actorId,action,targetType,targetId,outcome,clientIp,userAgent,details,id,prevHash,hash" {
		t.Fatalf("CSV header %v", records[0])
	}
	head := h.auditHead("acme")
	if int64(len(records)-1) != head || records[1][0] != fmt.Sprint(head) {
		t.Fatalf("CSV rows: %d, the first is %s; the log has %d events", len(records)-1, records[1][0], head)
	}
	var hostileRow []string
	for _, r := range records[1:] {
		if r[4] == service.ActionAuthenticationFailed {
			hostileRow = r
		}
		if strings.Contains(strings.Join(r, " "), "globex") {
			t.Fatalf("another environment's event in the export: %v", r)
		}
	}
	if hostileRow == nil || hostileRow[3] != "'"+hostile || hostileRow[9] != "'"+hostile || !strings.Contains(hostileRow[10], `=cmd|' /C calc'!A0,\"quoted\"\nsecond line`) {
		t.Fatalf("the hostile row: %q", hostileRow)
	}
	filtered := b.do("GET", "/console/acme/audit/export?format=csv&outcome=FAILURE", nil)
	if records, _ := csv.NewReader(strings.NewReader(filtered.body)).ReadAll(); len(records) != 2 || records[1][7] != gatehouse.OutcomeFailure {
		t.Fatalf("the filtered CSV: %q", records)
	}
	if p := b.do("GET", "/console/acme/audit/export?format=xml", nil); p.status != 400 {
		t.Fatalf("an unknown format: %d", p.status)
	}

	// JSON export.
	jsonPage := b.do("GET", "/console/acme/audit/export?format=json&user=eve@acme.example", nil)
	var doc struct {
		Environment string                  `json:"environment"`
		Items       []*gatehouse.AuditEvent `json:"items"`
		Truncated   bool                    `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(jsonPage.body), &doc); err != nil || !strings.HasPrefix(jsonPage.header.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(jsonPage.header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("JSON export: %v %v\n%s", err, jsonPage.header, jsonPage.body)
	}
	if doc.Environment != "acme" || doc.Truncated || len(doc.Items) != len(seqs(byUser)) {
		t.Fatalf("JSON export of eve's events: %+v", doc)
	}
	for _, e := range doc.Items {
		if e.TargetID != eve.ID || e.EnvironmentID != "acme" {
			t.Fatalf("an event not eve's: %+v", e)
		}
	}

	// The chain: verified, then broken by a change in the database.
	if v := b.do("GET", "/console/acme/audit?verify=1", nil); !strings.Contains(v.body, fmt.Sprintf("Verified: the chain of %d events is intact", h.auditHead("acme"))) {
		t.Fatalf("verification:\n%s", v.body)
	}
	if v := b.do("GET", "/console/acme/audit", nil); strings.Contains(v.body, "Verified") || !strings.Contains(v.body, "verify=1") {
		t.Fatal("the page verifies the whole log without being asked")
	}
	db := h.svc.Store.(interface{ DB() *sql.DB }).DB()
	if res, err := db.Exec(`UPDATE audit_events SET details = '{}' WHERE env_id = 'acme' AND seq = 2`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampered with %d events", n)
	}
	if v := b.do("GET", "/console/acme/audit?verify=1", nil); !strings.Contains(v.body, "Broken at event 2 of") ||
		!strings.Contains(v.body, "content does not match its hash") {
		t.Fatalf("a tampered event:\n%s", v.body)
	}
}

// TestConsoleReports: monthly active users count each user once per month,
// exactly; sign-ins are counted per day; the charts are SVG without
// styles; the CSVs hold the same figures.
func TestConsoleReports(t *testing.T) {
	h := newAPI(t)
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := thisMonth.AddDate(0, 0, -1) // its last day
	signIn := func(env, user string, at time.Time, ok bool) {
		e := &gatehouse.AuditEvent{EnvironmentID: env, Time: at, ActorType: gatehouse.ActorAnonymous, Action: service.ActionAuthenticated,
			TargetType: "USER", TargetID: user}
		if !ok {
			e.Action, e.Outcome = service.ActionAuthenticationFailed, gatehouse.OutcomeFailure
		}
		appendEvent(t, h, e)
	}
	for range 3 {
		signIn("acme", "u1", now, true)
		signIn("acme", "u1", lastMonth, true)
	}
	signIn("acme", "u2", now, true)
	signIn("acme", "u3", lastMonth, true)
	signIn("acme", "u4", lastMonth, true)
	signIn("acme", "u2", now, false)
	for _, u := range []string{"g1", "g2", "g3", "g4", "g5"} {
		signIn("globex", u, now, true)
	}

	b := newBrowser(t, h)
	// eve's own sign-in is one more sign-in and one more active user.
	p := consoleSignIn(t, b, "acme", "/console/acme/reports", "eve@acme.example")
	if p.status != 200 || !strings.Contains(p.body, "<h1>Reports</h1>") {
		t.Fatalf("reports: %d\n%s", p.status, p.body)
	}
	row := func(label string, values ...any) string {
		s := "<tr><td>" + label + "</td>"
		for _, v := range values {
			s += fmt.Sprintf(`<td class="num">%v</td>`, v)
		}
		return s + "</tr>"
	}
	for _, want := range []string{
		row(thisMonth.Format("January 2006"), 3), row(lastMonth.Format("January 2006"), 3),
		row(thisMonth.AddDate(0, -11, 0).Format("January 2006"), 0),
	} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("the reports page lacks %s:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, row(thisMonth.AddDate(0, -12, 0).Format("January 2006"), 0)) {
		t.Fatal("a 13th month")
	}
	if today := row(now.Format("Mon 2 Jan 2006"), 5, `<span class="tag off">1</span>`); !strings.Contains(p.body, today) {
		t.Fatalf("today's sign-ins: want %s\n%s", today, p.body)
	}

	mau := b.do("GET", "/console/acme/reports/mau.csv", nil)
	records, err := csv.NewReader(strings.NewReader(mau.body)).ReadAll()
	if err != nil || mau.status != 200 || !strings.HasPrefix(mau.header.Get("Content-Disposition"), "attachment;") || len(records) != 13 ||
		strings.Join(records[0], ",") != "month,monthlyActiveUsers" ||
		strings.Join(records[12], ",") != thisMonth.Format("2006-01")+",3" || strings.Join(records[11], ",") != lastMonth.Format("2006-01")+",3" {
		t.Fatalf("MAU CSV: %d %v %q", mau.status, err, records)
	}
	signIns := b.do("GET", "/console/acme/reports/signins.csv", nil)
	records, err = csv.NewReader(strings.NewReader(signIns.body)).ReadAll()
	if err != nil || len(records) != 31 || strings.Join(records[30], ",") != now.Format(time.DateOnly)+",5,1" {
		t.Fatalf("sign-ins CSV: %v %q", err, records)
	}
	for _, chart := range []string{"mau.svg", "signins.svg"} {
		svg := b.do("GET", "/console/acme/reports/"+chart, nil)
		if svg.status != 200 || svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.body, "<svg ") ||
			strings.Contains(svg.body, "style") || strings.Contains(svg.body, "<script") || !strings.Contains(p.body, `src="/console/acme/reports/`+chart+`"`) {
			t.Fatalf("%s: %d %v\n%s", chart, svg.status, svg.header, svg.body)
		}
	}
	if !strings.Contains(b.do("GET", "/console/acme/reports/mau.svg", nil).body, "<title>"+thisMonth.Format("Jan 2006")+": 3</title>") {
		t.Fatal("the MAU chart's bar of this month")
	}
	if p := b.do("GET", "/console/acme/reports/other.svg", nil); p.status != 404 {
		t.Fatalf("an unknown chart: %d", p.status)
	}
}

// TestConsoleAuditRoles: READ_ONLY reads the audit log and the reports; a
// USER_ADMIN (no environment access) and a user with no administrator role
// are refused, exports and charts included.
func TestConsoleAuditRoles(t *testing.T) {
	h := newAPI(t)
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	consoleAdmin(t, h, "acme", "joe@acme.example")
	paths := []string{"/console/acme/audit", "/console/acme/audit/export?format=csv", "/console/acme/audit/export?format=json",
		"/console/acme/audit?verify=1", "/console/acme/reports", "/console/acme/reports/mau.svg", "/console/acme/reports/signins.csv"}

	ro := newBrowser(t, h)
	if p := consoleSignIn(t, ro, "acme", "/console/acme/audit", "rita@acme.example"); p.status != 200 || !strings.Contains(p.body, `href="/console/acme/reports"`) {
		t.Fatalf("READ_ONLY's audit page: %d", p.status)
	}
	for _, path := range paths {
		if p := ro.do("GET", path, nil); p.status != 200 {
			t.Fatalf("READ_ONLY GET %s: %d", path, p.status)
		}
	}
	ua := newBrowser(t, h)
	if p := consoleSignIn(t, ua, "acme", "/console/acme/users", "hal@acme.example"); strings.Contains(p.body, `href="/console/acme/audit"`) {
		t.Fatal("a USER_ADMIN is shown the audit log")
	}
	for _, who := range []struct {
		b    *browser
		name string
	}{{ua, "hal@acme.example"}, {newBrowser(t, h), "joe@acme.example"}} {
		if who.name == "joe@acme.example" {
			consoleSignIn(t, who.b, "acme", "/console/acme/reports", who.name)
		}
		for _, path := range paths {
			if p := who.b.do("GET", path, nil); p.status != http.StatusForbidden || strings.Contains(p.body, "AUTHENTICATED") || strings.Contains(p.body, "<svg") {
				t.Fatalf("%s GET %s: %d", who.name, path, p.status)
			}
		}
	}
	// Without a session: sent to sign in.
	if p := newBrowser(t, h).do("GET", "/console/acme/audit/export?format=csv", nil); p.status != http.StatusSeeOther {
		t.Fatalf("an export without a session: %d", p.status)
	}
}
