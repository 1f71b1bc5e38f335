package server

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

//go:embed pages
var pageFiles embed.FS

// pageTemplates are the hosted pages, each the layout with its own body.
var pageTemplates = func() map[string]*template.Template {
	layout := template.Must(template.New("layout").Funcs(template.FuncMap{"methodName": methodName, "pngDataURL": pngDataURL}).ParseFS(pageFiles, "pages/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"identifier", "password", "change", "message", "formpost", "upstream", "logout", "expired", "mfa", "recovery", "reset", "account", "account-codes"} {
		t := template.Must(layout.Clone())
		out[name] = template.Must(t.ParseFS(pageFiles, "pages/"+name+".html"))
	}
	return out
}()

// page is what every hosted page shows.
type page struct {
	Branding                              *gatehouse.Branding
	Title, EnvironmentName, Assets, Error string
	Action, CSRF, Username, Restart       string
	Message                               string
	// Method is the formpost page's form method (default post).
	Method string
	// Link and LinkText are a message page's way on.
	Link, LinkText string
	// MFA is a second-factor page's prompt; Enrol says it enrols one.
	MFA   *service.MFAPrompt
	Enrol bool
	// Codes are recovery codes, shown once.
	Codes []string
	// Step is the password-reset page\'s step; ResetURL leads there from
	// the password page.
	Step, ResetURL string
	Policy         []string
	Fields         map[string]string
	// Wide widens the card, for the account page; Account is that page.
	Wide    bool
	Account *accountView
}

// pageHeaders are the security headers of every hosted page: no framing,
// no inline script, forms only to ourselves and to the client's redirect
// URI (browsers apply form-action to the redirect after a form).
func pageHeaders(w http.ResponseWriter, formTarget, logoURL string) {
	formAction := "'self'"
	if u, err := url.Parse(formTarget); err == nil && u.Scheme != "" && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	imgSrc := "'self' data:"
	if u, err := url.Parse(logoURL); err == nil && u.Scheme == "https" && u.Host != "" {
		imgSrc += " https://" + u.Host
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src "+imgSrc+"; "+
		"form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name, formTarget string, p page) {
	env := r.PathValue("env")
	p.Assets = "/" + env + "/login/assets"
	if p.EnvironmentName == "" {
		p.EnvironmentName = env
		if e, err := s.svc.ActiveEnvironment(r.Context(), env); err == nil {
			p.EnvironmentName = e.DisplayName
		}
	}
	if b, err := s.svc.Branding(r.Context(), env); err == nil {
		p.Branding = b
	} else {
		d := gatehouse.DefaultBranding()
		p.Branding = &d
	}
	pageHeaders(w, formTarget, p.Branding.LogoURL)
	w.WriteHeader(status)
	if err := pageTemplates[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a page", "page", name, "err", err)
	}
}

// message shows a page with one message, for refusals that must not be
// sent to a client.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	s.renderPage(w, r, status, "message", "", page{Title: title, Message: text})
}

// brandCSS is an environment's colours as a stylesheet: the values are
// validated colours, so nothing else can get into it.
func (s *Server) brandCSS(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.Branding(r.Context(), r.PathValue("env"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprintf(w, ":root { --accent: %s; --page: %s; }\n", b.PrimaryColor, b.BackgroundColor)
}

// assets serves the pages' stylesheet and script.
func (s *Server) assets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "brand.css" {
		s.brandCSS(w, r)
		return
	}
	types := map[string]string{"login.css": "text/css; charset=utf-8", "formpost.js": "text/javascript; charset=utf-8",
		"continue.js": "text/javascript; charset=utf-8", "webauthn.js": "text/javascript; charset=utf-8"}
	ct, ok := types[name]
	if !ok || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	body, err := pageFiles.ReadFile("pages/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(body)
}

// methodName is how pages name a second-factor method.
func methodName(method string) string {
	switch method {
	case gatehouse.MethodTOTP:
		return "an authenticator app"
	case gatehouse.MethodEmail:
		return "a code by email"
	case gatehouse.MethodWebAuthn:
		return "a security key or passkey"
	case gatehouse.MethodRecoveryCode:
		return "a recovery code"
	}
	return method
}

// pngDataURL lets a QR code's PNG data: URL through html/template, which
// refuses data: URLs it cannot tell are images; anything else is dropped.
func pngDataURL(s string) template.URL {
	if !strings.HasPrefix(s, "data:image/png;base64,") || strings.ContainsAny(s, "\"'<> ") {
		return ""
	}
	return template.URL(s)
}
