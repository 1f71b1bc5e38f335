package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// The console's cookies: its session (an access token of the environment,
// issued to the console application) and a sign-in in progress (state and
// PKCE verifier). Both are scoped to /console/{env}/.
const (
	consoleCookie      = "gh_console"
	consoleLoginCookie = "gh_console_login"
	// consoleIDCookie keeps the sign-in's ID token, the hint that lets the
	// console's sign-out end the environment's session too, at once.
	consoleIDCookie = "gh_console_id"
)

//go:embed console
var consoleFiles embed.FS

var consoleTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		},
		"date":  func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"list":  func(v ...string) []string { return v },
		"count": groupDigits,
	}
	layout := template.Must(template.New("layout").Funcs(funcs).ParseFS(consoleFiles, "console/layout.html"))
	out := map[string]*template.Template{}
	pages, _ := fs.Glob(consoleFiles, "console/*.html")
	for _, file := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(file, "console/"), ".html")
		if name != "layout" {
			out[name] = template.Must(template.Must(layout.Clone()).ParseFS(consoleFiles, file))
		}
	}
	return out
}()

// groupDigits writes a count with its thousands grouped (1,000,000), as
// figures of that size are read.
func groupDigits(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}

// consoleSection is an entry of the console's navigation.
type consoleSection struct {
	Key, Title, Path string
	// Access is who sees the entry (the pages check again).
	Access access
	// SystemOnly sections are the operators' (the system environment).
	SystemOnly bool
}

// consoleSections are the console's sections, in the order of its menu.
var consoleSections = []consoleSection{
	{Key: "users", Title: "Users", Path: "users", Access: usersRead},
	{Key: "environments", Title: "Environments", Path: "environments", Access: opsRead, SystemOnly: true},
	{Key: "idps", Title: "Identity providers", Path: "identity-providers", Access: envRead},
	{Key: "apps", Title: "Applications", Path: "applications", Access: envRead},
	{Key: "policies", Title: "Policies", Path: "policies", Access: usersRead},
	{Key: "branding", Title: "Branding", Path: "branding", Access: envRead},
	{Key: "audit", Title: "Audit log", Path: "audit", Access: envRead},
	{Key: "reports", Title: "Reports", Path: "reports", Access: envRead},
}

// consolePage is what every console page shows.
type consolePage struct {
	Env, EnvName, Title, Section string
	// Nav is the menu: the sections this administrator may open.
	Nav           []consoleSection
	Admin         string
	Roles         []string
	CanWrite      bool
	CSRF          string
	Error, Notice string
	Data          any
}

// console is the signed-in administrator of a console request.
type console struct {
	*principal
	token string
}

func (c *console) page(title, section string, data any) consolePage {
	p := consolePage{Env: c.envID, Title: title, Section: section, Admin: c.claims.Username, Roles: c.roles,
		CanWrite: c.has(gatehouse.RoleEnvironmentAdmin) || c.has(gatehouse.RoleUserAdmin), CSRF: consoleCSRF(c.token), Data: data}
	for _, sec := range consoleSections {
		if slices.ContainsFunc(sec.Access.roles, c.has) && (!sec.SystemOnly || c.envID == gatehouse.SystemEnvironmentID) {
			p.Nav = append(p.Nav, sec)
		}
	}
	return p
}

func consoleCSRF(token string) string { return service.FormToken(token, "console-csrf") }

// mountConsole registers /console/{env}/….
func (s *Server) mountConsole() {
	s.consoleMux.HandleFunc("GET /console/{env}/callback", s.consoleCallback)
	s.consoleMux.HandleFunc("GET /console/{env}/assets/console.css", consoleAsset("console.css", "text/css; charset=utf-8"))
	s.consoleMux.HandleFunc("GET /console/{env}/assets/htmx.min.js", consoleAsset("htmx.min.js", "text/javascript; charset=utf-8"))
	s.consoleMux.HandleFunc("GET /console/{env}/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/"+r.PathValue("env")+"/users", http.StatusSeeOther)
	})
	s.consoleMux.HandleFunc("GET /console/{env}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/"+r.PathValue("env")+"/users", http.StatusSeeOther)
	})
	s.consoleMux.HandleFunc("POST /console/{env}/signout", s.consoleSignOut)
	s.consoleRoute("GET /console/{env}/users", usersRead, s.consoleUsers)
	s.consoleRoute("GET /console/{env}/users/new", usersWrite, s.consoleNewUser)
	s.consoleRoute("POST /console/{env}/users/new", usersWrite, s.consoleCreateUser)
	s.consoleRoute("GET /console/{env}/users/{id}", usersRead, s.consoleUser)
	s.consoleRoute("POST /console/{env}/users/{id}/{action}", usersWrite, s.consoleUserAction)
	s.mountConsoleIdPs()
	s.mountConsoleApps()
	s.mountConsolePolicies()
	s.mountConsoleAudit()
	s.mountConsoleOperators()
}

// consoleRoute registers a console page that needs a signed-in
// administrator with one of the access level's roles, checked against the
// roles held now; POSTs also need the session's CSRF token.
func (s *Server) consoleRoute(pattern string, a access, handle func(http.ResponseWriter, *http.Request, *console)) {
	s.consoleMux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		envID := r.PathValue("env")
		if fragmentRequest(r) {
			w = fragmentWriter{ResponseWriter: w, page: consoleSectionPage(r)}
		}
		consoleHeaders(w)
		if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil || envID == "" {
			http.NotFound(w, r)
			return
		}
		token := cookieValue(r, consoleCookie)
		var p *principal
		var err error
		if token != "" {
			p, err = s.principalOf(r, envID, token)
		}
		if token == "" || err != nil || p.claims.SubjectType != gatehouse.ActorUser || p.claims.ClientID != service.ConsoleClientID {
			// htmx's request would follow a redirect to the sign-in page
			// itself and swap that page into the fragment.
			if fragmentRequest(r) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method != http.MethodGet {
				http.Redirect(w, r, "/console/"+envID+"/users", http.StatusSeeOther)
				return
			}
			s.consoleSignIn(w, r, envID)
			return
		}
		c := &console{principal: p, token: token}
		if len(p.roles) == 0 || !slices.ContainsFunc(a.roles, p.has) {
			s.renderConsole(w, r, http.StatusForbidden, "denied", c.page("Not allowed", "", a.roles))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, consoleFormLimit)
			err := r.ParseForm()
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("This form is larger than the console takes (%d MiB): nothing was saved.", consoleFormLimit>>20),
					http.StatusRequestEntityTooLarge)
				return
			}
			if err != nil || !service.CheckFormToken(token, "console-csrf", r.PostForm.Get("csrf")) {
				http.Error(w, "This form was not sent by the console: reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		handle(w, r, c)
	})
}

// consoleFormLimit is the most a console form may send: SAML metadata of
// gatehouse.MaxMetadataXML (512 KiB) pasted into the identity provider
// form, which form encoding can make three times larger, or a logo as a
// data: URL.
const consoleFormLimit = 2 << 20

// consoleHeaders are the console's security headers: no framing, no inline
// code (scripts only the console's own files, which may call back only to
// the console), forms only to itself.
func consoleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
}

// consoleSignIn sends the browser to the environment's sign-in, as the
// console application, with PKCE; it comes back to consoleCallback.
func (s *Server) consoleSignIn(w http.ResponseWriter, r *http.Request, envID string) {
	if _, err := s.svc.ConsoleApplication(r.Context(), envID); err != nil {
		s.writeError(w, r, err)
		return
	}
	state, verifier := service.RandomToken(), service.RandomToken()
	back := r.URL.Path
	if r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	s.setCookie(w, consoleLoginCookie, state+"."+verifier+"."+base64.RawURLEncoding.EncodeToString([]byte(back)), "/console/"+envID+"/", 600)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {service.ConsoleClientID}, "redirect_uri": {s.svc.ConsoleRedirectURI(envID)},
		"scope": {"openid profile"}, "state": {state}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	http.Redirect(w, r, "/"+envID+"/oauth2/authorize?"+q.Encode(), http.StatusSeeOther)
}

// consoleCallback takes the code of a console sign-in, exchanges it inside
// the server, and keeps the access token as the console's session.
func (s *Server) consoleCallback(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	consoleHeaders(w)
	parts := strings.Split(cookieValue(r, consoleLoginCookie), ".")
	q := r.URL.Query()
	s.setCookie(w, consoleLoginCookie, "", "/console/"+envID+"/", -1)
	if len(parts) != 3 || q.Get("state") == "" || !hmac.Equal([]byte(parts[0]), []byte(q.Get("state"))) {
		s.message(w, r, http.StatusBadRequest, "Sign-in expired", "This console sign-in was not started in this browser, or has expired. Open the console again.")
		return
	}
	if e := q.Get("error"); e != "" {
		s.message(w, r, http.StatusForbidden, "Sign-in refused", "The sign-in did not finish ("+truncate(e, 60)+"). Open the console again.")
		return
	}
	app, err := s.svc.ConsoleApplication(r.Context(), envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tokens, err := s.svc.ExchangeCode(r.Context(), actorOf(r, gatehouse.ActorApplication, service.ConsoleClientID), envID, app,
		q.Get("code"), s.svc.ConsoleRedirectURI(envID), parts[1])
	if err != nil {
		s.message(w, r, http.StatusBadRequest, "Sign-in expired", "This console sign-in could not be finished. Open the console again.")
		return
	}
	s.setCookie(w, consoleCookie, tokens.AccessToken, "/console/"+envID+"/", tokens.ExpiresIn)
	s.setCookie(w, consoleIDCookie, tokens.IDToken, "/console/"+envID+"/", int(service.SessionTTL.Seconds()))
	back, _ := base64.RawURLEncoding.DecodeString(parts[2])
	target := string(back)
	if !strings.HasPrefix(target, "/console/"+envID+"/") || strings.ContainsAny(target, "\\\r\n") || strings.HasPrefix(target, "//") {
		target = "/console/" + envID + "/users"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// consoleSignOut ends the console's session and then the environment's.
func (s *Server) consoleSignOut(w http.ResponseWriter, r *http.Request) {
	envID := r.PathValue("env")
	token := cookieValue(r, consoleCookie)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if token == "" || r.ParseForm() != nil || !service.CheckFormToken(token, "console-csrf", r.PostForm.Get("csrf")) {
		http.Redirect(w, r, "/console/"+envID+"/users", http.StatusSeeOther)
		return
	}
	s.setCookie(w, consoleCookie, "", "/console/"+envID+"/", -1)
	s.setCookie(w, consoleIDCookie, "", "/console/"+envID+"/", -1)
	q := url.Values{"post_logout_redirect_uri": {strings.TrimSuffix(s.svc.ConsoleRedirectURI(envID), "callback")}}
	if hint := cookieValue(r, consoleIDCookie); hint != "" && len(hint) < 8192 {
		q.Set("id_token_hint", hint)
	}
	http.Redirect(w, r, "/"+envID+"/oauth2/logout?"+q.Encode(), http.StatusSeeOther)
}

// consoleAsset serves a file of the console's directory: the same for every
// environment and administrator, so no sign-in is needed and browsers may
// keep it for an hour.
func consoleAsset(name, contentType string) http.HandlerFunc {
	body, err := consoleFiles.ReadFile("console/" + name)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}
}

// fragmentRequest reports whether htmx sent r to swap the answer into part
// of the page the browser shows.
func fragmentRequest(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// fragmentWriter answers htmx's requests. A refusal or an error is a page
// of its own (the sign-in, "not allowed", a stale form token) that is out of
// place inside a fragment, and htmx swaps nothing for one, which would leave
// an earlier answer showing as if it were this one's. So on any of them
// htmx is told to open the whole page again, which then shows the refusal
// (or works, with a fresh form token). A redirect, not a reload: the page
// shown may be the answer to a form, which a reload would send again.
type fragmentWriter struct {
	http.ResponseWriter
	page string
}

func (w fragmentWriter) WriteHeader(status int) {
	if status >= 400 {
		w.Header().Set("HX-Redirect", w.page)
	}
	w.ResponseWriter.WriteHeader(status)
}

// consoleSectionPage is the page of the console section a request belongs
// to: /console/{env}/{section} of /console/{env}/{section}/….
func consoleSectionPage(r *http.Request) string {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 4)
	if len(parts) < 3 {
		return "/console/" + r.PathValue("env") + "/users"
	}
	return "/" + strings.Join(parts[:3], "/")
}

func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, status int, name string, p consolePage) {
	if e, err := s.svc.ActiveEnvironment(r.Context(), p.Env); err == nil {
		p.EnvName = e.DisplayName
	}
	if p.EnvName == "" {
		p.EnvName = p.Env
	}
	consoleHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := consoleTemplates[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a console page", "page", name, "err", err)
	}
}

// renderConsoleFragment answers htmx with one named template of a page's
// file (fragment), the same markup that the whole page shows in its place.
func (s *Server) renderConsoleFragment(w http.ResponseWriter, r *http.Request, name, fragment string, data any) {
	consoleHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if err := consoleTemplates[name].ExecuteTemplate(w, fragment, data); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a console fragment", "page", name, "fragment", fragment, "err", err)
	}
}
