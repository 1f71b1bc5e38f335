package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// TestConsolePolicies: an environment administrator applies a password
// preset, edits its fields, checks sample passwords, and sets the MFA and
// sign-on policies; refused input comes back with a message naming the
// field and the values sent, and nothing is stored.
func TestConsolePolicies(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	b := newBrowser(t, h)
	pg := consoleSignIn(t, b, "acme", "/console/acme/policies", "eve@acme.example")
	if pg.status != 200 || !strings.Contains(pg.body, "<h1>Policies</h1>") || !strings.Contains(pg.body, `<span class="tag">BASIC</span> preset`) {
		t.Fatalf("policies page: %d\n%s", pg.status, pg.body)
	}
	csrf := consoleCSRFOf(t, pg)
	post := func(path string, kv ...string) page {
		t.Helper()
		v := url.Values{"csrf": {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return b.do("POST", "/console/acme/policies"+path, v)
	}
	stored := func() gatehouse.PasswordPolicy {
		t.Helper()
		p, err := h.svc.GetPasswordPolicy(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return *p
	}

	// A preset, then one field changed: the policy becomes custom.
	if p := post("/password/preset", "preset", gatehouse.PresetStandard); p.status != http.StatusSeeOther {
		t.Fatalf("apply preset: %d\n%s", p.status, p.body)
	} else if after := b.do("GET", p.header.Get("Location"), nil); !strings.Contains(after.body, "preset&#39;s rules are now the password policy") ||
		!strings.Contains(after.body, `<span class="tag">STANDARD</span> preset`) {
		t.Fatalf("after the preset:\n%s", after.body)
	}
	standard, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetStandard)
	if got := stored(); got != standard {
		t.Fatalf("stored after the preset: %+v", got)
	}
	form := b.do("GET", "/console/acme/policies", nil)
	for _, action := range []string{"/policies/password#", "/policies/password/preset", "/policies/mfa", "/policies/sign-on"} {
		if !strings.Contains(form.body, `action="/console/acme`+action) {
			t.Fatalf("the administrator is not offered the form %s", action)
		}
	}
	if !strings.Contains(form.body, `name="minLength" value="8"`) || !strings.Contains(form.body, `name="notCommon" id="pw-notCommon" checked`) {
		t.Fatalf("the form does not show the stored fields:\n%s", form.body)
	}
	fields := func(changes ...string) []string {
		kv := []string{}
		for k, v := range map[string]int{"minLength": 12, "maxLength": 255, "minLowercase": 1, "minUppercase": 1, "minDigits": 1,
			"minSpecial": 1, "maxRepeatedCharacters": 2, "minUniqueCharacters": 5, "minDistanceFromCurrent": 2, "historyCount": 6,
			"maxAgeDays": 180, "minAgeMinutes": 1440, "lockoutFailures": 5, "lockoutSeconds": 900} {
			if i := slices.Index(changes, k); i >= 0 && i%2 == 0 {
				kv = append(kv, k, changes[i+1])
			} else {
				kv = append(kv, k, strconv.Itoa(v))
			}
		}
		return append(kv, "notCommon", "on", "notUserAttributes", "on")
	}
	if p := post("/password", fields()...); p.status != http.StatusSeeOther {
		t.Fatalf("save fields: %d\n%s", p.status, p.body)
	}
	custom := standard
	custom.Preset, custom.MinLength = "", 12
	if got := stored(); got != custom {
		t.Fatalf("stored after saving the fields: %+v", got)
	}

	// Refused: a field that is not a number, brute-force protection off,
	// a missing CSRF token; nothing changes.
	if p := post("/password", fields("minLength", "twelve")...); p.status != 400 || !strings.Contains(p.body, "“Minimum length” must be a whole number") ||
		!strings.Contains(p.body, `name="minLength" value="twelve"`) {
		t.Fatalf("a length in words: %d\n%s", p.status, p.body)
	}
	if p := post("/password", fields("lockoutFailures", "0", "minDigits", "3")...); p.status != 400 ||
		!strings.Contains(p.body, "“Lock out after failed sign-ins”") || !strings.Contains(p.body, `name="minDigits" value="3"`) {
		t.Fatalf("lockout off: %d\n%s", p.status, p.body)
	}
	if p := post("/password/preset", "preset", "WEAK"); p.status != 400 || !strings.Contains(p.body, "unknown password policy preset") {
		t.Fatalf("an unknown preset: %d\n%s", p.status, p.body)
	}
	if p := b.do("POST", "/console/acme/policies/password", url.Values{"minLength": {"1"}, "lockoutFailures": {"5"}, "lockoutSeconds": {"60"}}); p.status != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d", p.status)
	}
	if got := stored(); got != custom {
		t.Fatalf("a refused form changed the policy: %+v", got)
	}

	// A sample password: each broken rule by name, never the sample.
	const weak = "Sample-Secret-xyz"
	if p := post("/password/check", "sample", weak); p.status != 200 || !strings.Contains(p.body, "breaks 1 rule") ||
		!strings.Contains(p.body, "<strong>Digits</strong>: must contain at least 1 digit") || strings.Contains(p.body, weak) {
		t.Fatalf("check a weak sample: %d\n%s", p.status, p.body)
	}
	if p := post("/password/check", "sample", "password"); !strings.Contains(p.body, "<strong>Minimum length</strong>") ||
		!strings.Contains(p.body, "<strong>Refuse commonly used passwords</strong>") || !strings.Contains(p.body, "<strong>Uppercase letters</strong>") {
		t.Fatalf("check a common sample:\n%s", p.body)
	}
	if p := post("/password/check", "sample", "Xk7#mPq2$vLw9!"); p.status != 200 || !strings.Contains(p.body, "The sample meets the policy.") ||
		strings.Contains(p.body, "Xk7#mPq2") {
		t.Fatalf("check a good sample: %d\n%s", p.status, p.body)
	}
	if got := stored(); got != custom {
		t.Fatalf("a check changed the policy: %+v", got)
	}

	// MFA.
	if p := post("/mfa", "enabled", "on", "allowedMethods", "TOTP", "allowedMethods", "RECOVERY_CODE", "whenNotEnrolled", "BLOCK",
		"failureLimit", "3", "blockSeconds", "600", "userVerification", "required"); p.status != http.StatusSeeOther {
		t.Fatalf("save MFA: %d\n%s", p.status, p.body)
	}
	wantMFA := gatehouse.MFAPolicy{Enabled: true, AllowedMethods: []string{"TOTP", "RECOVERY_CODE"}, WhenNotEnrolled: "BLOCK",
		FailureLimit: 3, BlockSeconds: 600, UserVerification: "required"}
	mfaStored := func() gatehouse.MFAPolicy {
		p, err := h.svc.MFAPolicy(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return *p
	}
	if got := mfaStored(); !slices.Equal(got.AllowedMethods, wantMFA.AllowedMethods) || got.Enabled != true || got.WhenNotEnrolled != "BLOCK" ||
		got.FailureLimit != 3 || got.BlockSeconds != 600 || got.UserVerification != "required" {
		t.Fatalf("stored MFA policy %+v", got)
	}
	if p := b.do("GET", "/console/acme/policies?done=mfa", nil); !strings.Contains(p.body, "The MFA policy is saved.") ||
		!strings.Contains(p.body, `value="BLOCK" checked`) || strings.Contains(p.body, `value="WEBAUTHN" checked`) {
		t.Fatalf("MFA form after saving:\n%s", p.body)
	}
	if p := post("/mfa", "enabled", "on", "allowedMethods", "RECOVERY_CODE", "whenNotEnrolled", "ENROL", "failureLimit", "7",
		"blockSeconds", "600", "userVerification", "preferred"); p.status != 400 || !strings.Contains(p.body, "recovery codes back up another method") ||
		!strings.Contains(p.body, `name="failureLimit" value="7"`) {
		t.Fatalf("only recovery codes: %d\n%s", p.status, p.body)
	}
	if p := post("/mfa", "allowedMethods", "TOTP", "whenNotEnrolled", "ENROL", "failureLimit", "many", "blockSeconds", "600",
		"userVerification", "preferred"); p.status != 400 || !strings.Contains(p.body, "“Wrong codes before a block” must be a whole number") {
		t.Fatalf("a failure limit in words: %d\n%s", p.status, p.body)
	}
	if got := mfaStored(); got.FailureLimit != 3 || !got.Enabled {
		t.Fatalf("a refused MFA form changed the policy: %+v", got)
	}

	// Sign-on.
	if p := post("/sign-on", "reauthenticateAfterHours", "12"); p.status != http.StatusSeeOther {
		t.Fatalf("save sign-on: %d\n%s", p.status, p.body)
	}
	if p := post("/sign-on", "reauthenticateAfterHours", "9999"); p.status != 400 || !strings.Contains(p.body, "“Sign in again after” must be between 0 and 8760") ||
		!strings.Contains(p.body, `value="9999"`) {
		t.Fatalf("sign-on out of bounds: %d\n%s", p.status, p.body)
	}
	if p, _ := h.svc.SignOnPolicy(ctx, "acme"); p.ReauthenticateAfterHours != 12 {
		t.Fatalf("stored sign-on policy %+v", p)
	}
	events, _ := h.svc.Store.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{Limit: 50})
	changes := 0
	for _, e := range events {
		if strings.HasSuffix(e.Action, "POLICY_CHANGED") && e.ActorType == gatehouse.ActorUser {
			changes++
		}
	}
	if changes != 4 {
		t.Fatalf("policy changes audited as the administrator: %d of 4", changes)
	}

	// globex's policies are not acme's, and acme's session is not globex's.
	if p, _ := h.svc.GetPasswordPolicy(ctx, "globex"); p.Preset != gatehouse.PresetBasic {
		t.Fatalf("globex's policy changed: %+v", p)
	}
	if p := b.do("GET", "/console/globex/policies", nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/globex/oauth2/authorize") {
		t.Fatalf("globex's policies with acme's session: %d", p.status)
	}
	if p := b.do("POST", "/console/globex/policies/sign-on", url.Values{"csrf": {csrf}, "reauthenticateAfterHours": {"1"}}); p.status != http.StatusSeeOther {
		t.Fatalf("globex's sign-on policy with acme's session: %d", p.status)
	}
	if p, _ := h.svc.SignOnPolicy(ctx, "globex"); p.ReauthenticateAfterHours != 0 {
		t.Fatalf("globex's sign-on policy changed: %+v", p)
	}
}

// TestConsolePoliciesRoles: READ_ONLY and USER_ADMIN read the policies,
// see no forms that change them, and are refused on the server; READ_ONLY
// may still check a sample password.
func TestConsolePoliciesRoles(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	consoleAdmin(t, h, "acme", "hal@acme.example", gatehouse.RoleUserAdmin)
	before, _ := h.svc.GetPasswordPolicy(ctx, "acme")

	for _, who := range []string{"rita@acme.example", "hal@acme.example"} {
		b := newBrowser(t, h)
		pg := consoleSignIn(t, b, "acme", "/console/acme/policies", who)
		if pg.status != 200 || !strings.Contains(pg.body, "Lock out after failed sign-ins") {
			t.Fatalf("%s reads the policies: %d\n%s", who, pg.status, pg.body)
		}
		for _, form := range []string{"/policies/password#", "/policies/password/preset", "/policies/mfa", "/policies/sign-on"} {
			if strings.Contains(pg.body, `action="/console/acme`+form) {
				t.Fatalf("%s is offered the form %s", who, form)
			}
		}
		csrf := consoleCSRFOf(t, pg)
		for path, kv := range map[string]url.Values{
			"/policies/password/preset": {"preset": {"PASSPHRASE"}},
			"/policies/password":        {"minLength": {"3"}, "maxLength": {"10"}, "lockoutFailures": {"5"}, "lockoutSeconds": {"60"}},
			"/policies/mfa":             {"enabled": {"on"}, "allowedMethods": {"TOTP"}, "whenNotEnrolled": {"ENROL"}, "failureLimit": {"5"}, "blockSeconds": {"60"}, "userVerification": {"preferred"}},
			"/policies/sign-on":         {"reauthenticateAfterHours": {"1"}},
			"/branding":                 {"primaryColor": {"#000000"}, "backgroundColor": {"#ffffff"}, "signInTitle": {"Hacked"}},
		} {
			kv.Set("csrf", csrf)
			if p := b.do("POST", "/console/acme"+path, kv); p.status != http.StatusForbidden {
				t.Fatalf("%s posts %s: %d", who, path, p.status)
			}
		}
		if p := b.do("POST", "/console/acme/policies/password/check", url.Values{"csrf": {csrf}, "sample": {"x"}}); p.status != 200 ||
			!strings.Contains(p.body, "The sample meets the policy.") {
			t.Fatalf("%s checks a sample: %d\n%s", who, p.status, p.body)
		}
	}
	after, _ := h.svc.GetPasswordPolicy(ctx, "acme")
	mfa, _ := h.svc.MFAPolicy(ctx, "acme")
	signOn, _ := h.svc.SignOnPolicy(ctx, "acme")
	brand, _ := h.svc.Branding(ctx, "acme")
	if *after != *before || mfa.Enabled || signOn.ReauthenticateAfterHours != 0 || brand.SignInTitle == "Hacked" {
		t.Fatalf("a refused role changed something: %+v %+v %+v %+v", after, mfa, signOn, brand)
	}

	// Branding is the environment's: a USER_ADMIN does not open it; READ_ONLY
	// reads it without a form.
	hal := newBrowser(t, h)
	if p := consoleSignIn(t, hal, "acme", "/console/acme/branding", "hal@acme.example"); p.status != http.StatusForbidden {
		t.Fatalf("a USER_ADMIN opens branding: %d", p.status)
	}
	rita := newBrowser(t, h)
	if p := consoleSignIn(t, rita, "acme", "/console/acme/branding", "rita@acme.example"); p.status != 200 ||
		strings.Contains(p.body, `action="/console/acme/branding"`) || !strings.Contains(p.body, "Preview of the sign-in page") {
		t.Fatalf("READ_ONLY reads branding: %d\n%s", p.status, p.body)
	}
}

// TestConsoleBranding: an administrator sets the logo, colours and texts;
// the preview's stylesheet and the hosted pages follow; bad values are
// refused with the values sent kept.
func TestConsoleBranding(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	b := newBrowser(t, h)
	pg := consoleSignIn(t, b, "acme", "/console/acme/branding", "eve@acme.example")
	if pg.status != 200 || !strings.Contains(pg.body, `<link rel="stylesheet" href="/console/acme/assets/preview.css">`) ||
		!strings.Contains(pg.body, `name="primaryColor" type="color" value="#1f5fbf"`) {
		t.Fatalf("branding page: %d\n%s", pg.status, pg.body)
	}
	if css := b.do("GET", "/console/acme/assets/preview.css", nil); css.status != 200 || !strings.Contains(css.body, "--brand-accent: #1f5fbf;") ||
		!strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("preview.css: %d %s", css.status, css.body)
	}
	csrf := consoleCSRFOf(t, pg)
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {csrf}, "logoUrl": {"https://cdn.acme.example/logo.svg"}, "primaryColor": {"#aa3300"},
			"backgroundColor": {"#fff8f0"}, "signInTitle": {"Welcome to Acme"}, "signInMessage": {"Use your store account.\r\nAsk IT if stuck."},
			"supportUrl": {"https://help.acme.example/sso"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	saved := b.do("POST", "/console/acme/branding", form())
	if saved.status != http.StatusSeeOther {
		t.Fatalf("save branding: %d\n%s", saved.status, saved.body)
	}
	want := gatehouse.Branding{LogoURL: "https://cdn.acme.example/logo.svg", PrimaryColor: "#aa3300", BackgroundColor: "#fff8f0",
		SignInTitle: "Welcome to Acme", SignInMessage: "Use your store account. Ask IT if stuck.", SupportURL: "https://help.acme.example/sso"}
	if got, _ := h.svc.Branding(ctx, "acme"); *got != want {
		t.Fatalf("stored branding %+v", got)
	}
	after := b.do("GET", saved.header.Get("Location"), nil)
	if !strings.Contains(after.body, "The branding is saved") || !strings.Contains(after.body, `<img class="bp-logo" src="https://cdn.acme.example/logo.svg"`) ||
		!strings.Contains(after.body, `<p class="bp-title">Welcome to Acme</p>`) || !strings.Contains(after.body, "Need help?") {
		t.Fatalf("the preview:\n%s", after.body)
	}
	if csp := after.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") || strings.Contains(csp, "unsafe") {
		t.Fatalf("the branding page's CSP %q", csp)
	}
	if css := b.do("GET", "/console/acme/assets/preview.css", nil); !strings.Contains(css.body, "--brand-accent: #aa3300; --brand-page: #fff8f0;") {
		t.Fatalf("preview.css after saving: %s", css.body)
	}
	if css := b.do("GET", "/acme/login/assets/brand.css", nil); !strings.Contains(css.body, "#aa3300") {
		t.Fatalf("the hosted pages' brand.css: %s", css.body)
	}

	// Refused: a colour name, a script URL, no CSRF token; nothing changes.
	if p := b.do("POST", "/console/acme/branding", form("primaryColor", "red", "signInTitle", "Hello Acme")); p.status != 400 ||
		!strings.Contains(p.body, "“Primary colour” must be a colour like #1f5fbf") || !strings.Contains(p.body, `value="Hello Acme"`) {
		t.Fatalf("a colour name: %d\n%s", p.status, p.body)
	}
	if p := b.do("POST", "/console/acme/branding", form("supportUrl", "javascript:alert(1)")); p.status != 400 ||
		!strings.Contains(p.body, "“Support URL” must be an https URL") {
		t.Fatalf("a script support URL: %d\n%s", p.status, p.body)
	}
	noCSRF := form("signInTitle", "No token")
	noCSRF.Del("csrf")
	if p := b.do("POST", "/console/acme/branding", noCSRF); p.status != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d", p.status)
	}
	if got, _ := h.svc.Branding(ctx, "acme"); *got != want {
		t.Fatalf("a refused form changed the branding: %+v", got)
	}
	if got, _ := h.svc.Branding(ctx, "globex"); *got != gatehouse.DefaultBranding() {
		t.Fatalf("globex's branding changed: %+v", got)
	}
}

// htmxRequest is the header htmx sends with each of its requests.
var htmxRequest = http.Header{"HX-Request": {"true"}}

// TestConsolePasswordCheckLive: htmx's live check of a sample password gets
// the result alone, the same markup the whole page shows in its live region;
// the form sent without script still gets the whole page; an empty sample
// is an empty result; the sample is never in an answer; refusals (no CSRF
// token, no session, a role taken away) send htmx to the whole page.
func TestConsolePasswordCheckLive(t *testing.T) {
	h := newAPI(t)
	ctx := context.Background()
	consoleAdmin(t, h, "acme", "eve@acme.example", gatehouse.RoleEnvironmentAdmin)
	b := newBrowser(t, h)
	pg := consoleSignIn(t, b, "acme", "/console/acme/policies", "eve@acme.example")
	if !strings.Contains(pg.body, `<script src="/console/acme/assets/htmx.min.js" defer></script>`) ||
		!strings.Contains(pg.body, `<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}'>`) ||
		!strings.Contains(pg.body, `hx-post="/console/acme/policies/password/check"`) ||
		!strings.Contains(pg.body, `<div id="check-result" aria-live="polite" aria-atomic="true"></div>`) {
		t.Fatalf("the policies page does not load htmx or has no live check:\n%s", pg.body)
	}
	if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self';") ||
		strings.Contains(csp, "unsafe") {
		t.Fatalf("the console's CSP %q", csp)
	}
	csrf := consoleCSRFOf(t, pg)
	if p := b.do("POST", "/console/acme/policies/password/preset", url.Values{"csrf": {csrf}, "preset": {gatehouse.PresetStandard}}); p.status != http.StatusSeeOther {
		t.Fatalf("apply the STANDARD preset: %d", p.status)
	}
	check := func(b *browser, header http.Header, form url.Values) page {
		t.Helper()
		return b.doWith("POST", "/console/acme/policies/password/check", form, header)
	}
	sample := func(s string) url.Values { return url.Values{"csrf": {csrf}, "sample": {s}} }
	isFragment := func(p page) bool {
		return p.status == 200 && strings.HasPrefix(p.header.Get("Content-Type"), "text/html") && p.header.Get("HX-Redirect") == "" &&
			!strings.Contains(p.body, "<html") && !strings.Contains(p.body, "<h1>") && !strings.Contains(p.body, `name="csrf"`)
	}

	// A weak sample: the broken rules alone, then the same markup inside the
	// whole page's live region when the form is sent without script.
	const weak = "weakSample"
	live := check(b, htmxRequest, sample(weak))
	if !isFragment(live) || !strings.HasPrefix(live.body, `<div class="error check-result"><p>The sample breaks 2 rules of the policy:</p>`) ||
		!strings.Contains(live.body, "<strong>Digits</strong>") || !strings.Contains(live.body, "<strong>Special characters</strong>") ||
		strings.Contains(live.body, weak) {
		t.Fatalf("the live check of a weak sample: %d %v\n%s", live.status, live.header, live.body)
	}
	full := check(b, nil, sample(weak))
	if full.status != 200 || !strings.Contains(full.body, "<h1>Policies</h1>") || strings.Contains(full.body, weak) ||
		!strings.Contains(full.body, `<div id="check-result" aria-live="polite" aria-atomic="true">`+live.body+`</div>`) {
		t.Fatalf("the check without script is not the whole page with the same result: %d\n%s", full.status, full.body)
	}

	// A good sample, then an empty one (the box cleared): nothing to show.
	const good = "Str0ng-Enough-Pass"
	if p := check(b, htmxRequest, sample(good)); !isFragment(p) || strings.TrimSpace(p.body) != `<p class="notice check-result">The sample meets the policy.</p>` {
		t.Fatalf("the live check of a good sample: %d\n%s", p.status, p.body)
	}
	if p := check(b, htmxRequest, sample("")); !isFragment(p) || strings.TrimSpace(p.body) != "" {
		t.Fatalf("the live check of an empty sample: %d\n%s", p.status, p.body)
	}
	if p := check(b, nil, sample("")); p.status != 200 || !strings.Contains(p.body, `aria-atomic="true"></div>`) {
		t.Fatalf("the check of an empty sample without script: %d\n%s", p.status, p.body)
	}

	// Refused: without the CSRF token, with another one, without a session.
	// htmx swaps nothing on a refusal, so the answer sends it to the whole
	// page instead of leaving an earlier result showing.
	refusedToPage := func(p page, status int) bool {
		return p.status == status && p.header.Get("HX-Redirect") == "/console/acme/policies" && p.header.Get("Location") == "" &&
			!strings.Contains(p.body, "check-result") && !strings.Contains(p.body, weak)
	}
	other := "A" + csrf[1:]
	if other == csrf {
		other = "B" + csrf[1:]
	}
	for what, form := range map[string]url.Values{
		"without the CSRF token": {"sample": {weak}},
		"with another token":     {"csrf": {other}, "sample": {weak}},
	} {
		if p := check(b, htmxRequest, form); !refusedToPage(p, http.StatusForbidden) {
			t.Fatalf("the live check %s: %d %v\n%s", what, p.status, p.header, p.body)
		}
	}
	if p := check(b, nil, url.Values{"sample": {weak}}); p.status != http.StatusForbidden || p.header.Get("HX-Redirect") != "" {
		t.Fatalf("the check without script and the CSRF token: %d %v", p.status, p.header)
	}
	if p := check(newBrowser(t, h), htmxRequest, sample(weak)); !refusedToPage(p, http.StatusUnauthorized) {
		t.Fatalf("the live check without a session: %d %v\n%s", p.status, p.header, p.body)
	}

	// READ_ONLY checks samples live too, until the role is taken away.
	rita := consoleAdmin(t, h, "acme", "rita@acme.example", gatehouse.RoleReadOnly)
	ro := newBrowser(t, h)
	roCSRF := consoleCSRFOf(t, consoleSignIn(t, ro, "acme", "/console/acme/policies", "rita@acme.example"))
	roSample := url.Values{"csrf": {roCSRF}, "sample": {weak}}
	if p := check(ro, htmxRequest, roSample); !isFragment(p) || p.body != live.body {
		t.Fatalf("READ_ONLY's live check: %d\n%s", p.status, p.body)
	}
	if _, err := h.svc.SetRoles(ctx, service.OperatorActor(), "acme", rita.ID, nil); err != nil {
		t.Fatal(err)
	}
	if p := check(ro, htmxRequest, roSample); !refusedToPage(p, http.StatusForbidden) {
		t.Fatalf("the live check after the role was taken away: %d %v\n%s", p.status, p.header, p.body)
	}
}

// TestConsoleAssets: the console's stylesheet and its vendored htmx are
// served to anyone, with their types, for browsers to keep for an hour.
func TestConsoleAssets(t *testing.T) {
	h := newAPI(t)
	b := newBrowser(t, h)
	for file, want := range map[string]string{"console.css": "text/css; charset=utf-8", "htmx.min.js": "text/javascript; charset=utf-8"} {
		p := b.do("GET", "/console/acme/assets/"+file, nil)
		if p.status != 200 || p.header.Get("Content-Type") != want || p.header.Get("Cache-Control") != "public, max-age=3600" || len(p.body) < 1000 {
			t.Fatalf("%s: %d %v, %d bytes", file, p.status, p.header, len(p.body))
		}
	}
	if js := b.do("GET", "/console/acme/assets/htmx.min.js", nil); !strings.HasPrefix(js.body, "var htmx=") || !strings.Contains(js.body, `version:"2.`) {
		t.Fatalf("htmx.min.js is not htmx 2: %.100s", js.body)
	}
}
