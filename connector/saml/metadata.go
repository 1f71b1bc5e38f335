package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse"
)

const (
	metadataNS        = "urn:oasis:names:tc:SAML:2.0:metadata"
	saml2ProtocolNS   = "urn:oasis:names:tc:SAML:2.0:protocol"
	maxMetadataSize   = gatehouse.MaxMetadataXML
	metadataTTL       = time.Hour
	metadataMaxStale  = 24 * time.Hour
	metadataTimeout   = 10 * time.Second
	metadataUserAgent = "Gatehouse SAML SP"
)

// idpMetadata is what Gatehouse needs from an IdP's metadata.
type idpMetadata struct {
	entityID string
	// descriptor holds only the chosen IDPSSODescriptor, so that crewjam
	// trusts no key from another role or entity.
	descriptor              *crewjam.EntityDescriptor
	signingCerts            []*x509.Certificate
	ssoRedirect, ssoPost    string
	sloRedirect             string
	wantAuthnRequestsSigned bool
	validUntil              time.Time
}

// parseIDPMetadata reads an EntityDescriptor, or an EntitiesDescriptor
// holding exactly one IdP, and checks that it can be used: a SAML 2.0
// IDPSSODescriptor with a signing certificate and an HTTP-Redirect or
// HTTP-POST SingleSignOnService.
func parseIDPMetadata(raw []byte) (*idpMetadata, error) {
	if err := checkXMLBytes(raw, maxMetadataSize); err != nil {
		return nil, fmt.Errorf("the metadata: %w", err)
	}
	root, err := rootName(raw)
	if err != nil {
		return nil, err
	}
	var entities []crewjam.EntityDescriptor
	var outerValidUntil time.Time
	switch {
	case root == xml.Name{Space: metadataNS, Local: "EntityDescriptor"}:
		var ed crewjam.EntityDescriptor
		if err := xml.Unmarshal(raw, &ed); err != nil {
			return nil, fmt.Errorf("the metadata is not a valid EntityDescriptor: %w", err)
		}
		entities = []crewjam.EntityDescriptor{ed}
	case root == xml.Name{Space: metadataNS, Local: "EntitiesDescriptor"}:
		var eds crewjam.EntitiesDescriptor
		if err := xml.Unmarshal(raw, &eds); err != nil {
			return nil, fmt.Errorf("the metadata is not a valid EntitiesDescriptor: %w", err)
		}
		entities = identityProviders(&eds)
		if eds.ValidUntil != nil {
			outerValidUntil = *eds.ValidUntil
		}
	default:
		return nil, fmt.Errorf("the metadata is a %s, not a SAML EntityDescriptor", root.Local)
	}
	var idps []crewjam.EntityDescriptor
	for _, ed := range entities {
		if saml2IDPDescriptor(&ed) != nil {
			idps = append(idps, ed)
		}
	}
	switch len(idps) {
	case 0:
		return nil, errors.New("the metadata describes no SAML 2.0 identity provider (IDPSSODescriptor)")
	case 1:
		md, err := newIDPMetadata(&idps[0])
		if err == nil {
			md.validUntil = earliest(md.validUntil, outerValidUntil)
		}
		return md, err
	default:
		return nil, fmt.Errorf("the metadata describes %d identity providers; give the metadata of one", len(idps))
	}
}

// rootName returns the name of the document element.
func rootName(raw []byte) (xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}, fmt.Errorf("the metadata is not XML: %w", err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			return start.Name, nil
		}
	}
}

// identityProviders flattens nested EntitiesDescriptors.
func identityProviders(eds *crewjam.EntitiesDescriptor) []crewjam.EntityDescriptor {
	out := append([]crewjam.EntityDescriptor(nil), eds.EntityDescriptors...)
	for i := range eds.EntitiesDescriptors {
		out = append(out, identityProviders(&eds.EntitiesDescriptors[i])...)
	}
	return out
}

// saml2IDPDescriptor returns the entity's first IDPSSODescriptor that
// speaks SAML 2.0, or nil.
func saml2IDPDescriptor(ed *crewjam.EntityDescriptor) *crewjam.IDPSSODescriptor {
	for i := range ed.IDPSSODescriptors {
		if strings.Contains(ed.IDPSSODescriptors[i].ProtocolSupportEnumeration, saml2ProtocolNS) {
			return &ed.IDPSSODescriptors[i]
		}
	}
	return nil
}

func newIDPMetadata(ed *crewjam.EntityDescriptor) (*idpMetadata, error) {
	if strings.TrimSpace(ed.EntityID) == "" {
		return nil, errors.New("the metadata has no entityID")
	}
	desc := saml2IDPDescriptor(ed)
	md := &idpMetadata{
		entityID:   ed.EntityID,
		descriptor: &crewjam.EntityDescriptor{EntityID: ed.EntityID, IDPSSODescriptors: []crewjam.IDPSSODescriptor{*desc}},
		validUntil: ed.ValidUntil,
	}
	if desc.ValidUntil != nil {
		md.validUntil = earliest(md.validUntil, *desc.ValidUntil)
	}
	certs, err := signingCertificates(desc.KeyDescriptors)
	if err != nil {
		return nil, err
	}
	md.signingCerts = certs
	md.ssoRedirect = endpoint(desc.SingleSignOnServices, crewjam.HTTPRedirectBinding)
	md.ssoPost = endpoint(desc.SingleSignOnServices, crewjam.HTTPPostBinding)
	if md.ssoRedirect == "" && md.ssoPost == "" {
		return nil, errors.New("the metadata has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
	}
	md.sloRedirect = endpoint(desc.SingleLogoutServices, crewjam.HTTPRedirectBinding)
	md.wantAuthnRequestsSigned = desc.WantAuthnRequestsSigned != nil && *desc.WantAuthnRequestsSigned
	return md, nil
}

// signingCertificates parses the certificates of the KeyDescriptors usable
// for signing ("signing" or no use), and requires at least one.
func signingCertificates(kds []crewjam.KeyDescriptor) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, kd := range kds {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
			if err != nil {
				return nil, fmt.Errorf("the metadata has a signing certificate that is not base64: %w", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("the metadata has an unreadable signing certificate: %w", err)
			}
			certs = append(certs, cert)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("the metadata has no signing certificate (KeyDescriptor with an X509Certificate)")
	}
	return certs, nil
}

// earliest returns the earlier of two optional (zero: unset) times.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// endpoint returns the location of the first endpoint with binding and an
// absolute http(s) location.
func endpoint(eps []crewjam.Endpoint, binding string) string {
	for _, ep := range eps {
		if ep.Binding != binding {
			continue
		}
		if _, err := absoluteURL("endpoint", ep.Location); err == nil {
			return ep.Location
		}
	}
	return ""
}

// metadataSource gives the IdP's metadata: get may answer from a cache,
// refresh reads it anew.
type metadataSource interface {
	get(ctx context.Context) (*idpMetadata, error)
	refresh(ctx context.Context) (*idpMetadata, error)
}

func newMetadataSource(s gatehouse.SAMLSettings, client *http.Client, now func() time.Time) (metadataSource, error) {
	switch {
	case (s.MetadataXML == "") == (s.MetadataURL == ""):
		return nil, errorf(gatehouse.EINVALID, "give one of metadataXml or metadataUrl")
	case s.MetadataXML != "":
		md, err := parseIDPMetadata([]byte(s.MetadataXML))
		if err != nil {
			return nil, errorf(gatehouse.EINVALID, "metadataXml: %v", err)
		}
		return staticMetadata{md}, nil
	default:
		if _, err := absoluteURL("metadata URL", s.MetadataURL); err != nil {
			return nil, errorf(gatehouse.EINVALID, "metadataUrl must be an absolute http(s) URL")
		}
		if client == nil {
			client = &http.Client{Timeout: metadataTimeout}
		}
		return &remoteMetadata{url: s.MetadataURL, client: client, now: now}, nil
	}
}

// staticMetadata was pasted by the administrator.
type staticMetadata struct{ md *idpMetadata }

func (s staticMetadata) get(context.Context) (*idpMetadata, error)     { return s.md, nil }
func (s staticMetadata) refresh(context.Context) (*idpMetadata, error) { return s.md, nil }

// remoteMetadata is fetched from the IdP at first use and kept for
// metadataTTL. When a refresh fails the previous copy is still used, for
// at most metadataMaxStale after it was fetched, so that a blip at the
// IdP's metadata endpoint does not stop sign-ins; the next call tries
// again.
type remoteMetadata struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	md        *idpMetadata
	fetchedAt time.Time
	failed    bool
}

func (r *remoteMetadata) get(ctx context.Context) (*idpMetadata, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.md != nil && !r.failed && r.now().Sub(r.fetchedAt) < metadataTTL {
		return r.md, nil
	}
	md, err := r.fetchLocked(ctx)
	if err != nil && r.md != nil && r.now().Sub(r.fetchedAt) < metadataMaxStale {
		return r.md, nil
	}
	return md, err
}

func (r *remoteMetadata) refresh(ctx context.Context) (*idpMetadata, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetchLocked(ctx)
}

// fetchLocked fetches and parses the metadata, and caches it on success.
func (r *remoteMetadata) fetchLocked(ctx context.Context) (*idpMetadata, error) {
	raw, err := r.download(ctx)
	if err == nil {
		var md *idpMetadata
		if md, err = parseIDPMetadata(raw); err == nil {
			r.md, r.fetchedAt, r.failed = md, r.now(), false
			return md, nil
		}
	}
	r.failed = true
	return nil, errorf(gatehouse.EUNAVAILABLE, "the identity provider's metadata at %s: %v", r.url, err)
}

// download reads the metadata document, bounded in time and size.
func (r *remoteMetadata) download(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	req.Header.Set("User-Agent", metadataUserAgent)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch it: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching it answered HTTP %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read it: %w", err)
	}
	if len(raw) > maxMetadataSize {
		return nil, fmt.Errorf("it is larger than %d KiB", maxMetadataSize>>10)
	}
	return raw, nil
}
