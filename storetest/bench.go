package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// BenchUsers is how many users the read benchmarks seed.
const BenchUsers = 10000

// Bench measures the store's hot reads, serially and from parallel
// goroutines: user by username, application by client id, environment by id.
func Bench(b *testing.B, open func(b *testing.B) gatehouse.Store) {
	ctx := context.Background()
	s := open(b)
	defer s.Close()
	for _, id := range []string{"acme", "globex"} {
		e := &gatehouse.Environment{ID: id, DisplayName: id, Status: gatehouse.EnvironmentActive, CreatedOn: now(), UpdatedOn: now()}
		if err := s.CreateEnvironment(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 500
	for i := 0; i < BenchUsers; i += batch {
		err := s.InTx(ctx, func(r gatehouse.Repositories) error {
			for j := i; j < i+batch; j++ {
				u := newUser("acme", fmt.Sprintf("user%06d@corp.example", j))
				u.Roles = []gatehouse.RoleAssignment{{Role: "STORE_ASSISTANT", Context: &gatehouse.RoleContext{Type: "LOCATION", ID: "l1"}}}
				if err := r.CreateUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		a := &gatehouse.Application{EnvironmentID: "acme", ID: gatehouse.NewID(), ClientID: fmt.Sprintf("client-%03d", i),
			Name: "app", Type: gatehouse.AppTypeService, SecretHash: make([]byte, 32), CreatedOn: now(), UpdatedOn: now()}
		if err := s.CreateApplication(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	reads := []struct {
		name string
		read func(i int) error
	}{
		{"UserByUsername", func(i int) error {
			_, err := s.GetUserByUsername(ctx, "acme", fmt.Sprintf("USER%06d@corp.example", i%BenchUsers))
			return err
		}},
		{"ApplicationByClientID", func(i int) error {
			_, err := s.GetApplicationByClientID(ctx, "acme", fmt.Sprintf("client-%03d", i%100))
			return err
		}},
		{"EnvironmentByID", func(i int) error {
			_, err := s.GetEnvironment(ctx, "acme")
			return err
		}},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := r.read(i); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(r.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := r.read(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
