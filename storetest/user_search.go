package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// testDirListUsersPlans checks user searches against a model of the filter
// on a directory big enough that some conditions match more users than
// SearchProbeLimit-sized probes allow (the store walks the users in list
// order) and others few (it reads through an index), with bounded walks
// (UserFilter.Scan) that stop early and go on from where they stopped.
// Whatever the plan, paging through a search must give exactly the users
// the model gives, in order, and no page may read more than Scan users.
func testDirListUsersPlans(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newEnv(t, s, "acme")
	newEnv(t, s, "globex")
	base := now().Add(-time.Hour)
	lastNames := []string{"Smith", "Nguyen", "Garcia", "Müller"}
	var all []*gatehouse.User
	must(t, s.InTx(ctx, func(r gatehouse.Repositories) error {
		for j := range 1200 {
			u := newUser("acme", fmt.Sprintf("User%04d@Corp%d.example", j, j%7))
			if j%100 == 0 {
				u.Username = fmt.Sprintf("svc_%04d@corp%d.example", j, j%7)
			}
			u.FirstName = fmt.Sprintf("Ann%d", j%40)
			if j%300 == 0 {
				u.FirstName = "Zoë"
			}
			u.LastName = lastNames[j%4]
			if j%3 != 0 {
				u.PrimaryEmail = strings.ToLower(u.Username)
			}
			u.Type = []string{gatehouse.UserTypeRetailer, gatehouse.UserTypeLocation}[j%2]
			if j%50 == 2 {
				u.Type = gatehouse.UserTypeAPI
			}
			if j%10 == 0 {
				u.Status = gatehouse.UserInactive
			}
			u.CreatedOn = base.Add(time.Duration(j) * time.Second)
			u.UpdatedOn = base.Add(time.Duration(1200-j/2) * time.Second) // ties, against id order
			if err := r.CreateUser(ctx, u); err != nil {
				return err
			}
			all = append(all, u)
			if j%200 == 0 { // the same names in another environment
				o := *u
				o.EnvironmentID, o.ID = "globex", gatehouse.NewID()
				if err := r.CreateUser(ctx, &o); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	// As the server does at start, so that the planner knows the indexes.
	if o, ok := s.(interface{ Optimize(context.Context) error }); ok {
		must(t, o.Optimize(ctx))
	}
	at := func(sec int) *time.Time { t := base.Add(time.Duration(sec) * time.Second); return &t }
	// narrow: an index finds few users, so that no bounded page stops
	// early; sparse: the search walks and its matches are too few to fill
	// pages, so that bounded pages stop.
	const narrow, sparse = 1, 2
	filters := []struct {
		name string
		f    gatehouse.UserFilter
		plan int
	}{
		{"everyone", gatehouse.UserFilter{}, 0},
		{"username prefix most share", gatehouse.UserFilter{Username: "user%"}, 0},
		{"username prefix of a hundred", gatehouse.UserFilter{Username: "USER01%"}, narrow},
		{"username exact, another case", gatehouse.UserFilter{Username: "USER0042@CORP0.EXAMPLE"}, narrow},
		{"username substring", gatehouse.UserFilter{Username: "%orp3%"}, 0},
		{"username substring too short for trigrams", gatehouse.UserFilter{Username: "%p3%"}, 0},
		{"username substring with a literal _", gatehouse.UserFilter{Username: "%c_0%"}, sparse},
		{"underscore is not a wildcard", gatehouse.UserFilter{Username: "user_%"}, narrow},
		{"email suffix", gatehouse.UserFilter{PrimaryEmail: "%@corp2.example"}, 0},
		{"email exact", gatehouse.UserFilter{PrimaryEmail: "user0005@corp5.example"}, narrow},
		{"first name exact", gatehouse.UserFilter{FirstName: "Ann1"}, narrow},
		{"first name prefix", gatehouse.UserFilter{FirstName: "ann1%"}, 0},
		{"first name prefix beyond ASCII", gatehouse.UserFilter{FirstName: "ZOË%"}, narrow},
		{"first name substring everyone has", gatehouse.UserFilter{FirstName: "%NN%"}, 0},
		{"last name exact", gatehouse.UserFilter{LastName: "Smith"}, 0},
		{"last name short substring beyond ASCII", gatehouse.UserFilter{LastName: "%ü%"}, 0},
		{"last name prefix no one has", gatehouse.UserFilter{LastName: "zzz%"}, narrow},
		{"rare type", gatehouse.UserFilter{Type: gatehouse.UserTypeAPI}, narrow},
		{"common type", gatehouse.UserFilter{Type: gatehouse.UserTypeRetailer}, 0},
		{"rare status", gatehouse.UserFilter{Status: gatehouse.UserInactive}, narrow},
		{"common status", gatehouse.UserFilter{Status: gatehouse.UserActive}, 0},
		{"rare status and common substring", gatehouse.UserFilter{Status: gatehouse.UserInactive, LastName: "%ll%"}, narrow},
		{"a combination no one has", gatehouse.UserFilter{Username: "user%", Type: gatehouse.UserTypeLocation, LastName: "%a%"}, sparse},
		{"a rare combination of common conditions", gatehouse.UserFilter{Username: "user%", Type: gatehouse.UserTypeLocation, LastName: "%ü%", FirstName: "%n3%"}, sparse},
		{"created range and status", gatehouse.UserFilter{Order: gatehouse.OrderByCreated, CreatedFrom: at(300), CreatedTo: at(900), Status: gatehouse.UserInactive}, 0},
		{"created range and substring", gatehouse.UserFilter{Order: gatehouse.OrderByCreated, CreatedFrom: at(100), LastName: "%uye%"}, 0},
		{"updated range and prefix", gatehouse.UserFilter{Order: gatehouse.OrderByUpdated, UpdatedTo: at(1000), FirstName: "ann2%"}, 0},
		{"created order, updated range", gatehouse.UserFilter{Order: gatehouse.OrderByCreated, UpdatedFrom: at(700), Type: gatehouse.UserTypeLocation}, 0},
	}
	for _, tc := range filters {
		want := usernames(modelSearch(all, tc.f))
		for _, paging := range []struct{ limit, scan int }{{25, 0}, {10, 100}, {3, 30}, {5, 1100}} {
			t.Run(fmt.Sprintf("%s/limit %d scan %d", tc.name, paging.limit, paging.scan), func(t *testing.T) {
				got, stops := pageThrough(t, s, all, tc.f, paging.limit, paging.scan)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%d users\n%v\nwant %d\n%v", len(got), got, len(want), want)
				}
				// A sparse search stops early with a small bound, or with a
				// big one when nobody matches at all.
				if tc.plan == narrow && stops > 0 || tc.plan == sparse && paging.scan > 0 && (paging.scan <= 100 || len(want) == 0) && stops == 0 {
					t.Fatalf("%d pages stopped early", stops)
				}
			})
		}
	}
}

func usernames(users []*gatehouse.User) []string {
	names := []string{}
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

// pageThrough pages through a search as the service does and returns the
// usernames found and how many pages stopped early, checking on the way
// that no page read more than scan users of the walk.
func pageThrough(t *testing.T, s gatehouse.Store, all []*gatehouse.User, f gatehouse.UserFilter, limit, scan int) (found []string, stops int) {
	t.Helper()
	ctx := context.Background()
	f.Limit, f.Scan = limit, scan
	// The walk: every user of the list's order within its time range.
	walkFilter := gatehouse.UserFilter{Order: f.Order}
	switch f.Order {
	case gatehouse.OrderByCreated:
		walkFilter.CreatedFrom, walkFilter.CreatedTo = f.CreatedFrom, f.CreatedTo
	case gatehouse.OrderByUpdated:
		walkFilter.UpdatedFrom, walkFilter.UpdatedTo = f.UpdatedFrom, f.UpdatedTo
	}
	walk := modelSearch(all, walkFilter)
	position := func(id string) int {
		for i, u := range walk {
			if u.ID == id {
				return i
			}
		}
		t.Fatalf("stopped at %s, not a user of the walk", id)
		return 0
	}
	byID := map[string]*gatehouse.User{}
	for _, u := range all {
		byID[u.ID] = u
	}
	found = []string{}
	from := -1
	for pages := 0; ; pages++ {
		if pages > len(all)+2 {
			t.Fatalf("paging does not end: %d users found", len(found))
		}
		list, err := s.ListUsers(ctx, "acme", f)
		must(t, err)
		if len(list.Users) > limit {
			t.Fatalf("page of %d users, limit %d", len(list.Users), limit)
		}
		for _, u := range list.Users {
			if u.EnvironmentID != "acme" {
				t.Fatalf("a user of %s listed in acme", u.EnvironmentID)
			}
			found = append(found, u.Username)
		}
		var next *gatehouse.User
		switch {
		case len(list.Users) == limit:
			next = list.Users[limit-1]
		case list.Stopped:
			if scan == 0 {
				t.Fatal("an unbounded search stopped")
			}
			stops++
			next = byID[list.StoppedAt]
			if next == nil {
				t.Fatalf("stopped at %q, no user of acme", list.StoppedAt)
			}
			if at := next.ListTime(f.Order); !list.StoppedAtTime.Equal(at) {
				t.Fatalf("stopped at %s at %v, the user's time is %v", list.StoppedAt, list.StoppedAtTime, at)
			}
			if p := position(next.ID); p-from > scan {
				t.Fatalf("one page read %d users of the walk, scan %d", p-from, scan)
			}
		default:
			return found, stops
		}
		if list.Stopped && len(list.Users) == limit {
			t.Fatal("stopped with a full page")
		}
		from = position(next.ID)
		f.After, f.AfterTime = next.ID, next.ListTime(f.Order)
	}
}

// modelSearch is what a search should find: the filter applied in Go to
// every user, in the filter's order.
func modelSearch(all []*gatehouse.User, f gatehouse.UserFilter) []*gatehouse.User {
	like := func(value, pattern string) bool {
		parts := strings.Split(strings.ToLower(pattern), "%")
		value = strings.ToLower(value)
		if !strings.HasPrefix(value, parts[0]) {
			return false
		}
		value = value[len(parts[0]):]
		last := len(parts) - 1
		for _, p := range parts[1:last] {
			i := strings.Index(value, p)
			if i < 0 {
				return false
			}
			value = value[i+len(p):]
		}
		return last == 0 && value == "" || last > 0 && strings.HasSuffix(value, parts[last])
	}
	text := func(value, filter string, caseless bool) bool {
		switch {
		case filter == "":
			return true
		case strings.Contains(filter, "%"):
			return like(value, filter)
		case caseless:
			return strings.EqualFold(value, filter)
		}
		return value == filter
	}
	in := func(at time.Time, from, to *time.Time) bool {
		return (from == nil || !at.Before(*from)) && (to == nil || at.Before(*to))
	}
	var users []*gatehouse.User
	for _, u := range all {
		if text(u.Username, f.Username, true) && text(u.PrimaryEmail, f.PrimaryEmail, true) &&
			text(u.FirstName, f.FirstName, false) && text(u.LastName, f.LastName, false) &&
			(f.Type == "" || u.Type == f.Type) && (f.Status == "" || u.Status == f.Status) &&
			in(u.CreatedOn, f.CreatedFrom, f.CreatedTo) && in(u.UpdatedOn, f.UpdatedFrom, f.UpdatedTo) {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b *gatehouse.User) int {
		if c := a.ListTime(f.Order).Compare(b.ListTime(f.Order)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return users
}
