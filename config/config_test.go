package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var (
	rawKey1 = bytes.Repeat([]byte{1}, 32)
	rawKey2 = bytes.Repeat([]byte{0xfb}, 32) // encodes differently in URL-safe base64
	key1    = base64.StdEncoding.EncodeToString(rawKey1)
	key2    = base64.RawURLEncoding.EncodeToString(rawKey2)
	key16   = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 16))
)

// input is one invocation. If file is set it is written to a temporary file;
// "$FILE" in args, env values and expectations stands for its path, and if
// neither args nor env mention it, "--config $FILE" is appended to args.
type input struct {
	nonServe bool // a command without --listen and --base-url
	args     []string
	env      map[string]string
	file     string
}

func load(t *testing.T, in input) (*Config, func(string) string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	expand := func(s string) string { return strings.ReplaceAll(s, "$FILE", path) }
	mentioned := false
	var args []string
	for _, a := range in.args {
		mentioned = mentioned || strings.Contains(a, "$FILE")
		args = append(args, expand(a))
	}
	env := map[string]string{}
	for k, v := range in.env {
		mentioned = mentioned || strings.Contains(v, "$FILE")
		env[k] = expand(v)
	}
	if in.file != "" {
		if err := os.WriteFile(path, []byte(in.file), 0o600); err != nil {
			t.Fatal(err)
		}
		if !mentioned {
			args = append(args, "--config", path)
		}
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Bind(fs, !in.nonServe)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, func(k string) string { return env[k] })
	return c, expand, err
}

func TestDefaults(t *testing.T) {
	for _, nonServe := range []bool{false, true} {
		c, _, err := load(t, input{nonServe: nonServe})
		if err != nil {
			t.Fatal(err)
		}
		want := Config{Listen: "127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080", DataDir: "./gatehouse-data", LogLevel: "info"}
		if c.Listen != want.Listen || c.BaseURL != want.BaseURL || c.DataDir != want.DataDir ||
			c.Database != "" || c.LogLevel != want.LogLevel || c.KEKs != nil || c.ConfigFile != "" || c.UsesPostgres() {
			t.Errorf("nonServe=%v: got %+v, want %+v", nonServe, *c, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	const file = "listen: 10.0.0.1:1\ndata-dir: /file\ndatabase: postgres://file/db\nlog-level: warn\n"
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		in   input
		get  func(*Config) string
		want string
	}{
		{"listen default", input{}, func(c *Config) string { return c.Listen }, "127.0.0.1:8080"},
		{"listen file", input{file: file}, func(c *Config) string { return c.Listen }, "10.0.0.1:1"},
		{"listen env beats file", input{file: file, env: env("GATEHOUSE_LISTEN", "10.0.0.2:2")},
			func(c *Config) string { return c.Listen }, "10.0.0.2:2"},
		{"listen flag beats env and file", input{file: file, env: env("GATEHOUSE_LISTEN", "10.0.0.2:2"), args: []string{"--listen", "10.0.0.3:3"}},
			func(c *Config) string { return c.Listen }, "10.0.0.3:3"},
		{"listen empty env does not beat file", input{file: file, env: env("GATEHOUSE_LISTEN", "")},
			func(c *Config) string { return c.Listen }, "10.0.0.1:1"},
		{"data-dir file", input{file: file}, func(c *Config) string { return c.DataDir }, "/file"},
		{"data-dir env beats file", input{file: file, env: env("GATEHOUSE_DATA_DIR", "/env")},
			func(c *Config) string { return c.DataDir }, "/env"},
		{"data-dir flag beats env", input{file: file, env: env("GATEHOUSE_DATA_DIR", "/env"), args: []string{"--data-dir=/flag"}},
			func(c *Config) string { return c.DataDir }, "/flag"},
		{"data-dir flag equal to default still wins", input{file: file, args: []string{"--data-dir", "./gatehouse-data"}},
			func(c *Config) string { return c.DataDir }, "./gatehouse-data"},
		{"database file", input{file: file}, func(c *Config) string { return c.Database }, "postgres://file/db"},
		{"database env beats file", input{file: file, env: env("GATEHOUSE_DATABASE", "postgresql://env/db")},
			func(c *Config) string { return c.Database }, "postgresql://env/db"},
		{"database flag beats env", input{file: file, env: env("GATEHOUSE_DATABASE", "postgresql://env/db"), args: []string{"--database", "postgres:///db?host=/run/pg"}},
			func(c *Config) string { return c.Database }, "postgres:///db?host=/run/pg"},
		{"database explicit empty flag beats file", input{file: file, args: []string{"--database="}},
			func(c *Config) string { return c.Database }, ""},
		{"log-level default", input{}, func(c *Config) string { return c.LogLevel }, "info"},
		{"log-level file", input{file: file}, func(c *Config) string { return c.LogLevel }, "warn"},
		{"log-level env beats file", input{file: file, env: env("GATEHOUSE_LOG_LEVEL", "error")},
			func(c *Config) string { return c.LogLevel }, "error"},
		{"log-level flag beats env", input{file: file, env: env("GATEHOUSE_LOG_LEVEL", "error"), args: []string{"--log-level", "debug"}},
			func(c *Config) string { return c.LogLevel }, "debug"},
		{"base-url default follows listen from env", input{env: env("GATEHOUSE_LISTEN", "192.0.2.7:9000")},
			func(c *Config) string { return c.BaseURL }, "http://192.0.2.7:9000"},
		{"base-url default follows listen from file", input{file: file}, func(c *Config) string { return c.BaseURL }, "http://10.0.0.1:1"},
		{"base-url default for empty host", input{args: []string{"--listen", ":9000"}},
			func(c *Config) string { return c.BaseURL }, "http://localhost:9000"},
		{"base-url default for 0.0.0.0", input{args: []string{"--listen", "0.0.0.0:80"}},
			func(c *Config) string { return c.BaseURL }, "http://localhost:80"},
		{"base-url default for IPv6", input{args: []string{"--listen", "[::1]:8080"}},
			func(c *Config) string { return c.BaseURL }, "http://[::1]:8080"},
		{"base-url trailing slash trimmed", input{env: env("GATEHOUSE_BASE_URL", "https://sso.example.com/")},
			func(c *Config) string { return c.BaseURL }, "https://sso.example.com"},
		{"base-url path trailing slash trimmed", input{file: "base-url: https://example.com/sso/\n"},
			func(c *Config) string { return c.BaseURL }, "https://example.com/sso"},
		{"base-url flag beats env", input{env: env("GATEHOUSE_BASE_URL", "https://env.example"), args: []string{"--base-url", "https://flag.example"}},
			func(c *Config) string { return c.BaseURL }, "https://flag.example"},
		{"config file via env", input{file: "data-dir: /from-env-file\n", env: env("GATEHOUSE_CONFIG", "$FILE")},
			func(c *Config) string { return c.DataDir + " " + c.ConfigFile }, "/from-env-file $FILE"},
		{"config flag beats env", input{file: "data-dir: /x\n", env: env("GATEHOUSE_CONFIG", "/nonexistent.yaml"), args: []string{"--config", "$FILE"}},
			func(c *Config) string { return c.ConfigFile }, "$FILE"},
		{"null file value is empty", input{file: "database: ~\nkek:\n"}, func(c *Config) string { return c.Database }, ""},
		{"comments-only file", input{file: "# nothing here\n"}, func(c *Config) string { return c.LogLevel }, "info"},
		{"file key without a flag is harmless", input{nonServe: true, file: "listen: 0.0.0.0:1\nbase-url: https://x.example/\n"},
			func(c *Config) string { return c.Listen + " " + c.BaseURL }, "0.0.0.0:1 https://x.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, expand, err := load(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tt.get(c), expand(tt.want); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := load(t, input{env: map[string]string{"GATEHOUSE_CONFIG": path}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConfigFile != path || c.Listen != "127.0.0.1:8080" {
		t.Errorf("got %+v", *c)
	}
}

func TestKEKs(t *testing.T) {
	padded := base64.URLEncoding.EncodeToString(rawKey2)
	raw := base64.RawStdEncoding.EncodeToString(rawKey1)
	tests := []struct {
		name string
		in   input
		want [][]byte
	}{
		{"two keys in order", input{env: map[string]string{"GATEHOUSE_KEK": key1 + "," + key2}}, [][]byte{rawKey1, rawKey2}},
		{"reverse order, spaces", input{args: []string{"--kek", key2 + " , " + key1}}, [][]byte{rawKey2, rawKey1}},
		{"url-safe padded and std raw from file", input{file: "kek: " + padded + "," + raw + "\n"}, [][]byte{rawKey2, rawKey1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.KEKs) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(c.KEKs), len(tt.want))
			}
			for i := range tt.want {
				if !bytes.Equal(c.KEKs[i], tt.want[i]) {
					t.Errorf("key %d: got %x, want %x", i, c.KEKs[i], tt.want[i])
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		in      input
		setting string
		source  string
		msg     []string // substrings of the message
		secret  string   // must not appear in the error text
	}{
		{"listen bad port", input{env: map[string]string{"GATEHOUSE_LISTEN": "127.0.0.1:99999"}},
			"listen", "environment variable GATEHOUSE_LISTEN", []string{`"127.0.0.1:99999"`, "0 to 65535"}, ""},
		{"listen missing port", input{args: []string{"--listen", "abc"}},
			"listen", "flag --listen", []string{`"abc": missing port in address`}, ""},
		{"listen empty", input{file: "\nlisten: ' '\n"},
			"listen", "config file $FILE line 2", []string{"must not be empty"}, ""},
		{"listen bad host", input{args: []string{"--listen", "a b:80"}},
			"listen", "flag --listen", []string{`host "a b"`}, ""},
		{"listen in file without the flag is still validated", input{nonServe: true, file: "listen: abc\n"},
			"listen", "config file $FILE line 1", []string{"missing port"}, ""},
		{"base-url ftp", input{args: []string{"--base-url", "ftp://x"}},
			"base-url", "flag --base-url", []string{`"ftp://x"`, "http:// or https://"}, ""},
		{"base-url query", input{env: map[string]string{"GATEHOUSE_BASE_URL": "https://x/?a=b"}},
			"base-url", "environment variable GATEHOUSE_BASE_URL", []string{"query"}, ""},
		{"base-url relative", input{file: "base-url: /sso\n"},
			"base-url", "config file $FILE line 1", []string{"absolute"}, ""},
		{"base-url fragment", input{args: []string{"--base-url", "https://x/#top"}},
			"base-url", "flag --base-url", []string{"fragment"}, ""},
		{"base-url user info", input{args: []string{"--base-url", "https://u@x/"}},
			"base-url", "flag --base-url", []string{"user info"}, ""},
		{"base-url no host", input{args: []string{"--base-url", "http:///x"}},
			"base-url", "flag --base-url", []string{"no host"}, ""},
		{"base-url default from bad listen is never reached", input{args: []string{"--listen", "x"}},
			"listen", "flag --listen", []string{"missing port"}, ""},
		{"data-dir empty", input{file: "data-dir: ''\n"},
			"data-dir", "config file $FILE line 1", []string{"must not be empty"}, ""},
		{"data-dir NUL", input{env: map[string]string{"GATEHOUSE_DATA_DIR": "a\x00b"}},
			"data-dir", "environment variable GATEHOUSE_DATA_DIR", []string{"NUL"}, ""},
		{"database mysql", input{args: []string{"--database", "mysql://root:hunter2@x/db"}},
			"database", "flag --database", []string{"postgres://"}, "hunter2"},
		{"database not a url", input{env: map[string]string{"GATEHOUSE_DATABASE": "not a url"}},
			"database", "environment variable GATEHOUSE_DATABASE", []string{"postgres://"}, ""},
		{"database no host", input{file: "database: postgres:///db\n"},
			"database", "config file $FILE line 1", []string{"no host"}, ""},
		{"database unparsable", input{args: []string{"--database", "postgres://u:pw@h:port/db"}},
			"database", "flag --database", []string{"not a valid URL"}, ""},
		{"kek not base64", input{env: map[string]string{"GATEHOUSE_KEK": "not*base64!"}},
			"kek", "environment variable GATEHOUSE_KEK", []string{"item 1 is not 32 bytes of base64"}, "not*base64!"},
		{"kek 16 bytes", input{args: []string{"--kek", key16}},
			"kek", "flag --kek", []string{"item 1 is not 32 bytes of base64"}, key16},
		{"kek second bad", input{file: "kek: " + key1 + "," + key16 + "\n"},
			"kek", "config file $FILE line 1", []string{"item 2 is not 32 bytes of base64"}, key16},
		{"kek empty item", input{env: map[string]string{"GATEHOUSE_KEK": key1 + ","}},
			"kek", "environment variable GATEHOUSE_KEK", []string{"item 2 is not 32 bytes of base64"}, key1},
		{"log-level loud", input{args: []string{"--log-level", "loud"}},
			"log-level", "flag --log-level", []string{`"loud"`, "debug, info, warn, error"}, ""},
		{"malformed yaml", input{file: "listen: [unclosed\n"},
			"config", "config file $FILE", []string{"yaml:", "line"}, ""},
		{"unknown key", input{file: "log-level: info\ncolour: blue\n"},
			"config", "config file $FILE line 2", []string{`"colour"`, "listen, base-url, data-dir, database, kek, log-level"}, ""},
		{"config is not a file key", input{file: "config: other.yaml\n"},
			"config", "config file $FILE line 1", []string{`unknown key "config"`}, ""},
		{"list value", input{file: "log-level: info\nkek:\n  - a\n  - b\n"},
			"kek", "config file $FILE line 2", []string{"list"}, ""},
		{"mapping value", input{file: "listen:\n  host: x\n"},
			"listen", "config file $FILE line 1", []string{"mapping"}, ""},
		{"top level not a mapping", input{file: "- listen\n"},
			"config", "config file $FILE line 1", []string{"top level"}, ""},
		{"repeated key", input{file: "listen: a:1\nlisten: b:2\n"},
			"listen", "config file $FILE line 2", []string{"line 1"}, ""},
		{"two documents", input{file: "listen: a:1\n---\nlisten: b:2\n"},
			"config", "config file $FILE", []string{"single YAML document"}, ""},
		{"missing config file", input{args: []string{"--config", dir + "/missing.yaml"}},
			"config", "flag --config", []string{"missing.yaml", "no such file"}, ""},
		{"config file is a directory", input{env: map[string]string{"GATEHOUSE_CONFIG": dir}},
			"config", "environment variable GATEHOUSE_CONFIG", []string{"is a directory"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, expand, err := load(t, tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got config %+v, error %v; want *Error", c, err)
			}
			if c != nil {
				t.Errorf("got config %+v with error", c)
			}
			if e.Setting != tt.setting || e.Source != expand(tt.source) {
				t.Errorf("got setting %q source %q, want %q %q", e.Setting, e.Source, tt.setting, expand(tt.source))
			}
			for _, m := range tt.msg {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q does not contain %q", e.Message, m)
				}
			}
			if want := "invalid " + tt.setting + " from " + e.Source + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	_, _, err := load(t, input{env: map[string]string{"GATEHOUSE_LISTEN": "abc"}})
	want := `invalid listen from environment variable GATEHOUSE_LISTEN: "abc": missing port in address`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestBind(t *testing.T) {
	fs := pflag.NewFlagSet("env", pflag.ContinueOnError)
	Bind(fs, false)
	for _, name := range []string{"listen", "base-url"} {
		if fs.Lookup(name) != nil {
			t.Errorf("non-serve flag set has --%s", name)
		}
	}
	fs = pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Bind(fs, true)
	for _, s := range settings {
		f := fs.Lookup(s.name)
		if f == nil || !strings.Contains(f.Usage, "(env "+envName(s.name)+")") {
			t.Errorf("flag --%s missing or its help does not name %s", s.name, envName(s.name))
		}
	}
	if got := fs.Lookup("listen").Usage; got != "address to listen on (env GATEHOUSE_LISTEN)" {
		t.Errorf("listen usage %q", got)
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	if !strings.HasPrefix(ref, "| Flag | Environment variable | YAML key | Default | Meaning |\n|---") {
		t.Errorf("no table header:\n%s", ref)
	}
	for _, s := range settings {
		if !strings.Contains(ref, "`--"+s.name+"`") || !strings.Contains(ref, "`"+envName(s.name)+"`") {
			t.Errorf("reference lacks %s:\n%s", s.name, ref)
		}
	}
	for _, want := range []string{"`127.0.0.1:8080`", "`./gatehouse-data`", "`info`", "`http://` + listen"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks default %s:\n%s", want, ref)
		}
	}
	if n := strings.Count(ref, "\n"); n != len(settings)+2 {
		t.Errorf("reference has %d lines, want %d", n, len(settings)+2)
	}
}

func TestUsesPostgres(t *testing.T) {
	c, _, err := load(t, input{env: map[string]string{"GATEHOUSE_DATABASE": "postgres://db.internal/gatehouse"}})
	if err != nil || !c.UsesPostgres() {
		t.Errorf("got %v, %v; want Postgres", c, err)
	}
}

func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  []string
		err   string
	}{
		{"", nil, ""},
		{"10.0.0.1", []string{"10.0.0.1/32"}, ""},
		{"10.0.0.1, 192.168.7.9/16 ,::1", []string{"10.0.0.1/32", "192.168.0.0/16", "::1/128"}, ""},
		{"nope", nil, `item 1 ("nope")`},
		{"10.0.0.1,300.1.1.1", nil, "item 2"},
	} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		Bind(fs, true)
		c, err := Load(fs, func(k string) string {
			if k == "GATEHOUSE_TRUSTED_PROXIES" {
				return tc.value
			}
			return ""
		})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "trusted-proxies") {
				t.Errorf("%q: error %v, want one saying %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		var got []string
		for _, p := range c.TrustedProxies {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q: %v, want %v", tc.value, got, tc.want)
		}
	}
}
