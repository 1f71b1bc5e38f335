package main

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlstore"
)

// ghIn runs the gatehouse command in dir with stdin as standard input.
func ghIn(t testing.TB, dir, stdin string, args ...string) result {
	t.Helper()
	return runGH(t, dir, nil, stdin, args...)
}

// mustGHIn runs a command with standard input that must succeed.
func mustGHIn(t testing.TB, dir, stdin string, args ...string) result {
	t.Helper()
	r := ghIn(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// decodeJSON decodes a command's --output json.
func decodeJSON[T any](t testing.TB, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, r.stdout)
	}
	return v
}

// ghUser runs a user command with --output json and returns the user.
func ghUser(t testing.TB, dir string, args ...string) gatehouse.User {
	t.Helper()
	return decodeJSON[gatehouse.User](t, mustGH(t, dir, nil, append(args, "--output", "json")...))
}

// openStore opens the data directory's store in this process, after the
// commands have run, and closes it when the test ends.
func openStore(t testing.TB, dir string) (*sqlstore.Store, *service.Service) {
	t.Helper()
	data := filepath.Join(dir, "gatehouse-data")
	st, err := sqlite.Open(context.Background(), data, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := keyring.LoadFile(filepath.Join(data, kekFileName))
	if err != nil {
		t.Fatal(err)
	}
	return st, &service.Service{Store: st, Keyring: kr}
}

// exportRecords runs export and decodes its lines by username.
func exportRecords(t testing.TB, dir, env string) map[string]map[string]any {
	t.Helper()
	r := mustGH(t, dir, nil, "export", "--env", env)
	records := map[string]map[string]any{}
	for line := range strings.Lines(r.stdout) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		records[rec["username"].(string)] = rec
	}
	return records
}

func TestCLIUserCommands(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	const pw = "Correct-Horse-Battery-7"

	// A local user with an initial password read from stdin.
	r := mustGHIn(t, dir, pw+"\n", "user", "create", "alice@acme.example", "--env", "acme", "--first-name", "Alice",
		"--last-name", "Liddell", "--email", "alice@acme.example", "--ref", "crm-1", "--country", "AU",
		"--role", "ADMIN", "--role", "STORE_ASSISTANT@LOCATION:l1", "--password-stdin", "--output", "json")
	if strings.Contains(r.stdout+r.stderr, pw) {
		t.Fatal("the password was echoed")
	}
	alice := decodeJSON[gatehouse.User](t, r)
	const wantRoles = "ADMIN, STORE_ASSISTANT@LOCATION:l1"
	if alice.Username != "alice@acme.example" || alice.FirstName != "Alice" || alice.LastName != "Liddell" ||
		alice.PrimaryEmail != "alice@acme.example" || alice.Ref != "crm-1" || alice.Country != "AU" ||
		alice.Type != gatehouse.UserTypeRetailer || alice.Status != gatehouse.UserActive || alice.IdentityProvider != "local" ||
		alice.PasswordState != gatehouse.PasswordMustChange || len(alice.ID) != 26 || roleList(alice.Roles) != wantRoles {
		t.Fatalf("create printed %+v", alice)
	}

	// A corporate user (of an IdP of acme's, and only then) and an API user.
	wantFail(t, gh(t, dir, nil, "user", "create", "bob@corp.example", "--env", "acme", "--identity-provider", "corp-oidc"), 1,
		`no identity provider "corp-oidc" in this environment`)
	mustGH(t, dir, nil, "idp", "create", "--env", "acme", "--id", "corp-oidc", "--name", "Corp", "--type", "OIDC",
		"--issuer", "https://login.corp.example", "--client-id", "gatehouse")
	bob := ghUser(t, dir, "user", "create", "bob@corp.example", "--env", "acme", "--identity-provider", "corp-oidc", "--type", "ADMIN")
	if bob.IdentityProvider != "corp-oidc" || bob.PasswordState != gatehouse.PasswordExternal || bob.Type != "ADMIN" {
		t.Fatalf("corporate user: %+v", bob)
	}
	api := ghUser(t, dir, "user", "create", "integration", "--env", "acme", "--type", "API")
	if api.Type != gatehouse.UserTypeAPI || api.PasswordState != gatehouse.PasswordNone {
		t.Fatalf("API user: %+v", api)
	}
	ghUser(t, dir, "user", "create", "carol", "--env", "acme", "--type", "LOCATION", "--first-name", "Carol", "--last-name", "Jones")
	ghUser(t, dir, "user", "create", "dave", "--env", "acme", "--last-name", "jones", "--status", "INACTIVE", "--email", "Dave@Acme.example")

	// Lists with filters.
	type page struct {
		Items      []gatehouse.User
		NextCursor string
	}
	names := func(args ...string) string {
		t.Helper()
		p := decodeJSON[page](t, mustGH(t, dir, nil, append([]string{"user", "list", "--env", "acme", "--output", "json"}, args...)...))
		var n []string
		for _, u := range p.Items {
			n = append(n, u.Username)
		}
		return strings.Join(n, ",")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "admin,alice@acme.example,bob@corp.example,integration,carol,dave"},
		{[]string{"--type", "LOCATION"}, "carol"},
		{[]string{"--last-name", "Jones"}, "carol"},
		{[]string{"--last-name", "JON%"}, "carol,dave"},
		{[]string{"--status", "INACTIVE"}, "dave"},
		{[]string{"--email", "dave@acme.example"}, "dave"},
		{[]string{"--username", "%@%"}, "alice@acme.example,bob@corp.example"},
		{[]string{"--first-name", "Alice", "--type", "RETAILER"}, "alice@acme.example"},
		{[]string{"--username", "nobody"}, ""},
	} {
		if got := names(c.args...); got != c.want {
			t.Errorf("user list %v: %s, want %s", c.args, got, c.want)
		}
	}
	var paged []string
	cursor := ""
	for range 10 {
		p := decodeJSON[page](t, mustGH(t, dir, nil, "user", "list", "--env", "acme", "--limit", "4", "--cursor", cursor, "--output", "json"))
		for _, u := range p.Items {
			paged = append(paged, u.Username)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(paged) != 6 {
		t.Errorf("paged list: %v", paged)
	}
	r = mustGH(t, dir, nil, "user", "list", "--env", "acme")
	for _, want := range []string{"ID", "USERNAME", "TYPE", "STATUS", "PASSWORD STATE", "bob@corp.example", "EXTERNAL", "MUST_CHANGE_PASSWORD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text list lacks %q:\n%s", want, r.stdout)
		}
	}

	// Get by id, by username, case-insensitively.
	for _, ref := range []string{alice.ID, "alice@acme.example", "ALICE@acme.example"} {
		if got := ghUser(t, dir, "user", "get", ref, "--env", "acme"); got.ID != alice.ID {
			t.Errorf("get %s: %+v", ref, got)
		}
	}
	r = mustGH(t, dir, nil, "user", "get", "alice@acme.example", "--env", "acme")
	for _, want := range []string{alice.ID, "Alice Liddell", "STORE_ASSISTANT@LOCATION:l1", "MUST_CHANGE_PASSWORD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text get lacks %q:\n%s", want, r.stdout)
		}
	}

	// Update changes only the flags given.
	u := ghUser(t, dir, "user", "update", "alice@acme.example", "--env", "acme", "--last-name", "Pleasance", "--email", "alice.p@acme.example")
	if u.LastName != "Pleasance" || u.PrimaryEmail != "alice.p@acme.example" || u.FirstName != "Alice" || u.Ref != "crm-1" ||
		u.Country != "AU" || roleList(u.Roles) != wantRoles || u.PasswordState != gatehouse.PasswordMustChange {
		t.Fatalf("update: %+v", u)
	}
	u = ghUser(t, dir, "user", "update", alice.ID, "--env", "acme", "--role", "READ_ONLY", "--ref", "")
	if roleList(u.Roles) != "READ_ONLY" || u.Ref != "" || u.LastName != "Pleasance" {
		t.Fatalf("update roles: %+v", u)
	}
	u = ghUser(t, dir, "user", "update", alice.ID, "--env", "acme", "--no-roles", "--username", "alice")
	if len(u.Roles) != 0 || u.Username != "alice" {
		t.Fatalf("update --no-roles --username: %+v", u)
	}
	wantFail(t, gh(t, dir, nil, "user", "update", "alice", "--env", "acme"), 2, "nothing to change")
	wantFail(t, gh(t, dir, nil, "user", "update", "alice", "--env", "acme", "--role", "ADMIN", "--no-roles"), 2, "not both")
	wantFail(t, gh(t, dir, nil, "user", "update", "alice", "--env", "acme", "--username", "dave"), 1, "already exists")
	wantFail(t, gh(t, dir, nil, "user", "update", "alice", "--env", "acme", "--role", "NOT_A_ROLE"), 1, "role NOT_A_ROLE is not defined")

	// Disable and enable.
	if u := ghUser(t, dir, "user", "disable", "alice", "--env", "acme"); u.Status != gatehouse.UserInactive {
		t.Fatalf("disable: %+v", u)
	}
	if r := mustGH(t, dir, nil, "user", "enable", "alice", "--env", "acme"); !strings.Contains(r.stdout, "User alice is ACTIVE.") {
		t.Fatalf("enable printed %s", r.stdout)
	}
	if u := ghUser(t, dir, "user", "get", "alice", "--env", "acme"); u.Status != gatehouse.UserActive {
		t.Fatalf("after enable: %+v", u)
	}

	// Set the password: forced change by default, or not.
	const pw2, pw3 = "Another-Secret-Phrase-8", "Third-Secret-Phrase-9"
	u = decodeJSON[gatehouse.User](t, mustGHIn(t, dir, pw2+"\r\n", "user", "set-password", "alice", "--env", "acme", "--password-stdin", "--output", "json"))
	if u.PasswordState != gatehouse.PasswordMustChange {
		t.Fatalf("set-password: %+v", u)
	}
	u = ghUser(t, dir, "user", "set-password", "alice", "--env", "acme", "--password", pw3, "--force-change=false")
	if u.PasswordState != gatehouse.PasswordOK {
		t.Fatalf("set-password --force-change=false: %+v", u)
	}
	if ok, _, err := password.Verify(context.Background(), pw3, exportRecords(t, dir, "acme")["alice"]["passwordHash"].(string)); !ok || err != nil {
		t.Fatalf("the password set does not verify: %v %v", ok, err)
	}
	wantFail(t, ghIn(t, dir, strings.Repeat("p", 256)+"\n", "user", "set-password", "alice", "--env", "acme", "--password-stdin"), 1, "password policy")
	wantFail(t, ghIn(t, dir, pw2+"\n", "user", "set-password", "bob@corp.example", "--env", "acme", "--password-stdin"), 1, "corporate user")
	wantFail(t, gh(t, dir, nil, "user", "set-password", "alice", "--env", "acme"), 2, "--password-stdin")

	// Lock alice out by failed sign-ins, in process, then unlock.
	st, svc := openStore(t, dir)
	p, err := st.GetPasswordPolicy(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for range p.LockoutFailures {
		svc.Authenticate(context.Background(), service.Actor{Type: gatehouse.ActorAnonymous}, "acme", "alice", "wrong")
	}
	st.Close()
	if u := ghUser(t, dir, "user", "get", "alice", "--env", "acme"); u.PasswordState != gatehouse.PasswordLockedOut || u.LockedUntil == nil {
		t.Fatalf("after %d failures: %+v", p.LockoutFailures, u)
	}
	if u := ghUser(t, dir, "user", "unlock", "alice", "--env", "acme"); u.PasswordState != gatehouse.PasswordOK || u.LockedUntil != nil {
		t.Fatalf("unlock: %+v", u)
	}
	wantFail(t, gh(t, dir, nil, "user", "unlock", "bob@corp.example", "--env", "acme"), 1, "corporate user")

	// Force a change.
	if u := ghUser(t, dir, "user", "force-change", "alice", "--env", "acme"); u.PasswordState != gatehouse.PasswordMustChange {
		t.Fatalf("force-change: %+v", u)
	}
	wantFail(t, gh(t, dir, nil, "user", "force-change", "bob@corp.example", "--env", "acme"), 1, "corporate user")
	wantFail(t, gh(t, dir, nil, "user", "force-change", "integration", "--env", "acme"), 1, "no password")

	// Delete.
	wantFail(t, gh(t, dir, nil, "user", "delete", "alice", "--env", "acme"), 2, "--yes")
	r = mustGH(t, dir, nil, "user", "delete", "alice", "--env", "acme", "--yes")
	if !strings.Contains(r.stdout, "Deleted user alice") {
		t.Fatalf("delete printed %s", r.stdout)
	}
	wantFail(t, gh(t, dir, nil, "user", "get", "alice", "--env", "acme"), 1, `user "alice" not found`)
	wantFail(t, gh(t, dir, nil, "user", "delete", "alice", "--env", "acme", "--yes"), 1, "not found")

	// Every change was audited, by the operator.
	type auditPage struct{ Items []gatehouse.AuditEvent }
	events := decodeJSON[auditPage](t, mustGH(t, dir, nil, "audit", "list", "--env", "acme", "--action", "USER_CREATED", "--output", "json"))
	if len(events.Items) != 5 || events.Items[0].ActorType != gatehouse.ActorOperator || events.Items[0].Details["username"] != "dave" {
		t.Fatalf("USER_CREATED events: %+v", events.Items)
	}
	r = mustGH(t, dir, nil, "audit", "list", "--env", "acme", "--limit", "3")
	if !strings.Contains(r.stdout, "USER_DELETED") || !strings.Contains(r.stdout, `username="alice"`) || !strings.Contains(r.stdout, "More: --before") {
		t.Fatalf("text audit list:\n%s", r.stdout)
	}
}

// createdApp is what `app create --output json` prints.
type createdApp struct {
	ID, ClientID, ClientSecret, Name, Type string
	GrantTypes, Roles, RedirectURIs        []string
}

func TestCLIAppCommands(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")

	r := mustGH(t, dir, nil, "app", "create", "--env", "acme", "--name", "Provisioning", "--type", "service", "--role", "ENVIRONMENT_ADMIN", "--output", "json")
	svcApp := decodeJSON[createdApp](t, r)
	if svcApp.ClientID == "" || len(svcApp.ClientSecret) != 43 || svcApp.Type != "service" ||
		fmt.Sprint(svcApp.GrantTypes) != "[client_credentials]" || fmt.Sprint(svcApp.Roles) != "[ENVIRONMENT_ADMIN]" {
		t.Fatalf("app create printed %+v", svcApp)
	}
	if strings.Contains(r.stdout, "secretHash") {
		t.Fatal("the secret hash was printed")
	}
	r = mustGH(t, dir, nil, "app", "create", "--env", "acme", "--name", "Shop", "--type", "spa",
		"--redirect-uri", "https://shop.acme.example/cb", "--redirect-uri", "http://localhost:3000/cb")
	if !strings.Contains(r.stdout, "Client ID:") || strings.Contains(r.stdout, "secret") {
		t.Fatalf("a public client has no secret:\n%s", r.stdout)
	}
	r = mustGH(t, dir, nil, "app", "create", "--env", "acme", "--name", "Portal", "--type", "web", "--redirect-uri", "https://portal.acme.example/cb")
	if !strings.Contains(r.stdout, "Client secret: ") || !strings.Contains(r.stdout, "shown once") {
		t.Fatalf("text create of a web app:\n%s", r.stdout)
	}

	apps := decodeJSON[[]createdApp](t, mustGH(t, dir, nil, "app", "list", "--env", "acme", "--output", "json"))
	if len(apps) != 3 {
		t.Fatalf("list: %+v", apps)
	}
	for _, a := range apps {
		if a.ClientSecret != "" {
			t.Fatal("list shows a secret")
		}
	}
	got := decodeJSON[createdApp](t, mustGH(t, dir, nil, "app", "get", svcApp.ClientID, "--env", "acme", "--output", "json"))
	if got.ID != svcApp.ID || got.ClientSecret != "" {
		t.Fatalf("get by client id: %+v", got)
	}
	if r := mustGH(t, dir, nil, "app", "list", "--env", "acme"); !strings.Contains(r.stdout, "CLIENT ID") || !strings.Contains(r.stdout, "Provisioning") {
		t.Fatalf("text list:\n%s", r.stdout)
	}

	rotated := decodeJSON[createdApp](t, mustGH(t, dir, nil, "app", "rotate-secret", svcApp.ID, "--env", "acme", "--output", "json"))
	if len(rotated.ClientSecret) != 43 || rotated.ClientSecret == svcApp.ClientSecret || rotated.ClientID != svcApp.ClientID {
		t.Fatalf("rotate-secret: %+v", rotated)
	}
	_, svc := openStore(t, dir)
	ctx := context.Background()
	if _, err := svc.ClientAuthenticated(ctx, "acme", svcApp.ClientID, svcApp.ClientSecret); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := svc.ClientAuthenticated(ctx, "acme", svcApp.ClientID, rotated.ClientSecret); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}
	spa := apps[slices.IndexFunc(apps, func(a createdApp) bool { return a.Type == "spa" })]
	wantFail(t, gh(t, dir, nil, "app", "rotate-secret", spa.ID, "--env", "acme"), 1, "public clients")

	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--type", "web"), 2, "--name is required")
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x"), 2, "--type is required")
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x", "--type", "desktop"), 1, "application type must be")
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x", "--type", "spa", "--role", "ENVIRONMENT_ADMIN"), 1, "client_credentials")
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x", "--type", "web", "--redirect-uri", "http://evil.example/cb"), 1, "https")
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x", "--type", "service", "--role", "ROOT"), 1, "must be one of")

	wantFail(t, gh(t, dir, nil, "app", "delete", spa.ID, "--env", "acme"), 2, "--yes")
	mustGH(t, dir, nil, "app", "delete", spa.ClientID, "--env", "acme", "--yes")
	wantFail(t, gh(t, dir, nil, "app", "get", spa.ID, "--env", "acme"), 1, "not found")
	if apps := decodeJSON[[]createdApp](t, mustGH(t, dir, nil, "app", "list", "--env", "acme", "--output", "json")); len(apps) != 2 {
		t.Fatalf("after delete: %+v", apps)
	}
}

func TestCLIExportImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "src", "--admin-username", "src-admin")
	mustGH(t, dir, nil, "env", "create", "dst", "--admin-username", "dst-admin")
	const pw = "Round-Trip-Secret-11"
	mustGHIn(t, dir, "Initial-Secret-10\n", "user", "create", "alice", "--env", "src", "--first-name", "Alice", "--password-stdin",
		"--role", "ADMIN", "--role", "STORE_ASSISTANT@LOCATION:l1", "--role", "STORE_ASSISTANT@RETAILER:r 2")
	mustGH(t, dir, nil, "user", "set-password", "alice", "--env", "src", "--password", pw, "--force-change=false")
	// Corporate users carry across environments whose IdPs have the same id.
	for _, env := range []string{"src", "dst"} {
		mustGH(t, dir, nil, "idp", "create", "--env", env, "--id", "corp-oidc", "--name", "Corp", "--type", "OIDC",
			"--issuer", "https://login.corp.example", "--client-id", "gatehouse-"+env)
	}
	mustGH(t, dir, nil, "user", "create", "bob@corp.example", "--env", "src", "--identity-provider", "corp-oidc", "--status", "INACTIVE")
	mustGH(t, dir, nil, "user", "create", "robot", "--env", "src", "--type", "API", "--role", "USER_ADMIN")
	// Every other field, by import: the CLI has no flag for attributes.
	full := `{"username":"Zoë Ünicode","ref":"ext-42","title":"Dr","firstName":"Zoë","lastName":"O'Brien <&>",` +
		`"primaryEmail":"zoe@example.com","primaryPhone":"+61 (2) 9999-0000","type":"LOCATION","status":"ACTIVE",` +
		`"timezone":"Australia/Sydney","language":"en-AU","department":"Stores","country":"AU","promotionOptIn":true,` +
		`"primaryRetailer":"r1","primaryLocation":"l9","attributes":[{"name":"loyalty.tier","type":"STRING","value":"gold"},` +
		`{"name":"points","type":"INTEGER","value":"1200"}],"roles":[{"role":"STORE_ASSISTANT","context":{"type":"LOCATION","id":"l9"}}],` +
		`"identityProvider":"local","createdOn":"2019-03-04T05:06:07.123456Z","updatedOn":"2024-01-02T03:04:05Z",` +
		`"lastSignOn":"2025-06-07T08:09:10Z"}`
	if r := mustGHIn(t, dir, full+"\n", "import", "--env", "src", "-"); !strings.Contains(r.stdout, "imported 1, failed 0") {
		t.Fatalf("import printed %s", r.stdout)
	}

	if r := mustGH(t, dir, nil, "export", "--help"); !strings.Contains(r.stdout, "PASSWORD HASHES") {
		t.Fatalf("export --help does not warn of the hashes:\n%s", r.stdout)
	}
	file := filepath.Join(dir, "src.jsonl")
	r := mustGH(t, dir, nil, "export", "--env", "src", "--file", file)
	if !strings.Contains(r.stdout, "Exported 5 users of src") || !strings.Contains(r.stdout, "password hashes") {
		t.Fatalf("export printed %s", r.stdout)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v, want mode 0600", info.Mode(), err)
	}
	exported, _ := os.ReadFile(file)
	if n := strings.Count(string(exported), "\n"); n != 5 {
		t.Fatalf("export wrote %d lines:\n%s", n, exported)
	}

	r = mustGH(t, dir, nil, "import", "--env", "dst", file, "--output", "json")
	if sum := decodeJSON[importSummary](t, r); sum.Imported != 5 || sum.Failed != 0 || len(sum.Errors) != 0 {
		t.Fatalf("import: %+v", sum)
	}

	src, dst := exportRecords(t, dir, "src"), exportRecords(t, dir, "dst")
	if _, ok := dst["dst-admin"]; !ok || len(dst) != 6 {
		t.Fatalf("dst holds %d users", len(dst))
	}
	delete(dst, "dst-admin")
	for name, s := range src {
		d, ok := dst[name]
		if !ok {
			t.Errorf("%s was not imported", name)
			continue
		}
		if d["id"] == s["id"] || d["environmentId"] != "dst" {
			t.Errorf("%s: id %v and environment %v in dst", name, d["id"], d["environmentId"])
		}
		for _, m := range []map[string]any{s, d} {
			delete(m, "id")
			delete(m, "environmentId")
		}
		sj, _ := json.Marshal(s)
		dj, _ := json.Marshal(d)
		if !bytes.Equal(sj, dj) {
			t.Errorf("%s does not round-trip:\nsrc %s\ndst %s", name, sj, dj)
		}
	}
	zoe := src["Zoë Ünicode"]
	if zoe["createdOn"] != "2019-03-04T05:06:07.123456Z" || zoe["lastSignOn"] != "2025-06-07T08:09:10Z" ||
		len(zoe["attributes"].([]any)) != 2 || zoe["passwordState"] != "NO_PASSWORD" || zoe["passwordHash"] != nil {
		t.Errorf("the imported fields were not all kept: %v", zoe)
	}
	if src["alice"]["passwordState"] != "OK" || src["bob@corp.example"]["passwordState"] != "EXTERNAL" || src["src-admin"]["passwordState"] != "MUST_CHANGE_PASSWORD" {
		t.Errorf("password states: %v %v %v", src["alice"]["passwordState"], src["bob@corp.example"]["passwordState"], src["src-admin"]["passwordState"])
	}

	// The imported password works, through the service.
	_, svc := openStore(t, dir)
	if _, err := svc.Authenticate(context.Background(), service.Actor{Type: gatehouse.ActorAnonymous}, "dst", "alice", pw); err != nil {
		t.Fatalf("alice cannot sign in to dst with her password: %v", err)
	}

	// A second import of the same file: every username exists.
	r = gh(t, dir, nil, "import", "--env", "dst", file)
	wantFail(t, r, 1, "line 1: a user with username src-admin already exists", "line 5:", "5 lines were not imported")
	if !strings.Contains(r.stdout, "imported 0, failed 5") {
		t.Fatalf("second import printed %s", r.stdout)
	}
}

// Hashes of other systems, made here from the primitives.

func bcryptHash(t *testing.T, plain string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(plain), 4)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func passlibHash(t *testing.T, name string, plain string) string {
	h := sha256.New
	if name == "pbkdf2-sha512" {
		h = sha512.New
	}
	salt := []byte("\xfb\xef\xbe-salt-of-16")
	key, err := pbkdf2.Key(h, plain, salt, 2000, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	ab64 := func(b []byte) string { return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".") }
	return fmt.Sprintf("$%s$%d$%s$%s", name, 2000, ab64(salt), ab64(key))
}

func djangoHash(t *testing.T, plain string) string {
	key, err := pbkdf2.Key(sha256.New, plain, []byte("djangosalt"), 3000, 32)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2_sha256$3000$djangosalt$" + base64.StdEncoding.EncodeToString(key)
}

func TestImportRecognizesHashFormats(t *testing.T) {
	const plain = "Tr0ub4dor&3"
	ctx := context.Background()
	current, _ := password.Hash(ctx, plain)
	bc := bcryptHash(t, plain)
	for name, h := range map[string]string{
		"argon2id": current, "bcrypt": bc, "bcrypt 2y": "$2y$" + bc[4:],
		"passlib sha256": passlibHash(t, "pbkdf2-sha256", plain), "passlib sha512": passlibHash(t, "pbkdf2-sha512", plain),
		"django": djangoHash(t, plain),
	} {
		if !password.Recognized(h) {
			t.Errorf("%s: %q not recognized", name, h)
		}
		if ok, _, err := password.Verify(ctx, plain, h); !ok || err != nil {
			t.Errorf("%s: Verify = %v, %v", name, ok, err)
		}
	}
	for name, h := range map[string]string{
		"empty": "", "plain": plain, "md5 crypt": "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "sha512 crypt": "$6$salt$abc",
		"argon2 v16":          strings.Replace(current, "v=19", "v=16", 1),
		"argon2 huge memory":  strings.Replace(current, "m=19456", "m=99999999", 1),
		"argon2 no key":       current[:strings.LastIndexByte(current, '$')],
		"bcrypt truncated":    bc[:59],
		"bcrypt too long":     bc + "A",
		"bcrypt bad alphabet": bc[:59] + "+",
		"bcrypt huge cost":    "$2b$31$" + bc[7:],
		"pbkdf2 huge iter":    strings.Replace(passlibHash(t, "pbkdf2-sha256", plain), "$2000$", "$99999999$", 1),
		"django short key":    "pbkdf2_sha256$1000$salt$c2hvcnQ=",
		"django extra part":   djangoHash(t, plain) + "$x",
	} {
		if password.Recognized(h) {
			t.Errorf("%s: %q recognized", name, h)
		}
	}
}

func TestCLIImportReportsBadLines(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "env", "create", "beta")
	for _, env := range []string{"acme", "beta"} {
		mustGH(t, dir, nil, "idp", "create", "--env", env, "--id", "corp-oidc", "--name", "Corp", "--type", "OIDC",
			"--issuer", "https://login.corp.example", "--client-id", "gatehouse")
	}
	const plain = "Imported-Secret-12"
	line := func(v map[string]any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{
		1:  line(map[string]any{"username": "bcrypt-user", "passwordHash": bcryptHash(t, plain)}),
		2:  `{"username": "broken"`,
		3:  `{"username":"u3","favouriteColour":"blue"}`,
		4:  `{"username":"u4","country":"Australia"}`,
		5:  line(map[string]any{"username": "pbkdf2-user", "passwordHash": passlibHash(t, "pbkdf2-sha512", plain), "passwordState": "MUST_CHANGE_PASSWORD"}),
		6:  `{"username":"BCRYPT-user"}`,
		7:  `{"username":"u7","passwordHash":"$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"}`,
		8:  line(map[string]any{"username": "u8", "identityProvider": "corp-oidc", "passwordHash": bcryptHash(t, plain)}),
		9:  `{"username":"u9","password":"Plain-Text-Password-1"}`,
		10: `   `,
		11: line(map[string]any{"username": "django-user", "passwordHash": djangoHash(t, plain), "passwordState": "PASSWORD_LOCKED_OUT"}),
		12: `{"username":"corporate","identityProvider":"corp-oidc","passwordState":"OK"}`,
		13: `[1,2]`,
		14: `{"username":"u14","roles":[{"role":"NOPE"}]}`,
		15: `{"username":"Admin"}`,
		16: line(map[string]any{"username": strings.Repeat("x", 251)}),
		17: `{"username":"nohash","passwordState":"OK","id":"ignored","environmentId":"elsewhere","lockedUntil":"2999-01-01T00:00:00Z"}`,
		18: `{"username":"u18","createdOn":"yesterday"}`,
		19: `{"username":"u19","passwordHash":"$2b$10$tooshort"}`,
		20: `null`,
	}
	file := strings.Join(lines[1:], "\n") // no newline after the last line
	path := filepath.Join(dir, "users.jsonl")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{
		2: "malformed JSON", 3: `unknown field "favouriteColour"`, 4: "country", 6: "already exists",
		7: "not in a supported format", 8: "corporate users", 9: `"password" is not accepted`, 13: "not a JSON object",
		14: "role NOPE is not defined", 15: "already exists", 16: "longer than 250", 18: "parsing time",
		19: "not in a supported format", 20: "not a JSON object",
	}
	r := gh(t, dir, nil, "import", "--env", "acme", path)
	wantFail(t, r, 1, "14 lines were not imported")
	reported := map[int]string{}
	for l := range strings.Lines(r.stderr) {
		var n int
		if _, err := fmt.Sscanf(l, "line %d: ", &n); err == nil {
			reported[n] = l
		}
	}
	for n := 1; n < len(lines); n++ {
		reason, isBad := bad[n]
		switch {
		case isBad && !strings.Contains(reported[n], reason):
			t.Errorf("line %d is not reported as %q:\n%s", n, reason, r.stderr)
		case !isBad && reported[n] != "":
			t.Errorf("line %d is reported: %s", n, reported[n])
		}
	}
	if !strings.Contains(r.stdout, "imported 5, failed 14") {
		t.Fatalf("summary: %s", r.stdout)
	}
	if strings.Contains(r.stderr, "Plain-Text-Password-1") {
		t.Fatal("the plain-text password was echoed")
	}

	// The same lines through stdin, with a JSON summary, in another environment.
	r = ghIn(t, dir, file, "import", "--env", "beta", "-", "--output", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	sum := decodeJSON[importSummary](t, r)
	var failed []int
	for _, e := range sum.Errors {
		failed = append(failed, e.Line)
		if !strings.Contains(e.Error, bad[e.Line]) {
			t.Errorf("line %d: %q, want %q", e.Line, e.Error, bad[e.Line])
		}
	}
	if sum.Imported != 5 || sum.Failed != 14 || fmt.Sprint(failed) != "[2 3 4 6 7 8 9 13 14 15 16 18 19 20]" {
		t.Fatalf("json summary: %+v", sum)
	}

	// The good lines are kept, with the states asked for or derived.
	for name, state := range map[string]string{
		"bcrypt-user": "OK", "pbkdf2-user": "MUST_CHANGE_PASSWORD", "django-user": "OK",
		"corporate": "EXTERNAL", "nohash": "NO_PASSWORD",
	} {
		u := ghUser(t, dir, "user", "get", name, "--env", "acme")
		if u.PasswordState != state || u.LockedUntil != nil || u.ID == "ignored" || u.EnvironmentID != "acme" {
			t.Errorf("%s: %+v, want password state %s", name, u, state)
		}
	}
	type auditPage struct{ Items []gatehouse.AuditEvent }
	if events := decodeJSON[auditPage](t, mustGH(t, dir, nil, "audit", "list", "--env", "acme", "--action", "USER_IMPORTED", "--output", "json")); len(events.Items) != 5 {
		t.Fatalf("USER_IMPORTED events: %d", len(events.Items))
	}

	// The imported hashes verify through the service, which replaces them
	// by current argon2id hashes at the first sign-in.
	st, svc := openStore(t, dir)
	ctx := context.Background()
	for _, name := range []string{"bcrypt-user", "pbkdf2-user", "django-user"} {
		if _, err := svc.Authenticate(ctx, service.Actor{Type: gatehouse.ActorAnonymous}, "acme", name, plain); err != nil {
			t.Errorf("%s cannot sign in with the imported hash: %v", name, err)
			continue
		}
		if _, err := svc.Authenticate(ctx, service.Actor{Type: gatehouse.ActorAnonymous}, "acme", name, plain+"x"); err == nil {
			t.Errorf("%s signs in with a wrong password", name)
		}
		u, err := st.GetUserByUsername(ctx, "acme", name)
		if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("%s was not rehashed at sign-in: %v", name, err)
		}
		if history, _ := st.PasswordHistory(ctx, "acme", u.ID, 5); len(history) != 1 {
			t.Errorf("%s: password history %d, want the imported hash", name, len(history))
		}
	}
}

func TestCLIAuditVerify(t *testing.T) {
	dir := t.TempDir()
	for _, env := range []string{"acme", "beta"} {
		mustGH(t, dir, nil, "env", "create", env)
		mustGH(t, dir, nil, "user", "create", "alice", "--env", env, "--first-name", "Alice")
		mustGH(t, dir, nil, "user", "update", "alice", "--env", env, "--last-name", "Liddell")
	}
	r := mustGH(t, dir, nil, "audit", "verify", "--env", "acme")
	if strings.TrimSpace(r.stdout) != "audit chain of acme: 3 events, intact" {
		t.Fatalf("verify printed %q", r.stdout)
	}
	type verdict struct {
		Environment string
		Events      int
		Valid       bool
		BrokenAtSeq int
		Reason      string
	}
	if v := decodeJSON[verdict](t, mustGH(t, dir, nil, "audit", "verify", "--env", "acme", "--output", "json")); !v.Valid || v.Events != 3 || v.Environment != "acme" {
		t.Fatalf("verify json: %+v", v)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "gatehouse-data", "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec := func(query string) {
		t.Helper()
		if res, err := db.Exec(query); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows", query, n)
		}
	}

	// An altered event.
	var original string
	if err := db.QueryRow(`SELECT details FROM audit_events WHERE env_id = 'acme' AND seq = 2`).Scan(&original); err != nil || original == "{}" {
		t.Fatalf("event 2: %q %v", original, err)
	}
	mustExec(`UPDATE audit_events SET details = '{}' WHERE env_id = 'acme' AND seq = 2`)
	r = gh(t, dir, nil, "audit", "verify", "--env", "acme")
	wantFail(t, r, 1, "BROKEN at event 2", "content does not match")
	if !strings.Contains(r.stdout, "audit chain of acme: 3 events, BROKEN at event 2") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	v := decodeJSON[verdict](t, gh(t, dir, nil, "audit", "verify", "--env", "acme", "--output", "json"))
	if v.Valid || v.BrokenAtSeq != 2 {
		t.Fatalf("verify json: %+v", v)
	}

	// A removed tail.
	mustGH(t, dir, nil, "audit", "verify", "--env", "beta")
	mustExec(`DELETE FROM audit_events WHERE env_id = 'beta' AND seq = 3`)
	wantFail(t, gh(t, dir, nil, "audit", "verify", "--env", "beta"), 1, "BROKEN at event 3", "missing")

	// A removed event in the middle.
	mustGH(t, dir, nil, "user", "delete", "alice", "--env", "acme", "--yes")
	if _, err := db.Exec(`UPDATE audit_events SET details = $1 WHERE env_id = 'acme' AND seq = 2`, original); err != nil {
		t.Fatal(err)
	}
	mustGH(t, dir, nil, "audit", "verify", "--env", "acme")
	mustExec(`DELETE FROM audit_events WHERE env_id = 'acme' AND seq = 3`)
	wantFail(t, gh(t, dir, nil, "audit", "verify", "--env", "acme"), 1, "BROKEN at event 3", "missing")

	// Other environments are untouched.
	mustGH(t, dir, nil, "audit", "verify", "--env", "system")
}

func TestCLIDirectoryBadInput(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	mustGH(t, dir, nil, "user", "create", "alice", "--env", "acme")
	path := filepath.Join(dir, "one.jsonl")
	os.WriteFile(path, []byte(`{"username":"x"}`+"\n"), 0o600)

	for _, c := range []struct {
		name   string
		args   []string
		code   int
		phrase string
	}{
		{"unknown env: user create", []string{"user", "create", "bob", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: user list", []string{"user", "list", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: user get", []string{"user", "get", "alice", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: app create", []string{"app", "create", "--env", "nope", "--name", "x", "--type", "spa"}, 1, `environment "nope" not found`},
		{"unknown env: app list", []string{"app", "list", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: export", []string{"export", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: import", []string{"import", "--env", "nope", path}, 1, `environment "nope" not found`},
		{"unknown env: audit verify", []string{"audit", "verify", "--env", "nope"}, 1, `environment "nope" not found`},
		{"unknown env: audit list", []string{"audit", "list", "--env", "nope"}, 1, `environment "nope" not found`},
		{"no env: user create", []string{"user", "create", "bob"}, 2, "--env is required"},
		{"no env: user list", []string{"user", "list"}, 2, "--env is required"},
		{"no env: user delete", []string{"user", "delete", "alice", "--yes"}, 2, "--env is required"},
		{"no env: app create", []string{"app", "create", "--name", "x", "--type", "spa"}, 2, "--env is required"},
		{"no env: app rotate-secret", []string{"app", "rotate-secret", "x"}, 2, "--env is required"},
		{"no env: export", []string{"export"}, 2, "--env is required"},
		{"no env: import", []string{"import", path}, 2, "--env is required"},
		{"no env: audit verify", []string{"audit", "verify"}, 2, "--env is required"},
		{"no env: audit list", []string{"audit", "list"}, 2, "--env is required"},
		{"corporate with password", []string{"user", "create", "bob", "--env", "acme", "--identity-provider", "corp", "--password", "Some-Long-Password-1"}, 1, "corporate users sign in at their identity provider and never have a password"},
		{"role context without id", []string{"user", "create", "bob", "--env", "acme", "--role", "STORE_ASSISTANT@LOCATION"}, 2, "ROLE@TYPE:ID"},
		{"role context empty type", []string{"user", "create", "bob", "--env", "acme", "--role", "STORE_ASSISTANT@:l1"}, 2, "ROLE@TYPE:ID"},
		{"role context empty id", []string{"user", "create", "bob", "--env", "acme", "--role", "STORE_ASSISTANT@LOCATION:"}, 2, "ROLE@TYPE:ID"},
		{"role without name", []string{"user", "update", "alice", "--env", "acme", "--role", "@LOCATION:l1"}, 2, "role name is missing"},
		{"role context lower case", []string{"user", "create", "bob", "--env", "acme", "--role", "STORE_ASSISTANT@location:l1"}, 1, "has a context that needs a type"},
		{"username too long", []string{"user", "create", strings.Repeat("u", 251), "--env", "acme"}, 1, "username is longer than 250 characters"},
		{"username with spaces", []string{"user", "create", " bob", "--env", "acme"}, 1, "surrounding spaces"},
		{"duplicate username", []string{"user", "create", "ALICE", "--env", "acme"}, 1, "already exists"},
		{"bad email", []string{"user", "create", "bob", "--env", "acme", "--email", "bob"}, 1, "not an email address"},
		{"bad status", []string{"user", "create", "bob", "--env", "acme", "--status", "GONE"}, 1, "status must be"},
		{"corporate API user", []string{"user", "create", "bob", "--env", "acme", "--type", "API", "--identity-provider", "corp"}, 1, "API users are always local"},
		{"weak initial password", []string{"user", "create", "bob", "--env", "acme", "--password", strings.Repeat("p", 256)}, 1, "password policy"},
		{"both password flags", []string{"user", "create", "bob", "--env", "acme", "--password", "x", "--password-stdin"}, 2, "not both"},
		{"empty password", []string{"user", "create", "bob", "--env", "acme", "--password", ""}, 2, "--password is empty"},
		{"empty stdin", []string{"user", "create", "bob", "--env", "acme", "--password-stdin"}, 2, "standard input holds no password"},
		{"missing username", []string{"user", "create", "--env", "acme"}, 2, "expects USERNAME"},
		{"bad limit", []string{"user", "list", "--env", "acme", "--limit", "0"}, 2, "--limit must be between 1 and 1000"},
		{"bad cursor", []string{"user", "list", "--env", "acme", "--cursor", "!!"}, 1, "cursor"},
		{"unknown flag", []string{"user", "list", "--env", "acme", "--colour", "red"}, 2, "unknown flag"},
		{"bad output", []string{"user", "list", "--env", "acme", "--output", "yaml"}, 2, "--output must be"},
		{"unknown user", []string{"user", "get", "nobody", "--env", "acme"}, 1, `user "nobody" not found`},
		{"missing import file", []string{"import", "--env", "acme", filepath.Join(dir, "none.jsonl")}, 1, "no such file"},
		{"import without file", []string{"import", "--env", "acme"}, 2, "expects FILE"},
		{"audit bad limit", []string{"audit", "list", "--env", "acme", "--limit", "5000"}, 2, "--limit"},
		{"audit bad before", []string{"audit", "list", "--env", "acme", "--before", "x"}, 2, "--before"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantFail(t, ghIn(t, dir, "", c.args...), c.code, c.phrase)
		})
	}
	// Nothing was created by the failures.
	if r := mustGH(t, dir, nil, "user", "list", "--env", "acme", "--username", "bob"); strings.Contains(r.stdout, "bob") {
		t.Fatalf("a failed create left a user:\n%s", r.stdout)
	}
}
