package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// discovery is what the connector learnt from the IdP's discovery
// document (OpenID Connect Discovery 1.0 §3).
type discovery struct {
	provider    *oidc.Provider
	verifier    *oidc.IDTokenVerifier
	oauth2      oauth2.Config
	jwksURI     string
	endSession  string
	issRequired bool
}

// metadata are the discovery fields go-oidc does not expose.
type metadata struct {
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// signingAlgs are the ID token algorithms the connector accepts: public
// key signatures only, so that neither "none" nor an HMAC keyed with the
// client secret can pass for the IdP.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// discovery returns the cached discovery, fetching it if no call has yet
// succeeded. A failure is not cached: the next call tries again.
func (c *conn) discovery(ctx context.Context) (*discovery, error) {
	if d := c.disc.Load(); d != nil {
		return d, nil
	}
	select {
	case c.fetching <- struct{}{}:
		defer func() { <-c.fetching }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the discovery document of %s: %w", c.settings.Issuer, ctx.Err())
	}
	if d := c.disc.Load(); d != nil {
		return d, nil
	}
	d, err := c.fetchDiscovery(ctx)
	if err != nil {
		return nil, err
	}
	c.disc.Store(d)
	return d, nil
}

func (c *conn) fetchDiscovery(ctx context.Context) (*discovery, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	// NewProvider also refuses a document whose issuer is not exactly the
	// configured one (Discovery §4.3), which the ID token's iss must then be.
	p, err := oidc.NewProvider(ctx, c.settings.Issuer)
	if err != nil {
		return nil, fmt.Errorf("fetching the discovery document of %s: %w", c.settings.Issuer, clipped{err})
	}
	d, err := c.newDiscovery(p)
	if err != nil {
		return nil, fmt.Errorf("the discovery document of %s: %w", c.settings.Issuer, err)
	}
	return d, nil
}

func (c *conn) newDiscovery(p *oidc.Provider) (*discovery, error) {
	var m metadata
	if err := p.Claims(&m); err != nil {
		return nil, err
	}
	for _, e := range []struct{ name, url string }{
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
		{"jwks_uri", m.JWKSURI},
	} {
		if err := checkHTTPURL(e.name, e.url); err != nil {
			return nil, err
		}
	}
	algs, err := acceptedAlgs(m.SigningAlgs)
	if err != nil {
		return nil, err
	}
	style, err := c.authStyle(m.TokenAuthMethods)
	if err != nil {
		return nil, err
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = style
	return &discovery{
		provider: p,
		// Verifier shares one key set per provider, so keys are fetched
		// once and again only for a key id not seen yet.
		verifier: p.Verifier(&oidc.Config{ClientID: c.settings.ClientID, SupportedSigningAlgs: algs, Now: c.now}),
		oauth2: oauth2.Config{
			ClientID:     c.settings.ClientID,
			ClientSecret: c.secret,
			Endpoint:     endpoint,
			RedirectURL:  c.callback,
			Scopes:       c.settings.Scopes,
		},
		jwksURI:     m.JWKSURI,
		endSession:  m.EndSessionEndpoint,
		issRequired: m.IssParameterSupported,
	}, nil
}

// acceptedAlgs are the advertised algorithms the connector accepts; an IdP
// that advertises none defaults to RS256 (Discovery §3).
func acceptedAlgs(advertised []string) ([]string, error) {
	if len(advertised) == 0 {
		return []string{oidc.RS256}, nil
	}
	var algs []string
	for _, a := range advertised {
		if slices.Contains(signingAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("ID tokens are signed only with %q; Gatehouse accepts %q", advertised, signingAlgs)
	}
	return algs, nil
}

// authStyle picks how the client authenticates at the token endpoint from
// the methods the IdP supports; client_secret_basic is the default when it
// says nothing (Discovery §3).
func (c *conn) authStyle(methods []string) (oauth2.AuthStyle, error) {
	switch {
	case c.secret == "":
		// A client without a secret ("none") names itself in the body.
		return oauth2.AuthStyleInParams, nil
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	default:
		return 0, fmt.Errorf("the token endpoint supports %q but neither client_secret_basic nor client_secret_post", methods)
	}
}

// checkKeys fetches the key set and requires a public key in it.
func (c *conn) checkKeys(ctx context.Context, jwksURI string) error {
	keys, err := c.fetchKeys(ctx, jwksURI)
	if err != nil {
		return fmt.Errorf("fetching the key set at %s: %w", jwksURI, err)
	}
	for _, k := range keys {
		if k.Valid() && k.IsPublic() {
			return nil
		}
	}
	return fmt.Errorf("the key set at %s holds no public key to verify ID tokens with", jwksURI)
}

func (c *conn) fetchKeys(ctx context.Context, jwksURI string) ([]jose.JSONWebKey, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURI, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(body), 200))
	case len(body) > maxBody:
		return nil, errBodyTooLarge
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	// Keys of types this build cannot read are skipped, as RFC 7517 §5
	// asks, so that one exotic key does not hide the usable ones.
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
