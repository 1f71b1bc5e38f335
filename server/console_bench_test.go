package server_test

// Benchmarks of the admin console's server time per page at the sizes of
// its budget (issue 7: ≤ 100 ms per page at 1,000,000 users and at 1,000
// environments). Each page is a real GET through the console's own
// sign-in session, over loopback with the harness's browser client; a
// wrapper around the server's handler counts the handler's own time, and
// the benchmarks report its p50 and p99 (server-p50-ms, server-p99-ms).
// ns/op is the whole round trip as the client saw it.
//
//	go test -run '^$' -bench Console -benchtime 200x -timeout 30m ./server
//
// GATEHOUSE_BENCH_USERS sets the number of users (1,000,000 by default),
// as for the store's BenchmarkListUsers.

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
	oidcconnector "github.com/gatehouse/gatehouse/connector/oidc"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlstore"
	"github.com/gatehouse/gatehouse/storetest"
)

// benchTeardown closes what the benchmarks share across the binary's run
// (the 1,000,000-user store), after every test and benchmark.
var benchTeardown []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(benchTeardown) {
		f()
	}
	os.Exit(code)
}

// timedServer is a running Gatehouse over a SQLite store whose handler
// time is counted.
type timedServer struct {
	h     *apiHarness
	store *sqlstore.Store
	spent atomic.Int64 // nanoseconds inside the server's handler
}

// newTimedServer starts a Gatehouse over a new SQLite store in dir, with
// the system environment and acme; closers are appended to *closers.
func newTimedServer(tb testing.TB, dir string, closers *[]func()) *timedServer {
	tb.Helper()
	ctx := context.Background()
	metrics := server.NewMetrics()
	store, err := sqlite.Open(ctx, dir, true, metrics.ObserveStore)
	if err != nil {
		tb.Fatal(err)
	}
	*closers = append(*closers, func() { store.Close() })
	kr, err := keyring.New(keyring.Generate())
	if err != nil {
		tb.Fatal(err)
	}
	svc := &service.Service{Store: store, Keyring: kr, Mail: mail.Discard,
		Connectors: map[string]connector.Kind{gatehouse.IdentityProviderOIDC: oidcconnector.Kind}}
	s := &timedServer{store: store}
	inner := server.New(svc, slog.New(slog.DiscardHandler), metrics)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inner.ServeHTTP(w, r)
		s.spent.Add(int64(time.Since(start)))
	}))
	svc.BaseURL = "http://" + ts.Listener.Addr().String()
	ts.Start()
	*closers = append(*closers, ts.Close)
	if _, err := svc.Bootstrap(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "acme"}); err != nil {
		tb.Fatal(err)
	}
	s.h = &apiHarness{t: tb, ts: ts, svc: svc}
	return s
}

// admin makes a user of env with the given roles and a final password, as
// consoleAdmin does.
func (s *timedServer) admin(tb testing.TB, env, username string, roles ...string) *gatehouse.User {
	tb.Helper()
	var as []gatehouse.RoleAssignment
	for _, r := range roles {
		as = append(as, gatehouse.RoleAssignment{Role: r})
	}
	u, err := s.h.svc.CreateUser(context.Background(), service.OperatorActor(), env, service.NewUser{
		User: gatehouse.User{Username: username, Roles: as}, Password: consolePassword, KeepPassword: true})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// signIn opens path in a new browser and signs in to the console through
// the environment's own sign-in pages, as consoleSignIn does.
func (s *timedServer) signIn(tb testing.TB, env, path, username string) *browser {
	tb.Helper()
	b := newBrowser(tb, s.h)
	start := b.do("GET", path, nil)
	login := b.do("GET", start.header.Get("Location"), nil).header.Get("Location")
	if !strings.HasPrefix(login, "/"+env+"/login/") {
		tb.Fatalf("the console did not send to the sign-in: %d %s", start.status, start.header.Get("Location"))
	}
	b.submit(login, b.do("GET", login, nil), "username", username)
	back := b.submit(login, b.do("GET", login, nil), "password", consolePassword)
	callback := back.header.Get("Location")
	if !strings.Contains(callback, "/console/"+env+"/callback?") {
		tb.Fatalf("sign-in did not return to the console: %d %s\n%s", back.status, callback, back.body)
	}
	if landed := b.do("GET", callback, nil); landed.status != http.StatusSeeOther || landed.header.Get("Location") != path {
		tb.Fatalf("console callback: %d %s", landed.status, landed.header.Get("Location"))
	}
	return b
}

// pageCase is a console page to time; rows, when set, checks the first
// answer (never a timing).
type pageCase struct {
	name, path string
	rows       func(p page) error
}

var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// next is the page's link to the next page.
func next(tb testing.TB, p page) string {
	tb.Helper()
	m := nextLink.FindStringSubmatch(p.body)
	if m == nil {
		tb.Fatalf("no next page on the page:\n%.2000s", p.body)
	}
	return html.UnescapeString(m[1])
}

// timePage GETs the case's page b.N times and reports the server's p50
// and p99 per page, and the page's size.
func (s *timedServer) timePage(b *testing.B, br *browser, c pageCase) {
	first := br.do("GET", c.path, nil)
	if first.status != http.StatusOK {
		b.Fatalf("GET %s: %d\n%.2000s", c.path, first.status, first.body)
	}
	if c.rows != nil {
		if err := c.rows(first); err != nil {
			b.Fatalf("GET %s: %v", c.path, err)
		}
	}
	var took []time.Duration
	for b.Loop() {
		before := s.spent.Load()
		if p := br.do("GET", c.path, nil); p.status != http.StatusOK {
			b.Fatalf("GET %s: %d", c.path, p.status)
		}
		took = append(took, time.Duration(s.spent.Load()-before))
	}
	slices.Sort(took)
	pct := func(p float64) float64 { return float64(took[int(float64(len(took)-1)*p)]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "server-p50-ms")
	b.ReportMetric(pct(0.99), "server-p99-ms")
	b.ReportMetric(float64(len(first.body)), "B/page")
}

// bigDirectory is acme with ListBenchUsers() users, made once per run of
// the binary and shared by the users benchmarks.
var bigDirectory = sync.OnceValues(func() (*bigFixture, error) {
	f := &bigFixture{}
	dir, err := os.MkdirTemp("", "gatehouse-console-bench-")
	if err != nil {
		return nil, err
	}
	benchTeardown = append(benchTeardown, func() { os.RemoveAll(dir) })
	var closers []func()
	defer func() { benchTeardown = append(benchTeardown, closers...) }()
	// The setup's failures end the run through this TB.
	tb := &setupTB{}
	failed := tb.run(func() {
		f.s = newTimedServer(tb, dir, &closers)
		f.s.admin(tb, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
		f.n = storetest.ListBenchUsers()
		start := time.Now()
		f.sample = storetest.SeedUsers(tb, f.s.store, "acme", f.n)
		f.seeded = time.Since(start)
	})
	if failed != nil {
		return nil, failed
	}
	return f, nil
})

type bigFixture struct {
	s      *timedServer
	n      int
	sample []string // every 1000th user's id
	seeded time.Duration
}

// setupTB is the testing.TB of the shared setup, which runs inside
// whichever benchmark comes first but outlives it: a failure is returned
// as an error rather than ending that benchmark.
type setupTB struct {
	testing.TB
	err error
}

func (t *setupTB) Helper()                   {}
func (t *setupTB) Fatal(args ...any)         { t.err = fmt.Errorf("%s", fmt.Sprint(args...)); panic(t) }
func (t *setupTB) Fatalf(f string, a ...any) { t.err = fmt.Errorf(f, a...); panic(t) }
func (t *setupTB) Cleanup(func())            { panic("no cleanup in the shared setup") }

func (t *setupTB) run(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != any(t) {
				panic(r)
			}
			err = t.err
		}
	}()
	f()
	return nil
}

func bigDirectoryOf(b *testing.B) *bigFixture {
	start := time.Now()
	f, err := bigDirectory()
	if err != nil {
		b.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		b.Logf("setup: %d users seeded in %v; whole setup %v", f.n, f.seeded.Round(time.Second), d.Round(time.Second))
	}
	return f
}

// rowsOf counts the users listed on a users page.
func rowsOf(p page) int { return strings.Count(p.body, `<td><a href="/console/acme/users/`) }

// stopsWith checks a page that reached the search's bound with n rows.
func stopsWith(n int) func(page) error {
	return func(p page) error {
		if got := rowsOf(p); got != n || !strings.Contains(p.body, "Continue searching") {
			return fmt.Errorf("%d rows, want %d and Continue searching", got, n)
		}
		return nil
	}
}

func wantRows(lo, hi int) func(page) error {
	return func(p page) error {
		if n := rowsOf(p); n < lo || n > hi {
			return fmt.Errorf("%d rows, want %d to %d", n, lo, hi)
		}
		return nil
	}
}

// BenchmarkConsoleUsersPage times the users page of an environment of
// 1,000,000 users, signed in as an ENVIRONMENT_ADMIN: the first page,
// searches by each field the search box offers, filters, a page of 100
// and the pages after (a cursor).
func BenchmarkConsoleUsersPage(b *testing.B) {
	f := bigDirectoryOf(b)
	br := f.s.signIn(b, "acme", "/console/acme/users", "eve@acme.example")
	users := "/console/acme/users"
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return users + "?" + v.Encode()
	}
	n := f.n
	page1 := br.do("GET", users, nil)
	filtered := q("type", gatehouse.UserTypeAPI, "status", gatehouse.UserInactive, "limit", "100")
	cases := []pageCase{
		{"FirstPage", users, wantRows(25, 25)},
		{"PageSize100", q("limit", "100"), wantRows(100, 100)},
		{"NextPage", next(b, page1), wantRows(25, 25)},
		{"UsernameExact", q("q", fmt.Sprintf("USER%07d@corp%d.example", n/2, (n/2)%50)), wantRows(1, 1)},
		{"UsernamePrefix", q("q", "user00042%"), wantRows(25, 25)},
		{"UsernameSubstringRare", q("q", "%r000424%"), wantRows(10, 10)},
		{"FirstNameExact", q("q", "First999", "field", "firstName"), wantRows(0, 25)},
		{"LastNameSubstring", q("q", "%owal%", "field", "lastName"), wantRows(25, 25)},
		// The worst case of the search box: a substring that no one has.
		{"LastNameSubstringNoMatch", q("q", "%zzz%", "field", "lastName"), wantRows(0, 0)},
		{"EmailDomainSuffix", q("q", "%@corp7.example", "field", "email"), wantRows(25, 25)},
		{"TypeAndStatus", q("type", gatehouse.UserTypeAPI, "status", gatehouse.UserInactive), wantRows(25, 25)},
		{"TypeAndStatus100", filtered, wantRows(100, 100)},
		{"TypeAndStatus100Next", next(b, br.do("GET", filtered, nil)), wantRows(100, 100)},
		// Searches that no index narrows to a few users read at most
		// 30,000 users a page (service.DefaultUserSearchScan): a prefix
		// every user shares fills the page at once; a name prefix nobody
		// has is answered by its index; a substring too short for the
		// trigram index, or one with a literal _, and a common substring
		// whose users the other filters exclude, stop at the bound with
		// "Continue searching".
		{"UsernamePrefixAll", q("q", "user%"), wantRows(25, 25)},
		{"LastNamePrefixNoMatch", q("q", "zzz%", "field", "lastName"), wantRows(0, 0)},
		{"ShortSubstringNoMatch", q("q", "%qz%"), stopsWith(0)},
		{"UnderscoreSubstringNoMatch", q("q", "%r_9x%"), stopsWith(0)},
		{"StatusAndCommonSubstring", q("status", gatehouse.UserInactive, "q", "%okafor%", "field", "lastName"), stopsWith(0)},
		// A prefix that a tenth of the users share (at 1,000,000 users),
		// all created last: the first pages walk the users created before
		// them and stop at the bound.
		{"UsernamePrefixClustered", q("q", "user09%"), wantRows(0, 25)},
		// Only the administrator who signs in is of type ADMIN.
		{"TypeRare", q("type", gatehouse.UserTypeAdmin), wantRows(1, 1)},
		{"DisabledUsers", q("status", gatehouse.UserInactive), wantRows(25, 25)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { f.s.timePage(b, br, c) })
	}
}

// BenchmarkConsoleUserPage times a user's page at 1,000,000 users: the
// user, second factors, sessions, activity and the roles to assign.
// Plain cycles through a thousand users with no history; Busy is a user
// whose timeline is full (more than the 50 events it shows).
func BenchmarkConsoleUserPage(b *testing.B) {
	f := bigDirectoryOf(b)
	ctx := context.Background()
	svc := f.s.h.svc
	busy := f.sample[len(f.sample)/2]
	if events, _ := svc.UserActivity(ctx, "acme", busy, consoleActivityCountForBench); len(events) < consoleActivityCountForBench {
		for i := range consoleActivityCountForBench + 10 {
			dept := fmt.Sprintf("Dept %d", i)
			if _, err := svc.UpdateUser(ctx, service.OperatorActor(), "acme", busy, service.UserPatch{Department: &dept}); err != nil {
				b.Fatal(err)
			}
		}
	}
	br := f.s.signIn(b, "acme", "/console/acme/users", "eve@acme.example")
	b.Run("Plain", func(b *testing.B) {
		i := 0
		var took []time.Duration
		for _, id := range f.sample[:3] {
			if p := br.do("GET", "/console/acme/users/"+id, nil); p.status != http.StatusOK || !strings.Contains(p.body, "@corp") {
				b.Fatalf("user page %s: %d\n%.2000s", id, p.status, p.body)
			}
		}
		for b.Loop() {
			id := f.sample[i%len(f.sample)]
			i++
			before := f.s.spent.Load()
			if p := br.do("GET", "/console/acme/users/"+id, nil); p.status != http.StatusOK {
				b.Fatalf("user page %s: %d", id, p.status)
			}
			took = append(took, time.Duration(f.s.spent.Load()-before))
		}
		slices.Sort(took)
		pct := func(p float64) float64 { return float64(took[int(float64(len(took)-1)*p)]) / float64(time.Millisecond) }
		b.ReportMetric(pct(0.50), "server-p50-ms")
		b.ReportMetric(pct(0.99), "server-p99-ms")
	})
	b.Run("Busy", func(b *testing.B) {
		f.s.timePage(b, br, pageCase{"Busy", "/console/acme/users/" + busy, func(p page) error {
			if !strings.Contains(p.body, "Dept") {
				return fmt.Errorf("no activity on the busy user's page")
			}
			return nil
		}})
	})
}

// consoleActivityCountForBench is how many events the user page lists
// (the server's consoleActivityCount).
const consoleActivityCountForBench = 50

// benchEnvCount is how many environments BenchmarkConsoleEnvironments
// adds to system and acme.
const benchEnvCount = 1000

// BenchmarkConsoleEnvironments times the operators' list of environments
// with 1,000 environments: the first page, the next (a cursor) and a jump
// to an id. The environments are made as rows of the store, in one
// transaction: the list reads only the environments table, and the
// service's CreateEnvironment (a hashed administrator password, two
// signing keys, roles and audit per environment) would cost minutes.
func BenchmarkConsoleEnvironments(b *testing.B) {
	var closers []func()
	s := newTimedServer(b, b.TempDir(), &closers)
	b.Cleanup(func() {
		for _, f := range slices.Backward(closers) {
			f()
		}
	})
	ctx := context.Background()
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := s.store.InTx(ctx, func(r gatehouse.Repositories) error {
		for i := range benchEnvCount {
			e := &gatehouse.Environment{ID: fmt.Sprintf("tenant-%04d", i), DisplayName: fmt.Sprintf("Tenant %d Retail", i),
				Status: gatehouse.EnvironmentActive, CreatedOn: now, UpdatedOn: now}
			if i%7 == 0 {
				e.Status = gatehouse.EnvironmentDisabled
			}
			if err := r.CreateEnvironment(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.store.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d environments in %v", benchEnvCount, time.Since(start).Round(time.Millisecond))
	s.admin(b, gatehouse.SystemEnvironmentID, "op@example", gatehouse.RoleEnvironmentAdmin)
	list := "/console/system/environments"
	br := s.signIn(b, gatehouse.SystemEnvironmentID, list, "op@example")
	rows := func(want int) func(page) error {
		return func(p page) error {
			if n := strings.Count(p.body, `<td><a href="/console/`); n != want {
				return fmt.Errorf("%d environments listed, want %d", n, want)
			}
			return nil
		}
	}
	for _, c := range []pageCase{
		{"FirstPage", list, rows(25)},
		{"NextPage", next(b, br.do("GET", list, nil)), rows(25)},
		{"GoToID", list + "?from=tenant-0500", rows(25)},
	} {
		b.Run(c.name, func(b *testing.B) { s.timePage(b, br, c) })
	}
}
