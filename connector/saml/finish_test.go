package saml

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/connector"
)

const evilNameID = "admin@corp.example"

// mustRefuse asserts that Finish refused and did not return an identity.
func mustRefuse(t *testing.T, id *connector.Identity, err error, wantInError string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, identity %+v", id)
	}
	if id != nil {
		t.Fatalf("refused with %v but returned identity %+v", err, id)
	}
	t.Logf("refused: %v", err)
	if wantInError != "" && !strings.Contains(err.Error(), wantInError) {
		t.Fatalf("error %q does not mention %q", err, wantInError)
	}
}

func TestFinishAcceptsSignedResponseOrAssertion(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		signResponse, signAssertion bool
	}{
		{"response signed", true, false},
		{"assertion signed", false, true},
		{"both signed", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.signResponse, spec.signAssertion = tc.signResponse, tc.signAssertion
			id, err := h.finish(spec.response(t), pending)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			want := &connector.Identity{
				Subject:          "alice@corp.example",
				Username:         "alice@corp.example",
				Email:            "alice@corp.example",
				AuthTime:         spec.authnInstant,
				AMR:              []string{"pwd"},
				AssertionID:      "_assertion1",
				AssertionExpires: spec.scdNotOnOrAfter.Add(maxClockSkew),
			}
			got := *id
			got.Logout = ""
			got.AuthTime = got.AuthTime.UTC()
			got.AssertionExpires = got.AssertionExpires.UTC()
			if !reflect.DeepEqual(&got, want) {
				t.Fatalf("identity\n got %+v\nwant %+v", got, *want)
			}
			var logout logoutState
			if err := json.Unmarshal([]byte(id.Logout), &logout); err != nil {
				t.Fatal(err)
			}
			if logout != (logoutState{NameID: "alice@corp.example", Format: emailFormat, SessionIndex: "_session1"}) {
				t.Fatalf("logout state %+v", logout)
			}
		})
	}
}

func TestFinishUsernameFromAttribute(t *testing.T) {
	for _, tc := range []struct {
		name, setting string
		attr          testAttr
	}{
		{"by Name", "urn:oid:0.9.2342.19200300.100.1.1", testAttr{name: "urn:oid:0.9.2342.19200300.100.1.1", friendly: "uid", values: []string{"alice.smith"}}},
		{"by FriendlyName", "uid", testAttr{name: "urn:oid:0.9.2342.19200300.100.1.1", friendly: "uid", values: []string{"alice.smith"}}},
		{"first non-empty value", "login", testAttr{name: "login", values: []string{" ", "alice.smith", "other"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{UsernameAttribute: tc.setting}})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.attrs = []testAttr{tc.attr}
			id, err := h.finish(spec.response(t), pending)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Username != "alice.smith" || id.Subject != "alice@corp.example" || id.UsernameIsEmail {
				t.Fatalf("username %q subject %q isEmail %t", id.Username, id.Subject, id.UsernameIsEmail)
			}
		})
	}
}

func TestFinishRefusesMissingUsernameAttribute(t *testing.T) {
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{UsernameAttribute: "uid"}})
	pending, reqID := h.begin()
	id, err := h.finish(h.valid(reqID).response(t), pending)
	mustRefuse(t, id, err, `"uid"`)
}

func TestFinishProfileAttributes(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		email, given, surname string
	}{
		{"LDAP names", "mail", "givenName", "sn"},
		{"OIDs", "urn:oid:0.9.2342.19200300.100.1.3", "urn:oid:2.5.4.42", "urn:oid:2.5.4.4"},
		{"WS-Federation claims",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"},
		{"Okta style", "email", "firstName", "lastName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.nameID, spec.nameIDFormat = "00u1abcd", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
			spec.attrs = []testAttr{
				{name: tc.email, values: []string{"alice.smith@corp.example"}},
				{name: tc.given, values: []string{"Alice"}},
				{name: tc.surname, values: []string{"Smith"}},
			}
			id, err := h.finish(spec.response(t), pending)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Subject != "00u1abcd" || id.Email != "alice.smith@corp.example" || id.EmailVerified ||
				id.FirstName != "Alice" || id.LastName != "Smith" {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestFinishAuthnMethods(t *testing.T) {
	for classRef, want := range map[string][]string{
		pptClassRef: {"pwd"},
		"urn:oasis:names:tc:SAML:2.0:ac:classes:Password":            {"pwd"},
		"http://schemas.microsoft.com/claims/multipleauthn":          {"mfa"},
		"https://refeds.org/profile/mfa":                             {"mfa"},
		"urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactorContract": {"mfa"},
		"urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos":            nil,
	} {
		t.Run(classRef, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.classRef = classRef
			id, err := h.finish(spec.response(t), pending)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if !reflect.DeepEqual(id.AMR, want) {
				t.Fatalf("AMR %q, want %q", id.AMR, want)
			}
		})
	}
}

func TestFinishAssertionExpiresIsLatestNotOnOrAfter(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.notOnOrAfter = h.clock.Now().Add(time.Hour)
	id, err := h.finish(spec.response(t), pending)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if want := spec.notOnOrAfter.Add(maxClockSkew); !id.AssertionExpires.Equal(want) {
		t.Fatalf("AssertionExpires %s, want %s", id.AssertionExpires, want)
	}
}

func TestFinishRefusesUnsigned(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.signResponse, spec.signAssertion = false, false
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "signature")
}

func TestFinishRefusesTamperedSignedAssertion(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	raw := mutate(t, h.valid(reqID).response(t), func(root *etree.Element) {
		first(t, root, "NameID").SetText(evilNameID)
	})
	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "signature")
}

func TestFinishRefusesOtherKey(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		signResponse, signAssertion bool
	}{
		{"response", true, false},
		{"assertion", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			// Same entity, same certificate subject, another key: only the
			// key in the metadata may sign.
			spec.signer = newTestIdP(t, otherKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
			spec.signResponse, spec.signAssertion = tc.signResponse, tc.signAssertion
			id, err := h.finish(spec.response(t), pending)
			mustRefuse(t, id, err, "signature")
		})
	}
}

func TestFinishRefusesSHA1Signature(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	sha1 := *h.idp
	sha1.method = dsig.RSASHA1SignatureMethod
	spec.signer = &sha1
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "SHA-1")
}

func TestFinishConcurrentWithMetadataURL(t *testing.T) {
	idp := newTestIdP(t, idpKey(), testStart.Add(-time.Hour), testStart.AddDate(1, 0, 0))
	srv := newMetadataServer(t, idp.metadataXML(mdOpts{}))
	h := newHarness(t, harnessOpts{settings: gatehouse.SAMLSettings{MetadataURL: srv.URL}, idp: idp})
	const n = 8
	starts := make([]*connector.Start, n)
	run := func(f func(i int) error) {
		t.Helper()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	run(func(i int) (err error) {
		starts[i], err = h.conn.Begin(t.Context(), connector.Request{State: "state-1"})
		return err
	})
	responses := make([][]byte, n)
	for i, start := range starts {
		spec := h.valid(mustPendingID(t, start.Pending))
		spec.assertionID = fmt.Sprintf("_assertion%d", i)
		responses[i] = spec.response(t)
	}
	run(func(i int) error {
		id, err := h.finish(responses[i], starts[i].Pending)
		if err == nil && id.AssertionID != fmt.Sprintf("_assertion%d", i) {
			err = fmt.Errorf("assertion id %q", id.AssertionID)
		}
		return err
	})
	if hits := srv.hits.Load(); hits != 1 {
		t.Fatalf("fetched %d times", hits)
	}
}

func TestFinishRefusesWrongAudience(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.audience = "https://other-sp.example/metadata"
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "Audience")
}

func TestFinishRefusesWrongRecipient(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.recipient = "https://other-sp.example/acs"
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "Recipient")
}

func TestFinishRefusesWrongDestination(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.destination = "https://other-sp.example/acs"
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "Destination")
}

func TestFinishRefusesSignedResponseWithoutDestination(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.destination = ""
	spec.signResponse = true
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "Destination")
}

func TestFinishValidityWindow(t *testing.T) {
	inside, beyond := maxClockSkew-time.Minute, maxClockSkew+time.Minute
	for _, tc := range []struct {
		name   string
		change func(s *respSpec, now time.Time)
		refuse bool
	}{
		{"Conditions NotOnOrAfter past beyond the skew", func(s *respSpec, now time.Time) { s.notOnOrAfter = now.Add(-beyond) }, true},
		{"Conditions NotOnOrAfter past within the skew", func(s *respSpec, now time.Time) { s.notOnOrAfter = now.Add(-inside) }, false},
		{"Conditions NotBefore future beyond the skew", func(s *respSpec, now time.Time) { s.notBefore = now.Add(beyond) }, true},
		{"Conditions NotBefore future within the skew", func(s *respSpec, now time.Time) { s.notBefore = now.Add(inside) }, false},
		{"SubjectConfirmationData NotOnOrAfter past beyond the skew", func(s *respSpec, now time.Time) { s.scdNotOnOrAfter = now.Add(-beyond) }, true},
		{"SubjectConfirmationData NotOnOrAfter past within the skew", func(s *respSpec, now time.Time) { s.scdNotOnOrAfter = now.Add(-inside) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			tc.change(spec, h.clock.Now())
			id, err := h.finish(spec.response(t), pending)
			if tc.refuse {
				mustRefuse(t, id, err, "")
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestFinishRefusesResponseUsedLate(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	raw := h.valid(reqID).response(t)
	h.clock.Advance(5*time.Minute + maxClockSkew + time.Second)
	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "expired")
}

func TestFinishRefusesInResponseToMismatch(t *testing.T) {
	for _, tc := range []struct {
		name              string
		response, subject string
	}{
		{"response and assertion", "_other-request", "_other-request"},
		{"assertion only", "", "_other-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			if tc.response != "" {
				spec.inResponseTo = tc.response
			}
			spec.scdInResponseTo = tc.subject
			id, err := h.finish(spec.response(t), pending)
			mustRefuse(t, id, err, "")
		})
	}
}

func TestFinishRefusesUnsolicited(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.inResponseTo, spec.scdInResponseTo = "", ""
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "InResponseTo")
}

func TestFinishRefusesBillionLaughs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, _ := h.begin()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
	prev := "lol"
	for i := 1; i <= 9; i++ {
		name := "lol" + string(rune('0'+i))
		b.WriteString(`<!ENTITY ` + name + ` "` + strings.Repeat("&"+prev+";", 10) + `">`)
		prev = name
	}
	b.WriteString(`]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><x>&lol9;</x></samlp:Response>`)
	started := time.Now()
	id, err := h.finish([]byte(b.String()), pending)
	mustRefuse(t, id, err, "DOCTYPE")
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Fatalf("refusing took %s", elapsed)
	}
}

func TestFinishRefusesExternalEntity(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("admin@corp.example"))
	}))
	defer srv.Close()
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	raw := h.valid(reqID).response(t)
	body := strings.Replace(string(raw), "alice@corp.example", "&xxe;", 1)
	body = strings.Replace(body, "?>", `?><!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "`+srv.URL+`/name">]>`, 1)
	id, err := h.finish([]byte(body), pending)
	mustRefuse(t, id, err, "DOCTYPE")
	if hits.Load() != 0 {
		t.Fatal("the external entity was fetched")
	}
}

func TestFinishRefusesCommentInNameID(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	// The IdP legitimately signs a NameID the attacker registered; a
	// comment added to it leaves the signature valid.
	spec.nameID = "admin@corp.example.evil.com"
	raw := mutate(t, spec.response(t), func(root *etree.Element) {
		nameID := first(t, root, "NameID")
		nameID.Child = nil
		nameID.CreateText("admin@corp.example")
		nameID.CreateComment("")
		nameID.CreateText(".evil.com")
	})
	if !strings.Contains(string(raw), "admin@corp.example<!---->.evil.com") {
		t.Fatalf("the attack was not built: %s", raw)
	}

	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "comment")

	// Without the structural guard, what the signature covers is still
	// the whole text.
	id, err = h.verifyOnly(raw, reqID)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if id.Subject != "admin@corp.example.evil.com" || id.Username != "admin@corp.example.evil.com" {
		t.Fatalf("subject %q username %q", id.Subject, id.Username)
	}
}

func TestFinishRefusesTwoAssertions(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	second := *spec
	second.assertionID, second.nameID = "_assertion2", "bob@corp.example"
	id, err := h.finish(spec.response(t, spec.assertion(t), second.assertion(t)), pending)
	mustRefuse(t, id, err, "2 assertions")
}

func TestFinishRefusesWrongIssuer(t *testing.T) {
	for _, tc := range []struct {
		name            string
		change          func(s *respSpec)
		signResponseToo bool
	}{
		{"response and assertion", func(s *respSpec) { s.issuer = "https://evil.example/idp" }, false},
		{"assertion only", func(s *respSpec) { s.assertionIssuer = "https://evil.example/idp" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			tc.change(spec)
			spec.signResponse = tc.signResponseToo
			id, err := h.finish(spec.response(t), pending)
			mustRefuse(t, id, err, "ssuer")
		})
	}
}

func TestFinishNonSuccessStatusIsRefused(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
			spec.subStatus = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
			spec.noAssertion, spec.signResponse = true, signed
			id, err := h.finish(spec.response(t), pending)
			var refused *connector.Refused
			if !errors.As(err, &refused) || id != nil {
				t.Fatalf("got %v, %v; want *connector.Refused", id, err)
			}
			if refused.Reason != "Responder/AuthnFailed" {
				t.Fatalf("reason %q", refused.Reason)
			}
		})
	}
}

func TestFinishNonSuccessForAnotherRequestIsNotRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, _ := h.begin()
	spec := h.valid("_another-request")
	spec.status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	spec.noAssertion = true
	_, err := h.finish(spec.response(t), pending)
	var refused *connector.Refused
	if err == nil || errors.As(err, &refused) {
		t.Fatalf("got %v; want a validation error", err)
	}
}

func TestFinishRefusesGarbageBase64(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, _ := h.begin()
	id, err := h.conn.Finish(t.Context(), url.Values{"SAMLResponse": {"%%% not base64 %%%"}}, pending)
	mustRefuse(t, id, err, "base64")
}

func TestFinishRefusesGarbageXML(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, _ := h.begin()
	id, err := h.finish([]byte("<samlp:Response><unclosed>"), pending)
	mustRefuse(t, id, err, "")
}

func TestFinishRefusesOversized(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.attrs = []testAttr{{name: "memberOf", values: []string{strings.Repeat("g", maxResponseSize)}}}
	raw := spec.response(t)
	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "larger than")

	// A huge form value is refused before it is decoded.
	started := time.Now()
	huge := strings.Repeat("QUFB", 4<<20)
	id, err = h.conn.Finish(t.Context(), url.Values{"SAMLResponse": {huge}}, pending)
	mustRefuse(t, id, err, "larger than")
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Fatalf("refusing took %s", elapsed)
	}
}

func TestCheckWindowBoundaries(t *testing.T) {
	now := testStart
	for _, tc := range []struct {
		name                    string
		notBefore, notOnOrAfter time.Time
		required, ok            bool
	}{
		{"no bounds", time.Time{}, time.Time{}, false, true},
		{"NotOnOrAfter required", time.Time{}, time.Time{}, true, false},
		{"NotOnOrAfter exactly at the skew is over", time.Time{}, now.Add(-maxClockSkew), false, false},
		{"NotOnOrAfter just inside the skew", time.Time{}, now.Add(-maxClockSkew + time.Millisecond), false, true},
		{"NotBefore exactly at the skew", now.Add(maxClockSkew), time.Time{}, false, true},
		{"NotBefore just beyond the skew", now.Add(maxClockSkew + time.Millisecond), time.Time{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkWindow(tc.notBefore, tc.notOnOrAfter, now, tc.required); (err == nil) != tc.ok {
				t.Fatalf("checkWindow: %v, want ok=%t", err, tc.ok)
			}
		})
	}
}

func TestFinishRefusesEncryptedAssertion(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	raw := mutate(t, h.valid(reqID).response(t), func(root *etree.Element) {
		a := first(t, root, "Assertion")
		root.RemoveChild(a)
		enc := root.CreateElement("saml:EncryptedAssertion")
		enc.CreateElement("xenc:EncryptedData").CreateAttr("xmlns:xenc", "http://www.w3.org/2001/04/xmlenc#")
	})
	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "encrypted")
}

func TestFinishRefusesTransientNameID(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	spec := h.valid(reqID)
	spec.nameID, spec.nameIDFormat = "_9f8e7d", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	id, err := h.finish(spec.response(t), pending)
	mustRefuse(t, id, err, "transient")
}

func TestFinishRefusesBadPending(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, reqID := h.begin()
	raw := h.valid(reqID).response(t)
	for _, pending := range []string{"", "{}", "not json", `{"id":""}`} {
		id, err := h.finish(raw, pending)
		mustRefuse(t, id, err, "pending")
	}
}

func TestFinishRefusesNotAResponse(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	pending, reqID := h.begin()
	doc := etree.NewDocument()
	doc.SetRoot(h.valid(reqID).assertion(t))
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.finish(raw, pending)
	mustRefuse(t, id, err, "not a SAML 2.0 Response")
}
