package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

// The test IdP and SP live at fixed addresses; nothing is served there.
const (
	testIdPEntity   = "https://idp.corp.example/saml"
	testSSORedirect = "https://idp.corp.example/sso/redirect"
	testSSOPost     = "https://idp.corp.example/sso/post"
	testSLO         = "https://idp.corp.example/slo"
	testEntityID    = "https://gatehouse.example/acme/saml/idp1/metadata"
	testACS         = "https://gatehouse.example/acme/saml/idp1/acs"

	assertionNS   = "urn:oasis:names:tc:SAML:2.0:assertion"
	statusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	emailFormat   = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	pptClassRef   = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)

// RSA keys are slow to make, so the tests share a few, made once.
var (
	idpKey    = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey() })
	otherKey  = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey() })
	spSecret  = sync.OnceValue(func() []byte { return mustSecret() })
	testStart = time.Now().UTC().Truncate(time.Second)
)

func mustRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustSecret() []byte {
	s, err := Kind.Secret(&gatehouse.IdentityProvider{ID: "idp1"}, nil)
	if err != nil {
		panic(err)
	}
	return s
}

// testClock is the connector's clock, moved by tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testIdP signs SAML messages with its own key, as a corporate IdP does.
type testIdP struct {
	entityID string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	method   string // signature method; "" means RSA-SHA256
}

func newTestIdP(t *testing.T, key *rsa.PrivateKey, notBefore, notAfter time.Time) *testIdP {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "idp.corp.example"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testIdP{entityID: testIdPEntity, key: key, cert: cert}
}

// mdOpts chooses what the IdP's metadata offers.
type mdOpts struct {
	noRedirect, noPost, slo bool
	wantSigned              bool
}

func (p *testIdP) metadataXML(o mdOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="%t">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
`, html.EscapeString(p.entityID), o.wantSigned, base64.StdEncoding.EncodeToString(p.cert.Raw))
	if o.slo {
		fmt.Fprintf(&b, `    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s"/>
`, testSLO)
	}
	b.WriteString(`    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
`)
	if !o.noRedirect {
		fmt.Fprintf(&b, `    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s"/>
`, testSSORedirect)
	}
	if !o.noPost {
		fmt.Fprintf(&b, `    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s"/>
`, testSSOPost)
	}
	b.WriteString("  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n")
	return b.String()
}

// testAttr is an attribute the IdP asserts.
type testAttr struct {
	name, friendly string
	values         []string
}

// respSpec describes a Response; valid() gives a valid one and tests
// change what they attack.
type respSpec struct {
	responseID, assertionID       string
	inResponseTo, scdInResponseTo string
	destination, recipient        string
	audience, issuer              string
	assertionIssuer               string // "" means issuer
	issueInstant                  time.Time
	nameID, nameIDFormat          string
	notBefore, notOnOrAfter       time.Time
	scdNotOnOrAfter               time.Time
	authnInstant                  time.Time
	sessionIndex, classRef        string
	attrs                         []testAttr
	status, subStatus             string
	noAssertion                   bool
	signResponse, signAssertion   bool
	signer                        *testIdP
}

func samlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// assertion builds the Assertion element, signed if the spec says so.
func (s *respSpec) assertion(t *testing.T) *etree.Element {
	t.Helper()
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", assertionNS)
	a.CreateAttr("xmlns:xs", "http://www.w3.org/2001/XMLSchema")
	a.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	a.CreateAttr("ID", s.assertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", samlTime(s.issueInstant))
	issuer := s.assertionIssuer
	if issuer == "" {
		issuer = s.issuer
	}
	a.CreateElement("saml:Issuer").SetText(issuer)

	subject := a.CreateElement("saml:Subject")
	nameID := subject.CreateElement("saml:NameID")
	if s.nameIDFormat != "" {
		nameID.CreateAttr("Format", s.nameIDFormat)
	}
	nameID.SetText(s.nameID)
	sc := subject.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", bearerMethod)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if s.scdInResponseTo != "" {
		scd.CreateAttr("InResponseTo", s.scdInResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", samlTime(s.scdNotOnOrAfter))
	scd.CreateAttr("Recipient", s.recipient)

	cond := a.CreateElement("saml:Conditions")
	if !s.notBefore.IsZero() {
		cond.CreateAttr("NotBefore", samlTime(s.notBefore))
	}
	if !s.notOnOrAfter.IsZero() {
		cond.CreateAttr("NotOnOrAfter", samlTime(s.notOnOrAfter))
	}
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(s.audience)

	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", samlTime(s.authnInstant))
	if s.sessionIndex != "" {
		as.CreateAttr("SessionIndex", s.sessionIndex)
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(s.classRef)

	if len(s.attrs) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		for _, at := range s.attrs {
			el := st.CreateElement("saml:Attribute")
			el.CreateAttr("Name", at.name)
			if at.friendly != "" {
				el.CreateAttr("FriendlyName", at.friendly)
			}
			el.CreateAttr("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
			for _, v := range at.values {
				val := el.CreateElement("saml:AttributeValue")
				val.CreateAttr("xsi:type", "xs:string")
				val.SetText(v)
			}
		}
	}
	if s.signAssertion {
		a = s.signer.sign(t, a)
	}
	return a
}

// response builds the Response around assertions (by default the spec's
// own) and returns it serialized.
func (s *respSpec) response(t *testing.T, assertions ...*etree.Element) []byte {
	t.Helper()
	r := etree.NewElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", saml2ProtocolNS)
	r.CreateAttr("xmlns:saml", assertionNS)
	r.CreateAttr("ID", s.responseID)
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", samlTime(s.issueInstant))
	if s.destination != "" {
		r.CreateAttr("Destination", s.destination)
	}
	if s.inResponseTo != "" {
		r.CreateAttr("InResponseTo", s.inResponseTo)
	}
	r.CreateElement("saml:Issuer").SetText(s.issuer)
	code := r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", s.status)
	if s.subStatus != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", s.subStatus)
	}
	if len(assertions) == 0 && !s.noAssertion {
		assertions = []*etree.Element{s.assertion(t)}
	}
	for _, a := range assertions {
		r.AddChild(a)
	}
	if s.signResponse {
		r = s.signer.sign(t, r)
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(r)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sign adds an enveloped RSA-SHA256 signature, exclusive c14n, with the
// IdP's certificate in KeyInfo, placed after the Issuer as the schema
// wants.
func (p *testIdP) sign(t *testing.T, el *etree.Element) *etree.Element {
	t.Helper()
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{p.cert.Raw},
		PrivateKey:  p.key,
	}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	method := p.method
	if method == "" {
		method = dsig.RSASHA256SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	sig := signed.Child[len(signed.Child)-1]
	signed.RemoveChildAt(len(signed.Child) - 1)
	for i, tok := range signed.Child {
		if e, ok := tok.(*etree.Element); ok && e.Tag == "Issuer" {
			signed.InsertChildAt(i+1, sig)
			return signed
		}
	}
	t.Fatal("no Issuer to put the signature after")
	return nil
}

// harness is a connector wired to a test IdP and a movable clock.
type harness struct {
	t     *testing.T
	idp   *testIdP
	clock *testClock
	conn  *samlConnector
}

type harnessOpts struct {
	settings gatehouse.SAMLSettings
	md       mdOpts
	idp      *testIdP // nil: a fresh one
}

func newHarness(t *testing.T, opts harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, idp: opts.idp, clock: &testClock{t: testStart}}
	if h.idp == nil {
		h.idp = newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	}
	if opts.settings.MetadataURL == "" && opts.settings.MetadataXML == "" {
		opts.settings.MetadataXML = h.idp.metadataXML(opts.md)
	}
	c, err := Kind.New(h.config(opts.settings))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.conn = c.(*samlConnector)
	return h
}

func (h *harness) config(s gatehouse.SAMLSettings) connector.Config {
	return connector.Config{
		IdentityProvider: &gatehouse.IdentityProvider{ID: "idp1", Name: "Corp", Type: gatehouse.IdentityProviderSAML, SAML: &s},
		Secret:           spSecret(),
		CallbackURL:      testACS,
		EntityID:         testEntityID,
		Now:              h.clock.Now,
	}
}

// begin starts a sign-in and returns the pending state and request ID.
func (h *harness) begin() (string, string) {
	h.t.Helper()
	start, err := h.conn.Begin(context.Background(), connector.Request{State: "state-1"})
	if err != nil {
		h.t.Fatalf("Begin: %v", err)
	}
	var p pendingState
	if err := json.Unmarshal([]byte(start.Pending), &p); err != nil || p.RequestID == "" {
		h.t.Fatalf("pending %q has no request id", start.Pending)
	}
	return start.Pending, p.RequestID
}

// valid is a Response the connector must accept, answering requestID.
func (h *harness) valid(requestID string) *respSpec {
	now := h.clock.Now()
	return &respSpec{
		responseID:      "_response1",
		assertionID:     "_assertion1",
		inResponseTo:    requestID,
		scdInResponseTo: requestID,
		destination:     testACS,
		recipient:       testACS,
		audience:        testEntityID,
		issuer:          testIdPEntity,
		issueInstant:    now,
		nameID:          "alice@corp.example",
		nameIDFormat:    emailFormat,
		notBefore:       now.Add(-30 * time.Second),
		notOnOrAfter:    now.Add(5 * time.Minute),
		scdNotOnOrAfter: now.Add(5 * time.Minute),
		authnInstant:    now.Add(-10 * time.Second),
		sessionIndex:    "_session1",
		classRef:        pptClassRef,
		status:          statusSuccess,
		signAssertion:   true,
		signer:          h.idp,
	}
}

func (h *harness) finish(raw []byte, pending string) (*connector.Identity, error) {
	return h.conn.Finish(context.Background(), answer(raw), pending)
}

// verifyOnly runs the signature and protocol checks without the
// structural ones of inspectResponse, to show that they hold on their own.
func (h *harness) verifyOnly(raw []byte, requestID string) (*connector.Identity, error) {
	md, err := h.conn.metadata.get(context.Background())
	if err != nil {
		return nil, err
	}
	a, err := h.conn.verify(md, raw, requestID)
	if err != nil {
		return nil, err
	}
	return h.conn.identity(a)
}

func answer(raw []byte) url.Values {
	return url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}, "RelayState": {"state-1"}}
}

// mutate reparses a serialized Response, lets f change it, and
// serializes it again.
func mutate(t *testing.T, raw []byte, f func(root *etree.Element)) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	f(doc.Root())
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// descendants returns el and the elements below it named tag, in document
// order.
func descendants(el *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	if el.Tag == tag {
		out = append(out, el)
	}
	for _, c := range el.ChildElements() {
		out = append(out, descendants(c, tag)...)
	}
	return out
}

func first(t *testing.T, el *etree.Element, tag string) *etree.Element {
	t.Helper()
	found := descendants(el, tag)
	if len(found) == 0 {
		t.Fatalf("no <%s>", tag)
	}
	return found[0]
}

// removeChild removes el's first direct child named tag.
func removeChild(el *etree.Element, tag string) {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			el.RemoveChild(c)
			return
		}
	}
}
