package storetest

// The directory part of the contract: user listing and filters, updates and
// deletes, the lockout counter, password history, role definitions, full
// applications, and the hash-chained audit log.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// directoryTests are appended to Run's table.
var directoryTests = []struct {
	name string
	fn   func(t *testing.T, s gatehouse.Store)
}{
	{"ListUsersPaging", testDirListUsersPaging},
	{"ListUsersFilters", testDirListUsersFilters},
	{"ListUsersTimeRanges", testDirListUsersTimeRanges},
	{"ListUsersLoadsRoles", testDirListUsersLoadsRoles},
	{"ListUsersPlans", testDirListUsersPlans},
	{"UpdateUserEveryField", testDirUpdateUserEveryField},
	{"UpdateUserConflictsAndMissing", testDirUpdateUserConflicts},
	{"UserWritesAreAtomic", testDirUserWritesAtomic},
	{"DeleteUser", testDirDeleteUser},
	{"RegisterFailedAttempt", testDirRegisterFailedAttempt},
	{"RegisterFailedAttemptConcurrent", testDirRegisterFailedAttemptConcurrent},
	{"PasswordHistory", testDirPasswordHistory},
	{"Roles", testDirRoles},
	{"DeleteRoleUnassignsIt", testDirDeleteRole},
	{"ApplicationsCRUD", testDirApplications},
	{"UpdateApplicationDuplicateClientID", testDirUpdateApplicationConflict},
	{"AuditChain", testDirAuditChain},
	{"AuditBatch", testDirAuditBatch},
	{"SubstringSearchFollowsWrites", testDirSubstringSearch},
	{"ListUsersInTimeOrder", testDirListUsersInTimeOrder},
	{"AuditConcurrentAppends", testDirAuditConcurrentAppends},
	{"AuditAppendRollsBack", testDirAuditAppendRollsBack},
	{"AuditListFilters", testDirAuditList},
	{"AuditWalkLarge", testDirAuditWalkLarge},
	{"AuditHeadEmptyAndDeleted", testDirAuditHeadAndDelete},
}

// dirLimit is a page size larger than any test's data.
const dirLimit = 1000

// dirCreateUser creates a user of newUser's defaults after edit.
func dirCreateUser(t *testing.T, s gatehouse.Store, envID, username string, edit func(*gatehouse.User)) *gatehouse.User {
	t.Helper()
	u := newUser(envID, username)
	if edit != nil {
		edit(u)
	}
	must(t, s.CreateUser(context.Background(), u))
	return u
}

func dirGetUser(t *testing.T, s gatehouse.Store, envID, id string) *gatehouse.User {
	t.Helper()
	u, err := s.GetUser(context.Background(), envID, id)
	must(t, err)
	return u
}

// dirWantUser checks that the stored user is exactly want.
func dirWantUser(t *testing.T, s gatehouse.Store, want *gatehouse.User) {
	t.Helper()
	got := dirGetUser(t, s, want.EnvironmentID, want.ID)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored user =\n%+v\nwant\n%+v", got, want)
	}
}

func dirUserIDs(users []*gatehouse.User) []string {
	ids := []string{}
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	return ids
}

// dirSortedIDs returns the users' ids in the order ListUsers pages them.
func dirSortedIDs(users ...*gatehouse.User) []string {
	ids := dirUserIDs(users)
	sort.Strings(ids)
	return ids
}

// dirAllFieldsDiffer fails unless every field of a and b (structs of one
// type, embedded structs looked into) differs, except those named in skip:
// it keeps "every field" tests honest when fields are added.
func dirAllFieldsDiffer(t *testing.T, a, b any, skip ...string) {
	t.Helper()
	var walk func(a, b reflect.Value)
	walk = func(a, b reflect.Value) {
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			if slices.Contains(skip, f.Name) {
				continue
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(a.Field(i), b.Field(i))
				continue
			}
			if reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
				t.Fatalf("field %s is the same before and after the update: the test must change it", f.Name)
			}
		}
	}
	walk(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

func testDirListUsersPaging(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	var all []*gatehouse.User
	for i := range 23 {
		all = append(all, dirCreateUser(t, s, "acme", fmt.Sprintf("user-%02d", i), nil))
		if i%4 == 0 {
			dirCreateUser(t, s, "globex", fmt.Sprintf("user-%02d", i), nil)
		}
	}
	want := dirSortedIDs(all...)
	for _, limit := range []int{1, 4, 23, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var seen []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("paging does not end: seen %d users", len(seen))
				}
				page, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{After: after, Limit: limit}))
				must(t, err)
				if len(page) > limit {
					t.Fatalf("page of %d users, limit %d", len(page), limit)
				}
				if len(page) == 0 {
					break
				}
				seen = append(seen, dirUserIDs(page)...)
				after = page[len(page)-1].ID
			}
			if !reflect.DeepEqual(seen, want) {
				t.Fatalf("paged ids\n%v\nwant (id order, no dupes, no gaps)\n%v", seen, want)
			}
		})
	}
	// A page starting inside the list starts right after the given id.
	page, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{After: want[9], Limit: 3}))
	must(t, err)
	if got := dirUserIDs(page); !reflect.DeepEqual(got, want[10:13]) {
		t.Fatalf("page after %s = %v, want %v", want[9], got, want[10:13])
	}
	page, err = usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{After: want[len(want)-1], Limit: 3}))
	must(t, err)
	if len(page) != 0 {
		t.Fatalf("page after the last id has %d users", len(page))
	}
}

func testDirListUsersFilters(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	mk := func(username, first, last, email, typ, status string) *gatehouse.User {
		return dirCreateUser(t, s, "acme", username, func(u *gatehouse.User) {
			u.FirstName, u.LastName, u.PrimaryEmail, u.Type, u.Status = first, last, email, typ, status
		})
	}
	const retailer, admin, location = gatehouse.UserTypeRetailer, gatehouse.UserTypeAdmin, gatehouse.UserTypeLocation
	const active, inactive = gatehouse.UserActive, gatehouse.UserInactive
	alice := mk("Alice.Smith@Example.com", "Alice", "Smith", "Alice.Smith@Example.COM", admin, active)
	alicia := mk("alicia", "Alicia", "Smithers", "alicia@other.example", retailer, inactive)
	bob := mk("bob", "Bob", "Smith", "bob@example.com", retailer, active)
	aUb := mk("a_b", "Ann", "O'Brien", "ann@example.org", retailer, active)
	axb := mk("axb", "Axel", "Bee", "axel@example.org", retailer, active)
	aBsb := mk(`a\b`, "Back", "Slash", `back\slash@example.org`, retailer, active)
	malice := mk("malice", "Mal", "Ice", "mal@example.net", location, active)
	emile := mk("Émile", "Émile", "Ödegaard", "Émile@Example.fr", retailer, active)
	everyone := []*gatehouse.User{alice, alicia, bob, aUb, axb, aBsb, malice, emile}
	// The same names in another environment never show up.
	for _, u := range everyone {
		o := *u
		o.EnvironmentID, o.ID, o.Ref, o.Roles = "globex", gatehouse.NewID(), "", []gatehouse.RoleAssignment{}
		must(t, s.CreateUser(ctx, &o))
	}
	users := func(us ...*gatehouse.User) []*gatehouse.User { return us }
	cases := []struct {
		name string
		f    gatehouse.UserFilter
		want []*gatehouse.User
	}{
		{"no filter", gatehouse.UserFilter{}, everyone},
		{"username exact", gatehouse.UserFilter{Username: "Alice.Smith@Example.com"}, users(alice)},
		{"username exact other case", gatehouse.UserFilter{Username: "ALICE.SMITH@example.COM"}, users(alice)},
		{"username exact non-ASCII other case", gatehouse.UserFilter{Username: "éMILE"}, users(emile)},
		{"username exact no partial match", gatehouse.UserFilter{Username: "alice"}, nil},
		{"username prefix", gatehouse.UserFilter{Username: "ALIC%"}, users(alice, alicia)},
		{"username suffix", gatehouse.UserFilter{Username: "%ICE"}, users(malice)},
		{"username infix", gatehouse.UserFilter{Username: "%lIc%"}, users(alice, alicia, malice)},
		{"username non-ASCII prefix other case", gatehouse.UserFilter{Username: "ÉMI%"}, users(emile)},
		{"username % alone", gatehouse.UserFilter{Username: "%"}, everyone},
		{"username wildcard spans _ and \\", gatehouse.UserFilter{Username: "a%b"}, users(aUb, axb, aBsb)},
		{"username _ literal", gatehouse.UserFilter{Username: "a_b"}, users(aUb)},
		{"username _ literal with %", gatehouse.UserFilter{Username: "a_%"}, users(aUb)},
		{"username _ literal inside %", gatehouse.UserFilter{Username: "%_%"}, users(aUb)},
		{"username \\ literal", gatehouse.UserFilter{Username: `a\b`}, users(aBsb)},
		{"username \\ literal with %", gatehouse.UserFilter{Username: `a\%`}, users(aBsb)},
		{"username \\ literal before %", gatehouse.UserFilter{Username: `%\b`}, users(aBsb)},
		{"username \\ does not escape %", gatehouse.UserFilter{Username: `a\%b`}, users(aBsb)},
		{"username no match", gatehouse.UserFilter{Username: "nobody"}, nil},
		{"first name exact", gatehouse.UserFilter{FirstName: "Alice"}, users(alice)},
		{"first name exact is case-sensitive", gatehouse.UserFilter{FirstName: "alice"}, nil},
		{"first name exact no partial match", gatehouse.UserFilter{FirstName: "Ali"}, nil},
		{"first name prefix any case", gatehouse.UserFilter{FirstName: "aLI%"}, users(alice, alicia)},
		{"first name suffix any case", gatehouse.UserFilter{FirstName: "%CIA"}, users(alicia)},
		{"first name non-ASCII exact", gatehouse.UserFilter{FirstName: "Émile"}, users(emile)},
		{"first name non-ASCII prefix other case", gatehouse.UserFilter{FirstName: "émi%"}, users(emile)},
		{"last name exact", gatehouse.UserFilter{LastName: "Smith"}, users(alice, bob)},
		{"last name exact is case-sensitive", gatehouse.UserFilter{LastName: "smith"}, nil},
		{"last name prefix any case", gatehouse.UserFilter{LastName: "smith%"}, users(alice, alicia, bob)},
		{"last name infix with quote", gatehouse.UserFilter{LastName: "%'b%"}, users(aUb)},
		{"email exact", gatehouse.UserFilter{PrimaryEmail: "Alice.Smith@Example.COM"}, users(alice)},
		{"email exact other case", gatehouse.UserFilter{PrimaryEmail: "alice.smith@example.com"}, users(alice)},
		{"email exact non-ASCII other case", gatehouse.UserFilter{PrimaryEmail: "émile@example.FR"}, users(emile)},
		{"email suffix any case", gatehouse.UserFilter{PrimaryEmail: "%@EXAMPLE.com"}, users(alice, bob)},
		{"email infix", gatehouse.UserFilter{PrimaryEmail: "%example%"}, users(alice, alicia, bob, aUb, axb, aBsb, malice, emile)},
		{"email \\ literal", gatehouse.UserFilter{PrimaryEmail: `%k\s%`}, users(aBsb)},
		{"type", gatehouse.UserFilter{Type: admin}, users(alice)},
		{"type other", gatehouse.UserFilter{Type: location}, users(malice)},
		{"status", gatehouse.UserFilter{Status: inactive}, users(alicia)},
		{"status active", gatehouse.UserFilter{Status: active}, users(alice, bob, aUb, axb, aBsb, malice, emile)},
		{"username and status", gatehouse.UserFilter{Username: "alic%", Status: active}, users(alice)},
		{"last name and type", gatehouse.UserFilter{LastName: "Smith", Type: retailer}, users(bob)},
		{"first, last and email", gatehouse.UserFilter{FirstName: "ali%", LastName: "%smith%", PrimaryEmail: "%.example"}, users(alicia)},
		{"every text filter", gatehouse.UserFilter{Username: "%smith%", FirstName: "Alice", LastName: "Smith", PrimaryEmail: "ALICE%", Type: admin, Status: active}, users(alice)},
		{"combination matching none", gatehouse.UserFilter{Username: "%", Type: admin, Status: inactive}, nil},
		{"injection in username", gatehouse.UserFilter{Username: "' OR '1'='1"}, nil},
		{"injection in username pattern", gatehouse.UserFilter{Username: "%' OR 1=1 --"}, nil},
		{"injection in first name", gatehouse.UserFilter{FirstName: `"; DROP TABLE users; --`}, nil},
		{"injection in last name", gatehouse.UserFilter{LastName: "') OR ('x'='x"}, nil},
		{"injection in email", gatehouse.UserFilter{PrimaryEmail: "x' UNION SELECT * FROM users --"}, nil},
		{"injection in type", gatehouse.UserFilter{Type: "RETAILER' OR 'a'='a"}, nil},
		{"injection in status", gatehouse.UserFilter{Status: "ACTIVE'; DELETE FROM users; --"}, nil},
		{"injection in after", gatehouse.UserFilter{After: "' OR 1=1 --"}, everyone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.Limit = dirLimit
			got, err := usersOf(s.ListUsers(ctx, "acme", f))
			must(t, err)
			if g, w := dirUserIDs(got), dirSortedIDs(tc.want...); !reflect.DeepEqual(g, w) {
				t.Fatalf("ListUsers(%+v) = %v, want %v", f, dirNames(got), dirNames(dirByID(tc.want)))
			}
		})
	}
	// Nothing was dropped or deleted along the way.
	got, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{Limit: dirLimit}))
	must(t, err)
	if len(got) != len(everyone) {
		t.Fatalf("after the filters acme has %d users, want %d", len(got), len(everyone))
	}
}

func dirByID(users []*gatehouse.User) []*gatehouse.User {
	users = slices.Clone(users)
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return users
}

func dirNames(users []*gatehouse.User) []string {
	names := []string{}
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

func testDirListUsersTimeRanges(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now().Add(-time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	// u[i] was created at at(i) and updated at at(10-i): the two orders differ.
	var u []*gatehouse.User
	for i := range 5 {
		u = append(u, dirCreateUser(t, s, "acme", fmt.Sprintf("u%d", i), func(x *gatehouse.User) {
			x.CreatedOn, x.UpdatedOn = at(i), at(10-i)
		}))
		dirCreateUser(t, s, "globex", fmt.Sprintf("u%d", i), func(x *gatehouse.User) {
			x.CreatedOn, x.UpdatedOn = at(i), at(10-i)
		})
	}
	p := func(x time.Time) *time.Time { return &x }
	us := func(is ...int) []*gatehouse.User {
		var out []*gatehouse.User
		for _, i := range is {
			out = append(out, u[i])
		}
		return out
	}
	cases := []struct {
		name string
		f    gatehouse.UserFilter
		want []*gatehouse.User
	}{
		{"created from is inclusive", gatehouse.UserFilter{CreatedFrom: p(at(1))}, us(1, 2, 3, 4)},
		{"created from just after", gatehouse.UserFilter{CreatedFrom: p(at(1).Add(time.Microsecond))}, us(2, 3, 4)},
		{"created to is exclusive", gatehouse.UserFilter{CreatedTo: p(at(3))}, us(0, 1, 2)},
		{"created to just after", gatehouse.UserFilter{CreatedTo: p(at(3).Add(time.Microsecond))}, us(0, 1, 2, 3)},
		{"created range", gatehouse.UserFilter{CreatedFrom: p(at(1)), CreatedTo: p(at(3))}, us(1, 2)},
		{"created empty range", gatehouse.UserFilter{CreatedFrom: p(at(2)), CreatedTo: p(at(2))}, nil},
		{"created one microsecond", gatehouse.UserFilter{CreatedFrom: p(at(2)), CreatedTo: p(at(2).Add(time.Microsecond))}, us(2)},
		{"created before all", gatehouse.UserFilter{CreatedTo: p(at(0))}, nil},
		{"created after all", gatehouse.UserFilter{CreatedFrom: p(at(4).Add(time.Microsecond))}, nil},
		{"updated from is inclusive", gatehouse.UserFilter{UpdatedFrom: p(at(8))}, us(0, 1, 2)},
		{"updated to is exclusive", gatehouse.UserFilter{UpdatedTo: p(at(8))}, us(3, 4)},
		{"updated range", gatehouse.UserFilter{UpdatedFrom: p(at(7)), UpdatedTo: p(at(9))}, us(2, 3)},
		{"updated one microsecond", gatehouse.UserFilter{UpdatedFrom: p(at(6)), UpdatedTo: p(at(6).Add(time.Microsecond))}, us(4)},
		{"created and updated", gatehouse.UserFilter{CreatedFrom: p(at(1)), UpdatedFrom: p(at(8))}, us(1, 2)},
		{"all four", gatehouse.UserFilter{CreatedFrom: p(at(1)), CreatedTo: p(at(4)), UpdatedFrom: p(at(7)), UpdatedTo: p(at(9))}, us(2, 3)},
		{"time and status", gatehouse.UserFilter{CreatedFrom: p(at(0)), Status: gatehouse.UserInactive}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.Limit = dirLimit
			got, err := usersOf(s.ListUsers(ctx, "acme", f))
			must(t, err)
			if g, w := dirUserIDs(got), dirSortedIDs(tc.want...); !reflect.DeepEqual(g, w) {
				t.Fatalf("ListUsers = %v, want %v", dirNames(got), dirNames(dirByID(tc.want)))
			}
		})
	}
}

func testDirListUsersLoadsRoles(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	loc := func(id string) *gatehouse.RoleContext { return &gatehouse.RoleContext{Type: "LOCATION", ID: id} }
	// Roles in the order the store returns them: by role, then context.
	many := dirCreateUser(t, s, "acme", "many", func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "STORE_ASSISTANT", Context: loc("l1")}, {Role: "STORE_ASSISTANT", Context: loc("l2")}}
	})
	none := dirCreateUser(t, s, "acme", "none", nil)
	one := dirCreateUser(t, s, "acme", "one", func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: gatehouse.RoleUserAdmin}}
	})
	// A user of another environment with the same id as "none" has roles
	// that must not leak into acme.
	dirCreateUser(t, s, "globex", "none", func(u *gatehouse.User) {
		u.ID = none.ID
		u.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: gatehouse.RoleReadOnly}}
	})
	want := dirByID([]*gatehouse.User{many, none, one})

	check := func(t *testing.T, got, want []*gatehouse.User) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("listed %v, want %v", dirNames(got), dirNames(want))
		}
		for i := range got {
			if got[i].Roles == nil {
				t.Fatalf("user %s listed with nil roles, want an empty slice", got[i].Username)
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("listed user =\n%+v\nwant\n%+v", got[i], want[i])
			}
			if stored := dirGetUser(t, s, "acme", got[i].ID); !reflect.DeepEqual(got[i], stored) {
				t.Fatalf("listed user differs from GetUser:\n%+v\n%+v", got[i], stored)
			}
		}
	}
	t.Run("one page", func(t *testing.T) {
		got, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{Limit: dirLimit}))
		must(t, err)
		check(t, got, want)
	})
	t.Run("page by page", func(t *testing.T) {
		after := ""
		for i := range want {
			got, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{After: after, Limit: 1}))
			must(t, err)
			check(t, got, want[i:i+1])
			after = got[0].ID
		}
	})
	t.Run("filtered", func(t *testing.T) {
		got, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{Username: "n%", Limit: dirLimit}))
		must(t, err)
		check(t, got, []*gatehouse.User{none})
		if len(got[0].Roles) != 0 {
			t.Fatalf("user without roles listed with %+v", got[0].Roles)
		}
	})
}

func testDirUpdateUserEveryField(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	base := now()
	signOn, changed, locked := base.Add(-time.Hour), base.Add(-48*time.Hour), base.Add(15*time.Minute)
	orig := dirCreateUser(t, s, "acme", "jane", func(u *gatehouse.User) {
		u.Ref, u.Title, u.FirstName, u.LastName = "ref-1", "Ms", "Jane", "Doe"
		u.PrimaryEmail, u.PrimaryPhone = "jane@corp.example", "+61 400 000 000"
		u.Timezone, u.Language, u.Department, u.Country = "Australia/Sydney", "en-AU", "IT", "AU"
		u.PrimaryRetailer, u.PrimaryLocation = "r1", "l1"
		u.Attributes = []gatehouse.Attribute{{Name: "badge", Type: "STRING", Value: "42"}}
		u.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}}
		u.PasswordState, u.PasswordHash, u.PasswordChangedOn = gatehouse.PasswordOK, "$argon2id$old", &changed
		u.LastSignOn, u.LockedUntil, u.FailedAttempts = &signOn, &locked, 2
	})
	before := *orig

	signOn2, changed2, locked2 := base.Add(-time.Minute), base.Add(-time.Second), base.Add(time.Hour+time.Microsecond)
	u := &gatehouse.User{
		EnvironmentID: "acme", ID: orig.ID, Ref: "ref-2", Username: "Jane.Smith", Title: "Dr",
		FirstName: "Janet", LastName: "Smith", PrimaryEmail: "janet@corp.example", PrimaryPhone: "+1 555 0100",
		Type: gatehouse.UserTypeAdmin, Status: gatehouse.UserInactive, Timezone: "Europe/Paris",
		Language: "fr", Department: "Ops", Country: "FR", PromotionOptIn: true,
		PrimaryRetailer: "r2", PrimaryLocation: "l2",
		Attributes: []gatehouse.Attribute{{Name: "badge", Type: "INTEGER", Value: "43"}, {Name: "vip", Type: "BOOLEAN", Value: "true"}},
		// New roles, in the order the store returns them; the context of a
		// kept role name changes too.
		Roles: []gatehouse.RoleAssignment{
			{Role: gatehouse.RoleReadOnly},
			{Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l2"}},
			{Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "RETAILER", ID: "r2"}},
		},
		IdentityProvider: "corp-saml", PasswordState: gatehouse.PasswordMustChange,
		CreatedOn: base.Add(-time.Minute), UpdatedOn: base.Add(time.Minute), LastSignOn: &signOn2,
		LockedUntil: &locked2, PasswordHash: "$argon2id$new", PasswordChangedOn: &changed2, FailedAttempts: 7,
	}
	dirAllFieldsDiffer(t, &before, u, "EnvironmentID", "ID")
	must(t, s.UpdateUser(ctx, u))
	dirWantUser(t, s, u)

	got, err := s.GetUserByUsername(ctx, "acme", "JANE.SMITH")
	must(t, err)
	if got.ID != u.ID {
		t.Fatalf("the new username finds %s", got.ID)
	}
	_, err = s.GetUserByUsername(ctx, "acme", "jane")
	wantCode(t, err, gatehouse.ENOTFOUND)

	t.Run("optional fields cleared", func(t *testing.T) {
		c := *u
		c.Ref, c.LastSignOn, c.LockedUntil, c.PasswordChangedOn, c.FailedAttempts = "", nil, nil, nil, 0
		c.Attributes, c.Roles = []gatehouse.Attribute{}, []gatehouse.RoleAssignment{}
		c.PasswordHash, c.PromotionOptIn, c.Title = "", false, ""
		must(t, s.UpdateUser(ctx, &c))
		dirWantUser(t, s, &c)
		// The ref is free again.
		dirCreateUser(t, s, "acme", "other", func(o *gatehouse.User) { o.Ref = "ref-2" })
	})
	t.Run("lockout round trip", func(t *testing.T) {
		c := dirGetUser(t, s, "acme", u.ID)
		lock := base.Add(30*time.Minute + 123*time.Microsecond)
		c.LockedUntil, c.FailedAttempts = &lock, 5
		must(t, s.UpdateUser(ctx, c))
		got := dirGetUser(t, s, "acme", u.ID)
		if got.LockedUntil == nil || !got.LockedUntil.Equal(lock) || got.FailedAttempts != 5 {
			t.Fatalf("lockout read back as %v, %d; want %v, 5", got.LockedUntil, got.FailedAttempts, lock)
		}
		c.LockedUntil, c.FailedAttempts = nil, 0
		must(t, s.UpdateUser(ctx, c))
		got = dirGetUser(t, s, "acme", u.ID)
		if got.LockedUntil != nil || got.FailedAttempts != 0 {
			t.Fatalf("cleared lockout read back as %v, %d", got.LockedUntil, got.FailedAttempts)
		}
	})
}

func testDirUpdateUserConflicts(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	alice := dirCreateUser(t, s, "acme", "alice", func(u *gatehouse.User) {
		u.Ref, u.FirstName = "R-A", "Alice"
		u.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}}
	})
	bob := dirCreateUser(t, s, "acme", "bob", func(u *gatehouse.User) {
		u.Ref, u.FirstName = "R-B", "Bob"
		u.Roles = []gatehouse.RoleAssignment{{Role: gatehouse.RoleReadOnly}}
	})
	bobBefore := dirGetUser(t, s, "acme", bob.ID)
	aliceBefore := dirGetUser(t, s, "acme", alice.ID)

	t.Run("username of another user in another case", func(t *testing.T) {
		c := *bob
		c.Username, c.FirstName, c.Roles = "ALICE", "Changed", []gatehouse.RoleAssignment{{Role: "ADMIN"}}
		wantCode(t, s.UpdateUser(ctx, &c), gatehouse.ECONFLICT)
		dirWantUser(t, s, bobBefore)
		dirWantUser(t, s, aliceBefore)
	})
	t.Run("ref of another user", func(t *testing.T) {
		c := *bob
		c.Ref, c.FirstName = "R-A", "Changed"
		wantCode(t, s.UpdateUser(ctx, &c), gatehouse.ECONFLICT)
		dirWantUser(t, s, bobBefore)
		dirWantUser(t, s, aliceBefore)
	})
	t.Run("own username in another case is no conflict", func(t *testing.T) {
		c := *dirGetUser(t, s, "acme", bob.ID)
		c.Username = "BOB"
		must(t, s.UpdateUser(ctx, &c))
		dirWantUser(t, s, &c)
		must(t, s.UpdateUser(ctx, bobBefore))
		dirWantUser(t, s, bobBefore)
	})
	t.Run("missing user", func(t *testing.T) {
		ghost := newUser("acme", "ghost")
		ghost.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}}
		wantCode(t, s.UpdateUser(ctx, ghost), gatehouse.ENOTFOUND)
		_, err := s.GetUser(ctx, "acme", ghost.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
		_, err = s.GetUserByUsername(ctx, "acme", "ghost")
		wantCode(t, err, gatehouse.ENOTFOUND)
	})
	t.Run("right id, wrong environment", func(t *testing.T) {
		c := *alice
		c.EnvironmentID, c.FirstName, c.Username = "globex", "Hijacked", "hijacked"
		c.Roles = []gatehouse.RoleAssignment{{Role: gatehouse.RoleEnvironmentAdmin}}
		wantCode(t, s.UpdateUser(ctx, &c), gatehouse.ENOTFOUND)
		dirWantUser(t, s, aliceBefore)
		_, err := s.GetUser(ctx, "globex", alice.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
		list, err := usersOf(s.ListUsers(ctx, "globex", gatehouse.UserFilter{Limit: dirLimit}))
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("globex has users %v", dirNames(list))
		}
	})
}

// testDirUserWritesAtomic: "each method of Repositories runs in its own
// transaction", so a user write that fails half-way leaves nothing behind.
func testDirUserWritesAtomic(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	twice := []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "ADMIN"}}
	t.Run("update", func(t *testing.T) {
		u := dirCreateUser(t, s, "acme", "alice", func(u *gatehouse.User) {
			u.FirstName, u.Roles = "Alice", []gatehouse.RoleAssignment{{Role: gatehouse.RoleReadOnly}}
		})
		before := dirGetUser(t, s, "acme", u.ID)
		c := *u
		c.FirstName, c.Username, c.Roles = "Changed", "changed", twice
		if err := s.UpdateUser(ctx, &c); err == nil {
			t.Fatal("UpdateUser with a role assigned twice succeeded")
		}
		dirWantUser(t, s, before)
	})
	t.Run("create", func(t *testing.T) {
		u := newUser("acme", "bob")
		u.Roles = twice
		if err := s.CreateUser(ctx, u); err == nil {
			t.Fatal("CreateUser with a role assigned twice succeeded")
		}
		if got, err := s.GetUser(ctx, "acme", u.ID); err == nil {
			t.Fatalf("the failed CreateUser left the user behind, with roles %+v", got.Roles)
		}
	})
}

func testDirDeleteUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now()
	withRoles := func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: "ADMIN"}, {Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}}
	}
	gone := dirCreateUser(t, s, "acme", "gone", withRoles)
	keep := dirCreateUser(t, s, "acme", "keep", withRoles)
	for i, u := range []*gatehouse.User{gone, keep} {
		must(t, s.AddPasswordHistory(ctx, "acme", u.ID, fmt.Sprintf("h%d-1", i), base.Add(-2*time.Hour)))
		must(t, s.AddPasswordHistory(ctx, "acme", u.ID, fmt.Sprintf("h%d-2", i), base.Add(-time.Hour)))
	}
	// A user of another environment with keep's id.
	twin := dirCreateUser(t, s, "globex", "keep", func(u *gatehouse.User) { u.ID = keep.ID; withRoles(u) })
	must(t, s.AddPasswordHistory(ctx, "globex", twin.ID, "twin", base))

	must(t, s.DeleteUser(ctx, "acme", gone.ID))
	_, err := s.GetUser(ctx, "acme", gone.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.GetUserByUsername(ctx, "acme", "gone")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx, "acme", gone.ID), gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx, "acme", "missing"), gatehouse.ENOTFOUND)
	list, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{Limit: dirLimit}))
	must(t, err)
	if got := dirUserIDs(list); !reflect.DeepEqual(got, []string{keep.ID}) {
		t.Fatalf("after delete acme lists %v", dirNames(list))
	}

	// A user re-created with the same id and username inherits nothing.
	again := dirCreateUser(t, s, "acme", "gone", func(u *gatehouse.User) { u.ID = gone.ID })
	if got := dirGetUser(t, s, "acme", again.ID); len(got.Roles) != 0 {
		t.Fatalf("re-created user has the deleted user's roles %+v", got.Roles)
	}
	hist, err := s.PasswordHistory(ctx, "acme", again.ID, 10)
	must(t, err)
	if len(hist) != 0 {
		t.Fatalf("re-created user has the deleted user's password history %v", hist)
	}

	// Deleting by the right id in the wrong environment finds nothing.
	newEnv(t, s, "initech")
	wantCode(t, s.DeleteUser(ctx, "initech", keep.ID), gatehouse.ENOTFOUND)
	dirWantUser(t, s, keep)

	// Deleting the twin leaves keep, its roles and its history alone.
	must(t, s.DeleteUser(ctx, "globex", twin.ID))
	dirWantUser(t, s, keep)
	hist, err = s.PasswordHistory(ctx, "acme", keep.ID, 10)
	must(t, err)
	if !reflect.DeepEqual(hist, []string{"h1-2", "h1-1"}) {
		t.Fatalf("keep's history after deleting its twin = %v", hist)
	}
}

func testDirRegisterFailedAttempt(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	u := dirCreateUser(t, s, "acme", "alice", nil)
	bystander := dirCreateUser(t, s, "acme", "bob", nil)
	const limit = 3
	base := now()
	for i := 1; i <= 6; i++ {
		lockUntil := base.Add(time.Duration(i)*time.Minute + time.Duration(i)*time.Microsecond)
		n, err := s.RegisterFailedAttempt(ctx, "acme", u.ID, limit, lockUntil)
		must(t, err)
		if n != i {
			t.Fatalf("attempt %d: count %d", i, n)
		}
		got := dirGetUser(t, s, "acme", u.ID)
		if got.FailedAttempts != i {
			t.Fatalf("attempt %d: stored count %d", i, got.FailedAttempts)
		}
		switch {
		case i < limit && got.LockedUntil != nil:
			t.Fatalf("attempt %d of %d: locked until %v", i, limit, got.LockedUntil)
		case i >= limit && (got.LockedUntil == nil || !got.LockedUntil.Equal(lockUntil)):
			t.Fatalf("attempt %d of %d: locked until %v, want %v", i, limit, got.LockedUntil, lockUntil)
		}
		// Nothing else of the user changes.
		want := *u
		want.FailedAttempts, want.LockedUntil = got.FailedAttempts, got.LockedUntil
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("attempt %d changed more than the lockout:\n%+v\nwant\n%+v", i, got, &want)
		}
	}
	if got := dirGetUser(t, s, "acme", bystander.ID); got.FailedAttempts != 0 || got.LockedUntil != nil {
		t.Fatalf("another user's lockout changed: %d, %v", got.FailedAttempts, got.LockedUntil)
	}
	_, err := s.RegisterFailedAttempt(ctx, "acme", "missing", limit, base)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RegisterFailedAttempt(ctx, "globex", u.ID, limit, base)
	wantCode(t, err, gatehouse.ENOTFOUND)
	if got := dirGetUser(t, s, "acme", u.ID); got.FailedAttempts != 6 {
		t.Fatalf("an attempt in another environment counted: %d", got.FailedAttempts)
	}
}

func testDirRegisterFailedAttemptConcurrent(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	u := dirCreateUser(t, s, "acme", "alice", nil)
	const n, limit = 20, 5
	lockUntil := now().Add(time.Hour)
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = s.RegisterFailedAttempt(ctx, "acme", u.ID, limit, lockUntil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	sort.Ints(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("concurrent attempts returned counts %v, want 1..%d once each", counts, n)
		}
	}
	got := dirGetUser(t, s, "acme", u.ID)
	if got.FailedAttempts != n {
		t.Fatalf("after %d concurrent attempts the count is %d", n, got.FailedAttempts)
	}
	if got.LockedUntil == nil || !got.LockedUntil.Equal(lockUntil) {
		t.Fatalf("after %d attempts with limit %d locked until %v, want %v", n, limit, got.LockedUntil, lockUntil)
	}
}

func testDirPasswordHistory(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	u := dirCreateUser(t, s, "acme", "alice", nil)
	w := dirCreateUser(t, s, "acme", "bob", nil)
	twin := dirCreateUser(t, s, "globex", "alice", func(x *gatehouse.User) { x.ID = u.ID })
	base := now().Add(-time.Hour)
	// Added out of order: the history sorts by time, not by insertion.
	for _, i := range []int{3, 1, 5, 2, 4} {
		must(t, s.AddPasswordHistory(ctx, "acme", u.ID, fmt.Sprintf("h%d", i), base.Add(time.Duration(i)*time.Second)))
	}
	must(t, s.AddPasswordHistory(ctx, "acme", w.ID, "w1", base.Add(10*time.Second)))
	must(t, s.AddPasswordHistory(ctx, "globex", twin.ID, "twin", base.Add(20*time.Second)))

	cases := []struct {
		env, user string
		limit     int
		want      []string
	}{
		{"acme", u.ID, 10, []string{"h5", "h4", "h3", "h2", "h1"}},
		{"acme", u.ID, 5, []string{"h5", "h4", "h3", "h2", "h1"}},
		{"acme", u.ID, 3, []string{"h5", "h4", "h3"}},
		{"acme", u.ID, 1, []string{"h5"}},
		{"acme", u.ID, 0, []string{}},
		{"acme", w.ID, 10, []string{"w1"}},
		{"globex", twin.ID, 10, []string{"twin"}},
		{"globex", w.ID, 10, []string{}},
		{"acme", "missing", 10, []string{}},
	}
	for _, tc := range cases {
		got, err := s.PasswordHistory(ctx, tc.env, tc.user, tc.limit)
		must(t, err)
		if len(got) != 0 || len(tc.want) != 0 {
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PasswordHistory(%s, %s, %d) = %v, want %v", tc.env, tc.user, tc.limit, got, tc.want)
			}
		}
	}
}

func testDirRoles(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now()
	mk := func(env, name, desc string, builtin bool, perms ...string) *gatehouse.Role {
		r := &gatehouse.Role{EnvironmentID: env, Name: name, Description: desc, Permissions: perms,
			Builtin: builtin, CreatedOn: base.Add(-time.Hour), UpdatedOn: base.Add(-time.Minute)}
		must(t, s.CreateRole(ctx, r))
		return r
	}
	// Created out of name order.
	zeta := mk("acme", "ZETA", "Last", false, "ORDER_VIEW")
	alpha := mk("acme", "ALPHA", "First", true, "USER_MANAGE", "ORDER_VIEW")
	mid := mk("acme", "MID_ROLE", "Middle", false)
	other := mk("globex", "ALPHA", "Globex's alpha", false, "ACCOUNT_MANAGE")

	get := func(env, name string) *gatehouse.Role {
		t.Helper()
		r, err := s.GetRole(ctx, env, name)
		must(t, err)
		return r
	}
	for _, r := range []*gatehouse.Role{zeta, alpha, mid, other} {
		if got := get(r.EnvironmentID, r.Name); !reflect.DeepEqual(got, r) {
			t.Fatalf("GetRole =\n%+v\nwant\n%+v", got, r)
		}
	}
	list, err := s.ListRoles(ctx, "acme")
	must(t, err)
	if !reflect.DeepEqual(list, []*gatehouse.Role{alpha, mid, zeta}) {
		t.Fatalf("ListRoles(acme) = %+v, want ALPHA, MID_ROLE, ZETA", list)
	}
	list, err = s.ListRoles(ctx, "globex")
	must(t, err)
	if !reflect.DeepEqual(list, []*gatehouse.Role{other}) {
		t.Fatalf("ListRoles(globex) = %+v", list)
	}

	dup := *alpha
	dup.Description = "Duplicate"
	wantCode(t, s.CreateRole(ctx, &dup), gatehouse.ECONFLICT)
	if got := get("acme", "ALPHA"); !reflect.DeepEqual(got, alpha) {
		t.Fatalf("a duplicate create changed the role: %+v", got)
	}

	upd := *alpha
	upd.Description, upd.Permissions, upd.UpdatedOn = "First, renewed", []string{"ENVIRONMENT_VIEW"}, base.Add(time.Minute)
	must(t, s.UpdateRole(ctx, &upd))
	if got := get("acme", "ALPHA"); !reflect.DeepEqual(got, &upd) {
		t.Fatalf("after UpdateRole GetRole =\n%+v\nwant\n%+v", got, &upd)
	}
	upd.Permissions = []string{}
	must(t, s.UpdateRole(ctx, &upd))
	if got := get("acme", "ALPHA"); !reflect.DeepEqual(got, &upd) {
		t.Fatalf("after emptying permissions GetRole =\n%+v\nwant\n%+v", got, &upd)
	}
	if got := get("globex", "ALPHA"); !reflect.DeepEqual(got, other) {
		t.Fatalf("updating acme's ALPHA changed globex's: %+v", got)
	}

	for _, env := range []string{"acme", "globex"} {
		missing := &gatehouse.Role{EnvironmentID: env, Name: "NOPE", Description: "x", UpdatedOn: base}
		if env == "globex" {
			missing.Name = "ZETA" // acme's role, wrong environment
		}
		_, err := s.GetRole(ctx, env, missing.Name)
		wantCode(t, err, gatehouse.ENOTFOUND)
		wantCode(t, s.UpdateRole(ctx, missing), gatehouse.ENOTFOUND)
		wantCode(t, s.DeleteRole(ctx, env, missing.Name), gatehouse.ENOTFOUND)
	}
	if got := get("acme", "ZETA"); !reflect.DeepEqual(got, zeta) {
		t.Fatalf("a write in another environment changed ZETA: %+v", got)
	}

	must(t, s.DeleteRole(ctx, "acme", "MID_ROLE"))
	_, err = s.GetRole(ctx, "acme", "MID_ROLE")
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteRole(ctx, "acme", "MID_ROLE"), gatehouse.ENOTFOUND)
	list, err = s.ListRoles(ctx, "acme")
	must(t, err)
	if !reflect.DeepEqual(list, []*gatehouse.Role{&upd, zeta}) {
		t.Fatalf("ListRoles after delete = %+v", list)
	}
	must(t, s.DeleteRole(ctx, "acme", "ALPHA"))
	if got := get("globex", "ALPHA"); !reflect.DeepEqual(got, other) {
		t.Fatalf("deleting acme's ALPHA changed globex's: %+v", got)
	}
}

func testDirDeleteRole(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	for _, env := range []string{"acme", "globex"} {
		for _, name := range []string{"CASHIER", "MANAGER"} {
			must(t, s.CreateRole(ctx, &gatehouse.Role{EnvironmentID: env, Name: name, Permissions: []string{"ORDER_VIEW"}, CreatedOn: now(), UpdatedOn: now()}))
		}
	}
	loc := &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}
	u1 := dirCreateUser(t, s, "acme", "u1", func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: "CASHIER"}, {Role: "CASHIER", Context: loc}, {Role: "MANAGER", Context: loc}}
	})
	u2 := dirCreateUser(t, s, "acme", "u2", func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: "CASHIER", Context: loc}}
	})
	g := dirCreateUser(t, s, "globex", "g", func(u *gatehouse.User) {
		u.Roles = []gatehouse.RoleAssignment{{Role: "CASHIER"}, {Role: "MANAGER"}}
	})

	must(t, s.DeleteRole(ctx, "acme", "CASHIER"))
	if got := dirGetUser(t, s, "acme", u1.ID).Roles; !reflect.DeepEqual(got, []gatehouse.RoleAssignment{{Role: "MANAGER", Context: loc}}) {
		t.Fatalf("u1's roles after deleting CASHIER: %+v", got)
	}
	if got := dirGetUser(t, s, "acme", u2.ID).Roles; got == nil || len(got) != 0 {
		t.Fatalf("u2's roles after deleting CASHIER: %#v, want empty", got)
	}
	listed, err := usersOf(s.ListUsers(ctx, "acme", gatehouse.UserFilter{Limit: dirLimit}))
	must(t, err)
	for _, u := range listed {
		for _, a := range u.Roles {
			if a.Role == "CASHIER" {
				t.Fatalf("ListUsers still shows CASHIER on %s", u.Username)
			}
		}
	}
	dirWantUser(t, s, g)
	if _, err := s.GetRole(ctx, "globex", "CASHIER"); err != nil {
		t.Fatalf("globex's CASHIER: %v", err)
	}
	// A role re-created with the name does not come back to the users.
	must(t, s.CreateRole(ctx, &gatehouse.Role{EnvironmentID: "acme", Name: "CASHIER", CreatedOn: now(), UpdatedOn: now()}))
	if got := dirGetUser(t, s, "acme", u2.ID).Roles; len(got) != 0 {
		t.Fatalf("re-creating CASHIER gave u2 %+v", got)
	}
}

func dirNewApp(envID, clientID string) *gatehouse.Application {
	return &gatehouse.Application{
		EnvironmentID: envID, ID: gatehouse.NewID(), ClientID: clientID, Name: "App " + clientID,
		Type: gatehouse.AppTypeService, RedirectURIs: []string{}, GrantTypes: []string{gatehouse.GrantClientCredentials},
		Roles: []string{gatehouse.RoleReadOnly}, SecretHash: []byte{1, 2, 3},
		ApplicationSettings: gatehouse.ApplicationSettings{PostLogoutRedirectURIs: []string{}},
		CreatedOn:           now(), UpdatedOn: now(),
	}
}

func testDirApplications(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	a1 := dirNewApp("acme", "ci")
	a2 := dirNewApp("acme", "portal")
	a2.Type, a2.GrantTypes, a2.Roles, a2.SecretHash = gatehouse.AppTypeSPA, []string{gatehouse.GrantAuthorizationCode}, []string{}, nil
	a2.RedirectURIs = []string{"https://portal.example/cb", "http://localhost:8080/cb"}
	a2.ApplicationSettings = gatehouse.ApplicationSettings{Description: "Customer portal",
		PostLogoutRedirectURIs: []string{"https://portal.example/"}, RefreshTokens: true, AccessTokenSeconds: 600, RefreshTokenSeconds: 86400}
	g1 := dirNewApp("globex", "ci")
	g1.ID = a1.ID // same id in another environment
	for _, a := range []*gatehouse.Application{a1, a2, g1} {
		must(t, s.CreateApplication(ctx, a))
	}
	wantApp := func(t *testing.T, want *gatehouse.Application) {
		t.Helper()
		got, err := s.GetApplication(ctx, want.EnvironmentID, want.ID)
		must(t, err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetApplication =\n%+v\nwant\n%+v", got, want)
		}
	}
	listIDs := func(t *testing.T, env string) map[string]*gatehouse.Application {
		t.Helper()
		list, err := s.ListApplications(ctx, env)
		must(t, err)
		m := map[string]*gatehouse.Application{}
		for _, a := range list {
			if a.EnvironmentID != env {
				t.Fatalf("ListApplications(%s) lists %s of %s", env, a.ClientID, a.EnvironmentID)
			}
			if m[a.ID] != nil {
				t.Fatalf("ListApplications(%s) lists %s twice", env, a.ID)
			}
			m[a.ID] = a
		}
		return m
	}

	t.Run("get and list", func(t *testing.T) {
		for _, a := range []*gatehouse.Application{a1, a2, g1} {
			wantApp(t, a)
		}
		if got := listIDs(t, "acme"); !reflect.DeepEqual(got, map[string]*gatehouse.Application{a1.ID: a1, a2.ID: a2}) {
			t.Fatalf("ListApplications(acme) = %+v", got)
		}
		if got := listIDs(t, "globex"); !reflect.DeepEqual(got, map[string]*gatehouse.Application{g1.ID: g1}) {
			t.Fatalf("ListApplications(globex) = %+v", got)
		}
		newEnv(t, s, "initech")
		if got := listIDs(t, "initech"); len(got) != 0 {
			t.Fatalf("an empty environment lists %d applications", len(got))
		}
		_, err := s.GetApplication(ctx, "acme", "missing")
		wantCode(t, err, gatehouse.ENOTFOUND)
		_, err = s.GetApplication(ctx, "globex", a2.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
	})

	t.Run("update every field", func(t *testing.T) {
		u := &gatehouse.Application{
			EnvironmentID: "acme", ID: a1.ID, ClientID: "ci-2", Name: "CI renamed", Type: gatehouse.AppTypeWeb,
			RedirectURIs: []string{"https://ci.example/cb"}, GrantTypes: []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantClientCredentials},
			Roles: []string{gatehouse.RoleEnvironmentAdmin, gatehouse.RoleUserAdmin},
			ApplicationSettings: gatehouse.ApplicationSettings{Description: "Builds — “quoted” 🙂",
				PostLogoutRedirectURIs: []string{"https://ci.example/bye"}, RefreshTokens: true,
				AccessTokenSeconds: 300, RefreshTokenSeconds: 3600, SigningAlgorithm: "RS256", MFARequired: true,
				Scopes: []string{"openid", "api"}},
			CreatedOn: a1.CreatedOn.Add(-time.Hour), UpdatedOn: a1.UpdatedOn.Add(time.Hour),
			SecretHash: []byte{0, 255, 9, 8, 7, 6},
		}
		dirAllFieldsDiffer(t, a1, u, "EnvironmentID", "ID")
		must(t, s.UpdateApplication(ctx, u))
		wantApp(t, u)
		got, err := s.GetApplicationByClientID(ctx, "acme", "ci-2")
		must(t, err)
		if got.ID != a1.ID {
			t.Fatalf("the new client id finds %s", got.ID)
		}
		_, err = s.GetApplicationByClientID(ctx, "acme", "ci")
		wantCode(t, err, gatehouse.ENOTFOUND)
		wantApp(t, g1)

		// Back to a public client: the secret goes.
		p := *u
		p.Type, p.GrantTypes, p.Roles, p.SecretHash = gatehouse.AppTypeSPA, []string{gatehouse.GrantAuthorizationCode}, []string{}, nil
		p.ApplicationSettings = gatehouse.ApplicationSettings{PostLogoutRedirectURIs: []string{}}
		must(t, s.UpdateApplication(ctx, &p))
		wantApp(t, &p)
		a1 = &p
	})

	t.Run("missing and wrong environment", func(t *testing.T) {
		ghost := dirNewApp("acme", "ghost")
		wantCode(t, s.UpdateApplication(ctx, ghost), gatehouse.ENOTFOUND)
		_, err := s.GetApplication(ctx, "acme", ghost.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
		wantCode(t, s.DeleteApplication(ctx, "acme", ghost.ID), gatehouse.ENOTFOUND)

		wrong := *a2
		wrong.EnvironmentID, wrong.Name = "globex", "Hijacked"
		wantCode(t, s.UpdateApplication(ctx, &wrong), gatehouse.ENOTFOUND)
		wantCode(t, s.DeleteApplication(ctx, "globex", a2.ID), gatehouse.ENOTFOUND)
		wantApp(t, a2)
		_, err = s.GetApplication(ctx, "globex", a2.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
	})

	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteApplication(ctx, "acme", a1.ID))
		_, err := s.GetApplication(ctx, "acme", a1.ID)
		wantCode(t, err, gatehouse.ENOTFOUND)
		_, err = s.GetApplicationByClientID(ctx, "acme", a1.ClientID)
		wantCode(t, err, gatehouse.ENOTFOUND)
		wantCode(t, s.DeleteApplication(ctx, "acme", a1.ID), gatehouse.ENOTFOUND)
		if got := listIDs(t, "acme"); !reflect.DeepEqual(got, map[string]*gatehouse.Application{a2.ID: a2}) {
			t.Fatalf("ListApplications(acme) after delete = %+v", got)
		}
		// The same id in globex is another application.
		wantApp(t, g1)
		// The client id is free again.
		must(t, s.CreateApplication(ctx, dirNewApp("acme", a1.ClientID)))
	})
}

// testDirUpdateApplicationDuplicateClientID: "writes … of a duplicate
// answer ECONFLICT", updates included.
func testDirUpdateApplicationConflict(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	a, b := dirNewApp("acme", "one"), dirNewApp("acme", "two")
	g := dirNewApp("globex", "two")
	for _, x := range []*gatehouse.Application{a, b, g} {
		must(t, s.CreateApplication(ctx, x))
	}
	c := *a
	c.ClientID, c.Name = "two", "Renamed"
	wantCode(t, s.UpdateApplication(ctx, &c), gatehouse.ECONFLICT)
	got, err := s.GetApplication(ctx, "acme", a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("a conflicting update changed the application: %+v", got)
	}
	// Another environment's client id is no conflict.
	d := *g
	d.ClientID = "one"
	must(t, s.UpdateApplication(ctx, &d))
}

// dirEvent is an audit event of envID at a time; Append fills the rest.
func dirEvent(envID string, at time.Time, actor, action, target, outcome string) *gatehouse.AuditEvent {
	return &gatehouse.AuditEvent{
		EnvironmentID: envID, ID: gatehouse.NewID(), Time: at, ActorType: gatehouse.ActorUser, ActorID: actor,
		Action: action, TargetType: "USER", TargetID: target, Outcome: outcome, ClientIP: "203.0.113.7",
		UserAgent: "storetest/1.0", Details: map[string]string{"actor": actor, "note": "ünïcødé \"quoted\" \x00 <tag>"},
	}
}

func dirWalk(t *testing.T, s gatehouse.Store, envID string) []*gatehouse.AuditEvent {
	t.Helper()
	var events []*gatehouse.AuditEvent
	must(t, s.WalkAuditEvents(context.Background(), envID, func(e *gatehouse.AuditEvent) error {
		events = append(events, e)
		return nil
	}))
	return events
}

// dirCheckChain checks that events are seqs 1..n, each linked to the one
// before and hashed over its stored content, and that the head is the last.
func dirCheckChain(t *testing.T, s gatehouse.Store, envID string, events []*gatehouse.AuditEvent) {
	t.Helper()
	prev := gatehouse.AuditGenesis
	for i, e := range events {
		switch {
		case e.EnvironmentID != envID:
			t.Fatalf("event %d belongs to %q", e.Seq, e.EnvironmentID)
		case e.Seq != int64(i+1):
			t.Fatalf("event %d of the walk has seq %d", i+1, e.Seq)
		case e.PrevHash != prev:
			t.Fatalf("event %d links to %s, want %s", e.Seq, e.PrevHash, prev)
		case e.Hash != e.ComputeHash():
			t.Fatalf("event %d has hash %s, its stored content hashes to %s", e.Seq, e.Hash, e.ComputeHash())
		}
		prev = e.Hash
	}
	seq, hash, err := s.AuditHead(context.Background(), envID)
	must(t, err)
	if seq != int64(len(events)) || hash != prev {
		t.Fatalf("AuditHead = %d, %s; want %d, %s", seq, hash, len(events), prev)
	}
}

func testDirAuditChain(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now()
	appended := map[string][]*gatehouse.AuditEvent{}
	// Interleaved appends: each environment counts on its own.
	for i, env := range []string{"acme", "globex", "acme", "acme", "globex"} {
		e := dirEvent(env, base.Add(time.Duration(i)*time.Second), "u1", "SIGN_IN", "u1", gatehouse.OutcomeSuccess)
		if i == 3 {
			e.Details = nil
		}
		must(t, s.AppendAuditEvent(ctx, e))
		appended[env] = append(appended[env], e)
		if want := int64(len(appended[env])); e.Seq != want {
			t.Fatalf("append %d to %s got seq %d, want %d", i, env, e.Seq, want)
		}
	}
	for env, want := range appended {
		got := dirWalk(t, s, env)
		if len(got) != len(want) {
			t.Fatalf("%s has %d events, want %d", env, len(got), len(want))
		}
		for i := range got {
			if got[i].Hash != want[i].Hash || got[i].PrevHash != want[i].PrevHash {
				t.Fatalf("%s event %d stored with hashes %s/%s, appended with %s/%s", env, i+1,
					got[i].PrevHash, got[i].Hash, want[i].PrevHash, want[i].Hash)
			}
			w := *want[i]
			if len(w.Details) == 0 {
				w.Details = got[i].Details // nil and empty details are one
			}
			if !reflect.DeepEqual(got[i], &w) {
				t.Fatalf("stored event =\n%+v\nappended\n%+v", got[i], &w)
			}
		}
		if got[0].PrevHash != gatehouse.AuditGenesis {
			t.Fatalf("first event of %s links to %s", env, got[0].PrevHash)
		}
		dirCheckChain(t, s, env, got)
	}
}

func testDirAuditConcurrentAppends(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	const n = 40
	base := now()
	events := make([]*gatehouse.AuditEvent, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		events[i] = dirEvent("acme", base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("u%d", i), "SIGN_IN", "t", gatehouse.OutcomeSuccess)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.AppendAuditEvent(ctx, events[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	seqs := map[int64]bool{}
	for _, e := range events {
		if seqs[e.Seq] || e.Seq < 1 || e.Seq > n {
			t.Fatalf("concurrent appends were given seq %d twice or out of 1..%d", e.Seq, n)
		}
		seqs[e.Seq] = true
	}
	stored := dirWalk(t, s, "acme")
	if len(stored) != n {
		t.Fatalf("%d events stored, want %d", len(stored), n)
	}
	dirCheckChain(t, s, "acme", stored)
	ids := map[string]bool{}
	for _, e := range stored {
		ids[e.ID] = true
	}
	for _, e := range events {
		if !ids[e.ID] {
			t.Fatalf("event %s was lost", e.ID)
		}
	}
}

func testDirAuditAppendRollsBack(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	base := now()
	for _, tc := range []struct {
		name  string
		ahead int // events before the failed transaction
	}{{"empty log", 0}, {"log with events", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			env := fmt.Sprintf("env-%d", tc.ahead)
			newEnv(t, s, env)
			for i := range tc.ahead {
				must(t, s.AppendAuditEvent(ctx, dirEvent(env, base.Add(time.Duration(i)*time.Second), "u", "A", "t", gatehouse.OutcomeSuccess)))
			}
			seq0, hash0, err := s.AuditHead(ctx, env)
			must(t, err)
			lost := dirEvent(env, base.Add(time.Minute), "u", "LOST", "t", gatehouse.OutcomeSuccess)
			err = s.InTx(ctx, func(r gatehouse.Repositories) error {
				if err := r.AppendAuditEvent(ctx, lost); err != nil {
					return err
				}
				seq, hash, err := r.AuditHead(ctx, env)
				if err != nil {
					return err
				}
				if seq != seq0+1 || hash != lost.Hash {
					t.Errorf("inside the transaction AuditHead = %d, %s; want %d, %s", seq, hash, seq0+1, lost.Hash)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx returned %v, want boom", err)
			}
			seq, hash, err := s.AuditHead(ctx, env)
			must(t, err)
			if seq != seq0 || hash != hash0 {
				t.Fatalf("after rollback AuditHead = %d, %s; want %d, %s", seq, hash, seq0, hash0)
			}
			if tc.ahead == 0 && (seq != 0 || hash != gatehouse.AuditGenesis) {
				t.Fatalf("empty log after rollback has head %d, %s", seq, hash)
			}
			stored := dirWalk(t, s, env)
			if len(stored) != tc.ahead {
				t.Fatalf("after rollback %d events, want %d", len(stored), tc.ahead)
			}
			listed, err := s.ListAuditEvents(ctx, env, gatehouse.AuditFilter{Action: "LOST", Limit: 10})
			must(t, err)
			if len(listed) != 0 {
				t.Fatalf("the rolled-back event is listed")
			}
			// The chain goes on from where it was.
			next := dirEvent(env, base.Add(2*time.Minute), "u", "NEXT", "t", gatehouse.OutcomeSuccess)
			must(t, s.AppendAuditEvent(ctx, next))
			if next.Seq != seq0+1 || next.PrevHash != hash0 {
				t.Fatalf("append after rollback: seq %d prev %s; want %d, %s", next.Seq, next.PrevHash, seq0+1, hash0)
			}
			dirCheckChain(t, s, env, dirWalk(t, s, env))
		})
	}
}

func testDirAuditList(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now().Add(-time.Hour)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	const ok, ko = gatehouse.OutcomeSuccess, gatehouse.OutcomeFailure
	specs := []struct{ actor, action, target, outcome string }{
		1: {"u1", "SIGN_IN", "u1", ok},
		2: {"u2", "SIGN_IN", "u2", ko},
		3: {"u1", "USER_UPDATE", "u2", ok},
		4: {"u2", "SIGN_IN", "u2", ok},
		5: {"u1", "USER_DELETE", "u3", ok},
		6: {"u3", "SIGN_IN", "u3", ko},
		7: {"u1", "SIGN_IN", "u1", ko},
		8: {"u2", "USER_UPDATE", "u1", ok},
	}
	for i := 1; i < len(specs); i++ {
		sp := specs[i]
		must(t, s.AppendAuditEvent(ctx, dirEvent("acme", at(i), sp.actor, sp.action, sp.target, sp.outcome)))
		// globex has the same events: none may show up in acme's lists.
		must(t, s.AppendAuditEvent(ctx, dirEvent("globex", at(i), sp.actor, sp.action, sp.target, sp.outcome)))
	}
	stored := dirWalk(t, s, "acme")
	p := func(x time.Time) *time.Time { return &x }
	cases := []struct {
		name string
		f    gatehouse.AuditFilter
		want []int64
	}{
		{"all", gatehouse.AuditFilter{}, []int64{8, 7, 6, 5, 4, 3, 2, 1}},
		{"limit", gatehouse.AuditFilter{Limit: 3}, []int64{8, 7, 6}},
		{"actor", gatehouse.AuditFilter{ActorID: "u1"}, []int64{7, 5, 3, 1}},
		{"target", gatehouse.AuditFilter{TargetID: "u2"}, []int64{4, 3, 2}},
		{"action", gatehouse.AuditFilter{Action: "SIGN_IN"}, []int64{7, 6, 4, 2, 1}},
		{"outcome", gatehouse.AuditFilter{Outcome: ko}, []int64{7, 6, 2}},
		{"from is inclusive", gatehouse.AuditFilter{From: p(at(3))}, []int64{8, 7, 6, 5, 4, 3}},
		{"from just after", gatehouse.AuditFilter{From: p(at(3).Add(time.Microsecond))}, []int64{8, 7, 6, 5, 4}},
		{"to is exclusive", gatehouse.AuditFilter{To: p(at(3))}, []int64{2, 1}},
		{"to just after", gatehouse.AuditFilter{To: p(at(3).Add(time.Microsecond))}, []int64{3, 2, 1}},
		{"from and to", gatehouse.AuditFilter{From: p(at(3)), To: p(at(6))}, []int64{5, 4, 3}},
		{"empty range", gatehouse.AuditFilter{From: p(at(4)), To: p(at(4))}, nil},
		{"before", gatehouse.AuditFilter{Before: 5}, []int64{4, 3, 2, 1}},
		{"before first", gatehouse.AuditFilter{Before: 1}, nil},
		{"before and limit", gatehouse.AuditFilter{Before: 5, Limit: 2}, []int64{4, 3}},
		{"actor and action", gatehouse.AuditFilter{ActorID: "u1", Action: "SIGN_IN"}, []int64{7, 1}},
		{"actor, outcome, before", gatehouse.AuditFilter{ActorID: "u2", Outcome: ok, Before: 8}, []int64{4}},
		{"action, outcome, range", gatehouse.AuditFilter{Action: "SIGN_IN", Outcome: ko, From: p(at(2)), To: p(at(7))}, []int64{6, 2}},
		{"target and actor", gatehouse.AuditFilter{TargetID: "u1", ActorID: "u1"}, []int64{7, 1}},
		{"every filter", gatehouse.AuditFilter{ActorID: "u1", TargetID: "u2", Action: "USER_UPDATE", Outcome: ok, From: p(at(1)), To: p(at(8)), Before: 8, Limit: 5}, []int64{3}},
		{"unknown actor", gatehouse.AuditFilter{ActorID: "nobody"}, nil},
		{"injection", gatehouse.AuditFilter{ActorID: "' OR 1=1 --", Action: "%"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f.Limit == 0 {
				f.Limit = dirLimit
			}
			got, err := s.ListAuditEvents(ctx, "acme", f)
			must(t, err)
			seqs := []int64{}
			for _, e := range got {
				seqs = append(seqs, e.Seq)
				if !reflect.DeepEqual(e, stored[e.Seq-1]) {
					t.Fatalf("listed event =\n%+v\nwalked\n%+v", e, stored[e.Seq-1])
				}
			}
			if len(seqs) != 0 || len(tc.want) != 0 {
				if !reflect.DeepEqual(seqs, tc.want) {
					t.Fatalf("ListAuditEvents(%+v) = seqs %v, want %v", tc.f, seqs, tc.want)
				}
			}
		})
	}
	t.Run("paging with before", func(t *testing.T) {
		var seqs []int64
		before := int64(0)
		for range 10 {
			page, err := s.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{Before: before, Limit: 3})
			must(t, err)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				seqs = append(seqs, e.Seq)
			}
			before = page[len(page)-1].Seq
		}
		if !reflect.DeepEqual(seqs, []int64{8, 7, 6, 5, 4, 3, 2, 1}) {
			t.Fatalf("paged seqs %v", seqs)
		}
	})
}

func testDirAuditWalkLarge(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	const n = 1100
	base := now().Add(-time.Hour)
	must(t, s.InTx(ctx, func(r gatehouse.Repositories) error {
		for i := range n {
			e := dirEvent("acme", base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("u%d", i%7), "SIGN_IN", "t", gatehouse.OutcomeSuccess)
			if err := r.AppendAuditEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	for i := range 2 {
		must(t, s.AppendAuditEvent(ctx, dirEvent("globex", base.Add(time.Duration(i)*time.Second), "g", "SIGN_IN", "t", gatehouse.OutcomeSuccess)))
	}
	events := dirWalk(t, s, "acme")
	if len(events) != n {
		t.Fatalf("walk visited %d events, want %d", len(events), n)
	}
	dirCheckChain(t, s, "acme", events)
	for i, e := range events {
		if want := base.Add(time.Duration(i) * time.Millisecond); !e.Time.Equal(want) {
			t.Fatalf("event %d has time %v, want %v", e.Seq, e.Time, want)
		}
	}
	dirCheckChain(t, s, "globex", dirWalk(t, s, "globex"))

	// An error from fn stops the walk and is returned.
	stop := errors.New("stop")
	visited := 0
	err := s.WalkAuditEvents(ctx, "acme", func(e *gatehouse.AuditEvent) error {
		visited++
		if e.Seq == 1050 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || visited != 1050 {
		t.Fatalf("walk stopped by fn at 1050: err %v after %d events", err, visited)
	}
}

func testDirAuditHeadAndDelete(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	wantEmpty := func(t *testing.T, env string) {
		t.Helper()
		seq, hash, err := s.AuditHead(ctx, env)
		must(t, err)
		if seq != 0 || hash != gatehouse.AuditGenesis {
			t.Fatalf("AuditHead(%s) = %d, %s; want 0 and genesis", env, seq, hash)
		}
		if events := dirWalk(t, s, env); len(events) != 0 {
			t.Fatalf("%s walks %d events", env, len(events))
		}
		listed, err := s.ListAuditEvents(ctx, env, gatehouse.AuditFilter{Limit: dirLimit})
		must(t, err)
		if len(listed) != 0 {
			t.Fatalf("%s lists %d events", env, len(listed))
		}
	}
	wantEmpty(t, "acme")
	base := now()
	for i := range 3 {
		must(t, s.AppendAuditEvent(ctx, dirEvent("acme", base.Add(time.Duration(i)*time.Second), "u", "A", "t", gatehouse.OutcomeSuccess)))
	}
	g := dirEvent("globex", base, "u", "A", "t", gatehouse.OutcomeSuccess)
	must(t, s.AppendAuditEvent(ctx, g))

	must(t, s.DeleteEnvironment(ctx, "acme"))
	wantEmpty(t, "acme")
	newEnv(t, s, "acme")
	wantEmpty(t, "acme")
	// The re-created environment's log starts over.
	e := dirEvent("acme", base.Add(time.Minute), "u", "A", "t", gatehouse.OutcomeSuccess)
	must(t, s.AppendAuditEvent(ctx, e))
	if e.Seq != 1 || e.PrevHash != gatehouse.AuditGenesis {
		t.Fatalf("first event of the re-created environment: seq %d, prev %s", e.Seq, e.PrevHash)
	}
	dirCheckChain(t, s, "acme", dirWalk(t, s, "acme"))
	// The other environment's log is untouched.
	events := dirWalk(t, s, "globex")
	if len(events) != 1 || events[0].Hash != g.Hash {
		t.Fatalf("globex's log after deleting acme: %+v", events)
	}
	dirCheckChain(t, s, "globex", events)
}

// testDirAuditBatch appends one batch across two environments: each chain
// continues where it was, in batch order; a batch naming a missing
// environment stores nothing.
func testDirAuditBatch(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	ev := func(env, action string) *gatehouse.AuditEvent {
		return &gatehouse.AuditEvent{EnvironmentID: env, ID: gatehouse.NewID(), Time: now(), ActorType: gatehouse.ActorOperator,
			ActorID: "cli", Action: action, Outcome: gatehouse.OutcomeSuccess}
	}
	must(t, s.AppendAuditEvent(ctx, ev("acme", "FIRST")))
	batch := []*gatehouse.AuditEvent{ev("acme", "A2"), ev("globex", "G1"), ev("acme", "A3"), ev("globex", "G2")}
	must(t, s.AppendAuditEvents(ctx, batch))
	for env, want := range map[string][]string{"acme": {"FIRST", "A2", "A3"}, "globex": {"G1", "G2"}} {
		var got []string
		prev := gatehouse.AuditGenesis
		must(t, s.WalkAuditEvents(ctx, env, func(e *gatehouse.AuditEvent) error {
			if e.Seq != int64(len(got)+1) || e.PrevHash != prev || e.ComputeHash() != e.Hash {
				t.Errorf("%s event %d breaks the chain", env, e.Seq)
			}
			got, prev = append(got, e.Action), e.Hash
			return nil
		}))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s chain %v, want %v", env, got, want)
		}
		seq, head, err := s.AuditHead(ctx, env)
		must(t, err)
		if seq != int64(len(want)) || head != prev {
			t.Fatalf("%s head %d %s, want %d %s", env, seq, head, len(want), prev)
		}
	}
	if err := s.AppendAuditEvents(ctx, []*gatehouse.AuditEvent{ev("acme", "LOST"), ev("nowhere", "X")}); err == nil {
		t.Fatal("a batch naming a missing environment was stored")
	}
	if seq, _, _ := s.AuditHead(ctx, "acme"); seq != 3 {
		t.Fatalf("a failed batch moved acme's head to %d", seq)
	}
}

// testDirSubstringSearch: a filter that starts with % finds users as they
// are after every create, rename and delete, in their environment only.
func testDirSubstringSearch(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	find := func(env, email string) []string {
		t.Helper()
		users, err := usersOf(s.ListUsers(ctx, env, gatehouse.UserFilter{PrimaryEmail: email, Limit: 100}))
		must(t, err)
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		sort.Strings(names) // ids made in one millisecond sort at random
		return names
	}
	var made []*gatehouse.User
	for i, email := range []string{"Ann@Corp.example", "bob@corp.example", "cat@other.example"} {
		u := newUser("acme", fmt.Sprintf("u%d", i))
		u.PrimaryEmail = email
		must(t, s.CreateUser(ctx, u))
		made = append(made, u)
	}
	g := newUser("globex", "g0")
	g.PrimaryEmail = "gil@corp.example"
	must(t, s.CreateUser(ctx, g))
	if got := fmt.Sprint(find("acme", "%@CORP.example")); got != "[u0 u1]" {
		t.Fatalf("search after create: %s", got)
	}
	made[0].PrimaryEmail = "ann@elsewhere.example"
	must(t, s.UpdateUser(ctx, made[0]))
	made[2].PrimaryEmail = "cat@corp.example"
	must(t, s.UpdateUser(ctx, made[2]))
	if got := fmt.Sprint(find("acme", "%corp.ex%")); got != "[u1 u2]" {
		t.Fatalf("search after renames: %s", got)
	}
	must(t, s.DeleteUser(ctx, "acme", made[1].ID))
	if got := fmt.Sprint(find("acme", "%corp.ex%")); got != "[u2]" {
		t.Fatalf("search after delete: %s", got)
	}
	if got := fmt.Sprint(find("globex", "%corp.ex%")); got != "[g0]" {
		t.Fatalf("globex search: %s", got)
	}
	must(t, s.DeleteEnvironment(ctx, "acme"))
	newEnv(t, s, "acme")
	if got := find("acme", "%corp.ex%"); len(got) != 0 {
		t.Fatalf("a re-created environment finds the old users: %v", got)
	}
}

// testDirListUsersInTimeOrder pages through users by creation and by update
// time, ties broken by id, with the keyset the service puts in its cursor.
func testDirListUsersInTimeOrder(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	base := now()
	// Creation times out of id order, with ties.
	offsets := []int{5, 1, 3, 1, 4, 1, 2}
	for i, off := range offsets {
		u := newUser("acme", fmt.Sprintf("u%d", i))
		u.CreatedOn = base.Add(time.Duration(off) * time.Minute)
		u.UpdatedOn = base.Add(time.Duration(len(offsets)-i) * time.Minute)
		must(t, s.CreateUser(ctx, u))
	}
	for _, order := range []string{gatehouse.OrderByCreated, gatehouse.OrderByUpdated} {
		var seen []*gatehouse.User
		f := gatehouse.UserFilter{Order: order, Limit: 2}
		for range 10 {
			page, err := usersOf(s.ListUsers(ctx, "acme", f))
			must(t, err)
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
			last := page[len(page)-1]
			f.After, f.AfterTime = last.ID, last.CreatedOn
			if order == gatehouse.OrderByUpdated {
				f.AfterTime = last.UpdatedOn
			}
		}
		if len(seen) != len(offsets) {
			t.Fatalf("%s order: %d users, want %d", order, len(seen), len(offsets))
		}
		for i := 1; i < len(seen); i++ {
			a, b := seen[i-1], seen[i]
			ta, tb := a.CreatedOn, b.CreatedOn
			if order == gatehouse.OrderByUpdated {
				ta, tb = a.UpdatedOn, b.UpdatedOn
			}
			if ta.After(tb) || (ta.Equal(tb) && a.ID >= b.ID) {
				t.Fatalf("%s order: %s (%v) before %s (%v)", order, a.Username, ta, b.Username, tb)
			}
		}
	}
}

// usersOf is the users of a ListUsers answer.
func usersOf(l gatehouse.UserList, err error) ([]*gatehouse.User, error) { return l.Users, err }
