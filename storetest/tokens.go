package storetest

// The OAuth and OIDC part of the contract: sign-on sessions, single-use
// authorization codes, refresh-token families, revoked access tokens, and
// the expiry sweep that removes all four.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// tokenTests are appended to Run's table.
var tokenTests = []struct {
	name string
	fn   func(t *testing.T, s gatehouse.Store)
}{
	{"SessionRoundTrip", testTokSessionRoundTrip},
	{"SessionMissingAndIsolated", testTokSessionIsolation},
	{"DeleteSession", testTokDeleteSession},
	{"DeleteUserDeletesTheirTokens", testTokDeleteUserCascades},
	{"DeleteUserSessions", testTokDeleteUserSessions},
	{"AuthorizationCodeSingleUse", testTokCodeSingleUse},
	{"AuthorizationCodeAccessToken", testTokCodeAccessToken},
	{"AuthorizationCodeMissingAndIsolated", testTokCodeIsolation},
	{"AuthorizationCodeConcurrentUse", testTokCodeConcurrentUse},
	{"AuthorizationCodeDuplicate", testTokCodeDuplicate},
	{"RefreshTokenRoundTrip", testTokRefreshRoundTrip},
	{"RefreshTokenSingleUse", testTokRefreshSingleUse},
	{"RefreshTokenConcurrentUse", testTokRefreshConcurrentUse},
	{"RevokeRefreshFamily", testTokRevokeFamily},
	{"RevokedAccessTokens", testTokRevokedAccessTokens},
	{"DeleteExpired", testTokDeleteExpired},
	{"DeleteEnvironmentRemovesTokens", testTokDeleteEnvironment},
}

// tokConcurrency is how many goroutines race to use one code or token.
const tokConcurrency = 20

// tokHash is a SHA-256 in hex, the form session ids and code and token
// hashes take.
func tokHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// tokEnv creates an environment with one user, who owns what the test
// creates there.
func tokEnv(t *testing.T, s gatehouse.Store, envID string) *gatehouse.User {
	t.Helper()
	newEnv(t, s, envID)
	return tokUser(t, s, envID, "owner", "")
}

// tokUser creates a user; id "" gives a new id.
func tokUser(t *testing.T, s gatehouse.Store, envID, username, id string) *gatehouse.User {
	t.Helper()
	u := newUser(envID, username)
	if id != "" {
		u.ID = id
	}
	must(t, s.CreateUser(context.Background(), u))
	return u
}

// tokSession is a session with every field set; key names it.
func tokSession(envID, userID, key string) *gatehouse.Session {
	t0 := now()
	return &gatehouse.Session{
		EnvironmentID: envID, ID: tokHash("session " + key), UserID: userID,
		AuthTime: t0.Add(-time.Minute), AMR: []string{"pwd", "otp"},
		ClientIP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) test/" + key,
		IdentityProviderID: "okta", UpstreamLogout: "id-token-hint." + key,
		CreatedOn: t0, ExpiresAt: t0.Add(8 * time.Hour),
	}
}

// tokCode is an unused authorization code with every other field set.
func tokCode(envID, userID, key string) *gatehouse.AuthorizationCode {
	t0 := now()
	return &gatehouse.AuthorizationCode{
		EnvironmentID: envID, Hash: tokHash("code " + key), ClientID: "client-" + key, UserID: userID,
		SessionID: tokHash("session " + key), RedirectURI: "https://app.example/cb?k=" + key,
		Scope: "openid profile email", Nonce: "nonce-" + key, CodeChallenge: tokHash("verifier " + key),
		CodeChallengeMethod: "S256", AuthTime: t0.Add(-time.Minute), AMR: []string{"pwd", "mfa"},
		ExpiresAt: t0.Add(time.Minute), AccessJTI: "jti-" + key, AccessExpiresAt: t0.Add(time.Hour),
	}
}

// tokRefresh is an unused, unrevoked refresh token of family with every
// other field set.
func tokRefresh(envID, userID, family, key string) *gatehouse.RefreshToken {
	t0 := now()
	return &gatehouse.RefreshToken{
		EnvironmentID: envID, Hash: tokHash("refresh " + key), FamilyID: family, ClientID: "client-" + key,
		UserID: userID, SessionID: tokHash("session " + key), Scope: "openid offline_access",
		AuthTime: t0.Add(-time.Minute), AMR: []string{"pwd"}, CreatedOn: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour),
	}
}

// tokAllFieldsSet fails unless every field of the struct v points to is
// set, except those named in skip: it keeps round-trip tests honest when
// fields are added.
func tokAllFieldsSet(t *testing.T, v any, skip ...string) {
	t.Helper()
	e := reflect.ValueOf(v).Elem()
	for i := 0; i < e.NumField(); i++ {
		if name := e.Type().Field(i).Name; !slices.Contains(skip, name) && e.Field(i).IsZero() {
			t.Fatalf("%T.%s is not set: the test must set it", v, name)
		}
	}
}

func tokTime(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.Format(time.RFC3339Nano)
}

// tokWantTime checks a UsedOn or RevokedOn.
func tokWantTime(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	if (got == nil) != (want == nil) || (got != nil && !got.Equal(*want)) {
		t.Fatalf("%s = %s, want %s", what, tokTime(got), tokTime(want))
	}
}

// tokFound reports whether err is nil, failing unless it is ENOTFOUND
// otherwise.
func tokFound(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	wantCode(t, err, gatehouse.ENOTFOUND)
	return false
}

func tokGetSession(t *testing.T, s gatehouse.Store, envID, id string) *gatehouse.Session {
	t.Helper()
	got, err := s.GetSession(context.Background(), envID, id)
	must(t, err)
	return got
}

func tokGetRefresh(t *testing.T, s gatehouse.Store, envID, hash string) *gatehouse.RefreshToken {
	t.Helper()
	got, err := s.GetRefreshToken(context.Background(), envID, hash)
	must(t, err)
	return got
}

// tokConcurrentUses runs tokConcurrency uses of one code or token at once,
// the i-th at its own time, and checks that exactly one saw it unused and
// every other saw the winner's time. It returns the winner's time.
func tokConcurrentUses(t *testing.T, use func(at time.Time) (*time.Time, error)) time.Time {
	t.Helper()
	base := now()
	ats := make([]time.Time, tokConcurrency)
	used := make([]*time.Time, tokConcurrency)
	errs := make([]error, tokConcurrency)
	for i := range ats {
		ats[i] = base.Add(time.Duration(i+1) * time.Millisecond)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tokConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			used[i], errs[i] = use(ats[i])
		}()
	}
	close(start)
	wg.Wait()
	var winners []int
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent use %d: %v", i, err)
		}
		if used[i] == nil {
			winners = append(winners, i)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent uses saw UsedOn nil, want exactly 1", len(winners), tokConcurrency)
	}
	won := ats[winners[0]]
	for i := range used {
		if i != winners[0] && !used[i].Equal(won) {
			t.Fatalf("concurrent use %d saw UsedOn %s, want the winning use's %s", i, tokTime(used[i]), tokTime(&won))
		}
	}
	return won
}

func testTokSessionRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	odd := time.Date(2001, 2, 3, 4, 5, 6, 789123000, time.UTC)
	cases := []struct {
		name string
		edit func(*gatehouse.Session)
	}{
		{"every field", func(*gatehouse.Session) {}},
		{"one AMR", func(x *gatehouse.Session) { x.AMR = []string{"pwd"} }},
		{"empty AMR", func(x *gatehouse.Session) { x.AMR = []string{} }},
		{"hostile text", func(x *gatehouse.Session) {
			x.ClientIP, x.UserAgent = "2001:db8::1", `o'brien"; DROP TABLE sessions; -- %_\ ünïcødé 🙂`
			x.AMR = []string{`"quoted"`, "ünï", `back\slash`}
		}},
		{"microseconds and far times", func(x *gatehouse.Session) {
			x.AuthTime = time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)
			x.CreatedOn, x.ExpiresAt = odd, time.Date(2999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := tokSession("acme", u.ID, tc.name)
			tc.edit(x)
			tokAllFieldsSet(t, x)
			must(t, s.CreateSession(ctx, x))
			if got := tokGetSession(t, s, "acme", x.ID); !reflect.DeepEqual(got, x) {
				t.Fatalf("GetSession =\n%+v\nwant\n%+v", got, x)
			}
			wantCode(t, s.CreateSession(ctx, x), gatehouse.ECONFLICT)
		})
	}
}

func testTokSessionIsolation(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", u.ID)
	x := tokSession("acme", u.ID, "a")
	must(t, s.CreateSession(ctx, x))

	for _, tc := range []struct{ env, id string }{{"acme", "missing"}, {"acme", ""}, {"globex", x.ID}, {"nowhere", x.ID}} {
		_, err := s.GetSession(ctx, tc.env, tc.id)
		wantCode(t, err, gatehouse.ENOTFOUND)
	}
	// Deleting it in another environment leaves it.
	must(t, s.DeleteSession(ctx, "globex", x.ID))
	tokGetSession(t, s, "acme", x.ID)

	// The same id in another environment is another session.
	y := tokSession("globex", twin.ID, "a")
	y.UserAgent = "globex's"
	must(t, s.CreateSession(ctx, y))
	if got := tokGetSession(t, s, "globex", y.ID); !reflect.DeepEqual(got, y) {
		t.Fatalf("GetSession(globex) =\n%+v\nwant\n%+v", got, y)
	}
	if got := tokGetSession(t, s, "acme", x.ID); !reflect.DeepEqual(got, x) {
		t.Fatalf("GetSession(acme) =\n%+v\nwant\n%+v", got, x)
	}
	must(t, s.DeleteSession(ctx, "acme", x.ID))
	tokGetSession(t, s, "globex", y.ID)
}

func testTokDeleteSession(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	gone, keep := tokSession("acme", u.ID, "gone"), tokSession("acme", u.ID, "keep")
	must(t, s.CreateSession(ctx, gone))
	must(t, s.CreateSession(ctx, keep))

	must(t, s.DeleteSession(ctx, "acme", gone.ID))
	_, err := s.GetSession(ctx, "acme", gone.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	if got := tokGetSession(t, s, "acme", keep.ID); !reflect.DeepEqual(got, keep) {
		t.Fatalf("the user's other session changed: %+v", got)
	}
	// Deleting is idempotent: a session already gone, or never there, is
	// not an error.
	must(t, s.DeleteSession(ctx, "acme", gone.ID))
	must(t, s.DeleteSession(ctx, "acme", "missing"))
	must(t, s.DeleteSession(ctx, "nowhere", "missing"))
	// The id can be used again.
	must(t, s.CreateSession(ctx, gone))
	tokGetSession(t, s, "acme", gone.ID)
}

func testTokDeleteUserCascades(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	tokEnv(t, s, "acme")
	gone, keep := tokUser(t, s, "acme", "gone", ""), tokUser(t, s, "acme", "keep", "")
	for _, u := range []*gatehouse.User{gone, keep} {
		must(t, s.CreateSession(ctx, tokSession("acme", u.ID, u.Username)))
		must(t, s.CreateAuthorizationCode(ctx, tokCode("acme", u.ID, u.Username)))
		must(t, s.CreateRefreshToken(ctx, tokRefresh("acme", u.ID, "family-"+u.Username, u.Username)))
	}
	must(t, s.DeleteUser(ctx, "acme", gone.ID))

	for _, u := range []*gatehouse.User{gone, keep} {
		want := u == keep
		_, err := s.GetSession(ctx, "acme", tokHash("session "+u.Username))
		if tokFound(t, err) != want {
			t.Errorf("after deleting user %q, %q's session found: %v", gone.Username, u.Username, !want)
		}
		_, err = s.GetRefreshToken(ctx, "acme", tokHash("refresh "+u.Username))
		if tokFound(t, err) != want {
			t.Errorf("after deleting user %q, %q's refresh token found: %v", gone.Username, u.Username, !want)
		}
		_, err = s.UseAuthorizationCode(ctx, "acme", tokHash("code "+u.Username), now())
		if tokFound(t, err) != want {
			t.Errorf("after deleting user %q, %q's authorization code found: %v", gone.Username, u.Username, !want)
		}
	}
}

func testTokDeleteUserSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	alice := tokEnv(t, s, "acme")
	bob := tokUser(t, s, "acme", "bob", "")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", alice.ID) // alice's id, another environment
	earlier, at := now().Add(-time.Hour), now().Add(time.Minute)

	sessions := []struct {
		env, userID, key string
		stays            bool
	}{
		{"acme", alice.ID, "alice-1", false},
		{"acme", alice.ID, "alice-2", false},
		{"acme", bob.ID, "bob-1", true},
		{"globex", twin.ID, "twin-1", true},
	}
	for _, x := range sessions {
		must(t, s.CreateSession(ctx, tokSession(x.env, x.userID, x.key)))
	}
	tokens := []struct {
		env, userID, key string
		used, revoked    *time.Time
		wantRevoked      *time.Time
	}{
		{"acme", alice.ID, "alice-fresh", nil, nil, &at},
		{"acme", alice.ID, "alice-used", &earlier, nil, &at},
		{"acme", alice.ID, "alice-revoked", &earlier, &earlier, &earlier},
		{"acme", bob.ID, "bob", nil, nil, nil},
		{"globex", twin.ID, "twin", nil, nil, nil},
	}
	for _, x := range tokens {
		r := tokRefresh(x.env, x.userID, "family-"+x.key, x.key)
		r.UsedOn, r.RevokedOn = x.used, x.revoked
		must(t, s.CreateRefreshToken(ctx, r))
	}

	must(t, s.DeleteUserSessions(ctx, "acme", alice.ID, at))
	for _, x := range sessions {
		_, err := s.GetSession(ctx, x.env, tokHash("session "+x.key))
		if tokFound(t, err) != x.stays {
			t.Errorf("session %s/%s: found %v, want %v", x.env, x.key, !x.stays, x.stays)
		}
	}
	for _, x := range tokens {
		got := tokGetRefresh(t, s, x.env, tokHash("refresh "+x.key))
		tokWantTime(t, fmt.Sprintf("refresh token %s/%s RevokedOn", x.env, x.key), got.RevokedOn, x.wantRevoked)
		tokWantTime(t, fmt.Sprintf("refresh token %s/%s UsedOn", x.env, x.key), got.UsedOn, x.used)
	}
	// Again, later: nothing left to end, and revocations keep their time.
	must(t, s.DeleteUserSessions(ctx, "acme", alice.ID, at.Add(time.Hour)))
	for _, x := range tokens {
		got := tokGetRefresh(t, s, x.env, tokHash("refresh "+x.key))
		tokWantTime(t, fmt.Sprintf("after a second call, refresh token %s/%s RevokedOn", x.env, x.key), got.RevokedOn, x.wantRevoked)
	}
	// A user without sessions is not an error.
	must(t, s.DeleteUserSessions(ctx, "acme", "missing", at))
}

// testTokCodeAccessToken: the access token a code was exchanged for is
// recorded with it and read back at the next use.
func testTokCodeAccessToken(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	c := tokCode("acme", u.ID, "b")
	c.AccessJTI, c.AccessExpiresAt = "", time.Time{}
	must(t, s.CreateAuthorizationCode(ctx, c))
	first, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, now())
	must(t, err)
	if first.AccessJTI != "" || !first.AccessExpiresAt.IsZero() {
		t.Fatalf("a new code names an access token: %q %v", first.AccessJTI, first.AccessExpiresAt)
	}
	exp := now().Add(time.Hour)
	must(t, s.SetCodeAccessToken(ctx, "acme", c.Hash, "jti-1", exp))
	again, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, now())
	must(t, err)
	if again.AccessJTI != "jti-1" || !again.AccessExpiresAt.Equal(exp) {
		t.Fatalf("the code's access token: %q %v", again.AccessJTI, again.AccessExpiresAt)
	}
	wantCode(t, s.SetCodeAccessToken(ctx, "globex", c.Hash, "jti-2", exp), gatehouse.ENOTFOUND)
}

func testTokCodeSingleUse(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	c := tokCode("acme", u.ID, "a")
	tokAllFieldsSet(t, c, "UsedOn")
	must(t, s.CreateAuthorizationCode(ctx, c))
	first := now()
	uses := []struct {
		name     string
		at       time.Time
		wantUsed *time.Time
	}{
		{"first use sees it unused", first, nil},
		{"second use sees the first's time", first.Add(time.Second), &first},
		{"later use still sees the first's time", first.Add(time.Hour), &first},
		{"use with an earlier time sees the first's time", first.Add(-time.Hour), &first},
	}
	for _, tc := range uses {
		got, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, tc.at)
		must(t, err)
		want := *c
		want.UsedOn = tc.wantUsed
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("%s: UseAuthorizationCode =\n%+v (UsedOn %s)\nwant\n%+v (UsedOn %s)",
				tc.name, got, tokTime(got.UsedOn), &want, tokTime(want.UsedOn))
		}
	}
}

func testTokCodeIsolation(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", u.ID)
	c := tokCode("acme", u.ID, "a")
	must(t, s.CreateAuthorizationCode(ctx, c))

	for _, tc := range []struct{ env, hash string }{{"acme", "missing"}, {"acme", ""}, {"globex", c.Hash}, {"nowhere", c.Hash}} {
		_, err := s.UseAuthorizationCode(ctx, tc.env, tc.hash, now())
		wantCode(t, err, gatehouse.ENOTFOUND)
	}
	// The same hash in another environment is another code, used apart.
	g := tokCode("globex", twin.ID, "a")
	g.Nonce = "globex's"
	must(t, s.CreateAuthorizationCode(ctx, g))
	at := now()
	got, err := s.UseAuthorizationCode(ctx, "globex", g.Hash, at)
	must(t, err)
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("UseAuthorizationCode(globex) =\n%+v\nwant\n%+v", got, g)
	}
	// Neither the failed uses nor globex's marked acme's code used.
	got, err = s.UseAuthorizationCode(ctx, "acme", c.Hash, at.Add(time.Second))
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("UseAuthorizationCode(acme) after other environments' uses =\n%+v (UsedOn %s)\nwant\n%+v", got, tokTime(got.UsedOn), c)
	}
	got, err = s.UseAuthorizationCode(ctx, "globex", g.Hash, at.Add(time.Hour))
	must(t, err)
	tokWantTime(t, "globex's code UsedOn", got.UsedOn, &at)
}

func testTokCodeConcurrentUse(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	c := tokCode("acme", u.ID, "race")
	must(t, s.CreateAuthorizationCode(ctx, c))
	won := tokConcurrentUses(t, func(at time.Time) (*time.Time, error) {
		got, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, at)
		if err != nil {
			return nil, err
		}
		return got.UsedOn, nil
	})
	got, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, now().Add(time.Hour))
	must(t, err)
	tokWantTime(t, "UsedOn after the race", got.UsedOn, &won)
}

func testTokCodeDuplicate(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", u.ID)
	c := tokCode("acme", u.ID, "a")
	must(t, s.CreateAuthorizationCode(ctx, c))
	wantCode(t, s.CreateAuthorizationCode(ctx, c), gatehouse.ECONFLICT)
	other := tokCode("acme", u.ID, "b")
	other.Hash = c.Hash
	wantCode(t, s.CreateAuthorizationCode(ctx, other), gatehouse.ECONFLICT)
	// The same hash in another environment is no conflict.
	must(t, s.CreateAuthorizationCode(ctx, tokCode("globex", twin.ID, "a")))
	// The refused creates changed nothing.
	got, err := s.UseAuthorizationCode(ctx, "acme", c.Hash, now())
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("code after refused duplicates =\n%+v\nwant\n%+v", got, c)
	}
}

func testTokRefreshRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	tokUser(t, s, "globex", "owner", u.ID)
	used, revoked := now().Add(-time.Hour), now().Add(-time.Minute)
	cases := []struct {
		name string
		edit func(*gatehouse.RefreshToken)
	}{
		{"fresh", func(*gatehouse.RefreshToken) {}},
		{"used", func(r *gatehouse.RefreshToken) { r.UsedOn = &used }},
		{"used and revoked", func(r *gatehouse.RefreshToken) { r.UsedOn, r.RevokedOn = &used, &revoked }},
		{"empty AMR", func(r *gatehouse.RefreshToken) { r.AMR = []string{} }},
		{"microseconds", func(r *gatehouse.RefreshToken) {
			r.AuthTime = time.Date(2001, 2, 3, 4, 5, 6, 1000, time.UTC)
			r.CreatedOn = time.Date(2001, 2, 3, 4, 5, 6, 999999000, time.UTC)
		}},
	}
	// "used and revoked" sets every field.
	every := tokRefresh("acme", u.ID, "family", "every")
	cases[2].edit(every)
	tokAllFieldsSet(t, every)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tokRefresh("acme", u.ID, "family", tc.name)
			tc.edit(r)
			must(t, s.CreateRefreshToken(ctx, r))
			if got := tokGetRefresh(t, s, "acme", r.Hash); !reflect.DeepEqual(got, r) {
				t.Fatalf("GetRefreshToken =\n%+v\nwant\n%+v", got, r)
			}
			wantCode(t, s.CreateRefreshToken(ctx, r), gatehouse.ECONFLICT)
			_, err := s.GetRefreshToken(ctx, "globex", r.Hash)
			wantCode(t, err, gatehouse.ENOTFOUND)
		})
	}
	_, err := s.GetRefreshToken(ctx, "acme", "missing")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testTokRefreshSingleUse(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", u.ID)
	r := tokRefresh("acme", u.ID, "family", "a")
	must(t, s.CreateRefreshToken(ctx, r))

	for _, tc := range []struct{ env, hash string }{{"acme", "missing"}, {"globex", r.Hash}, {"nowhere", r.Hash}} {
		_, err := s.UseRefreshToken(ctx, tc.env, tc.hash, now())
		wantCode(t, err, gatehouse.ENOTFOUND)
	}
	// The same hash in another environment is another token, used apart.
	g := tokRefresh("globex", twin.ID, "family", "a")
	must(t, s.CreateRefreshToken(ctx, g))
	defer func() {
		if got := tokGetRefresh(t, s, "globex", g.Hash); !reflect.DeepEqual(got, g) {
			t.Fatalf("using acme's token changed globex's token with the same hash:\n%+v (UsedOn %s)\nwant\n%+v",
				got, tokTime(got.UsedOn), g)
		}
	}()
	first := now()
	uses := []struct {
		name     string
		at       time.Time
		wantUsed *time.Time
	}{
		{"first use sees it unused", first, nil},
		{"second use sees the first's time", first.Add(time.Second), &first},
		{"later use still sees the first's time", first.Add(time.Hour), &first},
	}
	for _, tc := range uses {
		got, err := s.UseRefreshToken(ctx, "acme", r.Hash, tc.at)
		must(t, err)
		want := *r
		want.UsedOn = tc.wantUsed
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("%s: UseRefreshToken =\n%+v (UsedOn %s)\nwant\n%+v (UsedOn %s)",
				tc.name, got, tokTime(got.UsedOn), &want, tokTime(want.UsedOn))
		}
		stored := tokGetRefresh(t, s, "acme", r.Hash)
		want.UsedOn = &first
		if !reflect.DeepEqual(stored, &want) {
			t.Fatalf("%s: stored token =\n%+v (UsedOn %s)\nwant\n%+v (UsedOn %s)",
				tc.name, stored, tokTime(stored.UsedOn), &want, tokTime(want.UsedOn))
		}
	}
}

func testTokRefreshConcurrentUse(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	r := tokRefresh("acme", u.ID, "family", "race")
	must(t, s.CreateRefreshToken(ctx, r))
	won := tokConcurrentUses(t, func(at time.Time) (*time.Time, error) {
		got, err := s.UseRefreshToken(ctx, "acme", r.Hash, at)
		if err != nil {
			return nil, err
		}
		return got.UsedOn, nil
	})
	got := tokGetRefresh(t, s, "acme", r.Hash)
	tokWantTime(t, "UsedOn after the race", got.UsedOn, &won)
	tokWantTime(t, "RevokedOn after the race", got.RevokedOn, nil)
}

func testTokRevokeFamily(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := tokEnv(t, s, "acme")
	newEnv(t, s, "globex")
	twin := tokUser(t, s, "globex", "owner", u.ID)
	earlier, at := now().Add(-time.Hour), now()

	tokens := []struct {
		env, userID, family, key string
		used, revoked            *time.Time
		wantRevoked              *time.Time
	}{
		{"acme", u.ID, "F", "f-used", &earlier, nil, &at},
		{"acme", u.ID, "F", "f-fresh", nil, nil, &at},
		{"acme", u.ID, "F", "f-revoked", &earlier, &earlier, &earlier}, // revoked once, at its time
		{"acme", u.ID, "G", "g-fresh", nil, nil, nil},
		{"globex", twin.ID, "F", "globex-f", nil, nil, nil},
	}
	for _, x := range tokens {
		r := tokRefresh(x.env, x.userID, x.family, x.key)
		r.UsedOn, r.RevokedOn = x.used, x.revoked
		must(t, s.CreateRefreshToken(ctx, r))
	}
	check := func(when string) {
		t.Helper()
		for _, x := range tokens {
			got := tokGetRefresh(t, s, x.env, tokHash("refresh "+x.key))
			tokWantTime(t, fmt.Sprintf("%s, %s/%s RevokedOn", when, x.env, x.key), got.RevokedOn, x.wantRevoked)
			tokWantTime(t, fmt.Sprintf("%s, %s/%s UsedOn", when, x.env, x.key), got.UsedOn, x.used)
		}
	}
	must(t, s.RevokeRefreshFamily(ctx, "acme", "F", at))
	check("after revoking acme's family F")
	must(t, s.RevokeRefreshFamily(ctx, "acme", "F", at.Add(time.Hour)))
	check("after revoking it again later")
}

func testTokRevokedAccessTokens(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	exp := now().Add(time.Hour)
	want := func(when string, revoked map[[2]string]bool) {
		t.Helper()
		for _, env := range []string{"acme", "globex"} {
			for _, jti := range []string{"j1", "j2"} {
				got, err := s.IsAccessTokenRevoked(ctx, env, jti)
				must(t, err)
				if got != revoked[[2]string{env, jti}] {
					t.Fatalf("%s: IsAccessTokenRevoked(%s, %s) = %v", when, env, jti, got)
				}
			}
		}
	}
	want("before any revocation", nil)
	must(t, s.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: "acme", JTI: "j1", ExpiresAt: exp}))
	want("after revoking acme/j1", map[[2]string]bool{{"acme", "j1"}: true})
	must(t, s.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: "acme", JTI: "j1", ExpiresAt: exp}))
	must(t, s.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: "acme", JTI: "j1", ExpiresAt: exp.Add(time.Hour)}))
	want("after revoking acme/j1 twice more", map[[2]string]bool{{"acme", "j1"}: true})
	must(t, s.RevokeAccessToken(ctx, &gatehouse.RevokedToken{EnvironmentID: "globex", JTI: "j2", ExpiresAt: exp}))
	want("after revoking globex/j2", map[[2]string]bool{{"acme", "j1"}: true, {"globex", "j2"}: true})
	got, err := s.IsAccessTokenRevoked(ctx, "nowhere", "j1")
	must(t, err)
	if got {
		t.Fatal("a missing environment's token is revoked")
	}
}

// tokKinds are the four things the token repository keeps, each made with
// an expiry and looked up by key. exists may mark a code used.
var tokKinds = []struct {
	name   string
	create func(t *testing.T, s gatehouse.Store, envID, userID, key string, expires time.Time)
	exists func(t *testing.T, s gatehouse.Store, envID, key string) bool
}{
	{"session",
		func(t *testing.T, s gatehouse.Store, envID, userID, key string, expires time.Time) {
			x := tokSession(envID, userID, key)
			x.ExpiresAt = expires
			must(t, s.CreateSession(context.Background(), x))
		},
		func(t *testing.T, s gatehouse.Store, envID, key string) bool {
			_, err := s.GetSession(context.Background(), envID, tokHash("session "+key))
			return tokFound(t, err)
		}},
	{"authorization code",
		func(t *testing.T, s gatehouse.Store, envID, userID, key string, expires time.Time) {
			c := tokCode(envID, userID, key)
			c.ExpiresAt = expires
			must(t, s.CreateAuthorizationCode(context.Background(), c))
		},
		func(t *testing.T, s gatehouse.Store, envID, key string) bool {
			_, err := s.UseAuthorizationCode(context.Background(), envID, tokHash("code "+key), now())
			return tokFound(t, err)
		}},
	{"refresh token",
		func(t *testing.T, s gatehouse.Store, envID, userID, key string, expires time.Time) {
			r := tokRefresh(envID, userID, "family-"+key, key)
			r.ExpiresAt = expires
			must(t, s.CreateRefreshToken(context.Background(), r))
		},
		func(t *testing.T, s gatehouse.Store, envID, key string) bool {
			_, err := s.GetRefreshToken(context.Background(), envID, tokHash("refresh "+key))
			return tokFound(t, err)
		}},
	{"revoked access token",
		func(t *testing.T, s gatehouse.Store, envID, userID, key string, expires time.Time) {
			must(t, s.RevokeAccessToken(context.Background(), &gatehouse.RevokedToken{EnvironmentID: envID, JTI: key, ExpiresAt: expires}))
		},
		func(t *testing.T, s gatehouse.Store, envID, key string) bool {
			revoked, err := s.IsAccessTokenRevoked(context.Background(), envID, key)
			must(t, err)
			return revoked
		}},
}

func testTokDeleteExpired(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	at := now()
	expiries := []struct {
		offset time.Duration
		gone   bool
	}{
		{-30 * 24 * time.Hour, true},
		{-time.Microsecond, true},
		{0, false},
		{time.Microsecond, false},
		{time.Hour, false},
	}
	envs := []string{"acme", "globex"}
	owners := map[string]string{}
	var wantRemoved int64
	for _, env := range envs {
		owners[env] = tokEnv(t, s, env).ID
		for _, k := range tokKinds {
			for i, e := range expiries {
				k.create(t, s, env, owners[env], fmt.Sprintf("%s-%d", k.name, i), at.Add(e.offset))
				if e.gone {
					wantRemoved++
				}
			}
		}
	}
	n, err := s.DeleteExpired(ctx, at)
	must(t, err)
	if n != wantRemoved {
		t.Errorf("DeleteExpired removed %d, want %d", n, wantRemoved)
	}
	n, err = s.DeleteExpired(ctx, at)
	must(t, err)
	if n != 0 {
		t.Errorf("DeleteExpired again removed %d, want 0", n)
	}
	for _, env := range envs {
		for _, k := range tokKinds {
			for i, e := range expiries {
				if got := k.exists(t, s, env, fmt.Sprintf("%s-%d", k.name, i)); got == e.gone {
					t.Errorf("%s %s expiring at %s (%v from the sweep's time): found %v after DeleteExpired, want %v",
						env, k.name, at.Add(e.offset).Format(time.RFC3339Nano), e.offset, got, !e.gone)
				}
			}
		}
	}
}

func testTokDeleteEnvironment(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	exp := now().Add(time.Hour)
	owner := tokEnv(t, s, "acme")
	for _, u := range []*gatehouse.User{owner, tokEnv(t, s, "globex")} {
		for _, k := range tokKinds {
			k.create(t, s, u.EnvironmentID, u.ID, k.name, exp)
		}
	}
	rc, counts := s.(RowCounter)
	if counts {
		before, err := rc.EnvironmentRowCounts(ctx, "acme")
		must(t, err)
		for _, table := range []string{"sessions", "authorization_codes", "refresh_tokens", "revoked_tokens"} {
			if before[table] == 0 {
				t.Fatalf("acme has no row in %s: the check would prove nothing (counts %v)", table, before)
			}
		}
	}
	must(t, s.DeleteEnvironment(ctx, "acme"))
	if counts {
		after, err := rc.EnvironmentRowCounts(ctx, "acme")
		must(t, err)
		for table, n := range after {
			if n != 0 {
				t.Errorf("%d rows of the deleted environment remain in %s", n, table)
			}
		}
	}
	// A new environment with the same id, and a user with the same id,
	// start with nothing.
	newEnv(t, s, "acme")
	tokUser(t, s, "acme", "owner", owner.ID)
	for _, k := range tokKinds {
		if k.exists(t, s, "acme", k.name) {
			t.Errorf("the re-created environment has the deleted one's %s", k.name)
		}
		if !k.exists(t, s, "globex", k.name) {
			t.Errorf("deleting acme removed globex's %s", k.name)
		}
	}
}
