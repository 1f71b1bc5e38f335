package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// The self-service account page, /{env}/account. The session cookie is
// its caller; every form carries a token bound to that cookie; GET never
// changes anything the user owns.

// enrolCookie binds a second factor being added on the account page to
// the browser that started adding it.
const enrolCookie = "gh_enrol"

func (s *Server) mountAccount() {
	s.mux.HandleFunc("GET /{env}/account", s.accountPage)
	s.mux.HandleFunc("POST /{env}/account/reauth", s.accountForm(s.accountReauth))
	s.mux.HandleFunc("POST /{env}/account/profile", s.accountForm(s.accountProfile))
	s.mux.HandleFunc("POST /{env}/account/password", s.accountForm(s.accountPassword))
	s.mux.HandleFunc("POST /{env}/account/devices/{device}/rename", s.accountForm(s.accountRenameDevice))
	s.mux.HandleFunc("POST /{env}/account/devices/{device}/remove", s.accountForm(s.accountRemoveDevice))
	s.mux.HandleFunc("POST /{env}/account/recovery-codes", s.accountForm(s.accountRecoveryCodes))
	s.mux.HandleFunc("POST /{env}/account/sessions/others", s.accountForm(s.accountEndOthers))
	s.mux.HandleFunc("POST /{env}/account/sessions/{session}/end", s.accountForm(s.accountEndSession))
	s.mux.HandleFunc("POST /{env}/account/enrol", s.accountForm(s.accountStartEnrol))
	s.mux.HandleFunc("GET /{env}/account/enrol/{flow}", s.accountEnrolPage)
	s.mux.HandleFunc("POST /{env}/account/enrol/{flow}", s.accountForm(s.accountEnrolSubmit))
}

// accountCaller is the signed-in user of an account request.
type accountCaller struct {
	sess   *gatehouse.Session
	user   *gatehouse.User
	cookie string
}

// accountSession finds the request's session. Without one, a GET goes to a
// sign-in that comes back to the account page and a POST goes to the page;
// an API user is refused.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*accountCaller, bool) {
	envID := r.PathValue("env")
	if _, err := s.svc.ActiveEnvironment(r.Context(), envID); err != nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no such account page.")
		return nil, false
	}
	cookie := cookieValue(r, sessionCookie)
	sess, u, err := s.svc.AccountSession(r.Context(), envID, cookie)
	switch {
	case errors.Is(err, service.ErrNoAccountSession) && r.Method == http.MethodGet:
		flow, secret, err := s.svc.StartLogin(r.Context(), envID, service.AccountSignIn(envID, "", false))
		if err != nil {
			s.writeError(w, r, err)
			return nil, false
		}
		s.setCookie(w, loginCookie, secret, "/"+envID+"/login/", int(service.LoginFlowTTL.Seconds()))
		http.Redirect(w, r, "/"+envID+"/login/"+flow.ID, http.StatusSeeOther)
		return nil, false
	case errors.Is(err, service.ErrNoAccountSession):
		http.Redirect(w, r, service.AccountPath(envID), http.StatusSeeOther)
		return nil, false
	case gatehouse.ErrorCode(err) == gatehouse.EFORBIDDEN:
		s.message(w, r, http.StatusForbidden, "No account page", gatehouse.ErrorMessage(err))
		return nil, false
	case err != nil:
		s.writeError(w, r, err)
		return nil, false
	}
	return &accountCaller{sess: sess, user: u, cookie: cookie}, true
}

// accountForm runs a form handler for a signed-in caller, after reading a
// bounded body and checking the form's token.
func (s *Server) accountForm(next func(http.ResponseWriter, *http.Request, *accountCaller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.accountSession(w, r)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		if err := r.ParseForm(); err != nil {
			s.message(w, r, http.StatusBadRequest, "Request refused", "The form could not be read. Open your account page and try again.")
			return
		}
		if !service.CheckAccountToken(c.sess.EnvironmentID, c.cookie, r.PostForm.Get("csrf")) {
			s.message(w, r, http.StatusForbidden, "Request refused", "This form was not sent by your account page. Open your account page and try again.")
			return
		}
		next(w, r, c)
	}
}

// accountNotices are what the page says after a change, by the key the
// change redirects with: never text from the request.
var accountNotices = map[string]string{
	"profile":  "Your profile is saved.",
	"password": "Your password is changed, and your other sessions are signed out.",
	"renamed":  "The second factor is renamed.",
	"removed":  "The second factor is removed.",
	"added":    "The second factor is added. You can use it at your next sign-in.",
	"others":   "You are signed out everywhere else.",
	"ended":    "That session is signed out.",
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	s.showAccount(w, r, http.StatusOK, c, accountNotices[r.URL.Query().Get("done")], "")
}

// afterAccountChange shows the page again, by GET, saying what changed.
func afterAccountChange(w http.ResponseWriter, r *http.Request, notice, section string) {
	http.Redirect(w, r, service.AccountPath(r.PathValue("env"))+"?done="+notice+"#"+section, http.StatusSeeOther)
}

// accountFailed shows the page with what went wrong with a change.
func (s *Server) accountFailed(w http.ResponseWriter, r *http.Request, c *accountCaller, err error) {
	switch code := gatehouse.ErrorCode(err); code {
	case gatehouse.EINVALID, gatehouse.ENOTFOUND:
		s.showAccount(w, r, http.StatusBadRequest, c, "", gatehouse.ErrorMessage(err))
	case gatehouse.EUNAUTHORIZED:
		s.showAccount(w, r, http.StatusBadRequest, c, "", "The current password is not right.")
	case gatehouse.EFORBIDDEN:
		s.showAccount(w, r, http.StatusForbidden, c, "", gatehouse.ErrorMessage(err))
	case gatehouse.ETOOMANY:
		w.Header().Set("Retry-After", "5")
		s.showAccount(w, r, http.StatusTooManyRequests, c, "", gatehouse.ErrorMessage(err))
	default:
		s.writeError(w, r, err)
	}
}

// accountReauth sends the user through a new sign-in (prompt=login) that
// comes back to the page, for the changes that need a recent one.
func (s *Server) accountReauth(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	envID := c.sess.EnvironmentID
	flow, secret, err := s.svc.StartLogin(r.Context(), envID, service.AccountSignIn(envID, c.user.Username, true))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setCookie(w, loginCookie, secret, "/"+envID+"/login/", int(service.LoginFlowTTL.Seconds()))
	http.Redirect(w, r, "/"+envID+"/login/"+flow.ID, http.StatusSeeOther)
}

// accountSignedIn ends a sign-in that has no client: back to the account
// page (only there: the flow's address is checked again), and the
// session this browser held before ends.
func (s *Server) accountSignedIn(w http.ResponseWriter, r *http.Request, f *gatehouse.LoginFlow, result *service.LoginResult) {
	if !service.IsAccountPath(f.EnvironmentID, f.Request.RedirectURI) {
		s.message(w, r, http.StatusBadRequest, "Sign-in request not valid", "This sign-in has nowhere to go back to.")
		return
	}
	s.svc.EndReplacedSession(r.Context(), f.EnvironmentID, cookieValue(r, sessionCookie), result.Session)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, f.Request.RedirectURI, http.StatusSeeOther)
}

func (s *Server) accountProfile(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	f := r.PostForm
	_, err := s.svc.UpdateOwnProfile(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess, service.Profile{
		FirstName: f.Get("firstName"), LastName: f.Get("lastName"), PrimaryPhone: f.Get("primaryPhone"),
		Timezone: f.Get("timezone"), Language: f.Get("language")})
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	afterAccountChange(w, r, "profile", "profile")
}

func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	f := r.PostForm
	result, err := s.svc.ChangeAccountPassword(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess,
		f.Get("current"), f.Get("new"), f.Get("confirm"))
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	// Every session ended with the change; this browser keeps a new one.
	s.setCookie(w, sessionCookie, result.Cookie, "/"+c.sess.EnvironmentID+"/", int(time.Until(result.Session.ExpiresAt).Seconds()))
	afterAccountChange(w, r, "password", "password")
}

func (s *Server) accountRenameDevice(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	_, err := s.svc.RenameMFADevice(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess.EnvironmentID, c.user.ID,
		r.PathValue("device"), strings.TrimSpace(r.PostForm.Get("name")))
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	afterAccountChange(w, r, "renamed", "factors")
}

func (s *Server) accountRemoveDevice(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	if err := s.svc.RemoveOwnMFADevice(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess, r.PathValue("device")); err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	afterAccountChange(w, r, "removed", "factors")
}

func (s *Server) accountRecoveryCodes(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess)
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	s.showRecoveryCodes(w, r, codes)
}

// showRecoveryCodes shows new recovery codes, once: in the answer to the
// form that made them.
func (s *Server) showRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string) {
	s.renderPage(w, r, http.StatusOK, "account-codes", "", page{Title: "Save your recovery codes", Codes: codes,
		Link: service.AccountPath(r.PathValue("env")) + "#factors", LinkText: "Back to your account"})
}

func (s *Server) accountEndOthers(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	if _, err := s.svc.EndOtherSessions(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess); err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	afterAccountChange(w, r, "others", "sessions")
}

func (s *Server) accountEndSession(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	id := r.PathValue("session")
	if id == c.sess.ID || len(id) > 100 {
		s.accountFailed(w, r, c, gatehouse.Errorf(gatehouse.EINVALID, "to sign out of this browser, use Sign out at the end of the page"))
		return
	}
	if err := s.svc.EndOwnSession(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), c.sess, id); err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	afterAccountChange(w, r, "ended", "sessions")
}

// enrolPath is the page of a second factor being added.
func enrolPath(envID, flowID string) string { return service.AccountPath(envID) + "/enrol/" + flowID }

func (s *Server) accountStartEnrol(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	f, secret, err := s.svc.StartAccountEnrolment(r.Context(), c.sess, r.PostForm.Get("method"))
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	s.setCookie(w, enrolCookie, secret, service.AccountPath(f.EnvironmentID)+"/enrol/", int(service.LoginFlowTTL.Seconds()))
	http.Redirect(w, r, enrolPath(f.EnvironmentID, f.ID), http.StatusSeeOther)
}

// accountEnrolment finds the enrolment of the URL that this browser and
// session started, or explains that it has expired.
func (s *Server) accountEnrolment(w http.ResponseWriter, r *http.Request, c *accountCaller) (*gatehouse.LoginFlow, bool) {
	f, err := s.svc.AccountEnrolment(r.Context(), c.sess, r.PathValue("flow"), cookieValue(r, enrolCookie))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.renderPage(w, r, http.StatusNotFound, "message", "", page{Title: "This page has expired",
			Message: "Adding this second factor took too long, or was started in another browser.",
			Link:    service.AccountPath(c.sess.EnvironmentID) + "#factors", LinkText: "Back to your account"})
		return nil, false
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return f, true
}

func (s *Server) accountEnrolPage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if f, ok := s.accountEnrolment(w, r, c); ok {
		s.showEnrolment(w, r, http.StatusOK, c, f, "")
	}
}

func (s *Server) showEnrolment(w http.ResponseWriter, r *http.Request, status int, c *accountCaller, f *gatehouse.LoginFlow, problem string) {
	prompt, err := s.svc.PrepareAccountEnrolment(r.Context(), f)
	if err != nil {
		s.accountFailed(w, r, c, err)
		return
	}
	s.renderPage(w, r, status, "mfa", "", page{Title: "Add a second factor", Action: enrolPath(f.EnvironmentID, f.ID),
		CSRF: service.AccountToken(f.EnvironmentID, c.cookie), Username: c.user.Username, Error: problem, MFA: prompt, Enrol: true,
		Link: service.AccountPath(f.EnvironmentID) + "#factors", LinkText: "Cancel"})
}

func (s *Server) accountEnrolSubmit(w http.ResponseWriter, r *http.Request, c *accountCaller) {
	f, ok := s.accountEnrolment(w, r, c)
	if !ok {
		return
	}
	if r.PostForm.Get("action") == "resend" {
		switch err := s.svc.ResendEmailCode(r.Context(), f); gatehouse.ErrorCode(err) {
		case "":
			http.Redirect(w, r, enrolPath(f.EnvironmentID, f.ID), http.StatusSeeOther)
		case gatehouse.ETOOMANY, gatehouse.EINVALID, gatehouse.EUNAVAILABLE:
			s.showEnrolment(w, r, http.StatusOK, c, f, gatehouse.ErrorMessage(err))
		default:
			s.writeError(w, r, err)
		}
		return
	}
	in := service.MFAInput{Method: r.PostForm.Get("method"), Code: r.PostForm.Get("code"), Name: r.PostForm.Get("name"),
		Credential: []byte(r.PostForm.Get("credential"))}
	codes, err := s.svc.ConfirmAccountEnrolment(r.Context(), actorOf(r, gatehouse.ActorUser, c.user.ID), f, in)
	switch code := gatehouse.ErrorCode(err); {
	case err == nil:
		s.setCookie(w, enrolCookie, "", service.AccountPath(f.EnvironmentID)+"/enrol/", -1)
		if len(codes) > 0 {
			s.showRecoveryCodes(w, r, codes)
			return
		}
		afterAccountChange(w, r, "added", "factors")
	case code == gatehouse.EUNAUTHORIZED || code == gatehouse.EINVALID:
		s.showEnrolment(w, r, http.StatusBadRequest, c, f, gatehouse.ErrorMessage(err))
	case code == gatehouse.EUNAVAILABLE:
		s.showEnrolment(w, r, http.StatusServiceUnavailable, c, f, gatehouse.ErrorMessage(err))
	default:
		s.writeError(w, r, err)
	}
}

// showAccount renders the account page.
func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, status int, c *accountCaller, notice, problem string) {
	a, err := s.svc.Account(r.Context(), c.sess, c.user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	envID, loc := c.sess.EnvironmentID, userZone(c.user)
	v := &accountView{Account: a, Base: service.AccountPath(envID), CSRF: service.AccountToken(envID, c.cookie),
		LogoutAction: "/" + envID + "/oauth2/logout", LogoutToken: service.LogoutToken(envID, c.cookie), Notice: notice,
		Corporate: c.user.Corporate(), RecentUntil: clock(a.RecentUntil, loc)}
	for _, d := range a.Devices {
		dv := deviceView{ID: d.ID, Name: d.Name, Kind: deviceKind(d.Type), Added: day(d.CreatedOn, loc)}
		if d.LastUsedOn != nil {
			dv.LastUsed = when(*d.LastUsedOn, loc)
		}
		v.Devices = append(v.Devices, dv)
	}
	for _, m := range a.AddMethods {
		v.Add = append(v.Add, addView{Method: m, Label: addLabel(m)})
	}
	for _, other := range a.Sessions {
		v.Sessions = append(v.Sessions, sessionView{ID: other.ID, Current: other.ID == c.sess.ID, Browser: browserName(other.UserAgent),
			ClientIP: other.ClientIP, SignedIn: when(other.AuthTime, loc), Started: when(other.CreatedOn, loc)})
	}
	for _, e := range a.Activity {
		v.Activity = append(v.Activity, activityView{Time: when(e.Time, loc), What: activityText(e), ClientIP: e.ClientIP,
			Failed: e.Outcome == gatehouse.OutcomeFailure})
	}
	s.renderPage(w, r, status, "account", "", page{Title: "Your account", Error: problem, Username: c.user.Username, Wide: true, Account: v})
}

// accountView is what the account page's template shows.
type accountView struct {
	*service.Account
	Base, CSRF, LogoutAction, LogoutToken, Notice, RecentUntil string
	Corporate                                                  bool
	Devices                                                    []deviceView
	Add                                                        []addView
	Sessions                                                   []sessionView
	Activity                                                   []activityView
}

type deviceView struct{ ID, Name, Kind, Added, LastUsed string }

type addView struct{ Method, Label string }

type sessionView struct {
	ID, Browser, ClientIP, SignedIn, Started string
	Current                                  bool
}

type activityView struct {
	Time, What, ClientIP string
	Failed               bool
}

// userZone is where the user said they are; UTC otherwise.
func userZone(u *gatehouse.User) *time.Location {
	if loc, err := time.LoadLocation(u.Timezone); err == nil && u.Timezone != "" {
		return loc
	}
	return time.UTC
}

func when(t time.Time, loc *time.Location) string  { return t.In(loc).Format("2 Jan 2006, 15:04 MST") }
func day(t time.Time, loc *time.Location) string   { return t.In(loc).Format("2 Jan 2006") }
func clock(t time.Time, loc *time.Location) string { return t.In(loc).Format("15:04 MST") }

func deviceKind(method string) string {
	switch method {
	case gatehouse.MethodTOTP:
		return "Authenticator app"
	case gatehouse.MethodEmail:
		return "Codes by email"
	case gatehouse.MethodWebAuthn:
		return "Security key or passkey"
	}
	return method
}

func addLabel(method string) string {
	switch method {
	case gatehouse.MethodTOTP:
		return "Add an authenticator app"
	case gatehouse.MethodEmail:
		return "Add codes by email"
	case gatehouse.MethodWebAuthn:
		return "Add a security key or passkey"
	}
	return "Add " + method
}

// activityText says an audit event in words.
func activityText(e *gatehouse.AuditEvent) string {
	method := map[string]string{gatehouse.MethodTOTP: " (authenticator app)", gatehouse.MethodEmail: " (email code)",
		gatehouse.MethodWebAuthn: " (security key or passkey)", gatehouse.MethodRecoveryCode: " (recovery code)"}[e.Details["method"]]
	switch e.Action {
	case service.ActionAuthenticated:
		return "Signed in"
	case service.ActionAuthenticationFailed:
		return "Sign-in refused"
	case service.ActionUserLockedOut:
		return "Locked out after wrong passwords"
	case service.ActionMFASucceeded:
		return "Second factor accepted" + method
	case service.ActionMFAFailed:
		return "Second factor refused" + method
	case service.ActionMFABlocked:
		return "Second factor blocked after wrong codes"
	case service.ActionMFAEnrolled:
		return "Second factor added: " + e.Details["name"]
	case service.ActionMFADeviceRemoved:
		return "Second factor removed: " + e.Details["name"]
	case service.ActionRecoveryCodesCreated:
		return "New recovery codes made"
	case service.ActionUserPasswordChanged:
		return "Password changed"
	case service.ActionUserPasswordSet:
		return "Password set by an administrator"
	case service.ActionPasswordResetComplete:
		return "Password reset by email"
	case "SIGNED_OUT":
		return "Signed out"
	case service.ActionSessionEnded:
		return "Signed out of another session"
	}
	return strings.ReplaceAll(strings.ToLower(e.Action), "_", " ")
}

// browserName makes a User-Agent header readable: "Chrome on Windows".
func browserName(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"},
		{"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case ua == "":
		return "Unknown browser"
	}
	if r := []rune(ua); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return ua
}
