package saml

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse"

	"github.com/gatehouse/gatehouse/connector"
)

func TestMetadata(t *testing.T) {
	for _, sign := range []bool{false, true} {
		t.Run(map[bool]string{false: "requests unsigned", true: "requests signed"}[sign], func(t *testing.T) {
			h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{SignAuthnRequests: sign}})
			raw, err := h.conn.Metadata(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var ed crewjam.EntityDescriptor
			if err := xml.Unmarshal(raw, &ed); err != nil {
				t.Fatalf("metadata does not parse: %v\n%s", err, raw)
			}
			if ed.EntityID != testEntityID || len(ed.SPSSODescriptors) != 1 || len(ed.IDPSSODescriptors) != 0 {
				t.Fatalf("metadata %s", raw)
			}
			sp := ed.SPSSODescriptors[0]
			if !strings.Contains(sp.ProtocolSupportEnumeration, saml2ProtocolNS) {
				t.Errorf("protocolSupportEnumeration %q", sp.ProtocolSupportEnumeration)
			}
			if sp.AuthnRequestsSigned == nil || *sp.AuthnRequestsSigned != sign {
				t.Errorf("AuthnRequestsSigned %v", sp.AuthnRequestsSigned)
			}
			if sp.WantAssertionsSigned == nil || !*sp.WantAssertionsSigned {
				t.Errorf("WantAssertionsSigned %v", sp.WantAssertionsSigned)
			}
			if len(sp.AssertionConsumerServices) != 1 {
				t.Fatalf("ACS %+v", sp.AssertionConsumerServices)
			}
			acs := sp.AssertionConsumerServices[0]
			if acs.Binding != crewjam.HTTPPostBinding || acs.Location != testACS || acs.Index != 0 {
				t.Errorf("ACS %+v", acs)
			}
			if len(sp.KeyDescriptors) != 1 || sp.KeyDescriptors[0].Use != "signing" ||
				len(sp.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates) != 1 {
				t.Fatalf("key descriptors %+v", sp.KeyDescriptors)
			}
			der, err := base64.StdEncoding.DecodeString(sp.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data)
			if err != nil || !spCert(t).Equal(mustParseCert(t, der)) {
				t.Fatalf("the metadata certificate is not the SP's: %v", err)
			}
			if len(sp.NameIDFormats) == 0 {
				t.Error("no NameIDFormat")
			}
			if !strings.Contains(string(raw), `cacheDuration="PT24H"`) {
				t.Errorf("no cacheDuration: %s", raw)
			}
		})
	}
}

func TestNewRefusesBadMetadataXML(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	good := idp.metadataXML(mdOpts{})
	cert := base64.StdEncoding.EncodeToString(idp.cert.Raw)
	for _, tc := range []struct {
		name, xml, want string
	}{
		{"not XML", "this is not xml", "not XML"},
		{"HTML page", "<html><body>login</body></html>", "not a SAML EntityDescriptor"},
		{"DOCTYPE", strings.Replace(good, "?>", "?><!DOCTYPE x [<!ENTITY a \"b\">]>", 1), "DOCTYPE"},
		{"SP metadata", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">
			<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
			<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/>
			</md:SPSSODescriptor></md:EntityDescriptor>`, "no SAML 2.0 identity provider"},
		{"SAML 1.1 only", strings.Replace(good, "urn:oasis:names:tc:SAML:2.0:protocol", "urn:oasis:names:tc:SAML:1.1:protocol", 1), "no SAML 2.0 identity provider"},
		{"no signing certificate", strings.Replace(good, `use="signing"`, `use="encryption"`, 1), "no signing certificate"},
		{"unreadable certificate", strings.Replace(good, cert, "AAAA"+cert[4:], 1), "unreadable signing certificate"},
		{"no usable SingleSignOnService", strings.NewReplacer(
			"bindings:HTTP-Redirect", "bindings:SOAP", "bindings:HTTP-POST", "bindings:HTTP-Artifact").Replace(good), "no SingleSignOnService"},
		{"no entityID", strings.Replace(good, `entityID="https://idp.corp.example/saml"`, "", 1), "no entityID"},
		{"two IdPs", `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
			stripXMLDecl(good) + strings.Replace(stripXMLDecl(good), "idp.corp.example/saml", "idp2.corp.example/saml", 1) +
			`</md:EntitiesDescriptor>`, "2 identity providers"},
		{"too large", good + "<!--" + strings.Repeat("x", gatehouse.MaxMetadataXML) + "-->", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, clock: &testClock{t: testStart}}
			_, err := Kind.New(h.config(gatehouse.SAMLSettings{MetadataXML: tc.xml}))
			if err == nil {
				t.Fatal("accepted")
			}
			if gatehouse.ErrorCode(err) != gatehouse.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q (code %s), want EINVALID mentioning %q", err, gatehouse.ErrorCode(err), tc.want)
			}
		})
	}
}

func TestNewAcceptsEntitiesDescriptorWithOneIdP(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	sp := `<md:EntityDescriptor entityID="https://sp.example"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
		<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/>
		</md:SPSSODescriptor></md:EntityDescriptor>`
	aggregate := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + sp +
		`<md:EntitiesDescriptor>` + stripXMLDecl(idp.metadataXML(mdOpts{})) + `</md:EntitiesDescriptor></md:EntitiesDescriptor>`
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataXML: aggregate}, idp: idp})
	pending, reqID := h.begin()
	if _, err := h.finish(h.valid(reqID).response(t), pending); err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

// metadataServer serves the test IdP's metadata, counting requests; fail
// makes it answer 500.
type metadataServer struct {
	*httptest.Server
	hits atomic.Int32
	fail atomic.Bool
}

func newMetadataServer(t *testing.T, body string) *metadataServer {
	s := &metadataServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestNewWithMetadataURLDoesNotFetch(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL + "/metadata"}})
	if _, err := h.conn.Metadata(t.Context()); err != nil {
		t.Fatalf("SP metadata needs no IdP: %v", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("New fetched the metadata %d times", n)
	}
}

func TestMetadataURLUnreachableFailsAtBegin(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	unreachable := srv.URL + "/metadata"
	srv.Close()
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: unreachable}})
	_, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"})
	if err == nil {
		t.Fatal("Begin succeeded without metadata")
	}
	if gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE || !strings.Contains(err.Error(), "metadata at "+unreachable) {
		t.Fatalf("error %q (code %s)", err, gatehouse.ErrorCode(err))
	}
}

func TestMetadataURLFetchedAndCached(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}, idp: idp})
	pending, reqID := h.begin()
	if _, err := h.finish(h.valid(reqID).response(t), pending); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	h.begin()
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("fetched %d times within the hour, want 1", n)
	}
	h.clock.Advance(metadataTTL + time.Second)
	h.begin()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetched %d times after the hour, want 2", n)
	}
}

func TestMetadataURLRefetchedAfterFailure(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	srv.fail.Store(true)
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}})
	if _, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"}); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("Begin with the metadata down: %v", err)
	}
	srv.fail.Store(false)
	h.begin()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetched %d times, want 2", n)
	}
}

func TestMetadataURLStaleCopyServesWhileRefreshFails(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}})
	h.begin()
	srv.fail.Store(true)
	h.clock.Advance(metadataTTL + time.Second)
	h.begin() // refresh fails, the hour-old copy is used
	h.begin() // and the next call tries again
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("fetched %d times, want 3", n)
	}
	h.clock.Advance(metadataMaxStale)
	if _, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"}); err == nil {
		t.Fatal("a day-old copy was still used while the IdP's metadata is down")
	}
}

func TestMetadataURLBadDocument(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"too large", strings.Repeat(" ", gatehouse.MaxMetadataXML+1), "larger than"},
		{"not metadata", "<html>login</html>", "not a SAML EntityDescriptor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMetadataServer(t, tc.body)
			h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}})
			if _, err := h.conn.Begin(t.Context(), connector.Request{State: "state-1"}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Begin: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func stripXMLDecl(s string) string {
	if i := strings.Index(s, "?>"); i >= 0 {
		return s[i+2:]
	}
	return s
}
