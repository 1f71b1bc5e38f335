// Package saml is the connector for corporate SAML 2.0 identity providers.
// Gatehouse is the service provider: it sends AuthnRequests (HTTP-Redirect
// or HTTP-POST), accepts Responses at its assertion consumer service
// (HTTP-POST only), publishes SP metadata, and can start single logout.
//
// Responses are validated by github.com/crewjam/saml, which reads the
// message from what the XML signature covers, and then checked again here
// with Gatehouse's own clock and bounds, so that a change of that library's
// package-level settings cannot loosen them. Before any XML parsing the
// input is bounded in size and refused if it declares a DTD.
package saml

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// Kind makes SAML connectors; the service registers it under
// gatehouse.IdentityProviderSAML.
var Kind connector.Kind = kind{}

type kind struct{}

// maxClockSkew is how far the IdP's clock may be from ours when checking
// NotBefore and NotOnOrAfter.
const maxClockSkew = 3 * time.Minute

// Secret generates the SP's signing key pair for a new IdP and keeps the
// previous one on edits, so that the certificate the IdP was given stays
// valid.
func (kind) Secret(idp *gatehouse.IdentityProvider, previous []byte) ([]byte, error) {
	if previous != nil {
		return previous, nil
	}
	name := "Gatehouse SP"
	if idp != nil && idp.ID != "" {
		name += " " + idp.ID
	}
	return generateSPKey(name, time.Now())
}

// New checks the settings and makes a connector. Metadata given inline is
// parsed now, so that a bad paste is refused when the IdP is saved; metadata
// given by URL is fetched at first use.
func (kind) New(cfg connector.Config) (connector.Connector, error) {
	idp := cfg.IdentityProvider
	if idp == nil || idp.SAML == nil {
		return nil, errorf(gatehouse.EINVALID, "a SAML identity provider takes \"saml\" settings")
	}
	settings := *idp.SAML
	acs, err := absoluteURL("callback URL", cfg.CallbackURL)
	if err != nil {
		return nil, err
	}
	if _, err := absoluteURL("entity id", cfg.EntityID); err != nil {
		return nil, err
	}
	key, err := parseSPKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	source, err := newMetadataSource(settings, cfg.HTTPClient, now)
	if err != nil {
		return nil, err
	}
	return &samlConnector{
		settings: settings,
		entityID: cfg.EntityID,
		acs:      acs,
		key:      key,
		now:      now,
		metadata: source,
	}, nil
}

// samlConnector is one IdP's connector. It is safe for concurrent use: its
// only mutable part is the metadata cache, which locks.
type samlConnector struct {
	settings gatehouse.SAMLSettings
	entityID string
	acs      *url.URL
	key      *spKey
	now      func() time.Time
	metadata metadataSource
}

var (
	_ connector.MetadataProvider = (*samlConnector)(nil)
	_ connector.Logouter         = (*samlConnector)(nil)
	_ connector.Tester           = (*samlConnector)(nil)
)

// serviceProvider configures crewjam's ServiceProvider for one exchange with
// the IdP described by md. It is cheap, and building it per call keeps the
// connector free of shared mutable library state.
func (c *samlConnector) serviceProvider(md *idpMetadata) *crewjam.ServiceProvider {
	sp := &crewjam.ServiceProvider{
		EntityID:    c.entityID,
		Key:         c.key.key,
		Certificate: c.key.cert,
		AcsURL:      *c.acs,
		IDPMetadata: md.descriptor,
		// Transient NameIDs change at every sign-in and cannot be linked,
		// so let the IdP send its configured (stable) format.
		AuthnNameIDFormat: crewjam.UnspecifiedNameIDFormat,
		Clock:             dsig.NewFakeClock(funcClock{Clock: clockwork.NewRealClock(), now: c.now}),
		// The single logout profile requires signed LogoutRequests
		// (saml-profiles §4.4.3.1), whatever is chosen for AuthnRequests.
		LogoutSignatureMethod: dsig.RSASHA256SignatureMethod,
		// SHA-1 is broken for signatures, and an assertion whose
		// conditions we cannot understand is Indeterminate and must be
		// rejected (saml-core §2.5.1.1).
		RejectSHA1Signatures:    true,
		RejectUnknownConditions: true,
	}
	if c.settings.SignAuthnRequests || md.wantAuthnRequestsSigned {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

// absoluteURL parses an http(s) URL the connector needs from its caller.
func absoluteURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("saml: the %s %q is not an absolute http(s) URL", what, raw)
	}
	return u, nil
}

// shortStatus turns a SAML status URN into its last word
// ("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed" → "AuthnFailed"),
// keeping only letters so that nothing the IdP sent is echoed verbatim.
func shortStatus(urn string) string {
	word := urn[strings.LastIndexByte(urn, ':')+1:]
	word = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, word)
	if len(word) > 64 {
		word = word[:64]
	}
	return word
}

// errorf returns an error the service may show to an administrator.
func errorf(code, format string, args ...any) error {
	return gatehouse.Errorf(code, "saml: "+format, args...)
}
