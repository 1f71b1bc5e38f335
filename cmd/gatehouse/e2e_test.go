package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/postgres/pgtest"
)

var passwordLine = regexp.MustCompile(`First operator: username "admin", temporary password "([A-Za-z0-9]{20})"`)

// TestServeWithNoConfiguration starts the binary exactly as the README says,
// with no flags and no configuration, then restarts it.
func TestServeWithNoConfiguration(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, nil, "serve")
	s.url = "http://127.0.0.1:8080"
	if err := s.waitReady(20e9); err != nil {
		t.Fatalf("%v (is port 8080 free?)\nstdout: %s\nstderr: %s", err, s.stdout, s.stderr)
	}
	out := s.stdout.String()
	for _, want := range []string{"listening on http://127.0.0.1:8080", "http://127.0.0.1:8080/console/system/"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if !passwordLine.MatchString(out) {
		t.Errorf("first start does not print the operator's temporary password:\n%s", out)
	}
	if strings.Contains(s.stderr.String(), passwordLine.FindStringSubmatch(out)[1]) {
		t.Error("the temporary password reached the log")
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-data", "gatehouse.db")); err != nil {
		t.Fatalf("no store in ./gatehouse-data: %v", err)
	}
	code, jwks := get(t, s.url+"/system/oauth2/jwks")
	if code != http.StatusOK || !strings.Contains(jwks, `"alg":"ES256"`) {
		t.Fatalf("system JWKS: %d %s", code, jwks)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no JSON 'stopped' log line:\n%s", s.stderr)
	}

	again := startServe(t, dir, nil, "serve")
	again.url = s.url
	if err := again.waitReady(20e9); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(again.stdout.String(), "temporary password") {
		t.Errorf("second start bootstrapped again:\n%s", again.stdout)
	}
	if _, jwks2 := get(t, again.url+"/system/oauth2/jwks"); jwks2 != jwks {
		t.Errorf("keys changed across a restart:\n%s\n%s", jwks, jwks2)
	}
	again.stop(t)
}

func TestSecondServeOnSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir, freeAddr(t), nil)
	second := startServe(t, dir, nil, "serve", "--listen", freeAddr(t))
	if code := second.wait(t); code != 1 {
		t.Fatalf("second serve exit %d, want 1", code)
	}
	if !strings.Contains(second.stderr.String(), "another gatehouse server is already running on the data directory") {
		t.Fatalf("second serve said:\n%s", second.stderr)
	}
}

// createdEnv is the JSON `env create --output json` prints.
type createdEnv struct {
	Environment struct {
		ID, DisplayName, Status string
	}
	Admin struct {
		Username, TemporaryPassword string
	}
}

// TestCLIChangesAreSeenByARunningServer runs every env command beside a
// server on the same store and checks what the server answers right after.
func TestCLIChangesAreSeenByARunningServer(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir, freeAddr(t), nil)
	jwks := s.url + "/acme/oauth2/jwks"
	if code, _ := get(t, jwks); code != http.StatusNotFound {
		t.Fatalf("JWKS of a missing environment: %d", code)
	}
	var created createdEnv
	r := mustGH(t, dir, nil, "env", "create", "acme", "--display-name", "Acme Corp", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("env create --output json printed %q: %v", r.stdout, err)
	}
	if created.Environment.ID != "acme" || created.Environment.DisplayName != "Acme Corp" ||
		created.Environment.Status != "ACTIVE" || created.Admin.Username != "admin" || len(created.Admin.TemporaryPassword) != 20 {
		t.Fatalf("env create printed %+v", created)
	}
	// The contract: a running server sees a CLI change within a second
	// (its caches keep hot reads for half of that).
	seen := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			code, body := get(t, jwks)
			if code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: JWKS still answers %d %s a second later, want %d", what, code, body, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	seen("create", http.StatusOK)
	if _, body := get(t, jwks); !strings.Contains(body, `"kty":"EC"`) {
		t.Fatalf("JWKS of the new environment: %s", body)
	}
	mustGH(t, dir, nil, "env", "disable", "acme")
	seen("disable", http.StatusNotFound)
	mustGH(t, dir, nil, "env", "enable", "acme")
	seen("enable", http.StatusOK)
	mustGH(t, dir, nil, "env", "delete", "acme", "--yes")
	seen("delete", http.StatusNotFound)
	if code, _ := get(t, s.url+"/system/oauth2/jwks"); code != http.StatusOK {
		t.Fatalf("deleting acme touched system: %d", code)
	}
}

func TestEnvCommands(t *testing.T) {
	dir := t.TempDir()
	r := mustGH(t, dir, nil, "env", "create", "globex", "--admin-username", "it@globex.example", "--output", "json")
	var created createdEnv
	json.Unmarshal([]byte(r.stdout), &created)
	if created.Admin.Username != "it@globex.example" || created.Environment.DisplayName != "globex" {
		t.Fatalf("create: %+v", created)
	}
	if !passwordLine.MatchString(r.stderr) || strings.Contains(r.stdout, "First operator") {
		t.Errorf("the first command on a new store must tell of the operator on stderr only:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	for _, id := range []string{"acme", "initech", "hooli"} {
		mustGH(t, dir, nil, "env", "create", id)
	}

	var page struct {
		Items      []struct{ ID string }
		NextCursor string
	}
	var ids []string
	after := ""
	for range 10 {
		r := mustGH(t, dir, nil, "env", "list", "--limit", "2", "--after", after, "--output", "json")
		page.NextCursor = ""
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			ids = append(ids, e.ID)
		}
		if after = page.NextCursor; after == "" {
			break
		}
	}
	if got := strings.Join(ids, ","); got != "acme,globex,hooli,initech,system" {
		t.Fatalf("paged list: %s", got)
	}

	r = mustGH(t, dir, nil, "env", "update", "acme", "--display-name", "Acme Pty Ltd", "--output", "json")
	if !strings.Contains(r.stdout, `"displayName": "Acme Pty Ltd"`) {
		t.Fatalf("update printed %s", r.stdout)
	}
	r = mustGH(t, dir, nil, "env", "show", "acme")
	if !strings.Contains(r.stdout, "Acme Pty Ltd") || !strings.Contains(r.stdout, "ACTIVE") {
		t.Fatalf("show printed %s", r.stdout)
	}
	r = mustGH(t, dir, nil, "env", "list")
	if !strings.Contains(r.stdout, "ID") || !strings.Contains(r.stdout, "initech") {
		t.Fatalf("text list printed %s", r.stdout)
	}

	bad := []struct {
		name   string
		args   []string
		code   int
		phrase string
	}{
		{"uppercase id", []string{"env", "create", "Acme"}, 1, "must be lowercase"},
		{"one letter", []string{"env", "create", "a"}, 1, "2 to 40 characters"},
		{"too long", []string{"env", "create", strings.Repeat("a", 41)}, 1, "2 to 40 characters"},
		{"path traversal", []string{"env", "create", "../etc"}, 1, "must be lowercase"},
		{"slash", []string{"env", "create", "a/b"}, 1, "must be lowercase"},
		{"double hyphen", []string{"env", "create", "a--b"}, 1, "single hyphens"},
		{"trailing hyphen", []string{"env", "create", "ab-"}, 1, "single hyphens"},
		{"unicode", []string{"env", "create", "ácme"}, 1, "must be lowercase"},
		{"sql", []string{"env", "create", "x';drop table users;--"}, 1, "must be lowercase"},
		{"reserved", []string{"env", "create", "api"}, 1, "reserved"},
		{"system", []string{"env", "create", "system"}, 1, "already exists"},
		{"duplicate", []string{"env", "create", "acme"}, 1, "already exists"},
		{"bad admin username", []string{"env", "create", "newco", "--admin-username", " spaced "}, 1, "surrounding spaces"},
		{"huge display name", []string{"env", "create", "newco", "--display-name", strings.Repeat("x", 201)}, 1, "longer than 200"},
		{"control chars", []string{"env", "update", "acme", "--display-name", "a\x1bb"}, 1, "control characters"},
		{"missing id", []string{"env", "create"}, 2, "expects ID"},
		{"show missing", []string{"env", "show", "nope"}, 1, `environment "nope" not found`},
		{"update nothing", []string{"env", "update", "acme"}, 2, "give --display-name"},
		{"delete without --yes", []string{"env", "delete", "acme"}, 2, "add --yes"},
		{"delete system", []string{"env", "delete", "system", "--yes"}, 1, "cannot be deleted"},
		{"disable system", []string{"env", "disable", "system"}, 1, "cannot be disabled"},
		{"delete missing", []string{"env", "delete", "nope", "--yes"}, 1, "not found"},
		{"bad output", []string{"env", "list", "--output", "yaml"}, 2, "--output must be"},
		{"bad limit", []string{"env", "list", "--limit", "0"}, 2, "--limit must be"},
		{"unknown flag", []string{"env", "list", "--colour"}, 2, "unknown flag"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, gh(t, dir, nil, tc.args...), tc.code, tc.phrase)
		})
	}
	// Nothing above created anything.
	r = mustGH(t, dir, nil, "env", "list", "--output", "json")
	if n := strings.Count(r.stdout, `"id"`); n != 5 {
		t.Fatalf("after the bad input there are %d environments, want 5:\n%s", n, r.stdout)
	}
	r = mustGH(t, dir, nil, "env", "show", "acme", "--output", "json")
	if !strings.Contains(r.stdout, "Acme Pty Ltd") {
		t.Fatalf("bad input changed acme: %s", r.stdout)
	}
}

func TestConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := write("malformed.yaml", "listen: [unclosed\n")
	unknown := write("unknown.yaml", "listen: 127.0.0.1:9\ncolour: blue\n")
	badValue := write("bad.yaml", "log-level: loud\n")
	cases := []struct {
		name    string
		env     []string
		args    []string
		phrases []string
	}{
		{"malformed yaml", nil, []string{"serve", "--config", malformed}, []string{"malformed.yaml"}},
		{"unknown key", nil, []string{"serve", "--config", unknown}, []string{`unknown key "colour"`, "line 2"}},
		{"bad value in file", nil, []string{"serve", "--config", badValue}, []string{"log-level", "bad.yaml"}},
		{"missing file", nil, []string{"serve", "--config", filepath.Join(dir, "none.yaml")}, []string{"none.yaml"}},
		{"bad listen flag", nil, []string{"serve", "--listen", "127.0.0.1:99999"}, []string{"listen", "flag --listen"}},
		{"bad listen env", []string{"GATEHOUSE_LISTEN=nonsense"}, []string{"serve"}, []string{"GATEHOUSE_LISTEN"}},
		{"bad base url", nil, []string{"serve", "--base-url", "ftp://x"}, []string{"base-url"}},
		{"bad database", nil, []string{"serve", "--database", "mysql://x"}, []string{"database"}},
		{"bad kek", []string{"GATEHOUSE_KEK=short"}, []string{"serve"}, []string{"kek", "GATEHOUSE_KEK"}},
		{"env command too", []string{"GATEHOUSE_LOG_LEVEL=loud"}, []string{"env", "list"}, []string{"log-level"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, gh(t, dir, tc.env, tc.args...), 2, tc.phrases...)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-data")); err == nil {
		t.Error("a failed start created the data directory")
	}

	help := mustGH(t, dir, nil, "serve", "--help")
	for _, want := range []string{"--listen", "--base-url", "--data-dir", "--database", "--config", "GATEHOUSE_LISTEN", "GATEHOUSE_DATABASE"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("serve --help lacks %s", want)
		}
	}
}

// TestConfigurationPrecedence checks flag > environment > file > default on
// the data directory, through where the store lands.
func TestConfigurationPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte("data-dir: from-file\n"), 0o600)
	exists := func(sub string) bool {
		_, err := os.Stat(filepath.Join(dir, sub, "gatehouse.db"))
		return err == nil
	}
	mustGH(t, dir, nil, "migrate", "--config", file)
	mustGH(t, dir, []string{"GATEHOUSE_CONFIG=" + file, "GATEHOUSE_DATA_DIR=from-env"}, "migrate")
	mustGH(t, dir, []string{"GATEHOUSE_DATA_DIR=from-env-2"}, "migrate", "--config", file, "--data-dir", "from-flag")
	mustGH(t, dir, nil, "migrate")
	for sub, want := range map[string]bool{"from-file": true, "from-env": true, "from-flag": true, "from-env-2": false, "gatehouse-data": true} {
		if exists(sub) != want {
			t.Errorf("store in %s: %v, want %v", sub, exists(sub), want)
		}
	}
}

// TestServeOnPostgres runs two stateless nodes on one PostgreSQL schema.
func TestServeOnPostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvVar) == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set", pgtest.EnvVar)
		}
		t.Skipf("%s is not set", pgtest.EnvVar)
	}
	dsn := pgtest.DSN(t)
	kek := strings.TrimSpace(mustGH(t, t.TempDir(), nil, "kek", "generate").stdout)
	env := []string{"GATEHOUSE_DATABASE=" + dsn, "GATEHOUSE_KEK=" + kek}
	a := serve(t, t.TempDir(), freeAddr(t), env)
	b := serve(t, t.TempDir(), freeAddr(t), env)
	if !passwordLine.MatchString(a.stdout.String()) || passwordLine.MatchString(b.stdout.String()) {
		t.Fatalf("exactly the first node bootstraps:\nA: %s\nB: %s", a.stdout, b.stdout)
	}
	mustGH(t, t.TempDir(), env, "env", "create", "acme")
	_, fromA := get(t, a.url+"/acme/oauth2/jwks")
	_, fromB := get(t, b.url+"/acme/oauth2/jwks")
	if fromA != fromB || !strings.Contains(fromA, `"kid"`) {
		t.Fatalf("nodes disagree:\n%s\n%s", fromA, fromB)
	}
	wantFail(t, gh(t, t.TempDir(), []string{"GATEHOUSE_DATABASE=" + dsn, "GATEHOUSE_KEK=" + strings.TrimSpace(mustGH(t, t.TempDir(), nil, "kek", "generate").stdout)}, "env", "list"),
		1, "which is not configured")
	if code := a.stop(t); code != 0 {
		t.Fatalf("node A exit %d", code)
	}
	if code, _ := get(t, b.url+"/readyz"); code != http.StatusOK {
		t.Fatal("node B stopped serving when A stopped")
	}
}

// TestKEKRotation re-encrypts the embedded store's secrets and checks that
// the keys still sign and verify as before and the old key no longer opens
// them.
func TestKEKRotation(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	kekFile := filepath.Join(dir, "gatehouse-data", "kek")
	before, _ := os.ReadFile(kekFile)
	r := mustGH(t, dir, nil, "kek", "rotate", "--output", "json")
	var out struct {
		Reencrypted int
		KeyID       string
	}
	json.Unmarshal([]byte(r.stdout), &out)
	if out.Reencrypted != 6 || out.KeyID == "" {
		t.Fatalf("rotate printed %s", r.stdout)
	}
	after, _ := os.ReadFile(kekFile)
	if string(after) == string(before) || strings.Count(string(after), "\n") != 1 {
		t.Fatalf("key file after rotation:\n%s", after)
	}
	s := serve(t, dir, freeAddr(t), nil)
	if code, _ := get(t, s.url+"/acme/oauth2/jwks"); code != http.StatusOK {
		t.Fatal("JWKS after rotation")
	}
	s.stop(t)

	oldKey := strings.TrimSpace(string(before))
	wantFail(t, gh(t, dir, []string{"GATEHOUSE_KEK=" + oldKey}, "env", "list"), 1, "which is not configured")
	// Keys configured: the new key must be given.
	wantFail(t, gh(t, dir, []string{"GATEHOUSE_KEK=" + oldKey}, "kek", "rotate"), 2, "--new-kek")

	// A lost key file is named, never silently replaced by a new key.
	os.Rename(kekFile, kekFile+".bak")
	wantFail(t, gh(t, dir, nil, "env", "list"), 1, "key-encryption key file", "is missing")
	if _, err := os.Stat(kekFile); err == nil {
		t.Fatal("a new key file was generated over a store with secrets")
	}
	os.Rename(kekFile+".bak", kekFile)
	mustGH(t, dir, nil, "env", "list")
}

// TestKeyRotateCommand: a forced rotation publishes three keys (next,
// current, previous) and the server serves them.
func TestKeyRotateCommand(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	r := mustGH(t, dir, nil, "key", "rotate", "--env", "acme", "--output", "json")
	for _, state := range []string{"NEXT", "CURRENT", "PREVIOUS"} {
		if !strings.Contains(r.stdout, `"State": "`+state+`"`) {
			t.Fatalf("key rotate printed %s", r.stdout)
		}
	}
	s := serve(t, dir, freeAddr(t), nil)
	if _, body := get(t, s.url+"/acme/oauth2/jwks"); strings.Count(body, `"kid"`) != 3 {
		t.Fatalf("JWKS after a rotation: %s", body)
	}
	wantFail(t, gh(t, dir, nil, "key", "rotate", "--env", "nope"), 1, "not found")
	wantFail(t, gh(t, dir, nil, "key", "rotate"), 2, "--env")
}

func TestAppCreateSignInSettings(t *testing.T) {
	dir := t.TempDir()
	mustGH(t, dir, nil, "env", "create", "acme")
	r := mustGH(t, dir, nil, "app", "create", "--env", "acme", "--name", "shop", "--type", "web",
		"--redirect-uri", "https://shop.example/cb", "--post-logout-redirect-uri", "https://shop.example/bye",
		"--refresh-tokens", "--access-token-seconds", "600", "--output", "json")
	var app struct {
		PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
		RefreshTokens          bool
		AccessTokenSeconds     int
		ClientSecret           string
	}
	if err := json.Unmarshal([]byte(r.stdout), &app); err != nil || !app.RefreshTokens || app.AccessTokenSeconds != 600 ||
		len(app.PostLogoutRedirectURIs) != 1 || app.ClientSecret == "" {
		t.Fatalf("app create printed %s (%v)", r.stdout, err)
	}
	wantFail(t, gh(t, dir, nil, "app", "create", "--env", "acme", "--name", "x", "--type", "web",
		"--post-logout-redirect-uri", "javascript:alert(1)"), 1, "not allowed")
}

// TestBenchAll runs the budget table against a live server for a moment:
// every row is measured, with no failed request, and the throw-away
// environment is gone afterwards.
func TestBenchAll(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir, freeAddr(t), nil)
	r := mustGH(t, dir, nil, "bench", "all", "--url", s.url, "--duration", "1s", "--concurrency", "4", "--output", "json")
	var out struct {
		HashCeilingPerSecond float64
		Rows                 []struct {
			What   string
			Result struct {
				Requests, Errors, Shed int64
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Rows) != 5 || out.HashCeilingPerSecond <= 0 {
		t.Fatalf("bench all printed %s (%v)", r.stdout, err)
	}
	for _, row := range out.Rows {
		// Only password hashing is shed as busy, when more wait than the
		// cores take (four workers, and -race slows each hash).
		if row.Result.Requests == 0 || row.Result.Errors != 0 || row.Result.Shed != 0 && row.What != "password-grant tokens" {
			t.Errorf("%s: %d requests, %d errors, %d shed", row.What, row.Result.Requests, row.Result.Errors, row.Result.Shed)
		}
	}
	if list := mustGH(t, dir, nil, "env", "list"); strings.Contains(list.stdout, "bench-") {
		t.Fatalf("the benchmark's environment was left behind:\n%s", list.stdout)
	}
	wantFail(t, gh(t, dir, nil, "bench", "all", "--url", "http://10.1.2.3:8080"), 2, "loopback")
}
