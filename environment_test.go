package gatehouse_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestValidateEnvironmentID(t *testing.T) {
	cases := []struct {
		id   string
		want string // "" for valid, else a phrase of the message
	}{
		{"acme", ""},
		{"ab", ""},
		{"acme-corp-2", ""},
		{strings.Repeat("a", 40), ""},
		{"", "required"},
		{"a", "2 to 40"},
		{strings.Repeat("a", 41), "2 to 40"},
		{"Acme", "lowercase"},
		{"1acme", "starting with a letter"},
		{"-acme", "starting with a letter"},
		{"acme-", "not ending with a hyphen"},
		{"ac--me", "single hyphens"},
		{"ac_me", "lowercase letters"},
		{"ac.me", "lowercase letters"},
		{"ac me", "lowercase letters"},
		{"acme\n", "lowercase letters"},
		{"ácme", "lowercase letters"},
		{"../x", "lowercase letters"},
		{"api", "reserved"},
		{"console", "reserved"},
		{"system", ""}, // valid syntax; the store refuses it as existing
	}
	for _, tc := range cases {
		err := gatehouse.ValidateEnvironmentID(tc.id)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.id, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one saying %q", tc.id, err, tc.want)
		case err != nil && gatehouse.ErrorCode(err) != gatehouse.EINVALID:
			t.Errorf("%q: code %s", tc.id, gatehouse.ErrorCode(err))
		}
	}
}

func TestNewIDSortsByCreation(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := gatehouse.NewID()
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: length %d, duplicate %v", id, len(id), seen[id])
		}
		seen[id] = true
	}
	before := gatehouse.NewID()
	time.Sleep(2 * time.Millisecond)
	if after := gatehouse.NewID(); before >= after {
		t.Fatalf("an id made later sorts first: %s then %s", before, after)
	}
}

func TestPasswordPolicyPresetsKeepLockout(t *testing.T) {
	for _, preset := range []string{gatehouse.PresetBasic, gatehouse.PresetStandard, gatehouse.PresetPassphrase} {
		p, err := gatehouse.PasswordPolicyPreset(preset)
		if err != nil || p.LockoutFailures != 5 || p.LockoutSeconds != 900 || p.Preset != preset {
			t.Errorf("%s: %+v %v", preset, p, err)
		}
	}
	basic, _ := gatehouse.PasswordPolicyPreset(gatehouse.PresetBasic)
	if basic.MinUppercase+basic.MinDigits+basic.MinSpecial+basic.HistoryCount+basic.MaxAgeDays != 0 || basic.NotCommon {
		t.Errorf("BASIC is not permissive: %+v", basic)
	}
	if _, err := gatehouse.PasswordPolicyPreset("STRICT"); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestErrorHelpers(t *testing.T) {
	err := gatehouse.Errorf(gatehouse.ENOTFOUND, "user %q not found", "bob")
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND || gatehouse.ErrorMessage(err) != `user "bob" not found` {
		t.Fatal(err)
	}
	plain := strings.NewReader("").UnreadByte()
	if gatehouse.ErrorCode(plain) != gatehouse.EINTERNAL || gatehouse.ErrorMessage(plain) != "internal error" {
		t.Fatalf("a non-domain error leaks: %q", gatehouse.ErrorMessage(plain))
	}
	if gatehouse.ErrorCode(nil) != "" {
		t.Fatal("nil has a code")
	}
}
