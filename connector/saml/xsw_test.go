package saml

import (
	"testing"

	"github.com/beevik/etree"
)

// The eight XML signature wrapping attacks of "On Breaking SAML: Be
// Whoever You Want to Be" (Somorovsky et al., USENIX Security 2012). Each
// keeps the IdP's genuine signature valid over the genuine element and
// moves that element where a careless verifier still finds it, while an
// evil copy naming evilNameID sits where a careless reader looks.
// XSW1 and XSW2 wrap a signed Response; XSW3 to XSW8 a signed Assertion.

// evilCopy clones el, gives the clone the evil NameID, and optionally a new
// ID and no signature.
func evilCopy(t *testing.T, el *etree.Element, newID string, dropSignature bool) *etree.Element {
	t.Helper()
	evil := el.Copy()
	first(t, evil, "NameID").SetText(evilNameID)
	if newID != "" {
		evil.CreateAttr("ID", newID)
	}
	if dropSignature {
		removeChild(evil, "Signature")
	}
	return evil
}

// unsignedCopy clones el without its signature.
func unsignedCopy(el *etree.Element) *etree.Element {
	c := el.Copy()
	removeChild(c, "Signature")
	return c
}

func directChild(t *testing.T, el *etree.Element, tag string) *etree.Element {
	t.Helper()
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	t.Fatalf("<%s> has no <%s>", el.Tag, tag)
	return nil
}

var xswAttacks = []struct {
	name         string
	signResponse bool // else the assertion is signed
	wrap         func(t *testing.T, root *etree.Element)
}{
	{"XSW1 signed response copied into its own Signature", true, func(t *testing.T, root *etree.Element) {
		original := unsignedCopy(root)
		first(t, root, "NameID").SetText(evilNameID)
		root.CreateAttr("ID", "_evil_response")
		directChild(t, root, "Signature").AddChild(original)
	}},
	{"XSW2 signed response copied before its Signature", true, func(t *testing.T, root *etree.Element) {
		original := unsignedCopy(root)
		first(t, root, "NameID").SetText(evilNameID)
		root.CreateAttr("ID", "_evil_response")
		sig := directChild(t, root, "Signature")
		root.InsertChildAt(sig.Index(), original)
	}},
	{"XSW3 evil assertion before the signed one", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		root.InsertChildAt(a.Index(), evilCopy(t, a, "_evil_assertion", true))
	}},
	{"XSW4 signed assertion inside the evil one", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		evil := evilCopy(t, a, "_evil_assertion", true)
		root.RemoveChild(a)
		root.AddChild(evil)
		evil.AddChild(a)
	}},
	{"XSW5 evil assertion keeps the signature, genuine copy appended", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		original := unsignedCopy(a)
		first(t, a, "NameID").SetText(evilNameID)
		a.CreateAttr("ID", "_evil_assertion")
		root.AddChild(original)
	}},
	{"XSW6 evil assertion keeps the signature, genuine copy inside it", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		original := unsignedCopy(a)
		first(t, a, "NameID").SetText(evilNameID)
		a.CreateAttr("ID", "_evil_assertion")
		directChild(t, a, "Signature").AddChild(original)
	}},
	{"XSW7 evil assertion in an Extensions element", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		ext := etree.NewElement("Extensions")
		ext.AddChild(evilCopy(t, a, "", true))
		root.InsertChildAt(a.Index(), ext)
	}},
	{"XSW8 genuine copy in an Object inside the evil assertion's signature", false, func(t *testing.T, root *etree.Element) {
		a := directChild(t, root, "Assertion")
		original := unsignedCopy(a)
		first(t, a, "NameID").SetText(evilNameID)
		directChild(t, a, "Signature").CreateElement("ds:Object").AddChild(original)
	}},
}

func TestFinishRefusesSignatureWrapping(t *testing.T) {
	for _, attack := range xswAttacks {
		t.Run(attack.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			pending, reqID := h.begin()
			spec := h.valid(reqID)
			spec.signResponse, spec.signAssertion = attack.signResponse, !attack.signResponse
			genuine := spec.response(t)

			// Reparsing alone must not break the genuine response, so that
			// a refusal below is the attack's doing.
			if id, err := h.finish(mutate(t, genuine, func(*etree.Element) {}), pending); err != nil || id.Subject != "alice@corp.example" {
				t.Fatalf("genuine response: %+v, %v", id, err)
			}

			wrapped := mutate(t, genuine, func(root *etree.Element) { attack.wrap(t, root) })
			id, err := h.finish(wrapped, pending)
			mustRefuse(t, id, err, "")

			// The signature checks hold on their own, without the
			// one-assertion rule: refused, or the genuine identity.
			id, err = h.verifyOnly(wrapped, reqID)
			if err == nil && (id.Subject != "alice@corp.example" || id.Username != "alice@corp.example") {
				t.Fatalf("signature checks alone returned %+v", id)
			}
			t.Logf("signature checks alone: identity %v, error %v", id != nil, err)
		})
	}
}
