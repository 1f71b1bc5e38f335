package gatehouse

import (
	"context"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Identity provider kinds. Each is a connector (package connector/…); the
// domain only names them.
const (
	IdentityProviderOIDC = "OIDC"
	IdentityProviderSAML = "SAML"
)

// IdentityProvider is a customer's corporate IdP (DESIGN.md §2): its
// corporate users are pre-provisioned in Gatehouse with the same username
// and sign in there.
type IdentityProvider struct {
	EnvironmentID string        `json:"environmentId"`
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Type          string        `json:"type"`
	OIDC          *OIDCSettings `json:"oidc,omitempty"`
	SAML          *SAMLSettings `json:"saml,omitempty"`
	// JITProvisioning creates a corporate user at the first sign-in of a
	// username that is not in the directory. Off by default: linking never
	// guesses.
	JITProvisioning bool `json:"jitProvisioning"`
	// JITRoles are the roles a user created just in time starts with.
	JITRoles []string `json:"jitRoles"`
	// MFARequired makes the environment's MFA policy apply to this IdP's
	// users too; otherwise the IdP's own MFA is trusted.
	MFARequired bool      `json:"mfaRequired"`
	CreatedOn   time.Time `json:"createdOn"`
	UpdatedOn   time.Time `json:"updatedOn"`
}

// OIDCSettings configure an OpenID Connect IdP.
type OIDCSettings struct {
	// Issuer is the IdP's issuer; its discovery document is fetched at the
	// first sign-in, not when the IdP is created.
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
	// ClientSecret is write-only: stored encrypted, never answered.
	ClientSecret string   `json:"clientSecret,omitempty"`
	Scopes       []string `json:"scopes"`
	// UsernameClaim names the claim matched against usernames; empty means
	// preferred_username, else email.
	UsernameClaim string `json:"usernameClaim,omitempty"`
}

// SAMLSettings configure a SAML 2.0 IdP.
type SAMLSettings struct {
	// MetadataXML or MetadataURL give the IdP's metadata; a URL is fetched
	// at the first sign-in and refreshed hourly.
	MetadataXML string `json:"metadataXml,omitempty"`
	MetadataURL string `json:"metadataUrl,omitempty"`
	// UsernameAttribute names the attribute matched against usernames;
	// empty means the NameID.
	UsernameAttribute string `json:"usernameAttribute,omitempty"`
	SignAuthnRequests bool   `json:"signAuthnRequests"`
}

// Limits on identity provider settings.
const (
	MaxIdentityProviderName = 200
	MaxMetadataXML          = 512 << 10
)

// ValidateIdentityProviderID checks an id an administrator chose: a slug
// like an environment's, which then reads well in the IdP's URLs
// (/{env}/saml/{id}/acs) and is the same in every environment that uses the
// same name, so that exported corporate users import elsewhere.
func ValidateIdentityProviderID(id string) error {
	switch {
	case len(id) < 2 || len(id) > 40 || !environmentIDPattern.MatchString(id):
		return Errorf(EINVALID, "id %q must be 2 to 40 lowercase letters, digits and single hyphens, starting with a letter", truncate(id, 50))
	case id == LocalIdentityProvider:
		return Errorf(EINVALID, "id %q is reserved for local users", id)
	case id == "new":
		// The console's form for a new IdP has that path.
		return Errorf(EINVALID, "id %q is reserved", id)
	}
	return nil
}

// Validate checks an identity provider's fields; a connector checks its
// kind's settings further.
func (p *IdentityProvider) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	switch {
	case p.Name == "":
		return Errorf(EINVALID, "name is required")
	case utf8.RuneCountInString(p.Name) > MaxIdentityProviderName || hasControl(p.Name):
		return Errorf(EINVALID, "name must be at most %d printable characters", MaxIdentityProviderName)
	}
	if len(p.JITRoles) > 50 {
		return Errorf(EINVALID, "jitRoles takes at most 50 roles")
	}
	switch p.Type {
	case IdentityProviderOIDC:
		if p.OIDC == nil || p.SAML != nil {
			return Errorf(EINVALID, `an OIDC identity provider takes "oidc" settings and no "saml"`)
		}
		return p.OIDC.validate()
	case IdentityProviderSAML:
		if p.SAML == nil || p.OIDC != nil {
			return Errorf(EINVALID, `a SAML identity provider takes "saml" settings and no "oidc"`)
		}
		return p.SAML.validate()
	default:
		return Errorf(EINVALID, `type must be "OIDC" or "SAML"`)
	}
}

var claimName = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,200}$`)

func (s *OIDCSettings) validate() error {
	if err := validHTTPURL("oidc.issuer", s.Issuer); err != nil {
		return err
	}
	if s.ClientID == "" || len(s.ClientID) > 500 || hasControl(s.ClientID) {
		return Errorf(EINVALID, "oidc.clientId is required (at most 500 printable characters)")
	}
	if len(s.ClientSecret) > 2000 || hasControl(s.ClientSecret) {
		return Errorf(EINVALID, "oidc.clientSecret must be at most 2000 printable characters")
	}
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "profile", "email"}
	}
	if len(s.Scopes) > 30 {
		return Errorf(EINVALID, "oidc.scopes takes at most 30 scopes")
	}
	hasOpenID := false
	for _, sc := range s.Scopes {
		if !scopeToken.MatchString(sc) {
			return Errorf(EINVALID, "oidc.scopes: %q is not a scope", sc)
		}
		hasOpenID = hasOpenID || sc == "openid"
	}
	if !hasOpenID {
		return Errorf(EINVALID, `oidc.scopes must include "openid"`)
	}
	if s.UsernameClaim != "" && !claimName.MatchString(s.UsernameClaim) {
		return Errorf(EINVALID, "oidc.usernameClaim must be a claim name")
	}
	return nil
}

var scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,100}$`)

func (s *SAMLSettings) validate() error {
	switch {
	case (s.MetadataXML == "") == (s.MetadataURL == ""):
		return Errorf(EINVALID, "saml takes one of metadataXml or metadataUrl")
	case len(s.MetadataXML) > MaxMetadataXML:
		return Errorf(EINVALID, "saml.metadataXml is larger than %d KiB", MaxMetadataXML>>10)
	case s.MetadataURL != "":
		if err := validHTTPURL("saml.metadataUrl", s.MetadataURL); err != nil {
			return err
		}
	}
	if s.UsernameAttribute != "" && (len(s.UsernameAttribute) > 500 || hasControl(s.UsernameAttribute)) {
		return Errorf(EINVALID, "saml.usernameAttribute must be at most 500 printable characters")
	}
	return nil
}

// validHTTPURL checks where Gatehouse reads an IdP's keys: https, because
// whoever can change the answer can sign users in; plain http only on this
// machine's loopback, for an IdP running beside Gatehouse.
func validHTTPURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 2000 || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return Errorf(EINVALID, "%s must be an https URL without credentials or fragment", field)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return Errorf(EINVALID, "%s must be an https URL: over plain http anyone on the way could change the identity provider's keys (http is allowed only on loopback)", field)
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// DiscoveryRule routes a username to an identity provider at the
// identifier step. Rules are tried by Order; the first that matches wins.
type DiscoveryRule struct {
	EnvironmentID string `json:"environmentId"`
	ID            string `json:"id"`
	Order         int    `json:"order"`
	// EmailDomain matches usernames that end with "@" + EmailDomain,
	// case-insensitively.
	EmailDomain string `json:"emailDomain,omitempty"`
	// Pattern matches usernames by a regular expression (RE2 syntax, whole
	// username, case-insensitive).
	Pattern            string    `json:"pattern,omitempty"`
	IdentityProviderID string    `json:"identityProviderId"`
	CreatedOn          time.Time `json:"createdOn"`
	UpdatedOn          time.Time `json:"updatedOn"`

	compiled *regexp.Regexp
}

var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)

// Validate checks a rule and prepares its pattern.
func (d *DiscoveryRule) Validate() error {
	d.EmailDomain = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d.EmailDomain), "@"))
	switch {
	case (d.EmailDomain == "") == (d.Pattern == ""):
		return Errorf(EINVALID, "a discovery rule takes one of emailDomain or pattern")
	case d.Order < 0 || d.Order > 1_000_000:
		return Errorf(EINVALID, "order must be between 0 and 1000000")
	case d.IdentityProviderID == "" || len(d.IdentityProviderID) > 64:
		return Errorf(EINVALID, "identityProviderId is required")
	case d.EmailDomain != "" && (len(d.EmailDomain) > 253 || !domainName.MatchString(d.EmailDomain)):
		return Errorf(EINVALID, "emailDomain must be a domain name such as corp.example")
	case len(d.Pattern) > 500:
		return Errorf(EINVALID, "pattern must be at most 500 characters")
	}
	if d.Pattern != "" {
		re, err := regexp.Compile(`(?i)^(?:` + d.Pattern + `)$`)
		if err != nil {
			return Errorf(EINVALID, "pattern is not a regular expression: %v", err)
		}
		d.compiled = re
	}
	return nil
}

// Matches reports whether the rule routes username.
func (d *DiscoveryRule) Matches(username string) bool {
	if d.EmailDomain != "" {
		at := strings.LastIndexByte(username, '@')
		return at >= 0 && strings.EqualFold(username[at+1:], d.EmailDomain)
	}
	if d.compiled == nil && d.Validate() != nil {
		return false
	}
	return d.compiled.MatchString(username)
}

// UsedAssertion records an upstream assertion's id until it expires, so
// that a captured assertion cannot be replayed.
type UsedAssertion struct {
	EnvironmentID      string
	IdentityProviderID string
	ID                 string
	ExpiresAt          time.Time
}

// IdentityProviderRepository stores identity providers, their discovery
// rules and the upstream assertions already used.
type IdentityProviderRepository interface {
	CreateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	GetIdentityProvider(ctx context.Context, envID, id string) (*IdentityProvider, error)
	ListIdentityProviders(ctx context.Context, envID string) ([]*IdentityProvider, error)
	UpdateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	// DeleteIdentityProvider answers ECONFLICT while users or discovery
	// rules name it.
	DeleteIdentityProvider(ctx context.Context, envID, id string) error

	CreateDiscoveryRule(ctx context.Context, d *DiscoveryRule) error
	GetDiscoveryRule(ctx context.Context, envID, id string) (*DiscoveryRule, error)
	// ListDiscoveryRules lists an environment's rules by order, then id.
	ListDiscoveryRules(ctx context.Context, envID string) ([]*DiscoveryRule, error)
	UpdateDiscoveryRule(ctx context.Context, d *DiscoveryRule) error
	DeleteDiscoveryRule(ctx context.Context, envID, id string) error

	// UseAssertion records an assertion id; a second use answers ECONFLICT.
	UseAssertion(ctx context.Context, a *UsedAssertion) error

	// GetUserByIdentity finds the user an IdP's subject was linked to.
	GetUserByIdentity(ctx context.Context, envID, idpID, subject string) (*User, error)
	// LinkIdentity stores the IdP-scoped subject of a user at their first
	// federated sign-in; ECONFLICT if another user has it or the user is
	// linked to another subject of their IdP.
	LinkIdentity(ctx context.Context, envID, userID, subject string) error
}
