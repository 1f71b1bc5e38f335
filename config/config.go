// Package config loads the settings of the gatehouse command.
//
// Every setting is resolved with one precedence, highest first:
//
//  1. its command-line flag, if given;
//  2. its environment variable (GATEHOUSE_ + upper snake name), if set and non-empty;
//  3. its key in the YAML file named by --config or GATEHOUSE_CONFIG;
//  4. its default.
//
// Every value is validated wherever it came from, including file keys for
// settings the running command has no flag for. A problem is an *Error that
// names the setting and the source of the bad value.
package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Config is the resolved, validated settings.
type Config struct {
	Listen, BaseURL, DataDir, Database, LogLevel string
	KEKs                                         [][]byte // decoded, in order given (first is primary)
	ConfigFile                                   string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; requests from anywhere else name themselves.
	TrustedProxies []netip.Prefix
	// SMTPURL and SMTPFrom send email (codes, password resets); with no
	// URL, Gatehouse sends none and offers neither.
	SMTPURL, SMTPFrom string
}

// UsesPostgres reports whether the store is PostgreSQL rather than the
// embedded SQLite database in DataDir.
func (c *Config) UsesPostgres() bool { return c.Database != "" }

const (
	defaultListen   = "127.0.0.1:8080"
	defaultDataDir  = "./gatehouse-data"
	defaultLogLevel = "info"
)

// setting describes one setting; name is both its flag and its YAML key.
type setting struct {
	name, def, usage string
	defDoc           string // default as shown by Reference, if not def
	serveOnly        bool   // flag only on `gatehouse serve`
	notInFile        bool   // not accepted as a YAML key
}

var settings = []setting{
	{name: "config", usage: "path of an optional YAML settings file", notInFile: true},
	{name: "listen", def: defaultListen, usage: "address to listen on", serveOnly: true},
	{name: "base-url", defDoc: "`http://` + listen", serveOnly: true,
		usage: "public http(s) URL of the server (default http:// + listen)"},
	{name: "data-dir", def: defaultDataDir, usage: "directory for the embedded database and generated key"},
	{name: "database",
		usage: "PostgreSQL URL (postgres://...); empty uses embedded SQLite in data-dir"},
	{name: "kek",
		usage: "comma-separated base64 32-byte key-encryption keys, primary first; empty uses a generated key file in data-dir; prefer the env var, flags are visible to other users"},
	{name: "log-level", def: defaultLogLevel, usage: "log level: debug, info, warn or error"},
	{name: "trusted-proxies", serveOnly: true,
		usage: "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed; empty believes none"},
	{name: "smtp-url",
		usage: "SMTP server for email codes and password resets: smtp://[user:pass@]host[:port] (STARTTLS when offered; ?starttls=required) or smtps://; empty sends no email"},
	{name: "smtp-from", usage: "sender address of Gatehouse's email, such as Acme Sign-in <signin@acme.example>; required with smtp-url"},
}

// envName is the environment variable of a setting: GATEHOUSE_ + upper snake.
func envName(name string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Bind registers the flags on fs. serve=true also registers --listen and
// --base-url, which only `gatehouse serve` has.
func Bind(fs *pflag.FlagSet, serve bool) {
	for _, s := range settings {
		if !s.serveOnly || serve {
			fs.String(s.name, s.def, fmt.Sprintf("%s (env %s)", s.usage, envName(s.name)))
		}
	}
}

// Error is one problem found by Load: which setting, where its value came
// from (`flag --listen`, `environment variable GATEHOUSE_LISTEN`,
// `config file /x/y.yaml line 3`, `default`) and what is wrong.
type Error struct {
	Setting string
	Source  string
	Message string
}

// Error returns e.g. `invalid listen from environment variable
// GATEHOUSE_LISTEN: "abc": missing port in address`.
func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s from %s: %s", e.Setting, e.Source, e.Message)
}

// Load resolves and validates every setting from the flags in fs (only those
// changed on the command line count), the environment through getenv, the
// optional YAML file and the defaults. It returns the first problem as an
// *Error.
func Load(fs *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	l := &loader{fs: fs, getenv: getenv}
	c := &Config{}
	var src string
	c.ConfigFile, src, _ = l.lookup("config")
	if c.ConfigFile != "" {
		l.err = l.readFile(c.ConfigFile, src)
	}
	c.Listen = l.resolve("listen", defaultListen, checkListen)
	c.BaseURL = l.resolve("base-url", defaultBaseURL(c.Listen), checkBaseURL)
	c.DataDir = l.resolve("data-dir", defaultDataDir, checkDataDir)
	c.Database = l.resolve("database", "", checkDatabase)
	l.resolve("kek", "", func(v string) (_ string, err error) {
		c.KEKs, err = parseKEKs(v)
		return v, err
	})
	c.LogLevel = l.resolve("log-level", defaultLogLevel, checkLogLevel)
	l.resolve("trusted-proxies", "", func(v string) (_ string, err error) {
		c.TrustedProxies, err = parseProxies(v)
		return v, err
	})
	c.SMTPURL = l.resolve("smtp-url", "", checkSMTPURL)
	c.SMTPFrom = l.resolve("smtp-from", "", checkSMTPFrom(c.SMTPURL))
	if l.err != nil {
		return nil, l.err
	}
	return c, nil
}

func checkSMTPURL(v string) (string, error) {
	if v == "" {
		return v, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		return v, errors.New("must be smtp://[user:pass@]host[:port] or smtps://…")
	}
	return v, nil
}

func checkSMTPFrom(smtpURL string) func(string) (string, error) {
	return func(v string) (string, error) {
		switch {
		case v == "" && smtpURL != "":
			return v, errors.New("is required with smtp-url: the address Gatehouse's email comes from")
		case v == "":
			return v, nil
		}
		if _, err := mail.ParseAddress(v); err != nil {
			return v, fmt.Errorf("%q is not an email address: %v", v, err)
		}
		return v, nil
	}
}

type loader struct {
	fs     *pflag.FlagSet
	getenv func(string) string
	path   string               // YAML file, if any
	file   map[string]fileValue // its values by key
	err    error                // first problem found
}

type fileValue struct {
	value string
	line  int
}

// lookup returns the value of s from the highest source that sets it, and
// that source; ok is false if none does.
func (l *loader) lookup(name string) (value, source string, ok bool) {
	if l.fs.Changed(name) {
		return l.fs.Lookup(name).Value.String(), "flag --" + name, true
	}
	if v := l.getenv(envName(name)); v != "" {
		return v, "environment variable " + envName(name), true
	}
	if v, ok := l.file[name]; ok {
		return v.value, fmt.Sprintf("config file %s line %d", l.path, v.line), true
	}
	return "", "default", false
}

// resolve looks the setting up, falls back to def, and returns the value as
// normalized by check. It records check's error in l.err, and does nothing
// once l.err is set.
func (l *loader) resolve(name, def string, check func(string) (string, error)) string {
	if l.err != nil {
		return ""
	}
	v, src, ok := l.lookup(name)
	if !ok {
		v = def
	}
	norm, err := check(v)
	if err != nil {
		msg := err.Error()
		if name != "kek" && name != "database" && name != "smtp-url" { // secret, or may hold a password
			msg = fmt.Sprintf("%q: %s", v, msg)
		}
		l.err = &Error{Setting: name, Source: src, Message: msg}
	}
	return norm
}

// readFile loads the YAML file at path, named by src, into l.file.
func (l *loader) readFile(path, src string) error {
	info, err := os.Stat(path)
	if err == nil && info.IsDir() {
		err = errors.New("is a directory, not a YAML file")
	} else if err == nil {
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			return l.parseFile(path, data)
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{Setting: "config", Source: src, Message: fmt.Sprintf("%q: %v", path, err)}
}

func (l *loader) parseFile(path string, data []byte) error {
	l.path, l.file = path, map[string]fileValue{}
	where := "config file " + path
	fail := func(setting string, line int, format string, args ...any) error {
		src := where
		if line > 0 {
			src = fmt.Sprintf("%s line %d", where, line)
		}
		return &Error{Setting: setting, Source: src, Message: fmt.Sprintf(format, args...)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err == io.EOF {
		return nil // empty file
	} else if err != nil {
		return fail("config", 0, "%v", err)
	}
	if err := dec.Decode(new(yaml.Node)); err != io.EOF {
		return fail("config", 0, "must hold a single YAML document")
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only "---" or "~"
	}
	if root.Kind != yaml.MappingNode {
		return fail("config", root.Line, "the top level must be a mapping of setting: value")
	}
	var known []string
	for _, s := range settings {
		if !s.notInFile {
			known = append(known, s.name)
		}
	}
	kinds := map[yaml.Kind]string{yaml.SequenceNode: "list", yaml.MappingNode: "mapping", yaml.AliasNode: "alias"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name, line := k.Value, k.Line
		switch prev, dup := l.file[name]; {
		case k.Kind != yaml.ScalarNode || !slices.Contains(known, name):
			return fail("config", line, "unknown key %q; known keys are %s", name, strings.Join(known, ", "))
		case dup:
			return fail(name, line, "key repeated (first on line %d)", prev.line)
		case v.Kind != yaml.ScalarNode:
			return fail(name, line, "value must be a single string, not a %s", kinds[v.Kind])
		case v.Tag == "!!null":
			l.file[name] = fileValue{"", line}
		default:
			l.file[name] = fileValue{v.Value, line}
		}
	}
	return nil
}

func checkListen(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", errors.New("must not be empty")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err)
		}
		return "", err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !isHostname(host) {
		return "", fmt.Errorf("host %q is not an IP address or host name", host)
	}
	return v, nil
}

func isHostname(h string) bool {
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return true
}

// defaultBaseURL is http:// + listen, with localhost for an empty or
// unspecified (0.0.0.0, ::) host.
func defaultBaseURL(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(strings.ReplaceAll(host, "%", "%25"), port)
}

func checkBaseURL(v string) (string, error) {
	u, err := url.Parse(v)
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		return "", ue.Err
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("must be an absolute URL starting with http:// or https://")
	case u.Hostname() == "":
		return "", errors.New("has no host")
	case u.User != nil:
		return "", errors.New("must not contain user info")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("must not have a query")
	case strings.Contains(v, "#"):
		return "", errors.New("must not have a fragment")
	}
	return strings.TrimRight(v, "/"), nil
}

func checkDataDir(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", errors.New("must not be empty")
	}
	if strings.ContainsRune(v, 0) {
		return "", errors.New("must not contain a NUL byte")
	}
	return v, nil
}

func checkDatabase(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		return "", fmt.Errorf("not a valid URL: %v", ue.Err)
	case err != nil:
		return "", err
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return "", errors.New("must be empty (embedded SQLite) or a postgres:// or postgresql:// URL")
	case u.Host == "" && u.Query().Get("host") == "":
		return "", errors.New("the URL names no host (give one after // or as a host= parameter)")
	}
	return v, nil
}

// parseKEKs decodes a comma-separated list of base64 32-byte keys. Its errors
// never include the value, which is a secret.
func parseKEKs(v string) ([][]byte, error) {
	if v == "" {
		return nil, nil
	}
	var keks [][]byte
	for i, item := range strings.Split(v, ",") {
		key, ok := decodeKey(strings.TrimSpace(item))
		if !ok {
			return nil, fmt.Errorf("item %d is not 32 bytes of base64", i+1)
		}
		keks = append(keks, key)
	}
	return keks, nil
}

func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, true
		}
	}
	return nil, false
}

func checkLogLevel(v string) (string, error) {
	switch v {
	case "debug", "info", "warn", "error":
		return v, nil
	}
	return "", errors.New("must be one of debug, info, warn, error")
}

// Reference returns a Markdown table of every setting (flag, environment
// variable, YAML key, default, meaning) for the README.
func Reference() string {
	var b strings.Builder
	b.WriteString("| Flag | Environment variable | YAML key | Default | Meaning |\n")
	b.WriteString("|------|----------------------|----------|---------|---------|\n")
	for _, s := range settings {
		flag, key, def := "`--"+s.name+"`", "`"+s.name+"`", "`"+s.def+"`"
		if s.serveOnly {
			flag += " (serve only)"
		}
		if s.notInFile {
			key = "—"
		}
		if s.defDoc != "" {
			def = s.defDoc
		} else if s.def == "" {
			def = "(empty)"
		}
		usage, _, _ := strings.Cut(s.usage, " (default")
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", flag, envName(s.name), key, def, usage)
	}
	return b.String()
}

// parseProxies reads a comma-separated list of IPs and CIDRs.
func parseProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("item %d (%q) is neither an IP address nor a CIDR", i+1, item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
