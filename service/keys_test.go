package service_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func kidsByState(t *testing.T, svc *service.Service) map[string][]string {
	t.Helper()
	keys, err := svc.Store.ListSigningKeys(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range keys {
		out[k.State] = append(out[k.State], k.KID)
	}
	return out
}

func jwksKids(t *testing.T, svc *service.Service) map[string]bool {
	t.Helper()
	doc, err := svc.JWKS(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid string }
	}
	json.Unmarshal(doc, &set)
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.Kid] = true
	}
	return out
}

// TestSigningKeyRotation: the next key is published before it signs, the
// old key keeps verifying after the switch, and retires only when every
// token it signed has expired.
func TestSigningKeyRotation(t *testing.T) {
	ctx := context.Background()
	svc, clk := newClockedService(t)
	start := kidsByState(t, svc)
	if len(start[gatehouse.KeyCurrent]) != 1 || len(start[gatehouse.KeyNext]) != 1 {
		t.Fatalf("a new environment's keys: %v", start)
	}
	if kids := jwksKids(t, svc); !kids[start[gatehouse.KeyCurrent][0]] || !kids[start[gatehouse.KeyNext][0]] {
		t.Fatalf("the JWKS does not publish current and next: %v", kids)
	}
	claims := service.AccessClaims{Subject: "s", ClientID: "c", SubjectType: gatehouse.ActorApplication}
	if rotated, err := svc.RotateSigningKeys(ctx, service.OperatorActor(), "acme", false); err != nil || rotated {
		t.Fatalf("a fresh key rotated: %v %v", rotated, err)
	}
	clk.advance(service.KeyRotationPeriod)
	oldToken, err := svc.MintAccessToken(ctx, "acme", claims, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rotated, err := svc.RotateSigningKeys(ctx, service.OperatorActor(), "acme", false); err != nil || !rotated {
		t.Fatalf("a key past its period did not rotate: %v %v", rotated, err)
	}
	after := kidsByState(t, svc)
	if after[gatehouse.KeyCurrent][0] != start[gatehouse.KeyNext][0] || after[gatehouse.KeyPrevious][0] != start[gatehouse.KeyCurrent][0] || len(after[gatehouse.KeyNext]) != 1 {
		t.Fatalf("after rotation: %v (was %v)", after, start)
	}
	newToken, _ := svc.MintAccessToken(ctx, "acme", claims, time.Hour)
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if _, err := svc.VerifyAccessToken(ctx, "acme", tok); err != nil {
			t.Fatalf("the %s key's token does not verify after rotation: %v", name, err)
		}
	}
	clk.advance(service.KeyRetireAfter)
	svc.RotateSigningKeys(ctx, service.OperatorActor(), "acme", false)
	if kids := jwksKids(t, svc); kids[start[gatehouse.KeyCurrent][0]] {
		t.Fatalf("the retired key is still published")
	}
	if _, err := svc.OpenSecret(ctx, "acme", "signing-key/"+start[gatehouse.KeyCurrent][0]); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the retired key's private half is still stored: %v", err)
	}

	// A forced rotation switches at once, for a suspected leak.
	before := kidsByState(t, svc)
	if rotated, err := svc.RotateSigningKeys(ctx, service.OperatorActor(), "acme", true); err != nil || !rotated {
		t.Fatalf("forced rotation: %v %v", rotated, err)
	}
	if now := kidsByState(t, svc); now[gatehouse.KeyCurrent][0] != before[gatehouse.KeyNext][0] {
		t.Fatalf("forced rotation: %v (was %v)", now, before)
	}
	page, _ := svc.ListAuditEvents(ctx, "acme", gatehouse.AuditFilter{Action: service.ActionKeyRotated, Limit: 10})
	if len(page.Items) < 2 {
		t.Fatalf("rotations are not audited: %d events", len(page.Items))
	}
}
