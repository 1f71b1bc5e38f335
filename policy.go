package gatehouse

// Password policy presets (DESIGN.md §2).
const (
	PresetBasic      = "BASIC"
	PresetStandard   = "STANDARD"
	PresetPassphrase = "PASSPHRASE"
)

// PasswordPolicy is an environment's rules for local passwords. Zero in a
// numeric field means "no rule".
type PasswordPolicy struct {
	Preset                 string `json:"preset"`
	MinLength              int    `json:"minLength"`
	MaxLength              int    `json:"maxLength"`
	MinLowercase           int    `json:"minLowercase"`
	MinUppercase           int    `json:"minUppercase"`
	MinDigits              int    `json:"minDigits"`
	MinSpecial             int    `json:"minSpecial"`
	MaxRepeatedCharacters  int    `json:"maxRepeatedCharacters"`
	MinUniqueCharacters    int    `json:"minUniqueCharacters"`
	NotCommon              bool   `json:"notCommon"`
	NotUserAttributes      bool   `json:"notUserAttributes"`
	MinDistanceFromCurrent int    `json:"minDistanceFromCurrent"`
	HistoryCount           int    `json:"historyCount"`
	MaxAgeDays             int    `json:"maxAgeDays"`
	MinAgeMinutes          int    `json:"minAgeMinutes"`
	LockoutFailures        int    `json:"lockoutFailures"`
	LockoutSeconds         int    `json:"lockoutSeconds"`
}

// PasswordPolicyPreset returns the fields of a preset. Every preset keeps
// brute-force protection on: lockout after 5 failures for 15 minutes.
func PasswordPolicyPreset(preset string) (PasswordPolicy, error) {
	lockout := PasswordPolicy{Preset: preset, MaxLength: 255, LockoutFailures: 5, LockoutSeconds: 15 * 60}
	switch preset {
	case PresetBasic:
		lockout.MinLength = 1
	case PresetStandard:
		lockout.MinLength = 8
		lockout.MinLowercase, lockout.MinUppercase, lockout.MinDigits, lockout.MinSpecial = 1, 1, 1, 1
		lockout.MaxRepeatedCharacters = 2
		lockout.MinUniqueCharacters = 5
		lockout.NotCommon = true
		lockout.NotUserAttributes = true
		lockout.MinDistanceFromCurrent = 2
		lockout.HistoryCount = 6
		lockout.MaxAgeDays = 180
		lockout.MinAgeMinutes = 60 * 24
	case PresetPassphrase:
		lockout.MinLength = 15
		lockout.MaxLength = 1024
		lockout.NotCommon = true
		lockout.NotUserAttributes = true
	default:
		return PasswordPolicy{}, Errorf(EINVALID, "unknown password policy preset %q (want %s, %s or %s)", preset, PresetBasic, PresetStandard, PresetPassphrase)
	}
	return lockout, nil
}
