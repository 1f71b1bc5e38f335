package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/signing"
	"github.com/gatehouse/gatehouse/sqlite"
)

func newService(t testing.TB) *service.Service {
	t.Helper()
	store, err := sqlite.Open(context.Background(), t.TempDir(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kr, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	return &service.Service{Store: store, Keyring: kr}
}

// TestCreateEnvironment checks everything a new environment starts with.
func TestCreateEnvironment(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	created, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := svc.Store.GetUserByUsername(ctx, "acme", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if admin.PasswordState != gatehouse.PasswordMustChange || admin.Type != gatehouse.UserTypeAdmin ||
		len(admin.Roles) != 1 || admin.Roles[0].Role != gatehouse.RoleEnvironmentAdmin {
		t.Fatalf("admin: %+v", admin)
	}
	if ok, rehash, err := password.Verify(ctx, created.Admin.TemporaryPassword, admin.PasswordHash); !ok || rehash || err != nil {
		t.Fatalf("temporary password does not verify: %v %v %v", ok, rehash, err)
	}
	policy, err := svc.Store.GetPasswordPolicy(ctx, "acme")
	if err != nil || policy.Preset != gatehouse.PresetBasic || policy.LockoutFailures != 5 || policy.LockoutSeconds != 900 {
		t.Fatalf("policy: %+v %v", policy, err)
	}

	// The signing key's private half decrypts and signs what the JWKS verifies.
	all, err := svc.Store.ListSigningKeys(ctx, "acme")
	if err != nil || len(all) != 2 {
		t.Fatalf("keys: %+v %v", all, err)
	}
	var keys []*gatehouse.SigningKey // the current one first, as the checks below read
	for _, state := range []string{gatehouse.KeyCurrent, gatehouse.KeyNext} {
		for _, k := range all {
			if k.State == state && k.Algorithm == "ES256" {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) != 2 {
		t.Fatalf("a new environment has %+v, want a current and a next ES256 key", all)
	}
	der, err := svc.OpenSecret(ctx, "acme", keys[0].SecretName)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.ParsePrivate(der)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: signer, KeyID: keys[0].KID}}, nil)
	sig, _ := js.Sign([]byte("payload"))
	compact, _ := sig.CompactSerialize()
	doc, err := svc.JWKS(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	json.Unmarshal(doc, &set)
	parsed, _ := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256})
	if _, err := parsed.Verify(set.Key(keys[0].KID)[0]); err != nil {
		t.Fatalf("JWKS does not verify the key's signature: %v", err)
	}

	// A secret moved to another environment does not decrypt there.
	if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "globex"}); err != nil {
		t.Fatal(err)
	}
	sec, _ := svc.Store.GetSecret(ctx, "acme", keys[0].SecretName)
	svc.Store.PutSecret(ctx, &gatehouse.Secret{EnvironmentID: "globex", Name: keys[0].SecretName, Ciphertext: sec.Ciphertext})
	if _, err := svc.OpenSecret(ctx, "globex", keys[0].SecretName); err == nil {
		t.Fatal("acme's secret decrypted as globex's")
	}
}

// TestCreateEnvironmentIsAtomic: a failure part-way leaves nothing behind.
func TestCreateEnvironmentIsAtomic(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	_, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: "acme", AdminUsername: string(make([]byte, 300))})
	if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("bad admin username: %v", err)
	}
	if _, err := svc.Store.GetEnvironment(ctx, "acme"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("a failed create left the environment: %v", err)
	}
}

func TestBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	first, err := svc.Bootstrap(ctx)
	if err != nil || first == nil || first.Environment.ID != gatehouse.SystemEnvironmentID {
		t.Fatalf("first bootstrap: %+v %v", first, err)
	}
	second, err := svc.Bootstrap(ctx)
	if err != nil || second != nil {
		t.Fatalf("second bootstrap: %+v %v", second, err)
	}
}

func TestReencryptSecrets(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	for _, id := range []string{"acme", "globex", "initech"} {
		if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(s *service.Service) map[string][32]byte {
		out := map[string][32]byte{}
		all, _ := s.Store.ListSecrets(ctx)
		for _, sec := range all {
			plain, err := s.OpenSecret(ctx, sec.EnvironmentID, sec.Name)
			if err != nil {
				t.Fatalf("open %s/%s: %v", sec.EnvironmentID, sec.Name, err)
			}
			out[sec.EnvironmentID+"/"+sec.Name] = sha256.Sum256(plain)
		}
		return out
	}
	before := digest(svc)
	newKR, _ := keyring.New(keyring.Generate())
	n, err := service.ReencryptSecrets(ctx, svc.Store, svc.Keyring, newKR)
	if err != nil || n != 9 {
		t.Fatalf("re-encrypted %d, want 9 (current and next signing keys and a client-secret key per environment): %v", n, err)
	}
	old := svc.Keyring
	svc.Keyring = newKR
	after := digest(svc)
	if len(after) != 9 {
		t.Fatalf("after: %d secrets", len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("secret %s changed in re-encryption", k)
		}
	}
	svc.Keyring = old
	all, _ := svc.Store.ListSecrets(ctx)
	if _, err := svc.OpenSecret(ctx, all[0].EnvironmentID, all[0].Name); err == nil {
		t.Fatal("the old key still opens re-encrypted secrets")
	}

	// A keyring that cannot open a secret stops the rotation, and nothing moves.
	stranger, _ := keyring.New(keyring.Generate())
	if _, err := service.ReencryptSecrets(ctx, svc.Store, stranger, old); err == nil {
		t.Fatal("rotation with the wrong old key succeeded")
	}
	svc.Keyring = newKR
	if got := digest(svc); len(got) != 9 {
		t.Fatal("a failed rotation changed secrets")
	}
}

// TestOperatorActionsAreAudited: creating, changing and deleting an
// environment is recorded, with its actor, in the system environment's log.
func TestOperatorActionsAreAudited(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	if _, err := svc.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	op := service.Actor{Type: gatehouse.ActorApplication, ID: "ops-tool", ClientIP: "127.0.0.1"}
	if _, err := svc.CreateEnvironment(ctx, op, service.NewEnvironment{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	name := "Acme"
	if _, err := svc.UpdateEnvironment(ctx, op, "acme", service.EnvironmentChange{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteEnvironment(ctx, op, "acme"); err != nil {
		t.Fatal(err)
	}
	page, err := svc.ListAuditEvents(ctx, gatehouse.SystemEnvironmentID, gatehouse.AuditFilter{ActorID: "ops-tool", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range page.Items {
		if e.TargetID != "acme" || e.ClientIP != "127.0.0.1" {
			t.Errorf("event %+v", e)
		}
		actions = append(actions, e.Action)
	}
	if got := fmt.Sprint(actions); got != "[ENVIRONMENT_DELETED ENVIRONMENT_UPDATED ENVIRONMENT_CREATED]" {
		t.Fatalf("system log: %s", got)
	}
	if report, err := svc.VerifyAuditChain(ctx, gatehouse.SystemEnvironmentID); err != nil || !report.Valid {
		t.Fatalf("system chain: %+v %v", report, err)
	}
}
