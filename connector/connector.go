// Package connector declares what Gatehouse asks of a corporate identity
// provider. Each kind of IdP is a package of its own (connector/oidc,
// connector/saml) that implements Kind; the service picks a kind by the
// IdP's type and asks its connector what else it can do by type assertion
// (MetadataProvider, Logouter, Tester), so that a new kind is an added
// package, never an edit of the others.
package connector

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Kind makes connectors of one IdP type.
type Kind interface {
	// Secret returns what to keep encrypted for an IdP being created
	// (previous nil) or edited: OIDC keeps the client secret it was given,
	// SAML a key pair it generates for signing requests. It may also clear
	// write-only fields of the IdP's settings.
	Secret(idp *gatehouse.IdentityProvider, previous []byte) ([]byte, error)
	// New makes a connector. It checks the IdP's settings but never calls
	// the IdP: an IdP can be created before it is reachable.
	New(cfg Config) (Connector, error)
}

// Config is what a connector is made from.
type Config struct {
	IdentityProvider *gatehouse.IdentityProvider
	// Secret is what Kind.Secret returned, decrypted.
	Secret []byte
	// CallbackURL is where the IdP sends the browser back:
	// /{env}/oidc/{idp}/callback or /{env}/saml/{idp}/acs under the base URL.
	CallbackURL string
	// EntityID is Gatehouse's own name towards the IdP: the SAML SP entity
	// id, which is also the URL of its metadata, /{env}/saml/{idp}/metadata.
	EntityID string
	// HTTPClient reaches the IdP (discovery, keys, metadata, token
	// endpoint).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Connector signs a user in at an upstream IdP.
type Connector interface {
	// Begin starts a sign-in.
	Begin(ctx context.Context, req Request) (*Start, error)
	// Finish checks the IdP's answer (the callback's query or form) against
	// what Begin kept, and says who signed in. Any doubt is an error.
	Finish(ctx context.Context, answer url.Values, pending string) (*Identity, error)
}

// Request is a sign-in to start at the IdP.
type Request struct {
	// State must come back unchanged with the answer (OIDC state, SAML
	// RelayState). It is at most 80 bytes, as SAML's RelayState must be.
	State string
	// LoginHint is the username the user typed, passed on where the
	// protocol allows.
	LoginHint string
	// ForceAuthn asks the IdP to authenticate the user afresh rather than
	// answer from its own session: the application asked for prompt=login
	// or max_age=0 (OIDC prompt=login, SAML ForceAuthn).
	ForceAuthn bool
	// MaxAge, when set, is the application's max_age, passed on to an OIDC
	// IdP; the IdP's auth_time then tells the application how fresh the
	// sign-in is.
	MaxAge *int
}

// Start is where to send the browser.
type Start struct {
	// URL is the IdP's endpoint. With Form empty the browser is
	// redirected there; otherwise Form is posted to it (SAML HTTP-POST).
	URL  string
	Form url.Values
	// Pending is the connector's state, kept with the sign-in and given
	// back to Finish.
	Pending string
}

// Identity is what an IdP vouched for.
type Identity struct {
	// Subject is the IdP's stable id for the user (OIDC sub, SAML NameID).
	Subject string
	// Username is the value of the IdP's mapped attribute, matched against
	// usernames case-insensitively.
	Username string
	// UsernameIsEmail says Username came from an email claim, which links
	// only when EmailVerified.
	UsernameIsEmail bool
	Email           string
	EmailVerified   bool
	FirstName       string
	LastName        string
	// AuthTime is when the IdP authenticated the user; zero if it did not
	// say.
	AuthTime time.Time
	// AMR are the IdP's authentication methods, if it said.
	AMR []string
	// AssertionID and AssertionExpires name a one-time assertion (SAML)
	// that the caller must refuse to accept twice.
	AssertionID      string
	AssertionExpires time.Time
	// Logout is what the IdP needs to end its session later (OIDC ID
	// token hint; SAML NameID and session index).
	Logout string
}

// MetadataProvider is a connector that publishes metadata for the IdP to
// read (SAML SP metadata).
type MetadataProvider interface {
	Metadata(ctx context.Context) ([]byte, error)
}

// Logouter is a connector whose IdP can end its own session.
type Logouter interface {
	// LogoutURL is where to send the browser to sign out upstream, coming
	// back to returnTo when the IdP supports it.
	LogoutURL(ctx context.Context, logout, returnTo string) (string, error)
}

// Tester is a connector that can check its IdP is reachable and
// configured (discovery or metadata fetched and parsed).
type Tester interface {
	Test(ctx context.Context) error
}

// Refused is a Finish error that the IdP itself reported (the user
// cancelled, access denied), as opposed to an answer that failed checks.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return "the identity provider refused the sign-in: " + r.Reason }
