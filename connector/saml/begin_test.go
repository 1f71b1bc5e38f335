package saml

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse"

	"github.com/gatehouse/gatehouse/connector"
)

// spCert is the certificate in the shared SP secret.
func spCert(t *testing.T) *x509.Certificate {
	t.Helper()
	for rest := spSecret(); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			t.Fatal("no certificate in the secret")
		}
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return cert
		}
	}
}

// redirectMessage decodes an HTTP-Redirect binding URL: its SAMLRequest,
// and its query signature, which it verifies with cert when present.
func redirectMessage(t *testing.T, raw string, cert *x509.Certificate) (u *url.URL, xmlDoc []byte, signed bool) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	deflated, err := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
	if err != nil {
		t.Fatalf("SAMLRequest is not base64: %v", err)
	}
	xmlDoc, err = io.ReadAll(flate.NewReader(bytes.NewReader(deflated)))
	if err != nil {
		t.Fatalf("SAMLRequest is not deflated: %v", err)
	}
	if q.Get("Signature") == "" {
		if q.Get("SigAlg") != "" {
			t.Fatal("SigAlg without Signature")
		}
		return u, xmlDoc, false
	}
	if q.Get("SigAlg") != dsig.RSASHA256SignatureMethod {
		t.Fatalf("SigAlg %q", q.Get("SigAlg"))
	}
	// saml-bindings §3.4.4.1: the signature covers the parameters as
	// they appear in the URL, in this order, without the Signature.
	signedPart, _, found := strings.Cut(u.RawQuery, "&Signature=")
	if !found || !strings.HasPrefix(signedPart, "SAMLRequest=") || !strings.Contains(signedPart, "&SigAlg=") {
		t.Fatalf("query not in binding order: %s", u.RawQuery)
	}
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignature(x509.SHA256WithRSA, []byte(signedPart), sig); err != nil {
		t.Fatalf("query signature does not verify: %v", err)
	}
	return u, xmlDoc, true
}

// checkAuthnRequest checks the fields every AuthnRequest must carry.
func checkAuthnRequest(t *testing.T, h *harness, raw []byte, destination, requestID string) *crewjam.AuthnRequest {
	t.Helper()
	var req crewjam.AuthnRequest
	if err := xml.Unmarshal(raw, &req); err != nil {
		t.Fatalf("AuthnRequest: %v\n%s", err, raw)
	}
	switch {
	case req.ID != requestID:
		t.Errorf("ID %q, pending has %q", req.ID, requestID)
	case req.Version != "2.0":
		t.Errorf("Version %q", req.Version)
	case req.Destination != destination:
		t.Errorf("Destination %q", req.Destination)
	case req.AssertionConsumerServiceURL != testACS:
		t.Errorf("AssertionConsumerServiceURL %q", req.AssertionConsumerServiceURL)
	case req.ProtocolBinding != crewjam.HTTPPostBinding:
		t.Errorf("ProtocolBinding %q", req.ProtocolBinding)
	case req.Issuer == nil || req.Issuer.Value != testEntityID:
		t.Errorf("Issuer %+v", req.Issuer)
	case req.NameIDPolicy == nil || req.NameIDPolicy.AllowCreate == nil || !*req.NameIDPolicy.AllowCreate:
		t.Errorf("NameIDPolicy %+v", req.NameIDPolicy)
	case req.NameIDPolicy.Format != nil && *req.NameIDPolicy.Format != "":
		t.Errorf("NameIDPolicy Format %q: the IdP should send its configured format", *req.NameIDPolicy.Format)
	case !req.IssueInstant.Equal(h.clock.Now()):
		t.Errorf("IssueInstant %s, clock %s", req.IssueInstant, h.clock.Now())
	}
	return &req
}

func TestBeginRedirect(t *testing.T) {
	for _, sign := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[sign], func(t *testing.T) {
			h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{SignAuthnRequests: sign}})
			start, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1", LoginHint: "alice@corp.example"})
			if err != nil {
				t.Fatal(err)
			}
			if start.Form != nil {
				t.Fatalf("redirect binding with a form: %v", start.Form)
			}
			u, raw, signed := redirectMessage(t, start.URL, spCert(t))
			if u.Scheme+"://"+u.Host+u.Path != testSSORedirect || u.Query().Get("RelayState") != "state-1" {
				t.Fatalf("URL %s", start.URL)
			}
			if signed != sign {
				t.Fatalf("query signed %t, want %t", signed, sign)
			}
			req := checkAuthnRequest(t, h, raw, testSSORedirect, mustPendingID(t, start.Pending))
			if req.Signature != nil {
				t.Fatal("the redirect binding carries no XML signature")
			}
		})
	}
}

func TestBeginFreshRequestIDs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, first := h.begin()
	_, second := h.begin()
	if first == second || len(first) < 20 {
		t.Fatalf("request IDs %q and %q", first, second)
	}
}

func TestBeginPost(t *testing.T) {
	for _, sign := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[sign], func(t *testing.T) {
			h := newHarness(t, harnessOpts{
				settings: gatehouse.SAMLSettings{SignAuthnRequests: sign},
				md:       mdOpts{noRedirect: true},
			})
			start, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"})
			if err != nil {
				t.Fatal(err)
			}
			if start.URL != testSSOPost || start.Form.Get("RelayState") != "state-1" {
				t.Fatalf("start %+v", start)
			}
			raw, err := base64.StdEncoding.DecodeString(start.Form.Get("SAMLRequest"))
			if err != nil {
				t.Fatal(err)
			}
			req := checkAuthnRequest(t, h, raw, testSSOPost, mustPendingID(t, start.Pending))
			if (req.Signature != nil) != sign {
				t.Fatalf("XML signature present %t, want %t", req.Signature != nil, sign)
			}
			if sign {
				verifyXMLSignature(t, raw, spCert(t), h.clock.Now())
			}
		})
	}
}

func TestBeginSignsWhenTheIdPWantsSignedRequests(t *testing.T) {
	h := newHarness(t, harnessOpts{md: mdOpts{wantSigned: true}})
	start, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, signed := redirectMessage(t, start.URL, spCert(t)); !signed {
		t.Fatal("the IdP wants signed requests, the request is not signed")
	}
}

// verifyXMLSignature checks an enveloped signature by cert on the root.
func verifyXMLSignature(t *testing.T, raw []byte, cert *x509.Certificate, now time.Time) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(now)
	if _, err := ctx.Validate(doc.Root()); err != nil {
		t.Fatalf("XML signature does not verify: %v", err)
	}
}

func mustPendingID(t *testing.T, pending string) string {
	t.Helper()
	id, err := decodePending(pending)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBeginForceAuthn: an application's prompt=login reaches the IdP as
// ForceAuthn, by either binding, and a signed POST request still verifies.
func TestBeginForceAuthn(t *testing.T) {
	for _, post := range []bool{false, true} {
		t.Run(map[bool]string{false: "redirect", true: "post signed"}[post], func(t *testing.T) {
			h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{SignAuthnRequests: post}, md: mdOpts{noRedirect: post}})
			for _, force := range []bool{false, true} {
				start, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1", ForceAuthn: force})
				if err != nil {
					t.Fatal(err)
				}
				var raw []byte
				if post {
					raw, _ = base64.StdEncoding.DecodeString(start.Form.Get("SAMLRequest"))
					verifyXMLSignature(t, raw, spCert(t), h.clock.Now())
				} else {
					_, raw, _ = redirectMessage(t, start.URL, spCert(t))
				}
				req := checkAuthnRequest(t, h, raw, map[bool]string{false: testSSORedirect, true: testSSOPost}[post], mustPendingID(t, start.Pending))
				if got := req.ForceAuthn != nil && *req.ForceAuthn; got != force {
					t.Fatalf("ForceAuthn %v, want %t", req.ForceAuthn, force)
				}
			}
		})
	}
}
