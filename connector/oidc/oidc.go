// Package oidc connects Gatehouse to a corporate OpenID Connect identity
// provider: the authorization code flow with PKCE and a nonce, the ID token
// checked against the IdP's discovery document and keys, and the claims
// mapped to a connector.Identity that the caller links (DESIGN.md §2).
//
// The connector is a confidential client. It never calls the IdP when it is
// made; discovery is fetched at the first sign-in, logout or test and kept
// for the connector's life, while the IdP's keys are fetched again whenever
// an ID token names a key the connector has not seen.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// Kind makes connectors for identity providers of type OIDC.
var Kind connector.Kind = kind{}

// ErrNoEndSession is returned by LogoutURL when the IdP publishes no
// end_session_endpoint, so it cannot be asked to end its own session.
var ErrNoEndSession = errors.New("the identity provider publishes no end_session_endpoint")

// defaultScopes are asked for when the settings name none, as
// gatehouse.OIDCSettings.validate does.
var defaultScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}

type kind struct{}

// Secret keeps the client secret the IdP was given, or the previous one
// when an edit leaves it out, and clears it from the settings because it
// is write-only.
func (kind) Secret(idp *gatehouse.IdentityProvider, previous []byte) ([]byte, error) {
	if idp == nil || idp.OIDC == nil {
		return nil, errors.New("not an OIDC identity provider: oidc settings are missing")
	}
	secret := idp.OIDC.ClientSecret
	idp.OIDC.ClientSecret = ""
	if secret == "" {
		return previous, nil
	}
	return []byte(secret), nil
}

// New checks the IdP's settings and makes its connector without calling
// the IdP.
func (kind) New(cfg connector.Config) (connector.Connector, error) {
	idp := cfg.IdentityProvider
	if idp == nil || idp.Type != gatehouse.IdentityProviderOIDC || idp.OIDC == nil {
		return nil, errors.New("not an OIDC identity provider: type must be OIDC with oidc settings")
	}
	s := *idp.OIDC
	s.ClientSecret = ""
	s.Scopes = slices.Clone(s.Scopes)
	if len(s.Scopes) == 0 {
		s.Scopes = slices.Clone(defaultScopes)
	}
	if err := checkSettings(&s, cfg.CallbackURL); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &conn{
		settings: s,
		secret:   string(cfg.Secret),
		callback: cfg.CallbackURL,
		client:   boundedClient(cfg.HTTPClient),
		now:      now,
		fetching: make(chan struct{}, 1),
	}, nil
}

func checkSettings(s *gatehouse.OIDCSettings, callback string) error {
	if err := checkHTTPURL("issuer", s.Issuer); err != nil {
		return err
	}
	if s.ClientID == "" {
		return errors.New("the client id is required")
	}
	if !slices.Contains(s.Scopes, oidc.ScopeOpenID) {
		return errors.New(`the scopes must include "openid"`)
	}
	if err := checkHTTPURL("callback URL", callback); err != nil {
		return err
	}
	return nil
}

func checkHTTPURL(what, raw string) error {
	if raw == "" {
		return fmt.Errorf("the %s is missing", what)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("the %s %q is not an http or https URL without fragment", what, raw)
	}
	return nil
}

// conn is the connector of one OIDC IdP.
type conn struct {
	settings gatehouse.OIDCSettings // ClientSecret cleared; see secret
	secret   string
	callback string
	client   *http.Client
	now      func() time.Time

	// disc is the discovery once fetched; fetching lets one caller fetch
	// at a time while the others wait as long as their context allows.
	disc     atomic.Pointer[discovery]
	fetching chan struct{}
}

var (
	_ connector.Logouter = (*conn)(nil)
	_ connector.Tester   = (*conn)(nil)
)

// pending is what Begin keeps for Finish. It holds the PKCE verifier, so
// it must stay on the server side of the sign-in.
type pending struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
}

// Begin sends the browser to the IdP's authorization endpoint.
func (c *conn) Begin(ctx context.Context, req connector.Request) (*connector.Start, error) {
	d, err := c.discovery(ctx)
	if err != nil {
		return nil, err
	}
	p := pending{Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	if req.ForceAuthn {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if req.MaxAge != nil {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.Itoa(*req.MaxAge)))
	}
	kept, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return &connector.Start{URL: d.oauth2.AuthCodeURL(req.State, opts...), Pending: string(kept)}, nil
}

// Finish checks the IdP's answer and the ID token it leads to.
func (c *conn) Finish(ctx context.Context, answer url.Values, kept string) (*connector.Identity, error) {
	// RFC 9207: iss names the IdP that answered, error answers included;
	// the configured issuer is the discovery's, so no fetch is needed yet.
	iss, hasIss := answer["iss"]
	if hasIss && (len(iss) != 1 || iss[0] != c.settings.Issuer) {
		return nil, fmt.Errorf("the answer's iss parameter %q is not the issuer %q: it comes from another identity provider", clip(strings.Join(iss, ","), 200), c.settings.Issuer)
	}
	if e := answer.Get("error"); e != "" {
		return nil, &connector.Refused{Reason: refusal(e, answer.Get("error_description"))}
	}
	code := answer.Get("code")
	if code == "" {
		return nil, errors.New("the answer carries neither a code nor an error")
	}
	var p pending
	if err := json.Unmarshal([]byte(kept), &p); err != nil || p.Nonce == "" || p.Verifier == "" {
		return nil, errors.New("the sign-in's pending state is not one Begin made")
	}
	d, err := c.discovery(ctx)
	if err != nil {
		return nil, err
	}
	if !hasIss && d.issRequired {
		return nil, errors.New("the answer lacks the iss parameter that the identity provider says it always sends")
	}
	tok, err := c.exchange(ctx, d, code, p.Verifier)
	if err != nil {
		return nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the token endpoint's answer carries no id_token")
	}
	idTok, err := c.verify(ctx, d, raw, p.Nonce, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	claims, err := c.claims(ctx, d, idTok, tok)
	if err != nil {
		return nil, err
	}
	id, err := c.identity(claims)
	if err != nil {
		return nil, err
	}
	id.Subject = idTok.Subject
	id.Logout = raw
	return id, nil
}

// refusal makes the IdP's error code and description fit for a log line.
func refusal(code, description string) string {
	r := clip(code, 100)
	if description != "" {
		r += ": " + clip(description, 300)
	}
	return r
}

func (c *conn) exchange(ctx context.Context, d *discovery, code, verifier string) (*oauth2.Token, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	tok, err := d.oauth2.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode != "":
		return nil, fmt.Errorf("the token endpoint refused the code (HTTP %d): %s", statusCode(re.Response), refusal(re.ErrorCode, re.ErrorDescription))
	case errors.As(err, &re):
		return nil, fmt.Errorf("the token endpoint answered HTTP %d: %s", statusCode(re.Response), clip(string(re.Body), 200))
	case err != nil:
		return nil, fmt.Errorf("exchanging the code at the token endpoint: %w", clipped{err})
	}
	return tok, nil
}

func statusCode(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// verify checks the ID token as OpenID Connect Core §3.1.3.7 asks: the
// verifier checks signature, algorithm, issuer, audience and expiry; the
// rest is checked here.
func (c *conn) verify(ctx context.Context, d *discovery, raw, nonce, accessToken string) (*oidc.IDToken, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	t, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("the ID token is not valid: %w", clipped{err})
	}
	if subtle.ConstantTimeCompare([]byte(t.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("the ID token's nonce is not the one this sign-in sent: it answers another sign-in")
	}
	if err := c.checkAuthorizedParty(t); err != nil {
		return nil, err
	}
	if t.Subject == "" {
		return nil, errors.New("the ID token has no sub claim")
	}
	if err := checkText("sub", t.Subject, 255); err != nil {
		return nil, err
	}
	// at_hash is optional in the code flow, but when present it binds the
	// access token that userinfo will be asked with.
	if t.AccessTokenHash != "" {
		if err := t.VerifyAccessToken(accessToken); err != nil {
			return nil, fmt.Errorf("the ID token's at_hash does not match the access token: %w", err)
		}
	}
	return t, nil
}

// checkAuthorizedParty refuses a token meant for several clients unless it
// names this one as the party it was issued to.
func (c *conn) checkAuthorizedParty(t *oidc.IDToken) error {
	var azp struct {
		AZP string `json:"azp"`
	}
	if err := t.Claims(&azp); err != nil {
		return fmt.Errorf("the ID token's claims are not readable: %w", err)
	}
	switch {
	case azp.AZP != "" && azp.AZP != c.settings.ClientID:
		return fmt.Errorf("the ID token was issued to client %q (azp), not %q", clip(azp.AZP, 200), c.settings.ClientID)
	case azp.AZP == "" && len(t.Audience) > 1:
		return errors.New("the ID token has several audiences and no azp claim naming this client")
	}
	return nil
}

// LogoutURL sends the browser to the IdP's end_session_endpoint (OpenID
// Connect RP-Initiated Logout).
func (c *conn) LogoutURL(ctx context.Context, logout, returnTo string) (string, error) {
	d, err := c.discovery(ctx)
	if err != nil {
		return "", err
	}
	if d.endSession == "" {
		return "", ErrNoEndSession
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return "", fmt.Errorf("the end_session_endpoint %q is not a URL: %w", d.endSession, err)
	}
	q := u.Query()
	if logout != "" {
		q.Set("id_token_hint", logout)
	}
	q.Set("client_id", c.settings.ClientID)
	if returnTo != "" {
		q.Set("post_logout_redirect_uri", returnTo)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Test fetches the discovery document afresh, keeps it, and checks that
// the IdP's key set holds a key that can verify ID tokens.
func (c *conn) Test(ctx context.Context) error {
	d, err := c.fetchDiscovery(ctx)
	if err != nil {
		return err
	}
	c.disc.Store(d)
	return c.checkKeys(ctx, d.jwksURI)
}

func (c *conn) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return oidc.ClientContext(ctx, c.client), cancel
}
