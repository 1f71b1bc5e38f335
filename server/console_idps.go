package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// mountConsoleIdPs registers the identity providers and discovery rules
// pages. They read with envRead and write with envWrite, as the API does;
// the connection test reads, as the API's does.
func (s *Server) mountConsoleIdPs() {
	s.consoleRoute("GET /console/{env}/identity-providers", envRead, s.consoleIdPs)
	s.consoleRoute("GET /console/{env}/identity-providers/new", envWrite, s.consoleNewIdP)
	s.consoleRoute("POST /console/{env}/identity-providers/new", envWrite, s.consoleCreateIdP)
	s.consoleRoute("GET /console/{env}/identity-providers/{id}", envRead, s.consoleIdP)
	s.consoleRoute("POST /console/{env}/identity-providers/{id}/test", envRead, s.consoleTestIdP)
	s.consoleRoute("POST /console/{env}/identity-providers/{id}/edit", envWrite, s.consoleEditIdP)
	s.consoleRoute("POST /console/{env}/identity-providers/{id}/delete", envWrite, s.consoleDeleteIdP)
	s.consoleRoute("POST /console/{env}/discovery-rules", envWrite, s.consoleCreateRule)
	s.consoleRoute("POST /console/{env}/discovery-rules/{id}/order", envWrite, s.consoleReorderRule)
	s.consoleRoute("POST /console/{env}/discovery-rules/{id}/delete", envWrite, s.consoleDeleteRule)
}

// idpWriter reports whether this administrator may change identity
// providers and rules (envWrite), to offer the forms; the routes check
// again.
func idpWriter(c *console) bool { return slices.ContainsFunc(envWrite.roles, c.has) }

// consoleIdPNotices are the messages after an identity provider or rule
// change, by key.
var consoleIdPNotices = map[string]string{
	"created":      "The identity provider is added. Now give it the values below, then test the connection.",
	"saved":        "The identity provider is saved.",
	"deleted":      "The identity provider is deleted.",
	"rule-added":   "The discovery rule is added.",
	"rule-moved":   "The discovery rule's order is saved.",
	"rule-deleted": "The discovery rule is deleted.",
}

// consoleRuleRow is a discovery rule with the name of its IdP.
type consoleRuleRow struct {
	*gatehouse.DiscoveryRule
	IdPName string
}

// consoleIdPs lists the identity providers and the discovery rules in the
// order they are tried.
func (s *Server) consoleIdPs(w http.ResponseWriter, r *http.Request, c *console) {
	p := c.page("Identity providers", "idps", nil)
	p.Notice = consoleIdPNotices[r.URL.Query().Get("done")]
	s.renderIdPs(w, r, c, http.StatusOK, p, nil)
}

// renderIdPs shows the list page; form holds a discovery rule being added.
func (s *Server) renderIdPs(w http.ResponseWriter, r *http.Request, c *console, status int, p consolePage, form url.Values) {
	idps, err := s.svc.ListIdentityProviders(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rules, err := s.svc.ListDiscoveryRules(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, idp := range idps {
		names[idp.ID] = idp.Name
	}
	rows := make([]consoleRuleRow, len(rules))
	next := 10
	for i, d := range rules {
		rows[i] = consoleRuleRow{DiscoveryRule: d, IdPName: names[d.IdentityProviderID]}
		next = d.Order + 10
	}
	if form == nil {
		form = url.Values{"order": {strconv.Itoa(next)}, "match": {"domain"}}
	}
	p.Data = map[string]any{"IdPs": idps, "Rules": rows, "Form": form, "CanEdit": idpWriter(c)}
	s.renderConsole(w, r, status, "idps", p)
}

func (s *Server) consoleNewIdP(w http.ResponseWriter, r *http.Request, c *console) {
	kind := gatehouse.IdentityProviderOIDC
	if r.URL.Query().Get("type") == gatehouse.IdentityProviderSAML {
		kind = gatehouse.IdentityProviderSAML
	}
	form := url.Values{"type": {kind}, "metadata": {"url"}, "scopes": {"openid profile email"}}
	s.renderNewIdP(w, r, c, http.StatusOK, form, "")
}

func (s *Server) renderNewIdP(w http.ResponseWriter, r *http.Request, c *console, status int, form url.Values, problem string) {
	roles, err := s.idpRoleChoices(r, c, form["jitRoles"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := c.page("Add an identity provider", "idps", map[string]any{"New": true, "Form": form, "Roles": roles,
		"SAML": form.Get("type") == gatehouse.IdentityProviderSAML})
	p.Error = problem
	s.renderConsole(w, r, status, "idp", p)
}

// consoleRoleChoice is a role a just-in-time user may start with.
type consoleRoleChoice struct {
	Name, Description string
	Checked           bool
}

// idpRoleChoices are the environment's roles but the administrator ones,
// which are never granted just in time.
func (s *Server) idpRoleChoices(r *http.Request, c *console, checked []string) ([]consoleRoleChoice, error) {
	roles, err := s.svc.ListRoles(r.Context(), c.envID)
	if err != nil {
		return nil, err
	}
	var out []consoleRoleChoice
	for _, role := range roles {
		if !slices.Contains(gatehouse.AdminRoles, role.Name) {
			out = append(out, consoleRoleChoice{Name: role.Name, Description: role.Description, Checked: slices.Contains(checked, role.Name)})
		}
	}
	return out, nil
}

// idpInputOf reads the add and edit forms into the management API's input,
// so that both apply the same way; a client secret left empty keeps the
// stored one.
func idpInputOf(f url.Values, kind string) identityProviderInput {
	name := f.Get("name")
	jit, mfa := f.Get("jitProvisioning") == "on", f.Get("mfaRequired") == "on"
	roles := append([]string{}, f["jitRoles"]...)
	in := identityProviderInput{Name: &name, JITProvisioning: &jit, JITRoles: &roles, MFARequired: &mfa}
	if kind == gatehouse.IdentityProviderSAML {
		saml := gatehouse.SAMLSettings{UsernameAttribute: strings.TrimSpace(f.Get("usernameAttribute")), SignAuthnRequests: f.Get("signAuthnRequests") == "on"}
		if f.Get("metadata") == "xml" {
			saml.MetadataXML = strings.TrimSpace(f.Get("metadataXml"))
		} else {
			saml.MetadataURL = strings.TrimSpace(f.Get("metadataUrl"))
		}
		in.SAML = &saml
	} else {
		in.OIDC = &gatehouse.OIDCSettings{Issuer: strings.TrimSpace(f.Get("issuer")), ClientID: strings.TrimSpace(f.Get("clientId")),
			ClientSecret: f.Get("clientSecret"), Scopes: strings.Fields(f.Get("scopes")), UsernameClaim: strings.TrimSpace(f.Get("usernameClaim"))}
	}
	return in
}

// idpKeptFields are a submitted form without its secret and CSRF token, to
// show again with an error.
func idpKeptFields(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		if k != "clientSecret" && k != "csrf" {
			out[k] = v
		}
	}
	return out
}

func (s *Server) consoleCreateIdP(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	kind := gatehouse.IdentityProviderOIDC
	if f.Get("type") == gatehouse.IdentityProviderSAML {
		kind = gatehouse.IdentityProviderSAML
	}
	in := idpInputOf(f, kind)
	var idp gatehouse.IdentityProvider
	in.Type = &kind
	in.apply(&idp)
	idp.ID = strings.TrimSpace(f.Get("id"))
	v, err := s.svc.CreateIdentityProvider(r.Context(), c.actor, c.envID, idp)
	if err != nil {
		form := idpKeptFields(f)
		form.Set("type", kind)
		s.renderNewIdP(w, r, c, idpErrorStatus(err), form, gatehouse.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/identity-providers/"+v.ID+"?done=created", http.StatusSeeOther)
}

// idpErrorStatus is the status of a page that shows a refused change.
func idpErrorStatus(err error) int {
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// consoleVendorField is one value to paste into a vendor's console.
type consoleVendorField struct{ Field, Value string }

// consoleVendor says where in a vendor's console an IdP's values go.
type consoleVendor struct {
	Name, Where string
	Fields      []consoleVendorField
}

// idpVendors are the places in Okta, Entra ID and Google where the
// administrator pastes Gatehouse's URLs, in those consoles' own words.
func idpVendors(v *service.IdentityProviderView) []consoleVendor {
	e := v.Endpoints
	if v.Type == gatehouse.IdentityProviderSAML {
		return []consoleVendor{
			{"Okta", "Applications → Create App Integration → SAML 2.0 → Configure SAML", []consoleVendorField{
				{"Single sign-on URL", e.ACSURL}, {"Audience URI (SP Entity ID)", e.EntityID}}},
			{"Microsoft Entra ID", "Enterprise applications → New application → Create your own application → Single sign-on → SAML → Basic SAML Configuration (or “Upload metadata file” with the SP metadata)", []consoleVendorField{
				{"Identifier (Entity ID)", e.EntityID}, {"Reply URL (Assertion Consumer Service URL)", e.ACSURL}}},
			{"Google Workspace", "Admin console → Apps → Web and mobile apps → Add app → Add custom SAML app → Service provider details", []consoleVendorField{
				{"ACS URL", e.ACSURL}, {"Entity ID", e.EntityID}}},
		}
	}
	return []consoleVendor{
		{"Okta", "Applications → Create App Integration → OIDC – OpenID Connect → Web Application", []consoleVendorField{
			{"Sign-in redirect URIs", e.RedirectURI}}},
		{"Microsoft Entra ID", "App registrations → New registration → Redirect URI, platform Web", []consoleVendorField{
			{"Redirect URI (Web)", e.RedirectURI}}},
		{"Google", "Google Cloud console → APIs & Services → Credentials → Create credentials → OAuth client ID → Web application", []consoleVendorField{
			{"Authorized redirect URIs", e.RedirectURI}}},
	}
}

// idpFormOf is the edit form filled with an IdP's settings (never its
// client secret, which is write-only).
func idpFormOf(v *service.IdentityProviderView) url.Values {
	f := url.Values{"name": {v.Name}, "type": {v.Type}, "jitRoles": v.JITRoles}
	if v.JITProvisioning {
		f.Set("jitProvisioning", "on")
	}
	if v.MFARequired {
		f.Set("mfaRequired", "on")
	}
	if o := v.OIDC; o != nil {
		f.Set("issuer", o.Issuer)
		f.Set("clientId", o.ClientID)
		f.Set("scopes", strings.Join(o.Scopes, " "))
		f.Set("usernameClaim", o.UsernameClaim)
	}
	if sm := v.SAML; sm != nil {
		f.Set("metadata", "url")
		if sm.MetadataXML != "" {
			f.Set("metadata", "xml")
		}
		f.Set("metadataUrl", sm.MetadataURL)
		f.Set("metadataXml", sm.MetadataXML)
		f.Set("usernameAttribute", sm.UsernameAttribute)
		if sm.SignAuthnRequests {
			f.Set("signAuthnRequests", "on")
		}
	}
	return f
}

// consoleIdP shows an identity provider: what to give it, its settings,
// the connection test and, to those who may, the edit and delete forms.
func (s *Server) consoleIdP(w http.ResponseWriter, r *http.Request, c *console) {
	s.renderIdP(w, r, c, http.StatusOK, nil, consoleIdPNotices[r.URL.Query().Get("done")], "")
}

// renderIdP shows the IdP page; form, when not nil, is a refused edit to
// show again.
func (s *Server) renderIdP(w http.ResponseWriter, r *http.Request, c *console, status int, form url.Values, notice, problem string) {
	v, err := s.svc.GetIdentityProvider(r.Context(), c.envID, r.PathValue("id"))
	if err != nil {
		s.consoleIdPMissing(w, r, c, err)
		return
	}
	if form == nil {
		form = idpFormOf(v)
	}
	roles, err := s.idpRoleChoices(r, c, form["jitRoles"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := c.page(v.Name, "idps", map[string]any{"IdP": v, "Vendors": idpVendors(v), "Form": form, "Roles": roles,
		"SAML": v.Type == gatehouse.IdentityProviderSAML, "CanEdit": idpWriter(c), "New": false})
	p.Notice, p.Error = notice, problem
	s.renderConsole(w, r, status, "idp", p)
}

// consoleIdPMissing answers an IdP or rule that is not in this
// environment (another environment's ids included) with 404.
func (s *Server) consoleIdPMissing(w http.ResponseWriter, r *http.Request, c *console, err error) {
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.renderConsole(w, r, http.StatusNotFound, "denied", c.page("Not found", "idps", nil))
		return
	}
	s.writeError(w, r, err)
}

// consoleTestIdP reaches the IdP and says whether it answers as
// configured; it changes nothing, so the result is shown at once.
func (s *Server) consoleTestIdP(w http.ResponseWriter, r *http.Request, c *console) {
	err := s.svc.TestIdentityProvider(r.Context(), c.envID, r.PathValue("id"))
	switch gatehouse.ErrorCode(err) {
	case "":
		s.renderIdP(w, r, c, http.StatusOK, nil, "Connection OK: the identity provider answered and its configuration is usable.", "")
	case gatehouse.ENOTFOUND:
		s.consoleIdPMissing(w, r, c, err)
	case gatehouse.EUNAVAILABLE, gatehouse.EINVALID:
		s.renderIdP(w, r, c, http.StatusOK, nil, "", "The connection test failed: "+gatehouse.ErrorMessage(err))
	default:
		s.writeError(w, r, err)
	}
}

func (s *Server) consoleEditIdP(w http.ResponseWriter, r *http.Request, c *console) {
	v, err := s.svc.GetIdentityProvider(r.Context(), c.envID, r.PathValue("id"))
	if err != nil {
		s.consoleIdPMissing(w, r, c, err)
		return
	}
	in := idpInputOf(r.PostForm, v.Type)
	_, err = s.svc.UpdateIdentityProvider(r.Context(), c.actor, c.envID, v.ID, func(idp *gatehouse.IdentityProvider) error {
		in.apply(idp)
		return nil
	})
	if err != nil {
		form := idpKeptFields(r.PostForm)
		form.Set("type", v.Type)
		s.renderIdP(w, r, c, idpErrorStatus(err), form, "", gatehouse.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/identity-providers/"+v.ID+"?done=saved", http.StatusSeeOther)
}

func (s *Server) consoleDeleteIdP(w http.ResponseWriter, r *http.Request, c *console) {
	id := r.PathValue("id")
	if err := s.svc.DeleteIdentityProvider(r.Context(), c.actor, c.envID, id); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			s.consoleIdPMissing(w, r, c, err)
			return
		}
		s.renderIdP(w, r, c, idpErrorStatus(err), nil, "", gatehouse.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/identity-providers?done=deleted", http.StatusSeeOther)
}

// consoleCreateRule adds a discovery rule: an email domain or a pattern
// that sends usernames to an IdP.
func (s *Server) consoleCreateRule(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	in := discoveryRuleInput{IdentityProviderID: idpString(f.Get("identityProviderId"))}
	value := strings.TrimSpace(f.Get("value"))
	if f.Get("match") == "pattern" {
		in.Pattern = &value
	} else {
		in.EmailDomain = &value
	}
	order, err := idpRuleOrder(f.Get("order"))
	if err == nil {
		in.Order = &order
		var d gatehouse.DiscoveryRule
		in.apply(&d)
		_, err = s.svc.CreateDiscoveryRule(r.Context(), c.actor, c.envID, d)
	}
	if err != nil {
		p := c.page("Identity providers", "idps", nil)
		p.Error = gatehouse.ErrorMessage(err)
		s.renderIdPs(w, r, c, idpErrorStatus(err), p, idpKeptFields(f))
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/identity-providers?done=rule-added#rules", http.StatusSeeOther)
}

func idpString(v string) *string { return &v }

// idpRuleOrder reads a rule's order from a form.
func idpRuleOrder(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, gatehouse.Errorf(gatehouse.EINVALID, "order must be a whole number, such as 10")
	}
	return n, nil
}

// consoleReorderRule changes when a rule is tried.
func (s *Server) consoleReorderRule(w http.ResponseWriter, r *http.Request, c *console) {
	order, err := idpRuleOrder(r.PostForm.Get("order"))
	if err == nil {
		in := discoveryRuleInput{Order: &order}
		_, err = s.svc.UpdateDiscoveryRule(r.Context(), c.actor, c.envID, r.PathValue("id"), in.apply)
	}
	s.consoleRuleDone(w, r, c, err, "rule-moved")
}

func (s *Server) consoleDeleteRule(w http.ResponseWriter, r *http.Request, c *console) {
	s.consoleRuleDone(w, r, c, s.svc.DeleteDiscoveryRule(r.Context(), c.actor, c.envID, r.PathValue("id")), "rule-deleted")
}

// consoleRuleDone ends a rule change: back to the list, or the list with
// the refusal.
func (s *Server) consoleRuleDone(w http.ResponseWriter, r *http.Request, c *console, err error, done string) {
	switch {
	case err == nil:
		http.Redirect(w, r, "/console/"+c.envID+"/identity-providers?done="+done+"#rules", http.StatusSeeOther)
	case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
		s.consoleIdPMissing(w, r, c, err)
	default:
		p := c.page("Identity providers", "idps", nil)
		p.Error = gatehouse.ErrorMessage(err)
		s.renderIdPs(w, r, c, idpErrorStatus(err), p, nil)
	}
}
