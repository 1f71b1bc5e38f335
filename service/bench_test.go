package service_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// BenchmarkCreateUser measures user creation with an initial password,
// which hashing bounds (argon2id, m=19 MiB, t=2, p=1, at most one hash per
// core), beside creation without a password.
func BenchmarkCreateUser(b *testing.B) {
	for _, withPassword := range []bool{true, false} {
		name := "NoPassword"
		if withPassword {
			name = "WithPassword"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			svc := newService(b)
			if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "acme"}); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					in := service.NewUser{User: gatehouse.User{Username: fmt.Sprintf("user%d", n.Add(1))}}
					if withPassword {
						in.Password = "initial-password-1"
					}
					if _, err := svc.CreateUser(ctx, service.OperatorActor(), "acme", in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
