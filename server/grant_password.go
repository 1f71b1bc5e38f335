package server

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// passwordGrant is RFC 6749 §4.3 for API users, with the compatibility
// fields the platform's clients read (DESIGN.md §2).
type passwordGrant struct{ s *Server }

func (g passwordGrant) Token(r *http.Request, envID string, form url.Values) (any, error) {
	app, err := g.s.authenticateClient(r, envID, form)
	if err != nil {
		return nil, err
	}
	if !app.AllowsGrant(gatehouse.GrantPassword) {
		return nil, &tokenError{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: "this application may not use the password grant"}
	}
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return nil, invalidRequest("username and password are required")
	}
	if len(username) > 1000 || len(password) > 4096 {
		return nil, invalidRequest("username or password is too long")
	}
	tokens, err := g.s.svc.PasswordGrant(r.Context(), actorOf(r, gatehouse.ActorApplication, app.ClientID), envID, app, username, password, form.Get("scope"))
	if err != nil {
		return nil, grantFailure(err)
	}
	return userTokenResponse(tokens), nil
}

// refreshTokenGrant is RFC 6749 §6 with rotation and reuse detection.
type refreshTokenGrant struct{ s *Server }

func (g refreshTokenGrant) Token(r *http.Request, envID string, form url.Values) (any, error) {
	app, err := g.s.authenticateClientOrPublic(r, envID, form)
	if err != nil {
		return nil, err
	}
	if !app.AllowsGrant(gatehouse.GrantRefreshToken) {
		return nil, &tokenError{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: "this application may not use refresh tokens"}
	}
	if form.Get("refresh_token") == "" {
		return nil, invalidRequest("refresh_token is required")
	}
	tokens, err := g.s.svc.RefreshGrant(r.Context(), actorOf(r, gatehouse.ActorApplication, app.ClientID), envID, app, form.Get("refresh_token"), form.Get("scope"))
	if err != nil {
		return nil, grantFailure(err)
	}
	return userTokenResponse(tokens), nil
}

// userTokenResponse is RFC 6749 §5.1 plus the fields platform clients
// already read: Retailer_id, FirstName, LastName, Roles.
type userTokenBody struct {
	tokenResponse
	IDToken    string   `json:"id_token,omitempty"`
	RetailerID string   `json:"Retailer_id,omitempty"`
	FirstName  string   `json:"FirstName,omitempty"`
	LastName   string   `json:"LastName,omitempty"`
	Roles      []string `json:"Roles"`
}

func userTokenResponse(t *service.UserTokens) userTokenBody {
	roles := []string{}
	for _, a := range t.User.Roles {
		if !slices.Contains(roles, a.Role) {
			roles = append(roles, a.Role)
		}
	}
	return userTokenBody{
		tokenResponse: tokenResponse{AccessToken: t.AccessToken, TokenType: "bearer", ExpiresIn: t.ExpiresIn, Scope: t.Scope, RefreshToken: t.RefreshToken},
		IDToken:       t.IDToken, RetailerID: t.User.PrimaryRetailer, FirstName: t.User.FirstName, LastName: t.User.LastName, Roles: roles,
	}
}
