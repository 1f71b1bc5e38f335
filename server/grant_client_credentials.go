package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// clientCredentialsGrant is RFC 6749 §4.4: a confidential application gets
// an access token for itself, carrying its administrator roles.
type clientCredentialsGrant struct{ s *Server }

// clientScopes are the scopes an application may ask for by client
// credentials.
var clientScopes = []string{"api", "management"}

// defaultServiceTokenTTL is the access-token lifetime of a service
// application that sets none.
const defaultServiceTokenTTL = time.Hour

func (g clientCredentialsGrant) Token(r *http.Request, envID string, form url.Values) (any, error) {
	app, err := g.s.authenticateClient(r, envID, form)
	if err != nil {
		return nil, err
	}
	if !app.AllowsGrant(gatehouse.GrantClientCredentials) {
		return nil, &tokenError{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: "this application may not use client_credentials"}
	}
	scope := form.Get("scope")
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(clientScopes, sc) {
			return nil, &tokenError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope may hold: " + strings.Join(clientScopes, " ")}
		}
	}
	if !app.AllowsScopes(scope) {
		return nil, &tokenError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "this application may ask for: " + strings.Join(app.Scopes, " ")}
	}
	ttl := defaultServiceTokenTTL
	if app.AccessTokenSeconds > 0 {
		ttl = time.Duration(app.AccessTokenSeconds) * time.Second
	}
	token, err := g.s.svc.MintAccessTokenFor(r.Context(), envID, app, service.AccessClaims{
		Subject: app.ClientID, ClientID: app.ClientID, SubjectType: gatehouse.ActorApplication,
		Scope: scope, AdminRoles: app.Roles,
	}, ttl)
	if err != nil {
		return nil, err
	}
	g.s.svc.RecordTokenIssued(r.Context(), envID, actorOf(r, gatehouse.ActorApplication, app.ClientID), gatehouse.GrantClientCredentials, app.ClientID)
	return tokenResponse{AccessToken: token, TokenType: "bearer", ExpiresIn: int(ttl.Seconds()), Scope: scope}, nil
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}
