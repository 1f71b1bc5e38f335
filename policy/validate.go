package policy

import "github.com/gatehouse/gatehouse"

// Bounds of the policy fields that do not depend on other fields.
const (
	maxMinDistance    = 64
	maxHistoryCount   = 24
	maxAgeDaysLimit   = 3650   // 10 years
	maxMinAgeMinutes  = 525600 // 1 year
	minLockoutFailure = 1
	maxLockoutFailure = 100
	minLockoutSeconds = 60
	maxLockoutSeconds = 86400 // 1 day
)

// Validate checks a policy before it is stored, and returns a
// *gatehouse.Error with code gatehouse.EINVALID naming the first field out of
// bounds. The bounds:
//
//	preset                  "" (custom), BASIC, STANDARD or PASSPHRASE
//	minLength               1 … 4096
//	maxLength               minLength … 4096
//	minLowercase, minUppercase, minDigits, minSpecial
//	                        0 … maxLength each, and together at most maxLength
//	maxRepeatedCharacters   0 (no rule) or 2 … maxLength
//	minUniqueCharacters     0 … maxLength
//	minDistanceFromCurrent  0 … 64
//	historyCount            0 … 24
//	maxAgeDays              0 (never expires) … 3650
//	minAgeMinutes           0 … 525600 (a year), and less than maxAgeDays
//	                        when that is set, so an expired password can be changed
//	lockoutFailures         1 … 100: brute-force protection cannot be turned off
//	lockoutSeconds          60 … 86400
func Validate(p *gatehouse.PasswordPolicy) error {
	if p == nil {
		return gatehouse.Errorf(gatehouse.EINVALID, "password policy is required")
	}
	switch p.Preset {
	case "", gatehouse.PresetBasic, gatehouse.PresetStandard, gatehouse.PresetPassphrase:
	default:
		return gatehouse.Errorf(gatehouse.EINVALID, "preset must be %s, %s or %s, not %q",
			gatehouse.PresetBasic, gatehouse.PresetStandard, gatehouse.PresetPassphrase, p.Preset)
	}
	if err := between("minLength", p.MinLength, 1, MaxPasswordLength); err != nil {
		return err
	}
	if err := between("maxLength", p.MaxLength, p.MinLength, MaxPasswordLength); err != nil {
		return err
	}
	classes := []struct {
		field string
		value int
	}{
		{"minLowercase", p.MinLowercase},
		{"minUppercase", p.MinUppercase},
		{"minDigits", p.MinDigits},
		{"minSpecial", p.MinSpecial},
	}
	sum := 0
	for _, c := range classes {
		if err := between(c.field, c.value, 0, p.MaxLength); err != nil {
			return err
		}
		sum += c.value
	}
	if sum > p.MaxLength {
		return gatehouse.Errorf(gatehouse.EINVALID,
			"minLowercase + minUppercase + minDigits + minSpecial must be at most maxLength (%d), not %d", p.MaxLength, sum)
	}
	if r := p.MaxRepeatedCharacters; r != 0 && (r < 2 || r > p.MaxLength) {
		return gatehouse.Errorf(gatehouse.EINVALID,
			"maxRepeatedCharacters must be 0 (no rule) or between 2 and %d, not %d", p.MaxLength, r)
	}
	bounds := []struct {
		field   string
		value   int
		lo, hi  int
		comment string
	}{
		{"minUniqueCharacters", p.MinUniqueCharacters, 0, p.MaxLength, ""},
		{"minDistanceFromCurrent", p.MinDistanceFromCurrent, 0, maxMinDistance, ""},
		{"historyCount", p.HistoryCount, 0, maxHistoryCount, ""},
		{"maxAgeDays", p.MaxAgeDays, 0, maxAgeDaysLimit, ""},
		{"minAgeMinutes", p.MinAgeMinutes, 0, maxMinAgeMinutes, ""},
		{"lockoutFailures", p.LockoutFailures, minLockoutFailure, maxLockoutFailure, ": brute-force protection cannot be turned off"},
		{"lockoutSeconds", p.LockoutSeconds, minLockoutSeconds, maxLockoutSeconds, ""},
	}
	for _, b := range bounds {
		if err := between(b.field, b.value, b.lo, b.hi); err != nil {
			err.Message += b.comment
			return err
		}
	}
	if p.MaxAgeDays > 0 && p.MinAgeMinutes >= p.MaxAgeDays*24*60 {
		return gatehouse.Errorf(gatehouse.EINVALID,
			"minAgeMinutes (%d) must be less than maxAgeDays (%d days = %d minutes), or an expired password could not be changed",
			p.MinAgeMinutes, p.MaxAgeDays, p.MaxAgeDays*24*60)
	}
	return nil
}

func between(field string, value, lo, hi int) *gatehouse.Error {
	if value < lo || value > hi {
		return gatehouse.Errorf(gatehouse.EINVALID, "%s must be between %d and %d, not %d", field, lo, hi, value)
	}
	return nil
}
