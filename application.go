package gatehouse

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Application types (OAuth clients).
const (
	AppTypeWeb     = "web"
	AppTypeSPA     = "spa"
	AppTypeNative  = "native"
	AppTypeService = "service"
	AppTypeAPIUser = "api-user"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Application is an OAuth client of one environment: a web app, an API
// integration or a management tool.
type Application struct {
	EnvironmentID string   `json:"environmentId"`
	ID            string   `json:"id"`
	ClientID      string   `json:"clientId"`
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	RedirectURIs  []string `json:"redirectUris"`
	GrantTypes    []string `json:"grantTypes"`
	// Roles are the administrator roles the application holds in its own
	// environment when it acts by client credentials.
	Roles []string `json:"roles"`
	ApplicationSettings
	CreatedOn time.Time `json:"createdOn"`
	UpdatedOn time.Time `json:"updatedOn"`

	// SecretHash is the keyed hash of a confidential client's secret.
	SecretHash []byte `json:"-"`
}

// ApplicationSettings are an application's less-queried settings, stored
// as one document.
type ApplicationSettings struct {
	Description            string   `json:"description,omitempty"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	RefreshTokens          bool     `json:"refreshTokens"`
	// AccessTokenSeconds is the access-token lifetime; 0 means the default
	// for the application's type.
	AccessTokenSeconds  int `json:"accessTokenSeconds"`
	RefreshTokenSeconds int `json:"refreshTokenSeconds"`
	// Scopes the application may ask for; empty allows every scope its
	// grants know (openid, profile, email, offline_access, api, management).
	Scopes []string `json:"scopes,omitempty"`
	// SigningAlgorithm signs this application's tokens: ES256 (the
	// default, when empty) or RS256 for old clients.
	SigningAlgorithm string `json:"signingAlgorithm,omitempty"`
	// MFARequired asks every user of the application for a second factor,
	// whatever the environment's MFA policy says (API users never).
	MFARequired bool `json:"mfaRequired"`
}

// TokenAlgorithm is the algorithm that signs the application's tokens.
func (a *Application) TokenAlgorithm() string {
	if a.SigningAlgorithm == "" {
		return "ES256"
	}
	return a.SigningAlgorithm
}

// Confidential reports whether the application has a secret.
func (a *Application) Confidential() bool {
	return a.Type == AppTypeWeb || a.Type == AppTypeService || a.Type == AppTypeAPIUser
}

// AllowsGrant reports whether the application may use a grant type.
func (a *Application) AllowsGrant(grant string) bool { return slices.Contains(a.GrantTypes, grant) }

// DefaultGrantTypes are the grants an application of a type gets unless it
// names its own.
func DefaultGrantTypes(appType string) []string {
	switch appType {
	case AppTypeWeb, AppTypeSPA, AppTypeNative:
		return []string{GrantAuthorizationCode, GrantRefreshToken}
	case AppTypeService:
		return []string{GrantClientCredentials}
	case AppTypeAPIUser:
		return []string{GrantPassword, GrantRefreshToken}
	}
	return nil
}

var grantsByType = map[string][]string{
	AppTypeWeb:     {GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
	AppTypeSPA:     {GrantAuthorizationCode, GrantRefreshToken},
	AppTypeNative:  {GrantAuthorizationCode, GrantRefreshToken},
	AppTypeService: {GrantClientCredentials},
	AppTypeAPIUser: {GrantPassword, GrantRefreshToken, GrantClientCredentials},
}

// AllowedGrantTypes are the grants an application of a type may be given.
func AllowedGrantTypes(appType string) []string { return slices.Clone(grantsByType[appType]) }

// KnownScopes are the scopes Gatehouse issues tokens for.
var KnownScopes = []string{"openid", "profile", "email", "offline_access", "api", "management"}

// AllowsScopes reports whether the application may ask for every scope in
// a space-separated list.
func (a *Application) AllowsScopes(scope string) bool {
	if len(a.Scopes) == 0 {
		return true
	}
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(a.Scopes, sc) {
			return false
		}
	}
	return true
}

// AdminRoles are the roles that manage an environment through the
// management API.
var AdminRoles = []string{RoleEnvironmentAdmin, RoleUserAdmin, RoleReadOnly}

// Validate checks an application's fields.
func (a *Application) Validate() error {
	allowed, ok := grantsByType[a.Type]
	switch {
	case !ok:
		return Errorf(EINVALID, "application type must be one of web, spa, native, service, api-user")
	case strings.TrimSpace(a.Name) == "" || utf8.RuneCountInString(a.Name) > MaxDisplayNameLength || hasControl(a.Name):
		return Errorf(EINVALID, "application name is required, at most %d characters, without control characters", MaxDisplayNameLength)
	case utf8.RuneCountInString(a.Description) > 1000:
		return Errorf(EINVALID, "description is longer than 1000 characters")
	case len(a.RedirectURIs) > 50 || len(a.PostLogoutRedirectURIs) > 50:
		return Errorf(EINVALID, "at most 50 redirect URIs")
	case a.AccessTokenSeconds < 0 || a.AccessTokenSeconds > 7*24*3600:
		return Errorf(EINVALID, "accessTokenSeconds must be between 0 (default) and 604800")
	case a.RefreshTokenSeconds < 0 || a.RefreshTokenSeconds > 365*24*3600:
		return Errorf(EINVALID, "refreshTokenSeconds must be between 0 (default) and 31536000")
	case a.SigningAlgorithm != "" && a.SigningAlgorithm != "ES256" && a.SigningAlgorithm != "RS256":
		return Errorf(EINVALID, "signingAlgorithm must be ES256 or RS256")
	case len(a.Scopes) > 20:
		return Errorf(EINVALID, "at most 20 scopes")
	}
	for _, g := range a.GrantTypes {
		if !slices.Contains(allowed, g) {
			return Errorf(EINVALID, "grant type %q is not allowed for %s applications (allowed: %s)", truncate(g, 40), a.Type, strings.Join(allowed, ", "))
		}
	}
	for _, r := range a.Roles {
		if !slices.Contains(AdminRoles, r) {
			return Errorf(EINVALID, "application role %q must be one of %s", truncate(r, 40), strings.Join(AdminRoles, ", "))
		}
	}
	for _, sc := range a.Scopes {
		if !slices.Contains(KnownScopes, sc) {
			return Errorf(EINVALID, "scope %q is not one Gatehouse knows (%s)", truncate(sc, 40), strings.Join(KnownScopes, ", "))
		}
	}
	if len(a.Roles) > 0 && !a.AllowsGrant(GrantClientCredentials) {
		return Errorf(EINVALID, "administrator roles need the client_credentials grant")
	}
	for _, list := range [][]string{a.RedirectURIs, a.PostLogoutRedirectURIs} {
		for _, u := range list {
			if err := ValidateRedirectURI(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// ValidateRedirectURI accepts absolute URIs without fragments: https, http
// on loopback, or a private-use scheme for native apps (RFC 8252).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > 2000 || !u.IsAbs() || hasControl(raw):
		return Errorf(EINVALID, "redirect URI %q is not an absolute URI", truncate(raw, 80))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return Errorf(EINVALID, "redirect URI %q must not have a fragment", truncate(raw, 80))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return Errorf(EINVALID, "redirect URI %q must use https (http only on loopback)", truncate(raw, 80))
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return Errorf(EINVALID, "redirect URI %q has no host", truncate(raw, 80))
	case u.Scheme == "javascript" || u.Scheme == "data" || u.Scheme == "file" || u.Scheme == "vbscript":
		return Errorf(EINVALID, "redirect URI scheme %q is not allowed", u.Scheme)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
