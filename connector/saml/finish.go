package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/connector"
)

const (
	// maxResponseSize bounds a decoded SAMLResponse. Real ones are a few
	// KiB; group-heavy assertions stay well under this.
	maxResponseSize = 256 << 10
	// maxEncodedResponse bounds the form value before decoding, leaving
	// room for the line breaks some IdPs put in their base64.
	maxEncodedResponse = (maxResponseSize+2)/3*4 + maxResponseSize/16

	bearerMethod = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// Finish checks the IdP's Response and says who signed in. The steps run
// from cheapest to dearest and from bytes to meaning: size and base64, no
// DTD, the message's shape (one assertion, nothing encrypted, no text split
// by comments), then signature and protocol checks by crewjam on what the
// signature covers, then Gatehouse's own checks of the assertion used.
func (c *samlConnector) Finish(ctx context.Context, answer url.Values, pending string) (*connector.Identity, error) {
	requestID, err := decodePending(pending)
	if err != nil {
		return nil, err
	}
	raw, err := decodeSAMLResponse(answer)
	if err != nil {
		return nil, err
	}
	doc, err := inspectResponse(raw)
	if err != nil {
		return nil, err
	}
	md, err := c.metadata.get(ctx)
	if err != nil {
		return nil, err
	}
	assertion, err := c.verify(md, raw, requestID)
	if err != nil {
		var status crewjam.ErrBadStatus
		if errors.As(err, &status) {
			return nil, &connector.Refused{Reason: statusReason(doc, status.Status)}
		}
		return nil, err
	}
	return c.identity(assertion)
}

// decodeSAMLResponse takes the HTTP-POST binding's SAMLResponse out of the
// form, bounded in size before and after decoding, and refuses XML with a
// DTD before any parser reads it.
func decodeSAMLResponse(answer url.Values) ([]byte, error) {
	values := answer["SAMLResponse"]
	switch {
	case len(values) == 0 && len(answer["SAMLart"]) > 0:
		return nil, errors.New("saml: the HTTP-Artifact binding is not supported; configure the IdP to answer with HTTP-POST")
	case len(values) != 1:
		return nil, errors.New("saml: the answer must carry exactly one SAMLResponse")
	case len(values[0]) > maxEncodedResponse:
		return nil, fmt.Errorf("saml: the SAMLResponse is larger than %d KiB", maxResponseSize>>10)
	}
	encoded := strings.Join(strings.Fields(values[0]), "")
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("saml: the SAMLResponse is not base64")
	}
	if err := checkXMLBytes(raw, maxResponseSize); err != nil {
		return nil, fmt.Errorf("saml: the SAMLResponse: %w", err)
	}
	return raw, nil
}

// inspectResponse refuses what validation by signature alone would let
// through or handle badly: a root that is not a Response, more than one
// assertion anywhere in the message (the signature wrapping attacks all
// add one), encrypted content (not supported), and text split by a comment.
// It returns the parsed message for reading the status of a refusal.
func inspectResponse(raw []byte) (*etree.Document, error) {
	doc, err := parseXML(raw)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if root.Tag != "Response" || root.NamespaceURI() != saml2ProtocolNS {
		return nil, errors.New("saml: the SAMLResponse is not a SAML 2.0 Response")
	}
	assertions := 0
	err = walk(root, 0, func(el *etree.Element) error {
		switch el.Tag {
		case "Assertion":
			assertions++
		case "EncryptedAssertion", "EncryptedID", "EncryptedAttribute", "EncryptedData":
			return errors.New("saml: encrypted assertions are not supported; configure the IdP to sign assertions without encrypting them")
		}
		if hiddenText(el) {
			return fmt.Errorf("saml: the response has text split by a comment in <%s>", el.Tag)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if assertions > 1 {
		return nil, fmt.Errorf("saml: the response carries %d assertions; exactly one is accepted", assertions)
	}
	return doc, nil
}

// verify validates the Response with crewjam, which requires a valid
// signature by a certificate of the IdP's metadata on the Response or on
// the Assertion and reads the message from what that signature covers,
// then checks the assertion it returns again with the connector's clock.
func (c *samlConnector) verify(md *idpMetadata, raw []byte, requestID string) (*crewjam.Assertion, error) {
	assertion, err := c.serviceProvider(md).ParseXMLResponse(raw, []string{requestID}, *c.acs)
	if err != nil {
		var invalid *crewjam.InvalidResponseError
		if errors.As(err, &invalid) && invalid.PrivateErr != nil {
			err = invalid.PrivateErr
		}
		return nil, fmt.Errorf("saml: the response was refused: %w", err)
	}
	if err := c.checkAssertion(md, assertion, requestID); err != nil {
		return nil, fmt.Errorf("saml: the response was refused: %w", err)
	}
	return assertion, nil
}

// checkAssertion repeats the checks that matter with Gatehouse's clock and
// skew, so that they hold whatever crewjam's package-level MaxClockSkew is.
func (c *samlConnector) checkAssertion(md *idpMetadata, a *crewjam.Assertion, requestID string) error {
	now := c.now()
	switch {
	case a.ID == "":
		return errors.New("the assertion has no ID")
	case a.Issuer.Value != md.entityID:
		return fmt.Errorf("the assertion's Issuer %q is not the IdP %q", a.Issuer.Value, md.entityID)
	case a.Subject == nil || a.Subject.NameID == nil:
		return errors.New("the assertion has no NameID")
	case a.Conditions == nil:
		return errors.New("the assertion has no Conditions")
	case len(a.AuthnStatements) == 0:
		return errors.New("the assertion has no AuthnStatement")
	}
	if err := checkWindow(a.Conditions.NotBefore, a.Conditions.NotOnOrAfter, now, false); err != nil {
		return fmt.Errorf("the assertion's Conditions: %w", err)
	}
	if !audienceAllowed(a.Conditions.AudienceRestrictions, c.entityID) {
		return fmt.Errorf("the assertion is not for the audience %q", c.entityID)
	}
	if !c.bearerConfirmed(a.Subject, requestID, now) {
		return errors.New("the assertion has no bearer SubjectConfirmation for this request, recipient and time")
	}
	return nil
}

// checkWindow checks now against NotBefore and NotOnOrAfter (exclusive),
// allowing maxClockSkew either way. A zero NotBefore is no bound; a zero
// NotOnOrAfter is no bound unless required.
func checkWindow(notBefore, notOnOrAfter, now time.Time, required bool) error {
	if !notBefore.IsZero() && now.Add(maxClockSkew).Before(notBefore) {
		return fmt.Errorf("not valid before %s", notBefore.UTC().Format(time.RFC3339))
	}
	if notOnOrAfter.IsZero() {
		if required {
			return errors.New("no NotOnOrAfter")
		}
		return nil
	}
	if !now.Add(-maxClockSkew).Before(notOnOrAfter) {
		return fmt.Errorf("expired at %s", notOnOrAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// audienceAllowed requires at least one AudienceRestriction, and each to
// name us (saml-core §2.5.1.4: all must be satisfied).
func audienceAllowed(restrictions []crewjam.AudienceRestriction, audience string) bool {
	if len(restrictions) == 0 {
		return false
	}
	for i := range restrictions {
		found := false
		for _, a := range restrictions[i].AllAudiences() {
			found = found || a.Value == audience
		}
		if !found {
			return false
		}
	}
	return true
}

// bearerConfirmed reports whether one bearer SubjectConfirmation names our
// ACS as Recipient, answers requestID, and is valid now (saml-profiles
// §4.1.4.2: NotOnOrAfter is required).
func (c *samlConnector) bearerConfirmed(s *crewjam.Subject, requestID string, now time.Time) bool {
	for _, sc := range s.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != bearerMethod || d == nil {
			continue
		}
		if d.Recipient == c.acs.String() && d.InResponseTo == requestID && checkWindow(d.NotBefore, d.NotOnOrAfter, now, true) == nil {
			return true
		}
	}
	return false
}

// statusReason describes a non-success status by its codes' last words
// ("Responder/AuthnFailed"). The StatusMessage is left out: it is free
// text, possibly from an unsigned message, and not for users' eyes.
func statusReason(doc *etree.Document, top string) string {
	reason := shortStatus(top)
	if code := doc.Root().FindElement("./Status/StatusCode/StatusCode"); code != nil {
		if second := shortStatus(code.SelectAttrValue("Value", "")); second != "" {
			reason += "/" + second
		}
	}
	if reason == "" {
		reason = "unknown status"
	}
	return reason
}

// logoutState is what LogoutURL needs to name the IdP's session: the
// NameID exactly as the IdP sent it, and the session index.
type logoutState struct {
	NameID          string `json:"n"`
	Format          string `json:"f,omitempty"`
	NameQualifier   string `json:"q,omitempty"`
	SPNameQualifier string `json:"sq,omitempty"`
	SessionIndex    string `json:"s,omitempty"`
}

// identity maps a validated assertion to what Gatehouse links.
func (c *samlConnector) identity(a *crewjam.Assertion) (*connector.Identity, error) {
	nameID := a.Subject.NameID
	subject := strings.TrimSpace(nameID.Value)
	switch {
	case subject == "":
		return nil, errors.New("saml: the assertion's NameID is empty")
	case nameID.Format == string(crewjam.TransientNameIDFormat):
		return nil, errors.New("saml: the IdP sent a transient NameID, which changes at every sign-in; configure it to send a persistent, email or unspecified NameID")
	}
	attrs := attributeSet(collectAttributes(a))
	username := subject
	if name := c.settings.UsernameAttribute; name != "" {
		if username = attrs.value(name); username == "" {
			return nil, fmt.Errorf("saml: the IdP sent no %q attribute to take the username from", name)
		}
	}
	id := &connector.Identity{
		Subject:          subject,
		Username:         username,
		Email:            attrs.first(emailAttributes...),
		FirstName:        attrs.first(firstNameAttributes...),
		LastName:         attrs.first(lastNameAttributes...),
		AuthTime:         a.AuthnStatements[0].AuthnInstant,
		AMR:              authnMethods(a.AuthnStatements),
		AssertionID:      a.ID,
		AssertionExpires: assertionExpires(a),
	}
	if id.Email == "" && nameID.Format == string(crewjam.EmailAddressNameIDFormat) {
		id.Email = subject
	}
	logout, err := json.Marshal(logoutState{
		NameID:          nameID.Value,
		Format:          nameID.Format,
		NameQualifier:   nameID.NameQualifier,
		SPNameQualifier: nameID.SPNameQualifier,
		SessionIndex:    sessionIndex(a.AuthnStatements),
	})
	if err != nil {
		return nil, err
	}
	id.Logout = string(logout)
	return id, nil
}

// assertionExpires is when the caller may forget the assertion's ID: the
// latest NotOnOrAfter it carries, plus the skew it is accepted with.
func assertionExpires(a *crewjam.Assertion) time.Time {
	latest := a.Conditions.NotOnOrAfter
	for _, sc := range a.Subject.SubjectConfirmations {
		if d := sc.SubjectConfirmationData; d != nil && d.NotOnOrAfter.After(latest) {
			latest = d.NotOnOrAfter
		}
	}
	return latest.Add(maxClockSkew)
}

func sessionIndex(statements []crewjam.AuthnStatement) string {
	for _, s := range statements {
		if s.SessionIndex != "" {
			return s.SessionIndex
		}
	}
	return ""
}

// authnMethods maps authentication context classes to RFC 8176 values
// where the mapping is plain.
func authnMethods(statements []crewjam.AuthnStatement) []string {
	var amr []string
	add := func(m string) {
		for _, have := range amr {
			if have == m {
				return
			}
		}
		amr = append(amr, m)
	}
	for _, s := range statements {
		ref := s.AuthnContext.AuthnContextClassRef
		if ref == nil {
			continue
		}
		v := strings.TrimSpace(ref.Value)
		lower := strings.ToLower(v)
		switch {
		case strings.Contains(lower, "multifactor"), strings.Contains(lower, "mfa"), strings.Contains(lower, "multipleauthn"):
			add("mfa")
		case strings.HasSuffix(v, ":PasswordProtectedTransport"), strings.HasSuffix(v, ":Password"):
			add("pwd")
		}
	}
	return amr
}

// Attribute names for profile fields: LDAP names, their OIDs
// (urn:oid, as the SAML X.500 profile writes them), and the WS-Federation
// claim URIs that AD FS and Entra ID send.
var (
	emailAttributes = []string{
		"email", "mail", "emailAddress",
		"urn:oid:0.9.2342.19200300.100.1.3",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
	}
	firstNameAttributes = []string{
		"givenName", "firstName",
		"urn:oid:2.5.4.42",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
	}
	lastNameAttributes = []string{
		"sn", "surname", "lastName",
		"urn:oid:2.5.4.4",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
	}
)

func collectAttributes(a *crewjam.Assertion) []crewjam.Attribute {
	var out []crewjam.Attribute
	for _, st := range a.AttributeStatements {
		out = append(out, st.Attributes...)
	}
	return out
}

// attributeSet finds attribute values by name.
type attributeSet []crewjam.Attribute

// value returns the first non-empty value of the attribute named name,
// matched by Name first and only then by FriendlyName, which is a hint
// that may repeat another attribute's Name (saml-core §2.7.3.1). Case is
// ignored: administrators type these names.
func (s attributeSet) value(name string) string {
	for _, friendly := range []bool{false, true} {
		for _, a := range s {
			n := a.Name
			if friendly {
				n = a.FriendlyName
			}
			if n == "" || !strings.EqualFold(n, name) {
				continue
			}
			for _, v := range a.Values {
				if t := strings.TrimSpace(v.Value); t != "" {
					return t
				}
			}
		}
	}
	return ""
}

// first returns the value of the first of names that is present.
func (s attributeSet) first(names ...string) string {
	for _, n := range names {
		if v := s.value(n); v != "" {
			return v
		}
	}
	return ""
}
