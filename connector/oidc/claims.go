package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/connector"
)

// Claim names (OpenID Connect Core §5.1, §2).
const (
	claimEmail             = "email"
	claimEmailVerified     = "email_verified"
	claimGivenName         = "given_name"
	claimFamilyName        = "family_name"
	claimPreferredUsername = "preferred_username"
	claimAuthTime          = "auth_time"
	claimAMR               = "amr"
)

// maxClaim bounds the text claims the connector keeps.
const maxClaim = 1000

// claimSet is a token's or userinfo's claims, read one by one so that a
// claim of an unexpected type is noticed rather than zeroed.
type claimSet map[string]json.RawMessage

// claims are the ID token's claims, completed from userinfo when the
// email or the username claim is missing.
func (c *conn) claims(ctx context.Context, d *discovery, t *oidc.IDToken, tok *oauth2.Token) (claimSet, error) {
	var m claimSet
	if err := t.Claims(&m); err != nil {
		return nil, fmt.Errorf("the ID token's claims are not readable: %w", err)
	}
	if !m.missing(claimEmail) && !m.missing(c.usernameClaim()) {
		return m, nil
	}
	if d.provider.UserInfoEndpoint() == "" || tok.AccessToken == "" {
		return m, nil
	}
	u, err := c.userinfo(ctx, d, tok)
	if err != nil {
		return nil, err
	}
	if u.Subject != t.Subject {
		return nil, fmt.Errorf("userinfo describes subject %q, not the ID token's %q", clip(u.Subject, 255), t.Subject)
	}
	var um claimSet
	if err := u.Claims(&um); err != nil {
		return nil, fmt.Errorf("the userinfo claims are not readable: %w", err)
	}
	m.complete(um, c.usernameClaim())
	return m, nil
}

func (c *conn) userinfo(ctx context.Context, d *discovery, tok *oauth2.Token) (*oidc.UserInfo, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, fmt.Errorf("fetching userinfo: %w", clipped{err})
	}
	return u, nil
}

// usernameClaim names the claim matched against usernames first.
func (c *conn) usernameClaim() string {
	if c.settings.UsernameClaim != "" {
		return c.settings.UsernameClaim
	}
	return claimPreferredUsername
}

// complete takes from userinfo the profile claims m lacks. The email comes
// with userinfo's email_verified, never with the ID token's, which spoke of
// another address or of none; claims about the authentication itself
// (auth_time, amr) are only believed from the signed ID token.
func (m claimSet) complete(u claimSet, usernameClaim string) {
	if m.missing(claimEmail) && !u.missing(claimEmail) {
		m[claimEmail] = u[claimEmail]
		delete(m, claimEmailVerified)
		if v, ok := u[claimEmailVerified]; ok {
			m[claimEmailVerified] = v
		}
	}
	for _, name := range []string{usernameClaim, claimPreferredUsername, claimGivenName, claimFamilyName} {
		if m.missing(name) && !u.missing(name) {
			m[name] = u[name]
		}
	}
}

// missing says a claim is absent, null or empty.
func (m claimSet) missing(name string) bool {
	raw, ok := m[name]
	if !ok {
		return true
	}
	raw = bytes.TrimSpace(raw)
	return bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`))
}

// identity maps the claims; the caller sets Subject and Logout.
func (c *conn) identity(m claimSet) (*connector.Identity, error) {
	var id connector.Identity
	var username string
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{claimEmail, &id.Email},
		{claimGivenName, &id.FirstName},
		{claimFamilyName, &id.LastName},
		{c.usernameClaim(), &username},
	} {
		if *f.dst, err = m.text(f.name); err != nil {
			return nil, err
		}
	}
	id.EmailVerified = id.Email != "" && m.truthy(claimEmailVerified)
	if id.AuthTime, err = m.seconds(claimAuthTime); err != nil {
		return nil, err
	}
	if id.AMR, err = m.list(claimAMR); err != nil {
		return nil, err
	}
	switch {
	case username != "":
		id.Username, id.UsernameIsEmail = username, c.usernameClaim() == claimEmail
	case c.settings.UsernameClaim != "":
		return nil, fmt.Errorf("neither the ID token nor userinfo carries the username claim %q", c.settings.UsernameClaim)
	case id.Email != "":
		id.Username, id.UsernameIsEmail = id.Email, true
	default:
		return nil, errors.New("neither the ID token nor userinfo carries preferred_username or email to match a username with")
	}
	return &id, nil
}

// text reads a string claim; a number is taken as its decimal text, since
// some IdPs send employee numbers as JSON numbers.
func (m claimSet) text(name string) (string, error) {
	if m.missing(name) {
		return "", nil
	}
	dec := json.NewDecoder(bytes.NewReader(m[name]))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("the %s claim is not readable: %w", name, err)
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case bool:
		return "", fmt.Errorf("the %s claim is a boolean, not a string", name)
	case []any:
		return "", fmt.Errorf("the %s claim is a list, not a string", name)
	default:
		return "", fmt.Errorf("the %s claim is an object, not a string", name)
	}
	return s, checkText(name, s, maxClaim)
}

// truthy reads a boolean claim that some IdPs send as the string "true".
func (m claimSet) truthy(name string) bool {
	var v any
	if json.Unmarshal(m[name], &v) != nil {
		return false
	}
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// seconds reads a NumericDate claim (seconds since the epoch).
func (m claimSet) seconds(name string) (time.Time, error) {
	if m.missing(name) {
		return time.Time{}, nil
	}
	var n float64
	if err := json.Unmarshal(m[name], &n); err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, fmt.Errorf("the %s claim is not a time in seconds since 1970", name)
	}
	sec, frac := math.Modf(n)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// list reads an array of strings, or a lone string some IdPs send.
func (m claimSet) list(name string) ([]string, error) {
	if m.missing(name) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(m[name], &list); err != nil {
		var one string
		if json.Unmarshal(m[name], &one) != nil {
			return nil, fmt.Errorf("the %s claim is not a list of strings", name)
		}
		list = []string{one}
	}
	if len(list) > 20 {
		return nil, fmt.Errorf("the %s claim lists more than 20 values", name)
	}
	for _, s := range list {
		if err := checkText(name, s, 100); err != nil {
			return nil, err
		}
	}
	return list, nil
}
