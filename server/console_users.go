package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// consoleUserFilter is the users page's search: one box for username,
// email or names (a % is a wildcard), type, status, created and updated
// date ranges (whole UTC days, YYYY-MM-DD) and page size.
type consoleUserFilter struct {
	Query, Field, Type, Status string
	Dates                      string // "created" or "updated"
	From, To                   string
	Limit                      int
}

// dateRange reads the filter's days into the user filter: from the start
// of From to the end of To.
func (f *consoleUserFilter) dateRange(filter *gatehouse.UserFilter) error {
	var from, to *time.Time
	for _, d := range []struct {
		v   string
		to  **time.Time
		add time.Duration
	}{{f.From, &from, 0}, {f.To, &to, 24*time.Hour - time.Microsecond}} {
		if d.v == "" {
			continue
		}
		day, err := time.Parse("2006-01-02", d.v)
		if err != nil {
			return gatehouse.Errorf(gatehouse.EINVALID, "dates are days such as 2026-01-31")
		}
		t := day.Add(d.add)
		*d.to = &t
	}
	if f.Dates == "updated" {
		filter.UpdatedFrom, filter.UpdatedTo = from, to
	} else {
		f.Dates, filter.CreatedFrom, filter.CreatedTo = "created", from, to
	}
	return nil
}

var consolePageSizes = []int{10, 25, 100}

func (s *Server) consoleUsers(w http.ResponseWriter, r *http.Request, c *console) {
	q := r.URL.Query()
	f := consoleUserFilter{Query: strings.TrimSpace(q.Get("q")), Field: q.Get("field"), Type: q.Get("type"), Status: q.Get("status"),
		Dates: q.Get("dates"), From: q.Get("from"), To: q.Get("to"), Limit: 25}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil {
		for _, size := range consolePageSizes {
			if n == size {
				f.Limit = n
			}
		}
	}
	filter := gatehouse.UserFilter{Type: f.Type, Status: f.Status, Limit: f.Limit}
	if f.Query != "" {
		switch f.Field {
		case "email":
			filter.PrimaryEmail = f.Query
		case "firstName":
			filter.FirstName = f.Query
		case "lastName":
			filter.LastName = f.Query
		default:
			f.Field, filter.Username = "username", f.Query
		}
	}
	p := c.page("Users", "users", nil)
	p.Notice = consoleNotices[q.Get("done")]
	page := &service.UserPage{}
	err := f.dateRange(&filter)
	if err == nil {
		page, err = s.svc.ListUsers(r.Context(), c.envID, filter, q.Get("cursor"))
	}
	status := http.StatusOK
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			s.writeError(w, r, err)
			return
		}
		p.Error, page, status = gatehouse.ErrorMessage(err), &service.UserPage{}, http.StatusBadRequest
	}
	next := ""
	if page.NextCursor != "" {
		nq := url.Values{"q": {f.Query}, "field": {f.Field}, "type": {f.Type}, "status": {f.Status}, "limit": {strconv.Itoa(f.Limit)},
			"dates": {f.Dates}, "from": {f.From}, "to": {f.To}, "cursor": {page.NextCursor}}
		next = "/console/" + c.envID + "/users?" + nq.Encode()
	}
	p.Data = map[string]any{"Filter": f, "Users": page.Items, "Next": next, "Sizes": consolePageSizes,
		"Stopped": page.SearchLimitReached, "Scan": int64(page.SearchScan), "Continued": q.Get("cursor") != ""}
	s.renderConsole(w, r, status, "users", p)
}

func (s *Server) consoleUser(w http.ResponseWriter, r *http.Request, c *console) {
	u, ok := s.consoleTargetUser(w, r, c)
	if !ok {
		return
	}
	s.renderConsoleUser(w, r, c, u, http.StatusOK, nil, "", nil)
}

// consoleTargetUser is the user of a /users/{id} page, of this
// environment only: another environment's id is not found.
func (s *Server) consoleTargetUser(w http.ResponseWriter, r *http.Request, c *console) (*gatehouse.User, bool) {
	u, err := s.svc.GetUser(r.Context(), c.envID, r.PathValue("id"))
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
		s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("User not found", "users", nil))
		return nil, false
	case err != nil:
		s.writeError(w, r, err)
		return nil, false
	}
	return u, true
}

// consoleUserView is what the user page shows.
type consoleUserView struct {
	User      *gatehouse.User
	MFA       *service.UserMFA
	Devices   []consoleDevice
	Sessions  []consoleSession
	Activity  []consoleEvent
	CanManage bool
	// Roles are the role definitions this administrator may assign; Types
	// the user types to choose from.
	Roles []*gatehouse.Role
	Types []string
	// Form holds the forms' values: the user's, or those sent with an
	// error. Open names the form that failed.
	Form url.Values
	Open string
	// Bypasses are the durations of an MFA bypass to choose from.
	Bypasses []consoleBypass
}

type consoleDevice struct{ ID, Name, Kind, Added, LastUsed string }

type consoleSession struct{ Browser, ClientIP, SignedIn, Expires, IdentityProvider string }

type consoleEvent struct {
	Time, What, By, ClientIP string
	// ByID is the administrator who acted, for a link to their page.
	ByID   string
	Failed bool
}

type consoleBypass struct {
	Key, Label string
	For        time.Duration
}

// consoleBypasses are the bypasses the console grants, by key.
var consoleBypasses = []consoleBypass{{"1h", "1 hour", time.Hour}, {"1d", "1 day", 24 * time.Hour}, {"7d", "7 days", 7 * 24 * time.Hour}}

// consoleActivityCount is how many events the user page lists.
const consoleActivityCount = 50

// consoleUserFields are the fields of each form of the user page that an
// error sends back to it (never a password).
var consoleUserFields = map[string][]string{
	"edit": {"title", "firstName", "lastName", "email", "phone", "type", "timezone", "language", "department", "country",
		"primaryRetailer", "primaryLocation", "promotionOptIn"},
	"add-role": {"role", "contextType", "contextId"},
	"password": {"forceChange"},
	"bypass":   {"bypass"},
	"delete":   {},
}

// renderConsoleUser shows the user page; after a failed action, failed is
// its error and sent the values of its form.
func (s *Server) renderConsoleUser(w http.ResponseWriter, r *http.Request, c *console, u *gatehouse.User, status int, failed error, action string, sent url.Values) {
	ctx := r.Context()
	v := consoleUserView{User: u, CanManage: c.CanWriteUser(u), Form: consoleUserValues(u), Open: action, Bypasses: consoleBypasses,
		Types: []string{gatehouse.UserTypeAdmin, gatehouse.UserTypeRetailer, gatehouse.UserTypeLocation, gatehouse.UserTypeAPI}}
	if !slices.Contains(v.Types, u.Type) {
		v.Types = append(v.Types, u.Type)
	}
	for _, name := range consoleUserFields[action] {
		v.Form[name] = sent[name]
	}
	var err error
	if v.MFA, err = s.svc.UserMFA(ctx, c.envID, u.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, d := range v.MFA.Devices {
		dv := consoleDevice{ID: d.ID, Name: d.Name, Kind: deviceKind(d.Type), Added: day(d.CreatedOn, time.UTC), LastUsed: "never"}
		if d.LastUsedOn != nil {
			dv.LastUsed = when(*d.LastUsedOn, time.UTC)
		}
		v.Devices = append(v.Devices, dv)
	}
	sessions, err := s.svc.UserSessions(ctx, c.envID, u.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, sess := range sessions {
		v.Sessions = append(v.Sessions, consoleSession{Browser: browserName(sess.UserAgent), ClientIP: sess.ClientIP,
			SignedIn: when(sess.AuthTime, time.UTC), Expires: when(sess.ExpiresAt, time.UTC), IdentityProvider: sess.IdentityProviderID})
	}
	events, err := s.svc.UserActivity(ctx, c.envID, u.ID, consoleActivityCount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	admins := map[string]string{} // the usernames of the administrators who acted, by id
	for _, e := range events {
		ev := consoleEvent{Time: when(e.Time, time.UTC), What: consoleEventText(e, u.ID), By: consoleEventActor(e, u.ID),
			ClientIP: e.ClientIP, Failed: e.Outcome == gatehouse.OutcomeFailure}
		if e.ActorType == gatehouse.ActorUser && e.ActorID != u.ID {
			name, seen := admins[e.ActorID]
			if !seen {
				if admin, err := s.svc.GetUser(ctx, c.envID, e.ActorID); err == nil {
					name = admin.Username
				}
				admins[e.ActorID] = name
			}
			if name != "" {
				ev.By, ev.ByID = name, e.ActorID
			} else {
				ev.By = "a deleted administrator"
			}
		}
		v.Activity = append(v.Activity, ev)
	}
	if v.CanManage {
		roles, err := s.svc.ListRoles(ctx, c.envID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// Only an ENVIRONMENT_ADMIN is offered administrator roles; the
		// server refuses them to anyone else in any case.
		v.Roles = slices.DeleteFunc(roles, func(role *gatehouse.Role) bool {
			return slices.Contains(gatehouse.AdminRoles, role.Name) && !c.has(gatehouse.RoleEnvironmentAdmin)
		})
	}
	p := c.page(u.Username, "users", v)
	if failed != nil {
		p.Error = gatehouse.ErrorMessage(failed)
	} else {
		p.Notice = consoleNotices[r.URL.Query().Get("done")]
	}
	s.renderConsole(w, r, status, "user", p)
}

// consoleUserValues are a user's values in the user page's forms.
func consoleUserValues(u *gatehouse.User) url.Values {
	v := url.Values{"title": {u.Title}, "firstName": {u.FirstName}, "lastName": {u.LastName}, "email": {u.PrimaryEmail},
		"phone": {u.PrimaryPhone}, "type": {u.Type}, "timezone": {u.Timezone}, "language": {u.Language}, "department": {u.Department},
		"country": {u.Country}, "primaryRetailer": {u.PrimaryRetailer}, "primaryLocation": {u.PrimaryLocation}, "bypass": {"1d"}}
	if u.PromotionOptIn {
		v.Set("promotionOptIn", "on")
	}
	// An API user never signs in interactively: a password set for it is
	// final unless the administrator says otherwise.
	if u.Type != gatehouse.UserTypeAPI {
		v.Set("forceChange", "on")
	}
	return v
}

// consoleUserPatch is the edit form's change to u: only the fields that
// differ, so that the audit names what changed.
func consoleUserPatch(u *gatehouse.User, f url.Values) service.UserPatch {
	var p service.UserPatch
	for _, field := range []struct {
		name string
		to   **string
		was  string
	}{
		{"title", &p.Title, u.Title}, {"firstName", &p.FirstName, u.FirstName}, {"lastName", &p.LastName, u.LastName},
		{"email", &p.PrimaryEmail, u.PrimaryEmail}, {"phone", &p.PrimaryPhone, u.PrimaryPhone}, {"type", &p.Type, u.Type},
		{"timezone", &p.Timezone, u.Timezone}, {"language", &p.Language, u.Language}, {"department", &p.Department, u.Department},
		{"country", &p.Country, u.Country}, {"primaryRetailer", &p.PrimaryRetailer, u.PrimaryRetailer},
		{"primaryLocation", &p.PrimaryLocation, u.PrimaryLocation},
	} {
		if next := strings.TrimSpace(f.Get(field.name)); next != field.was {
			*field.to = &next
		}
	}
	if optIn := f.Get("promotionOptIn") == "on"; optIn != u.PromotionOptIn {
		p.PromotionOptIn = &optIn
	}
	return p
}

// consoleEventText says an event of a user's timeline in words: the
// administrators' changes here, sign-in events as the account page says
// them.
func consoleEventText(e *gatehouse.AuditEvent, userID string) string {
	if e.TargetID != userID && e.ActorID == userID {
		switch e.TargetType {
		case "APPLICATION":
			if e.Action == service.ActionTokenIssued {
				return "Got a token for application " + e.TargetID
			}
			return "Application " + e.TargetID + ": " + activityText(e)
		case "USER":
			return "Changed another user: " + activityText(e)
		}
	}
	switch e.Action {
	case service.ActionUserCreated:
		return "Created"
	case service.ActionUserImported, service.ActionUserProvisioned:
		return "Created by import or provisioning"
	case service.ActionUserUpdated:
		if f := e.Details["fields"]; f != "" {
			return "Details changed: " + strings.ReplaceAll(f, ",", ", ")
		}
		return "Details changed"
	case service.ActionUserRolesSet:
		if a := e.Details["assignments"]; a != "" {
			return "Roles set to " + a
		}
		if r := e.Details["roles"]; r != "" { // events written before contexts were
			return "Roles set to " + strings.ReplaceAll(r, ",", ", ")
		}
		return "Every role removed"
	case service.ActionUserForceChange:
		return "Made to change the password at next sign-in"
	case service.ActionUserUnlocked:
		if e.Details["what"] != "" {
			return "Second factor block ended"
		}
		return "Lockout ended"
	case service.ActionMFABypassSet:
		if e.Details["until"] == "" {
			return "Second factor bypass ended"
		}
		if until, err := time.Parse(time.RFC3339, e.Details["until"]); err == nil {
			return "Second factor bypass granted until " + when(until, time.UTC)
		}
		return "Second factor bypass granted"
	case service.ActionSessionEnded:
		if e.Details["which"] == "all" {
			return "Signed out everywhere by an administrator"
		}
	case service.ActionPasswordResetSent:
		return "Password reset code emailed"
	case service.ActionIdentityLinked:
		return "Linked to the identity provider's account"
	case service.ActionFederatedRefused:
		return "Sign-in at the identity provider refused here"
	}
	return activityText(e)
}

// consoleEventActor says who did an event of the user's timeline.
func consoleEventActor(e *gatehouse.AuditEvent, userID string) string {
	switch {
	case e.ActorID == userID:
		return "this user"
	case e.ActorType == gatehouse.ActorUser:
		return "an administrator"
	case e.ActorType == gatehouse.ActorApplication:
		return "application " + e.ActorID
	case e.ActorType == gatehouse.ActorOperator:
		return "an operator"
	}
	return "—"
}

// CanWriteUser reports whether this administrator may change u: a
// USER_ADMIN never changes administrators.
func (c *console) CanWriteUser(u *gatehouse.User) bool {
	if !c.has(gatehouse.RoleEnvironmentAdmin) && !c.has(gatehouse.RoleUserAdmin) {
		return false
	}
	return c.has(gatehouse.RoleEnvironmentAdmin) || !grantsAdminRole(u.Roles)
}

// consoleNotices are the messages shown after an action, by key: the
// redirect never carries text of the request.
var consoleNotices = map[string]string{
	"created": "The user is created.", "disabled": "The user is disabled: their sessions and tokens have ended.",
	"enabled": "The user is enabled.", "unlocked": "The lockout is over.",
	"force-change": "The user must choose a new password at their next sign-in.",
	"saved":        "The changes are saved.", "unchanged": "Nothing changed.",
	"role-added": "The role is added.", "role-removed": "The role is removed.",
	"password-set":   "The password is set and their sessions have ended. Hand it over by a channel other than email.",
	"sessions-ended": "Every session of the user has ended, and their refresh tokens are revoked.",
	"device-removed": "The second factor is removed.",
	"bypass-set":     "The user can sign in without a second factor until the time shown.",
	"bypass-ended":   "The bypass has ended: the user needs a second factor again.",
	"mfa-unblocked":  "The second factor block is over.",
	"deleted":        "The user is deleted.",
}

// consoleUserAction changes a user, as the management API would: the same
// service call after the same escalation guard.
func (s *Server) consoleUserAction(w http.ResponseWriter, r *http.Request, c *console) {
	u, ok := s.consoleTargetUser(w, r, c)
	if !ok {
		return
	}
	if err := s.guardEscalation(c.principal, u, nil); err != nil {
		s.renderConsole(w, r, http.StatusForbidden, "denied", c.page("Not allowed", "users", []string{gatehouse.RoleEnvironmentAdmin}))
		return
	}
	ctx, f := r.Context(), r.PostForm
	action := r.PathValue("action")
	done := action
	var err error
	switch action {
	case "disable", "enable":
		status := gatehouse.UserInactive
		if action == "enable" {
			status = gatehouse.UserActive
		}
		_, err = s.svc.UpdateUser(ctx, c.actor, c.envID, u.ID, service.UserPatch{Status: &status})
		done += "d"
	case "unlock":
		_, err = s.svc.Unlock(ctx, c.actor, c.envID, u.ID)
		done = "unlocked"
	case "force-change":
		_, err = s.svc.ForcePasswordChange(ctx, c.actor, c.envID, u.ID)
	case "edit":
		patch := consoleUserPatch(u, f)
		done = "unchanged"
		if patch != (service.UserPatch{}) {
			_, err = s.svc.UpdateUser(ctx, c.actor, c.envID, u.ID, patch)
			done = "saved"
		}
	case "add-role", "remove-role":
		roles, found := consoleRoleChange(u.Roles, action, f)
		if !found {
			err = gatehouse.Errorf(gatehouse.EINVALID, "the user no longer holds that role: reload the page")
			break
		}
		if s.guardEscalation(c.principal, u, &roles) != nil {
			s.renderConsole(w, r, http.StatusForbidden, "denied", c.page("Not allowed", "users", []string{gatehouse.RoleEnvironmentAdmin}))
			return
		}
		_, err = s.svc.SetRoles(ctx, c.actor, c.envID, u.ID, roles)
		done = map[string]string{"add-role": "role-added", "remove-role": "role-removed"}[action]
	case "password":
		if f.Get("password") == "" {
			err = gatehouse.Errorf(gatehouse.EINVALID, "enter the new password")
			break
		}
		_, err = s.svc.SetPassword(ctx, c.actor, c.envID, u.ID, f.Get("password"), f.Get("forceChange") == "on")
		done = "password-set"
	case "end-sessions":
		_, err = s.svc.EndUserSessions(ctx, c.actor, c.envID, u.ID)
		done = "sessions-ended"
	case "remove-device":
		err = s.svc.RemoveMFADevice(ctx, c.actor, c.envID, u.ID, f.Get("device"))
		done = "device-removed"
	case "bypass":
		i := slices.IndexFunc(consoleBypasses, func(b consoleBypass) bool { return b.Key == f.Get("bypass") })
		if i < 0 {
			err = gatehouse.Errorf(gatehouse.EINVALID, "choose how long the bypass lasts")
			break
		}
		until := time.Now().Add(consoleBypasses[i].For)
		err = s.svc.SetMFABypass(ctx, c.actor, c.envID, u.ID, &until)
		done = "bypass-set"
	case "end-bypass":
		err = s.svc.SetMFABypass(ctx, c.actor, c.envID, u.ID, nil)
		done = "bypass-ended"
	case "unblock-mfa":
		err = s.svc.UnblockMFA(ctx, c.actor, c.envID, u.ID)
		done = "mfa-unblocked"
	case "delete":
		if f.Get("confirm") != "yes" {
			err = gatehouse.Errorf(gatehouse.EINVALID, "tick the box to confirm that the user is to be deleted")
			break
		}
		if err = s.svc.DeleteUser(ctx, c.actor, c.envID, u.ID); err == nil {
			http.Redirect(w, r, "/console/"+c.envID+"/users?done=deleted", http.StatusSeeOther)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		if code := gatehouse.ErrorCode(err); code != gatehouse.EINVALID && code != gatehouse.ENOTFOUND {
			s.writeError(w, r, err)
			return
		}
		s.renderConsoleUser(w, r, c, u, http.StatusBadRequest, err, action, f)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/users/"+u.ID+"?done="+done, http.StatusSeeOther)
}

// consoleRoleChange is the user's roles after adding or removing the
// assignment of the form (role, contextType, contextId); found is false
// when the assignment to remove is not held.
func consoleRoleChange(held []gatehouse.RoleAssignment, action string, f url.Values) (roles []gatehouse.RoleAssignment, found bool) {
	a := gatehouse.RoleAssignment{Role: strings.TrimSpace(f.Get("role"))}
	if t, id := strings.ToUpper(strings.TrimSpace(f.Get("contextType"))), strings.TrimSpace(f.Get("contextId")); t != "" || id != "" {
		a.Context = &gatehouse.RoleContext{Type: t, ID: id}
	}
	if action == "add-role" {
		return append(slices.Clone(held), a), true
	}
	i := slices.IndexFunc(held, func(h gatehouse.RoleAssignment) bool {
		return h.Role == a.Role && (h.Context == nil) == (a.Context == nil) && (h.Context == nil || *h.Context == *a.Context)
	})
	if i < 0 {
		return nil, false
	}
	return slices.Delete(slices.Clone(held), i, i+1), true
}

func (s *Server) consoleNewUser(w http.ResponseWriter, r *http.Request, c *console) {
	idps, err := s.svc.ListIdentityProviders(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderConsole(w, r, http.StatusOK, "user-new", c.page("New user", "users", map[string]any{"IdPs": idps, "Form": url.Values{"kind": {"local"}}}))
}

// consoleCreateUser creates a local user (an initial password they must
// change), a corporate user (an IdP, never a password) or an API user.
func (s *Server) consoleCreateUser(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	nu := service.NewUser{User: gatehouse.User{Username: strings.TrimSpace(f.Get("username")), FirstName: f.Get("firstName"),
		LastName: f.Get("lastName"), PrimaryEmail: strings.TrimSpace(f.Get("email"))}}
	switch f.Get("kind") {
	case "corporate":
		nu.IdentityProvider = f.Get("identityProvider")
	case "api":
		nu.Type, nu.Password, nu.KeepPassword = gatehouse.UserTypeAPI, f.Get("password"), true
	default:
		nu.Password = f.Get("password")
	}
	u, err := s.svc.CreateUser(r.Context(), c.actor, c.envID, nu)
	if err != nil {
		idps, _ := s.svc.ListIdentityProviders(r.Context(), c.envID)
		form := url.Values{}
		for k, v := range f {
			if k != "password" && k != "csrf" {
				form[k] = v
			}
		}
		p := c.page("New user", "users", map[string]any{"IdPs": idps, "Form": form})
		p.Error = gatehouse.ErrorMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "user-new", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/users/"+u.ID+"?done=created", http.StatusSeeOther)
}
