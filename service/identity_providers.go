package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// Audit actions of identity providers and discovery rules.
const (
	ActionIdPCreated  = "IDENTITY_PROVIDER_CREATED"
	ActionIdPUpdated  = "IDENTITY_PROVIDER_UPDATED"
	ActionIdPDeleted  = "IDENTITY_PROVIDER_DELETED"
	ActionRuleCreated = "DISCOVERY_RULE_CREATED"
	ActionRuleUpdated = "DISCOVERY_RULE_UPDATED"
	ActionRuleDeleted = "DISCOVERY_RULE_DELETED"
)

// IdentityProviderView is an identity provider with what its administrator
// pastes into the IdP's own console.
type IdentityProviderView struct {
	*gatehouse.IdentityProvider
	Endpoints IdentityProviderEndpoints `json:"endpoints"`
}

// IdentityProviderEndpoints are Gatehouse's URLs for one IdP.
type IdentityProviderEndpoints struct {
	// RedirectURI is the OIDC redirect URI to register at the IdP.
	RedirectURI string `json:"redirectUri,omitempty"`
	// EntityID, MetadataURL and ACSURL describe the SAML service provider.
	EntityID    string `json:"entityId,omitempty"`
	MetadataURL string `json:"metadataUrl,omitempty"`
	ACSURL      string `json:"acsUrl,omitempty"`
}

func idpSecretName(id string) string { return "identity-provider/" + id }

// idpBase is the root of an IdP's URLs: /{env}/oidc/{id} or /{env}/saml/{id}.
func (s *Service) idpBase(p *gatehouse.IdentityProvider) string {
	return strings.TrimSuffix(s.BaseURL, "/") + "/" + p.EnvironmentID + "/" + strings.ToLower(p.Type) + "/" + p.ID
}

// callbackURL is where an IdP sends the browser back: the OIDC redirect
// URI, or the SAML assertion consumer service.
func (s *Service) callbackURL(p *gatehouse.IdentityProvider) string {
	if p.Type == gatehouse.IdentityProviderSAML {
		return s.idpBase(p) + "/acs"
	}
	return s.idpBase(p) + "/callback"
}

func (s *Service) view(p *gatehouse.IdentityProvider) *IdentityProviderView {
	v := &IdentityProviderView{IdentityProvider: p}
	if p.Type == gatehouse.IdentityProviderSAML {
		v.Endpoints = IdentityProviderEndpoints{EntityID: s.idpBase(p) + "/metadata", MetadataURL: s.idpBase(p) + "/metadata",
			ACSURL: s.callbackURL(p)}
	} else {
		v.Endpoints.RedirectURI = s.callbackURL(p)
	}
	return v
}

func (s *Service) kind(p *gatehouse.IdentityProvider) (connector.Kind, error) {
	k, ok := s.Connectors[p.Type]
	if !ok {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "identity providers of type %q are not supported here", p.Type)
	}
	return k, nil
}

// idpClient reaches corporate IdPs when the service was given no client of
// its own. An environment administrator chooses the URLs it fetches, so it
// never connects to link-local addresses, where clouds serve instance
// credentials (169.254.169.254), nor to unspecified or multicast ones.
var idpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 5 * time.Second, Control: refuseLinkLocal}).DialContext,
	TLSHandshakeTimeout:   5 * time.Second,
	ResponseHeaderTimeout: 10 * time.Second,
	MaxIdleConnsPerHost:   4,
	IdleConnTimeout:       90 * time.Second,
}}

func refuseLinkLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return fmt.Errorf("identity providers are not reached at link-local, unspecified or multicast addresses (%s)", ip)
	}
	return nil
}

func (s *Service) connectorConfig(p *gatehouse.IdentityProvider, secret []byte) connector.Config {
	client := s.HTTPClient
	if client == nil {
		client = idpClient
	}
	return connector.Config{IdentityProvider: p, Secret: secret, CallbackURL: s.callbackURL(p),
		EntityID: s.idpBase(p) + "/metadata", HTTPClient: client, Now: s.Now}
}

// prepareIdentityProvider validates p and returns the secret to store for
// it, checking that its kind accepts the settings.
func (s *Service) prepareIdentityProvider(ctx context.Context, r gatehouse.Repositories, p *gatehouse.IdentityProvider, previous []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k, err := s.kind(p)
	if err != nil {
		return nil, err
	}
	for _, role := range p.JITRoles {
		if slices.Contains(gatehouse.AdminRoles, role) {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "jitRoles: %s is an administrator role; grant it to each administrator by hand", role)
		}
		if _, err := r.GetRole(ctx, p.EnvironmentID, role); gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "jitRoles: role %s is not defined in this environment", role)
		} else if err != nil {
			return nil, err
		}
	}
	secret, err := k.Secret(p, previous)
	if err != nil {
		return nil, err
	}
	if _, err := k.New(s.connectorConfig(p, secret)); err != nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "%v", err)
	}
	return secret, nil
}

// CreateIdentityProvider adds a corporate IdP, with the id p names (a
// slug) or a generated one. It does not contact the IdP: an IdP can be set
// up before it is reachable.
func (s *Service) CreateIdentityProvider(ctx context.Context, actor Actor, envID string, p gatehouse.IdentityProvider) (*IdentityProviderView, error) {
	now := s.now()
	if p.ID == "" {
		p.ID = gatehouse.NewID()
	} else if err := gatehouse.ValidateIdentityProviderID(p.ID); err != nil {
		return nil, err
	}
	p.EnvironmentID, p.CreatedOn, p.UpdatedOn = envID, now, now
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		secret, err := s.prepareIdentityProvider(ctx, r, &p, nil)
		if err != nil {
			return err
		}
		if err := s.putSecret(ctx, r, envID, idpSecretName(p.ID), secret); err != nil {
			return err
		}
		if err := r.CreateIdentityProvider(ctx, &p); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionIdPCreated, TargetType: "IDENTITY_PROVIDER", TargetID: p.ID,
			Details: map[string]string{"name": p.Name, "type": p.Type}})
	})
	if err != nil {
		return nil, err
	}
	return s.view(&p), nil
}

func (s *Service) putSecret(ctx context.Context, r gatehouse.Repositories, envID, name string, plain []byte) error {
	sec, err := s.seal(envID, name, plain)
	if err != nil {
		return err
	}
	return r.PutSecret(ctx, sec)
}

// GetIdentityProvider returns one IdP of the environment.
func (s *Service) GetIdentityProvider(ctx context.Context, envID, id string) (*IdentityProviderView, error) {
	p, err := s.Store.GetIdentityProvider(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	return s.view(p), nil
}

// ListIdentityProviders lists the environment's IdPs.
func (s *Service) ListIdentityProviders(ctx context.Context, envID string) ([]*IdentityProviderView, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	list, err := s.Store.ListIdentityProviders(ctx, envID)
	if err != nil {
		return nil, err
	}
	out := make([]*IdentityProviderView, len(list))
	for i, p := range list {
		out[i] = s.view(p)
	}
	return out, nil
}

// UpdateIdentityProvider changes an IdP. Its type never changes; an OIDC
// client secret left out is kept, and a SAML IdP keeps its key pair.
func (s *Service) UpdateIdentityProvider(ctx context.Context, actor Actor, envID, id string, change func(*gatehouse.IdentityProvider) error) (*IdentityProviderView, error) {
	var p *gatehouse.IdentityProvider
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if p, err = r.GetIdentityProvider(ctx, envID, id); err != nil {
			return err
		}
		kind := p.Type
		if err := change(p); err != nil {
			return err
		}
		if p.Type != kind {
			return gatehouse.Errorf(gatehouse.EINVALID, "an identity provider's type cannot change: create another")
		}
		p.EnvironmentID, p.ID = envID, id
		previous, err := s.openSecret(ctx, r, envID, idpSecretName(id))
		if err != nil {
			return err
		}
		secret, err := s.prepareIdentityProvider(ctx, r, p, previous)
		if err != nil {
			return err
		}
		if err := s.putSecret(ctx, r, envID, idpSecretName(id), secret); err != nil {
			return err
		}
		p.UpdatedOn = s.now()
		if err := r.UpdateIdentityProvider(ctx, p); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionIdPUpdated, TargetType: "IDENTITY_PROVIDER", TargetID: id,
			Details: map[string]string{"name": p.Name}})
	})
	if err != nil {
		return nil, err
	}
	s.cache.idps.forget(envID + "/" + id)
	return s.view(p), nil
}

func (s *Service) openSecret(ctx context.Context, r gatehouse.Repositories, envID, name string) ([]byte, error) {
	sec, err := r.GetSecret(ctx, envID, name)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.Keyring.Decrypt(sec.Ciphertext, aad(envID, name))
}

// DeleteIdentityProvider removes an IdP that no user or rule names.
func (s *Service) DeleteIdentityProvider(ctx context.Context, actor Actor, envID, id string) error {
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if err := r.DeleteIdentityProvider(ctx, envID, id); err != nil {
			return err
		}
		if err := r.DeleteSecret(ctx, envID, idpSecretName(id)); err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionIdPDeleted, TargetType: "IDENTITY_PROVIDER", TargetID: id})
	})
	s.cache.idps.forget(envID + "/" + id)
	return err
}

// connectorFor returns the connector of an IdP, made once per version of
// its settings and kept, so that what it fetched (discovery, metadata,
// keys) serves the next sign-ins.
func (s *Service) connectorFor(ctx context.Context, envID, id string) (*gatehouse.IdentityProvider, connector.Connector, error) {
	p, err := s.cache.idps.get(envID+"/"+id, func() (*gatehouse.IdentityProvider, error) {
		return s.Store.GetIdentityProvider(ctx, envID, id)
	})
	if err != nil {
		return nil, nil, err
	}
	if c := s.connectors.get(p); c != nil {
		return p, c, nil
	}
	k, err := s.kind(p)
	if err != nil {
		return nil, nil, err
	}
	secret, err := s.OpenSecret(ctx, envID, idpSecretName(id))
	if err != nil {
		return nil, nil, err
	}
	c, err := k.New(s.connectorConfig(p, secret))
	if err != nil {
		return nil, nil, err
	}
	s.connectors.put(p, c)
	return p, c, nil
}

// connectorCache keeps one connector per IdP version.
type connectorCache struct {
	mu sync.Mutex
	m  map[string]cachedConnector
}

type cachedConnector struct {
	updated time.Time
	c       connector.Connector
}

func (cc *connectorCache) get(p *gatehouse.IdentityProvider) connector.Connector {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[p.EnvironmentID+"/"+p.ID]; ok && e.updated.Equal(p.UpdatedOn) {
		return e.c
	}
	return nil
}

func (cc *connectorCache) put(p *gatehouse.IdentityProvider, c connector.Connector) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= maxCached {
		cc.m = map[string]cachedConnector{}
	}
	cc.m[p.EnvironmentID+"/"+p.ID] = cachedConnector{updated: p.UpdatedOn, c: c}
}

// TestIdentityProvider checks that an IdP is reachable and configured, for
// the administrator's "test connection".
func (s *Service) TestIdentityProvider(ctx context.Context, envID, id string) error {
	_, c, err := s.connectorFor(ctx, envID, id)
	if err != nil {
		return err
	}
	t, ok := c.(connector.Tester)
	if !ok {
		return gatehouse.Errorf(gatehouse.EINVALID, "this kind of identity provider has no connection test")
	}
	if err := t.Test(ctx); err != nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "%s", networkProblem(err))
	}
	return nil
}

// networkProblem says what went wrong reaching an IdP in the
// administrator's terms: the connector's words, with the network error
// inside them replaced, so that this server's network details (its DNS
// resolver, its own addresses) stay out.
func networkProblem(err error) string {
	msg := err.Error()
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return strings.Replace(msg, dns.Error(), "the host "+dns.Name+" could not be found (DNS)", 1)
	case errors.As(err, &op) && op.Op == "dial" && op.Addr != nil:
		return strings.Replace(msg, op.Error(), "nothing answered at "+op.Addr.String()+" (down, or a firewall in the way)", 1)
	}
	return msg
}

// ServiceProviderMetadata is the metadata an IdP reads about Gatehouse
// (SAML SP metadata).
func (s *Service) ServiceProviderMetadata(ctx context.Context, envID, id string) ([]byte, error) {
	_, c, err := s.connectorFor(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	m, ok := c.(connector.MetadataProvider)
	if !ok {
		return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "this identity provider has no service provider metadata")
	}
	return m.Metadata(ctx)
}

// CreateDiscoveryRule adds a routing rule.
func (s *Service) CreateDiscoveryRule(ctx context.Context, actor Actor, envID string, d gatehouse.DiscoveryRule) (*gatehouse.DiscoveryRule, error) {
	now := s.now()
	d.EnvironmentID, d.ID, d.CreatedOn, d.UpdatedOn = envID, gatehouse.NewID(), now, now
	if err := d.Validate(); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetEnvironment(ctx, envID); err != nil {
			return err
		}
		if err := r.CreateDiscoveryRule(ctx, &d); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRuleCreated, TargetType: "DISCOVERY_RULE", TargetID: d.ID,
			Details: ruleDetails(&d)})
	})
	if err != nil {
		return nil, err
	}
	s.cache.rules.forget(envID)
	return &d, nil
}

func ruleDetails(d *gatehouse.DiscoveryRule) map[string]string {
	return map[string]string{"order": itoa(d.Order), "emailDomain": d.EmailDomain, "pattern": d.Pattern,
		"identityProviderId": d.IdentityProviderID}
}

// ListDiscoveryRules lists the environment's rules in the order they are
// tried.
func (s *Service) ListDiscoveryRules(ctx context.Context, envID string) ([]*gatehouse.DiscoveryRule, error) {
	if _, err := s.Store.GetEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	return s.Store.ListDiscoveryRules(ctx, envID)
}

// GetDiscoveryRule returns one rule.
func (s *Service) GetDiscoveryRule(ctx context.Context, envID, id string) (*gatehouse.DiscoveryRule, error) {
	return s.Store.GetDiscoveryRule(ctx, envID, id)
}

// UpdateDiscoveryRule changes a rule.
func (s *Service) UpdateDiscoveryRule(ctx context.Context, actor Actor, envID, id string, change func(*gatehouse.DiscoveryRule)) (*gatehouse.DiscoveryRule, error) {
	var d *gatehouse.DiscoveryRule
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		if d, err = r.GetDiscoveryRule(ctx, envID, id); err != nil {
			return err
		}
		change(d)
		d.EnvironmentID, d.ID, d.UpdatedOn = envID, id, s.now()
		if err := d.Validate(); err != nil {
			return err
		}
		if err := r.UpdateDiscoveryRule(ctx, d); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRuleUpdated, TargetType: "DISCOVERY_RULE", TargetID: id,
			Details: ruleDetails(d)})
	})
	if err != nil {
		return nil, err
	}
	s.cache.rules.forget(envID)
	return d, nil
}

// DeleteDiscoveryRule removes a rule.
func (s *Service) DeleteDiscoveryRule(ctx context.Context, actor Actor, envID, id string) error {
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if err := r.DeleteDiscoveryRule(ctx, envID, id); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionRuleDeleted, TargetType: "DISCOVERY_RULE", TargetID: id})
	})
	s.cache.rules.forget(envID)
	return err
}

// RouteUsername returns the id of the IdP the first matching discovery rule
// names, or "" when the username signs in with a local password.
func (s *Service) RouteUsername(ctx context.Context, envID, username string) (string, error) {
	rules, err := s.cache.rules.get(envID, func() ([]*gatehouse.DiscoveryRule, error) {
		list, err := s.Store.ListDiscoveryRules(ctx, envID)
		for _, d := range list {
			d.Validate() // compiles patterns once per load
		}
		return list, err
	})
	if err != nil {
		return "", err
	}
	for _, d := range rules {
		if d.Matches(username) {
			return d.IdentityProviderID, nil
		}
	}
	return "", nil
}

// checkIdentityProvider makes sure a corporate user names an IdP of its
// own environment.
func checkIdentityProvider(ctx context.Context, r gatehouse.Repositories, u *gatehouse.User) error {
	if !u.Corporate() {
		return nil
	}
	_, err := r.GetIdentityProvider(ctx, u.EnvironmentID, u.IdentityProvider)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return gatehouse.Errorf(gatehouse.EINVALID, "identityProvider: no identity provider %q in this environment (\"local\" for local users)",
			truncateText(u.IdentityProvider, 100))
	}
	return err
}
