package gatehouse

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Branding is how an environment's hosted pages look: data, never
// templates, so that upgrades cannot break it.
type Branding struct {
	// LogoURL is an https URL of the logo, or a data: URL of a PNG, JPEG,
	// GIF or SVG image of at most 100 KB.
	LogoURL         string `json:"logoUrl"`
	PrimaryColor    string `json:"primaryColor"`
	BackgroundColor string `json:"backgroundColor"`
	SignInTitle     string `json:"signInTitle"`
	SignInMessage   string `json:"signInMessage"`
	SupportURL      string `json:"supportUrl"`
}

// DefaultBranding is what an environment shows until it sets its own.
func DefaultBranding() Branding {
	return Branding{PrimaryColor: "#1f5fbf", BackgroundColor: "#f2f4f8", SignInTitle: "Sign in"}
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

var logoDataPrefixes = []string{"data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,", "data:image/svg+xml;base64,"}

// Validate checks every field, so that nothing in branding can inject
// markup, style or script into a page.
func (b *Branding) Validate() error {
	for _, c := range []struct{ name, value string }{{"primaryColor", b.PrimaryColor}, {"backgroundColor", b.BackgroundColor}} {
		if !colorPattern.MatchString(c.value) {
			return Errorf(EINVALID, "%s must be a colour like #1f5fbf", c.name)
		}
	}
	for _, t := range []struct {
		name, value string
		max         int
	}{{"signInTitle", b.SignInTitle, 100}, {"signInMessage", b.SignInMessage, 500}} {
		if !utf8.ValidString(t.value) || utf8.RuneCountInString(t.value) > t.max || hasControl(t.value) {
			return Errorf(EINVALID, "%s must be text of at most %d characters", t.name, t.max)
		}
	}
	if b.SupportURL != "" {
		if u, err := url.Parse(b.SupportURL); err != nil || u.Scheme != "https" || u.Host == "" || len(b.SupportURL) > 2000 {
			return Errorf(EINVALID, "supportUrl must be an https URL")
		}
	}
	switch {
	case b.LogoURL == "":
	case strings.HasPrefix(b.LogoURL, "data:"):
		ok := false
		for _, p := range logoDataPrefixes {
			ok = ok || strings.HasPrefix(b.LogoURL, p)
		}
		if !ok || len(b.LogoURL) > 140_000 {
			return Errorf(EINVALID, "logoUrl as data must be a base64 PNG, JPEG, GIF or SVG image of at most 100 KB")
		}
	default:
		if u, err := url.Parse(b.LogoURL); err != nil || u.Scheme != "https" || u.Host == "" || len(b.LogoURL) > 2000 {
			return Errorf(EINVALID, "logoUrl must be an https URL or a data: image")
		}
	}
	return nil
}
