package server

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/policy"
)

// mountConsolePolicies registers the policies page (password, MFA and
// sign-on policies, with a check of a sample password) and the branding
// page with its preview.
func (s *Server) mountConsolePolicies() {
	s.consoleRoute("GET /console/{env}/policies", usersRead, s.consolePolicies)
	s.consoleRoute("POST /console/{env}/policies/password", envWrite, s.consoleSavePasswordPolicy)
	s.consoleRoute("POST /console/{env}/policies/password/preset", envWrite, s.consoleApplyPreset)
	s.consoleRoute("POST /console/{env}/policies/password/check", usersRead, s.consoleCheckPassword)
	s.consoleRoute("POST /console/{env}/policies/mfa", envWrite, s.consoleSaveMFAPolicy)
	s.consoleRoute("POST /console/{env}/policies/sign-on", envWrite, s.consoleSaveSignOnPolicy)
	s.consoleRoute("GET /console/{env}/branding", envRead, s.consoleBranding)
	s.consoleRoute("POST /console/{env}/branding", envWrite, s.consoleSaveBranding)
	s.consoleRoute("GET /console/{env}/assets/preview.css", envRead, s.consolePreviewCSS)
}

// policyField is a form field of a policy: its JSON name (the form's field
// name), what the page calls it and a hint.
type policyField struct {
	Key, Label, Hint string
	// Unit follows the value where the policy is only shown.
	Unit string
	// Value is the field's value in the form, as text.
	Value string
	Bool  bool
}

// policyGroup is a fieldset of the password policy form.
type policyGroup struct {
	Legend string
	Fields []policyField
}

// passwordPolicyForm is the password policy's form, in groups; its keys are
// gatehouse.PasswordPolicy's JSON names.
var passwordPolicyForm = []policyGroup{
	{"Length and characters", []policyField{
		{Key: "minLength", Label: "Minimum length", Hint: "characters", Unit: "characters"},
		{Key: "maxLength", Label: "Maximum length", Hint: "characters, up to 4096", Unit: "characters"},
		{Key: "minLowercase", Label: "Lowercase letters", Hint: "at least"},
		{Key: "minUppercase", Label: "Uppercase letters", Hint: "at least"},
		{Key: "minDigits", Label: "Digits", Hint: "at least"},
		{Key: "minSpecial", Label: "Special characters", Hint: "at least; neither a letter nor a digit"},
		{Key: "maxRepeatedCharacters", Label: "Same character in a row", Hint: "at most; 0 for no rule"},
		{Key: "minUniqueCharacters", Label: "Different characters", Hint: "at least"},
		{Key: "notCommon", Label: "Refuse commonly used passwords", Bool: true},
		{Key: "notUserAttributes", Label: "Refuse passwords containing the user's username, names or email", Bool: true},
	}},
	{"Changes and reuse", []policyField{
		{Key: "minDistanceFromCurrent", Label: "Characters changed from the current password", Hint: "at least; 0 for no rule"},
		{Key: "historyCount", Label: "Previous passwords that cannot be reused", Hint: "0 to 24"},
		{Key: "maxAgeDays", Label: "Password expires after", Hint: "days; 0 never expires", Unit: "days"},
		{Key: "minAgeMinutes", Label: "Can be changed again after", Hint: "minutes; 0 any time", Unit: "minutes"},
	}},
	{"Brute-force protection", []policyField{
		{Key: "lockoutFailures", Label: "Lock out after failed sign-ins", Hint: "1 to 100; always on"},
		{Key: "lockoutSeconds", Label: "Lockout lasts", Hint: "seconds, 60 to 86400", Unit: "seconds"},
	}},
}

// passwordPolicyInts are the policy's numeric fields by JSON name.
func passwordPolicyInts(p *gatehouse.PasswordPolicy) map[string]*int {
	return map[string]*int{"minLength": &p.MinLength, "maxLength": &p.MaxLength, "minLowercase": &p.MinLowercase,
		"minUppercase": &p.MinUppercase, "minDigits": &p.MinDigits, "minSpecial": &p.MinSpecial,
		"maxRepeatedCharacters": &p.MaxRepeatedCharacters, "minUniqueCharacters": &p.MinUniqueCharacters,
		"minDistanceFromCurrent": &p.MinDistanceFromCurrent, "historyCount": &p.HistoryCount, "maxAgeDays": &p.MaxAgeDays,
		"minAgeMinutes": &p.MinAgeMinutes, "lockoutFailures": &p.LockoutFailures, "lockoutSeconds": &p.LockoutSeconds}
}

func passwordPolicyBools(p *gatehouse.PasswordPolicy) map[string]*bool {
	return map[string]*bool{"notCommon": &p.NotCommon, "notUserAttributes": &p.NotUserAttributes}
}

// passwordPolicyValues is a stored policy as the form's values.
func passwordPolicyValues(p *gatehouse.PasswordPolicy) url.Values {
	v := url.Values{"preset": {p.Preset}}
	for k, n := range passwordPolicyInts(p) {
		v.Set(k, strconv.Itoa(*n))
	}
	for k, b := range passwordPolicyBools(p) {
		if *b {
			v.Set(k, "on")
		}
	}
	return v
}

// policyFormInt reads a whole number of a form, naming the field by its label.
func policyFormInt(f url.Values, key, label string) (int, error) {
	raw := strings.TrimSpace(f.Get(key))
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, gatehouse.Errorf(gatehouse.EINVALID, "%s must be a whole number", label)
	}
	return n, nil
}

// policyFieldLabels are the labels of every policy form field, by JSON name, so
// that a message of the service names what the page shows.
var policyFieldLabels = func() map[string]string {
	m := map[string]string{}
	for _, g := range passwordPolicyForm {
		for _, f := range g.Fields {
			m[f.Key] = f.Label
		}
	}
	for k, v := range map[string]string{"allowedMethods": "Allowed methods", "whenNotEnrolled": "When nothing is enrolled",
		"failureLimit": "Wrong codes before a block", "blockSeconds": "Block lasts", "userVerification": "Security key verification",
		"reauthenticateAfterHours": "Sign in again after", "sessionHours": "Sessions last", "logoUrl": "Logo URL", "primaryColor": "Primary colour",
		"backgroundColor": "Background colour", "signInTitle": "Sign-in title", "signInMessage": "Sign-in message",
		"supportUrl": "Support URL"} {
		m[k] = v
	}
	return m
}()

var policyFieldNamePattern = regexp.MustCompile(`\b[a-z]+(?:[A-Z][a-z]*)+\b`)

// policyMessage is a service error in the page's words: the JSON names of
// fields become their labels.
func policyMessage(err error) string {
	return policyFieldNamePattern.ReplaceAllStringFunc(gatehouse.ErrorMessage(err), func(name string) string {
		if label, ok := policyFieldLabels[name]; ok {
			return "“" + label + "”"
		}
		return name
	})
}

// policyOption is a choice of a select, radio group or checkbox list.
type policyOption struct {
	Value, Label string
	Selected     bool
}

// policiesView is what the policies page shows; the forms hold their
// values as text so that a refused form comes back as it was sent.
type policiesView struct {
	CanEdit bool
	// Error is why a form was refused, shown beside the form ErrorIn
	// (password, mfa or sign-on) that the browser returns to.
	Error, ErrorIn string
	Preset         string
	Presets        []policyOption
	PasswordForm   []policyGroup
	// sampleCheck is set when the page answers the sample check's form.
	sampleCheck
	MFA           url.Values
	Methods       []policyOption
	NotEnrolled   []policyOption
	Verifications []policyOption
	SignOn        url.Values
}

// consoleViolation is a rule a sample password breaks.
type consoleViolation struct{ Rule, Label, Message string }

// sampleCheck is the result of a sample password's check: the policies
// page's "check-result" template, alone or in the page.
type sampleCheck struct {
	// Checked is false when there was no sample: nothing to show.
	Checked    bool
	Violations []consoleViolation
}

func mfaPolicyValues(p *gatehouse.MFAPolicy) url.Values {
	v := url.Values{"allowedMethods": p.AllowedMethods, "whenNotEnrolled": {p.WhenNotEnrolled},
		"failureLimit": {strconv.Itoa(p.FailureLimit)}, "blockSeconds": {strconv.Itoa(p.BlockSeconds)},
		"userVerification": {p.UserVerification}}
	if p.Enabled {
		v.Set("enabled", "on")
	}
	return v
}

// policiesPage builds the policies page from the stored policies, with
// any of its forms replaced by values that were sent.
func (s *Server) policiesPage(r *http.Request, c *console, pw, mfa, signOn url.Values) (consolePage, error) {
	ctx := r.Context()
	stored, err := s.svc.GetPasswordPolicy(ctx, c.envID)
	if err != nil {
		return consolePage{}, err
	}
	if pw == nil {
		pw = passwordPolicyValues(stored)
	}
	if mfa == nil {
		p, err := s.svc.MFAPolicy(ctx, c.envID)
		if err != nil {
			return consolePage{}, err
		}
		mfa = mfaPolicyValues(p)
	}
	if signOn == nil {
		p, err := s.svc.SignOnPolicy(ctx, c.envID)
		if err != nil {
			return consolePage{}, err
		}
		signOn = url.Values{"reauthenticateAfterHours": {strconv.Itoa(p.ReauthenticateAfterHours)}, "sessionHours": {strconv.Itoa(p.SessionHours)}}
	}
	v := &policiesView{CanEdit: c.has(gatehouse.RoleEnvironmentAdmin), Preset: stored.Preset, MFA: mfa, SignOn: signOn}
	for _, preset := range []string{gatehouse.PresetBasic, gatehouse.PresetStandard, gatehouse.PresetPassphrase} {
		v.Presets = append(v.Presets, policyOption{Value: preset, Label: policyPresetLabels[preset], Selected: preset == stored.Preset})
	}
	for _, g := range passwordPolicyForm {
		group := policyGroup{Legend: g.Legend}
		for _, f := range g.Fields {
			f.Value = pw.Get(f.Key)
			group.Fields = append(group.Fields, f)
		}
		v.PasswordForm = append(v.PasswordForm, group)
	}
	for _, m := range gatehouse.AllMFAMethods {
		v.Methods = append(v.Methods, policyOption{Value: m, Label: policyMFAMethodLabels[m], Selected: slices.Contains(mfa["allowedMethods"], m)})
	}
	for _, o := range []policyOption{
		{Value: gatehouse.NotEnrolledEnrol, Label: "Enrol a second factor at sign-in"},
		{Value: gatehouse.NotEnrolledBypass, Label: "Let them in without one"},
		{Value: gatehouse.NotEnrolledBlock, Label: "Refuse the sign-in"},
	} {
		o.Selected = mfa.Get("whenNotEnrolled") == o.Value
		v.NotEnrolled = append(v.NotEnrolled, o)
	}
	for _, o := range []policyOption{
		{Value: "required", Label: "Required (a PIN or biometric on the key)"},
		{Value: "preferred", Label: "Preferred"},
		{Value: "discouraged", Label: "Discouraged"},
	} {
		o.Selected = mfa.Get("userVerification") == o.Value
		v.Verifications = append(v.Verifications, o)
	}
	return c.page("Policies", "policies", v), nil
}

var policyPresetLabels = map[string]string{
	gatehouse.PresetBasic:      "Basic: any password, lockout after 5 failures",
	gatehouse.PresetStandard:   "Standard: 8+ characters of every kind, history, expiry after 180 days",
	gatehouse.PresetPassphrase: "Passphrase: 15+ characters, not common",
}

var policyMFAMethodLabels = map[string]string{
	gatehouse.MethodWebAuthn: "Security key or passkey (WebAuthn)", gatehouse.MethodTOTP: "Authenticator app (TOTP)",
	gatehouse.MethodEmail: "One-time code by email", gatehouse.MethodRecoveryCode: "Recovery codes (a backup of another method)",
}

// consolePolicyNotices are the policies' and branding's notices, by key.
var consolePolicyNotices = map[string]string{
	"password": "The password policy is saved. It applies to the next password each user sets.",
	"preset":   "The preset's rules are now the password policy.",
	"mfa":      "The MFA policy is saved.", "sign-on": "The sign-on policy is saved.",
	"branding": "The branding is saved: the sign-in pages show it now.",
}

func (s *Server) consolePolicies(w http.ResponseWriter, r *http.Request, c *console) {
	p, err := s.policiesPage(r, c, nil, nil, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p.Notice = consolePolicyNotices[r.URL.Query().Get("done")]
	s.renderConsole(w, r, http.StatusOK, "policies", p)
}

// refusePolicies shows the policies page again with what was sent and why
// it was refused.
func (s *Server) refusePolicies(w http.ResponseWriter, r *http.Request, c *console, section string, pw, mfa, signOn url.Values, err error) {
	if code := gatehouse.ErrorCode(err); code != gatehouse.EINVALID {
		s.writeError(w, r, err)
		return
	}
	p, perr := s.policiesPage(r, c, pw, mfa, signOn)
	if perr != nil {
		s.writeError(w, r, perr)
		return
	}
	v := p.Data.(*policiesView)
	v.Error, v.ErrorIn = policyMessage(err), section
	s.renderConsole(w, r, http.StatusBadRequest, "policies", p)
}

func (s *Server) consoleSavePasswordPolicy(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	stored, err := s.svc.GetPasswordPolicy(r.Context(), c.envID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in gatehouse.PasswordPolicy
	for key, n := range passwordPolicyInts(&in) {
		if *n, err = policyFormInt(f, key, "“"+policyFieldLabels[key]+"”"); err != nil {
			s.refusePolicies(w, r, c, "password", f, nil, nil, err)
			return
		}
	}
	for key, b := range passwordPolicyBools(&in) {
		*b = f.Get(key) != ""
	}
	// The policy keeps its preset's name only while it has the preset's
	// rules; any other change makes it a custom policy.
	if preset, err := gatehouse.PasswordPolicyPreset(stored.Preset); err == nil {
		if in.Preset = stored.Preset; in != preset {
			in.Preset = ""
		}
	}
	if _, err := s.svc.PutPasswordPolicy(r.Context(), c.actor, c.envID, in); err != nil {
		s.refusePolicies(w, r, c, "password", f, nil, nil, err)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/policies?done=password#password", http.StatusSeeOther)
}

// consoleApplyPreset replaces the password policy by a preset's rules: the
// management API's PUT with only a preset.
func (s *Server) consoleApplyPreset(w http.ResponseWriter, r *http.Request, c *console) {
	if _, err := s.svc.PutPasswordPolicy(r.Context(), c.actor, c.envID, gatehouse.PasswordPolicy{Preset: r.PostForm.Get("preset")}); err != nil {
		s.refusePolicies(w, r, c, "password", nil, nil, nil, err)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/policies?done=preset#password", http.StatusSeeOther)
}

// policyRuleLabels name the rules of a sample's check.
var policyRuleLabels = func() map[string]string {
	m := map[string]string{policy.RuleCharacters: "Allowed characters"}
	for k, v := range policyFieldLabels {
		m[k] = v
	}
	return m
}()

// consoleCheckPassword runs the stored password policy on a sample and
// shows the rules it breaks; the sample is neither stored, logged nor shown.
// The live check (htmx, while the administrator types) gets the result
// alone; the form sent without script gets the whole page with it.
func (s *Server) consoleCheckPassword(w http.ResponseWriter, r *http.Request, c *console) {
	check, err := s.checkPasswordSample(r, c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if fragmentRequest(r) {
		s.renderConsoleFragment(w, r, "policies", "check-result", check)
		return
	}
	p, err := s.policiesPage(r, c, nil, nil, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p.Data.(*policiesView).sampleCheck = check
	s.renderConsole(w, r, http.StatusOK, "policies", p)
}

// checkPasswordSample checks the form's sample against the stored policy.
// An empty sample is not checked: the live check sends one when the box is
// cleared, and the answer is then an empty result, not a list of rules.
func (s *Server) checkPasswordSample(r *http.Request, c *console) (sampleCheck, error) {
	sample := r.PostForm.Get("sample")
	if sample == "" {
		return sampleCheck{}, nil
	}
	violations, err := s.svc.CheckPasswordSample(r.Context(), c.envID, sample)
	if err != nil {
		return sampleCheck{}, err
	}
	check := sampleCheck{Checked: true}
	for _, vi := range violations {
		check.Violations = append(check.Violations, consoleViolation{Rule: vi.Rule, Label: policyRuleLabels[vi.Rule],
			Message: strings.TrimSuffix(vi.Message, " ("+vi.Rule+")")})
	}
	return check, nil
}

func (s *Server) consoleSaveMFAPolicy(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	in := gatehouse.MFAPolicy{Enabled: f.Get("enabled") != "", AllowedMethods: f["allowedMethods"],
		WhenNotEnrolled: f.Get("whenNotEnrolled"), UserVerification: f.Get("userVerification")}
	var err error
	if in.FailureLimit, err = policyFormInt(f, "failureLimit", "“"+policyFieldLabels["failureLimit"]+"”"); err == nil {
		in.BlockSeconds, err = policyFormInt(f, "blockSeconds", "“"+policyFieldLabels["blockSeconds"]+"”")
	}
	if err == nil {
		_, err = s.svc.SetMFAPolicy(r.Context(), c.actor, c.envID, in)
	}
	if err != nil {
		s.refusePolicies(w, r, c, "mfa", nil, f, nil, err)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/policies?done=mfa#mfa", http.StatusSeeOther)
}

func (s *Server) consoleSaveSignOnPolicy(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	hours, err := policyFormInt(f, "reauthenticateAfterHours", "“"+policyFieldLabels["reauthenticateAfterHours"]+"”")
	var sessionHours int
	if err == nil && f.Get("sessionHours") != "" {
		sessionHours, err = policyFormInt(f, "sessionHours", "“"+policyFieldLabels["sessionHours"]+"”")
	}
	if err == nil {
		_, err = s.svc.SetSignOnPolicy(r.Context(), c.actor, c.envID, gatehouse.SignOnPolicy{ReauthenticateAfterHours: hours, SessionHours: sessionHours})
	}
	if err != nil {
		s.refusePolicies(w, r, c, "sign-on", nil, nil, f, err)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/policies?done=sign-on#sign-on", http.StatusSeeOther)
}

// brandingView is what the branding page shows: the form (as sent, when
// refused) and the stored branding for the preview.
type brandingView struct {
	CanEdit bool
	Form    url.Values
	Saved   *gatehouse.Branding
	// Logo is the saved logo for the preview's img: an https URL, or a data:
	// image that Validate checked.
	Logo template.URL
}

var brandingLogoHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)

// brandingPage builds the branding page; form nil shows the stored values.
func (s *Server) brandingPage(w http.ResponseWriter, r *http.Request, c *console, form url.Values) (http.ResponseWriter, consolePage, error) {
	b, err := s.svc.Branding(r.Context(), c.envID)
	if err != nil {
		return w, consolePage{}, err
	}
	if form == nil {
		form = url.Values{"logoUrl": {b.LogoURL}, "primaryColor": {b.PrimaryColor}, "backgroundColor": {b.BackgroundColor},
			"signInTitle": {b.SignInTitle}, "signInMessage": {b.SignInMessage}, "supportUrl": {b.SupportURL}}
	}
	v := &brandingView{CanEdit: c.has(gatehouse.RoleEnvironmentAdmin), Form: form, Saved: b}
	if b.Validate() == nil && b.LogoURL != "" {
		v.Logo = template.URL(b.LogoURL)
		// The preview loads an https logo from its host, as the sign-in
		// page does: the console's CSP allows that one host for images.
		if u, err := url.Parse(b.LogoURL); err == nil && u.Scheme == "https" && brandingLogoHost.MatchString(u.Host) {
			w = brandingCSPWriter{ResponseWriter: w, host: u.Host}
		}
	}
	return w, c.page("Branding", "branding", v), nil
}

// brandingCSPWriter adds the logo's host to the img-src of the console's CSP
// when the page's headers are written.
type brandingCSPWriter struct {
	http.ResponseWriter
	host string
}

func (w brandingCSPWriter) WriteHeader(status int) {
	h := w.Header()
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "img-src 'self' data:", "img-src 'self' data: https://"+w.host, 1))
	w.ResponseWriter.WriteHeader(status)
}

func (s *Server) consoleBranding(w http.ResponseWriter, r *http.Request, c *console) {
	w, p, err := s.brandingPage(w, r, c, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p.Notice = consolePolicyNotices[r.URL.Query().Get("done")]
	s.renderConsole(w, r, http.StatusOK, "branding", p)
}

func (s *Server) consoleSaveBranding(w http.ResponseWriter, r *http.Request, c *console) {
	f := r.PostForm
	in := gatehouse.Branding{LogoURL: strings.TrimSpace(f.Get("logoUrl")), PrimaryColor: strings.TrimSpace(f.Get("primaryColor")),
		BackgroundColor: strings.TrimSpace(f.Get("backgroundColor")), SignInTitle: strings.TrimSpace(f.Get("signInTitle")),
		SignInMessage: strings.Join(strings.Fields(f.Get("signInMessage")), " "), SupportURL: strings.TrimSpace(f.Get("supportUrl"))}
	if _, err := s.svc.PutBranding(r.Context(), c.actor, c.envID, in); err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			s.writeError(w, r, err)
			return
		}
		w, p, perr := s.brandingPage(w, r, c, f)
		if perr != nil {
			s.writeError(w, r, perr)
			return
		}
		p.Error = policyMessage(err)
		s.renderConsole(w, r, http.StatusBadRequest, "branding", p)
		return
	}
	http.Redirect(w, r, "/console/"+c.envID+"/branding?done=branding", http.StatusSeeOther)
}

// consolePreviewCSS is the saved branding's colours for the branding
// page's preview, as brandCSS gives them to the sign-in pages: the values
// are validated colours, so nothing else can get into it.
func (s *Server) consolePreviewCSS(w http.ResponseWriter, r *http.Request, c *console) {
	b, err := s.svc.Branding(r.Context(), c.envID)
	if err != nil || b.Validate() != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	fmt.Fprintf(w, ".brand-preview { --brand-accent: %s; --brand-page: %s; }\n", b.PrimaryColor, b.BackgroundColor)
}
