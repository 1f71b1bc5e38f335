package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

func mustParseCert(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestSecretGeneratesKeyPair(t *testing.T) {
	before := time.Now()
	secret, err := Kind.Secret(&gatehouse.IdentityProvider{ID: "idp42"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseSPKey(secret)
	if err != nil {
		t.Fatalf("the secret does not parse: %v", err)
	}
	if key.key.N.BitLen() != 2048 {
		t.Errorf("key size %d", key.key.N.BitLen())
	}
	cert := key.cert
	if cert.Subject.CommonName != "Gatehouse SP idp42" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if cert.NotBefore.After(before) || cert.NotAfter.Before(before.AddDate(10, 0, -1)) {
		t.Errorf("validity %s to %s", cert.NotBefore, cert.NotAfter)
	}
	var types []string
	for rest := secret; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "PRIVATE KEY,CERTIFICATE" {
		t.Errorf("PEM blocks %v", types)
	}
	other, err := Kind.Secret(&gatehouse.IdentityProvider{ID: "idp42"}, nil)
	if err != nil || bytes.Equal(other, secret) {
		t.Fatalf("two IdPs share a key: %v", err)
	}
}

func TestSecretKeptOnEdit(t *testing.T) {
	previous := spSecret()
	got, err := Kind.Secret(&gatehouse.IdentityProvider{ID: "idp1"}, previous)
	if err != nil || !bytes.Equal(got, previous) {
		t.Fatalf("Secret on edit: %v, changed %t", err, !bytes.Equal(got, previous))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	md := idp.metadataXML(mdOpts{})
	h := &harness{t: t, clock: &testClock{t: testStart}}
	for _, tc := range []struct {
		name   string
		change func(c *connector.Config)
	}{
		{"no SAML settings", func(c *connector.Config) { c.IdentityProvider.SAML = nil }},
		{"no metadata", func(c *connector.Config) { c.IdentityProvider.SAML.MetadataXML = "" }},
		{"both metadata", func(c *connector.Config) { c.IdentityProvider.SAML.MetadataURL = "https://idp.corp.example/md" }},
		{"bad metadata URL", func(c *connector.Config) {
			c.IdentityProvider.SAML.MetadataXML, c.IdentityProvider.SAML.MetadataURL = "", "file:///etc/passwd"
		}},
		{"no secret", func(c *connector.Config) { c.Secret = nil }},
		{"secret without certificate", func(c *connector.Config) {
			c.Secret = c.Secret[:bytes.Index(c.Secret, []byte("-----BEGIN CERTIFICATE"))]
		}},
		{"relative callback", func(c *connector.Config) { c.CallbackURL = "/acme/saml/idp1/acs" }},
		{"no entity id", func(c *connector.Config) { c.EntityID = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := h.config(gatehouse.SAMLSettings{MetadataXML: md})
			tc.change(&cfg)
			if c, err := Kind.New(cfg); err == nil {
				t.Fatalf("New accepted: %+v", c)
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
}

func TestLogoutURL(t *testing.T) {
	h := newHarness(t, harnessOpts{md: mdOpts{slo: true}})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	id, err := h.finish(spec.response(t), pending)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.conn.LogoutURL(t.Context(), id.Logout, "https://gatehouse.example/acme/signed-out")
	if err != nil {
		t.Fatal(err)
	}
	u, body, signed := redirectMessage(t, raw, spCert(t))
	if !signed {
		t.Fatal("the LogoutRequest is not signed (saml-profiles §4.4.3.1 requires it)")
	}
	if u.Scheme+"://"+u.Host+u.Path != testSLO || u.Query().Get("RelayState") != "https://gatehouse.example/acme/signed-out" {
		t.Fatalf("URL %s", raw)
	}
	var req crewjam.LogoutRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	switch {
	case req.ID == "" || req.Version != "2.0" || !req.IssueInstant.Equal(h.clock.Now()):
		t.Errorf("request %+v", req)
	case req.Destination != testSLO:
		t.Errorf("Destination %q", req.Destination)
	case req.Issuer == nil || req.Issuer.Value != testEntityID:
		t.Errorf("Issuer %+v", req.Issuer)
	case req.NameID == nil || req.NameID.Value != "alice@corp.example" || req.NameID.Format != emailFormat:
		t.Errorf("NameID %+v", req.NameID)
	case req.SessionIndex == nil || req.SessionIndex.Value != "_session1":
		t.Errorf("SessionIndex %+v", req.SessionIndex)
	}
}

func TestLogoutURLWithoutSingleLogout(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, err := h.conn.LogoutURL(t.Context(), `{"n":"alice@corp.example"}`, "https://gatehouse.example/")
	if err == nil || !strings.Contains(err.Error(), "no single logout") {
		t.Fatalf("LogoutURL: %v", err)
	}
}

func TestLogoutURLBadState(t *testing.T) {
	h := newHarness(t, harnessOpts{md: mdOpts{slo: true}})
	if _, err := h.conn.LogoutURL(t.Context(), "", "https://gatehouse.example/"); err == nil {
		t.Fatal("accepted an empty logout state")
	}
}

func TestTest(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		if err := h.conn.Test(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired IdP certificate", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		expired := newTestIdP(t, idpKey(), testStart.AddDate(-2, 0, 0), testStart.AddDate(0, 0, -3))
		c, err := Kind.New(h.config(gatehouse.SAMLSettings{MetadataXML: expired.metadataXML(mdOpts{})}))
		if err != nil {
			t.Fatal(err)
		}
		err = c.(connector.Tester).Test(t.Context())
		if err == nil || gatehouse.ErrorCode(err) != gatehouse.EINVALID ||
			!strings.Contains(err.Error(), "signing certificate") || !strings.Contains(err.Error(), "expired on "+day(testStart.AddDate(0, 0, -3))) {
			t.Fatalf("Test: %v", err)
		}
	})
	t.Run("certificate not yet valid", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		h.clock.Advance(-2 * time.Hour)
		if err := h.conn.Test(t.Context()); err == nil || !strings.Contains(err.Error(), "not valid before") {
			t.Fatalf("Test: %v", err)
		}
	})
	t.Run("expired metadata", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		md := strings.Replace(h.idp.metadataXML(mdOpts{}), `entityID=`, `validUntil="`+samlTime(testStart.Add(-time.Hour))+`" entityID=`, 1)
		c, err := Kind.New(h.config(gatehouse.SAMLSettings{MetadataXML: md}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.(connector.Tester).Test(t.Context()); err == nil || !strings.Contains(err.Error(), "validUntil") {
			t.Fatalf("Test: %v", err)
		}
	})
	t.Run("metadata URL refetched and unreachable", func(t *testing.T) {
		srv := newMetadataServer(t, newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0)).metadataXML(mdOpts{}))
		h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}})
		if err := h.conn.Test(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := h.conn.Test(t.Context()); err != nil || srv.hits.Load() != 2 {
			t.Fatalf("Test did not fetch anew: %v, %d fetches", err, srv.hits.Load())
		}
		srv.fail.Store(true)
		if err := h.conn.Test(t.Context()); err == nil || gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("Test with the metadata down: %v", err)
		}
	})
}

// The connector honours Config.HTTPClient for metadata.
func TestMetadataURLUsesConfiguredClient(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	var used bool
	h := &harness{t: t, clock: &testClock{t: testStart}}
	cfg := h.config(gatehouse.SAMLSettings{MetadataURL: "https://idp.unreachable.example/metadata"})
	cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host = "http", strings.TrimPrefix(srv.URL, "http://")
		return http.DefaultTransport.RoundTrip(r2)
	})}
	c, err := Kind.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Begin(t.Context(), connector.Request{State: "s"}); err != nil || !used {
		t.Fatalf("Begin: %v, client used %t", err, used)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
