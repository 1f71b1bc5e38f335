package saml

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// maxXMLDepth bounds element nesting. A SAML Response nests about ten
// deep; anything much deeper is an attack on the parsers that follow.
const maxXMLDepth = 64

// checkXMLBytes is the guard run on untrusted XML before any parser sees
// it: a size bound, UTF-8 only (so that a UTF-16 document cannot hide a
// DOCTYPE from the byte scan), and no markup declaration but comments and
// CDATA sections. That refuses any DOCTYPE, and with it entity expansion
// (billion laughs) and external entities, without reading a DTD.
func checkXMLBytes(raw []byte, limit int) error {
	switch {
	case len(raw) == 0:
		return errors.New("saml: empty XML")
	case len(raw) > limit:
		return fmt.Errorf("saml: XML larger than %d KiB", limit>>10)
	case !utf8.Valid(raw) || bytes.IndexByte(raw, 0) >= 0:
		return errors.New("saml: XML is not UTF-8")
	}
	for rest := raw; ; {
		i := bytes.Index(rest, []byte("<!"))
		if i < 0 {
			return nil
		}
		rest = rest[i:]
		if !bytes.HasPrefix(rest, []byte("<!--")) && !bytes.HasPrefix(rest, []byte("<![CDATA[")) {
			return errors.New("saml: XML with a DOCTYPE or other declaration is refused")
		}
		rest = rest[2:]
	}
}

// parseXML parses XML that passed checkXMLBytes, strictly.
func parseXML(raw []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{}
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("saml: malformed XML: %w", err)
	}
	if doc.Root() == nil {
		return nil, errors.New("saml: XML without a root element")
	}
	return doc, nil
}

// walk calls visit for el and every element below it, refusing nesting
// deeper than maxXMLDepth.
func walk(el *etree.Element, depth int, visit func(*etree.Element) error) error {
	if depth > maxXMLDepth {
		return errors.New("saml: XML nested too deep")
	}
	if err := visit(el); err != nil {
		return err
	}
	for _, child := range el.ChildElements() {
		if err := walk(child, depth+1, visit); err != nil {
			return err
		}
	}
	return nil
}

// hiddenText reports whether el's text is split by a comment or a
// processing instruction. Canonicalization without comments drops them, so
// a comment can be added to signed text without breaking the signature;
// a reader that stops at the comment then sees a different value
// (CVE-2017-11427: admin@corp.example<!---->.evil.com). etree's Text()
// joins text across comments, but stops at the first child element, so
// nothing relies on it: such text is refused outright.
func hiddenText(el *etree.Element) bool {
	var text, other bool
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			text = text || len(bytes.TrimSpace([]byte(t.Data))) > 0
		case *etree.Comment, *etree.ProcInst:
			other = true
		}
	}
	return text && other
}
