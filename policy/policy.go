// Package policy checks local passwords against an environment's
// gatehouse.PasswordPolicy (DESIGN.md §2) and checks policies themselves.
//
// Check evaluates every rule of a policy and reports each broken one as a
// Violation whose Rule is the policy field's JSON name, so the HTTP layer and
// the hosted pages can show all of them at once. Validate bounds a policy
// before it is stored. IsCommon looks a password up in a bundled list of
// 125,148 common passwords (see COMMON-PASSWORDS.md).
package policy

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// Rule identifiers: the JSON name of the policy field that each rule comes
// from, plus RuleCharacters for the rule that every policy has.
const (
	RuleCharacters             = "characters"
	RuleMinLength              = "minLength"
	RuleMaxLength              = "maxLength"
	RuleMinLowercase           = "minLowercase"
	RuleMinUppercase           = "minUppercase"
	RuleMinDigits              = "minDigits"
	RuleMinSpecial             = "minSpecial"
	RuleMaxRepeatedCharacters  = "maxRepeatedCharacters"
	RuleMinUniqueCharacters    = "minUniqueCharacters"
	RuleNotCommon              = "notCommon"
	RuleNotUserAttributes      = "notUserAttributes"
	RuleMinDistanceFromCurrent = "minDistanceFromCurrent"
	RuleHistoryCount           = "historyCount"
	RuleMinAgeMinutes          = "minAgeMinutes"
)

// MaxPasswordLength is the most characters any password may have, and the
// largest maxLength a policy may set. A policy whose maxLength is 0 still
// refuses passwords longer than this.
const MaxPasswordLength = 4096

// minAttributeLength is the shortest user attribute that notUserAttributes
// looks for: shorter values ("Al", "Li") are too likely to occur by chance.
const minAttributeLength = 3

// Violation is one broken rule. Rule is a stable identifier (one of the Rule
// constants); Message says in words, for the user, what the password must be,
// and ends with the identifier in parentheses.
type Violation struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Candidate is a new password and what it is checked against.
type Candidate struct {
	// Password is the new password in clear.
	Password string
	// User is the password's owner, for notUserAttributes: the username (and
	// its part before "@"), first name, last name, primary email (and its
	// part before "@") and ref. Nil skips that rule.
	User *gatehouse.User
	// Current is the current password in clear when known (a user changing
	// their own password types it), for minDistanceFromCurrent. "" skips
	// that rule.
	Current string
	// History holds the PHC hashes of previous passwords, newest first, the
	// current one included. historyCount N refuses a password that matches
	// any of the first N.
	History []string
	// LastChanged is when the password was last changed, for minAgeMinutes.
	// Nil skips that rule (pass nil when an administrator sets the password
	// or the user must change it).
	LastChanged *time.Time
	// Now is the time of the change; the zero value means time.Now().
	Now time.Time
}

// Check returns every rule of p that c.Password breaks, in a stable order
// (the order of the Rule constants), and an empty, non-nil slice when the
// password is acceptable. A zero numeric field of p is no rule. Control
// characters and invalid UTF-8 are refused under every policy (rule
// "characters"); spaces, leading and trailing ones included, are allowed.
//
// Lengths count Unicode characters (runes), not bytes. A lowercase or
// uppercase letter is one for which unicode.IsLower or unicode.IsUpper holds,
// a digit one for unicode.IsDigit, and a special character is any character
// that is neither a letter nor a digit (spaces and punctuation included).
//
// The history rule verifies up to historyCount hashes, each one an
// expensive password hash computation, so Check can take a second under a
// policy with a long history. Check returns an error only when it cannot
// decide: p is nil, ctx ends, or a history hash cannot be read.
func Check(ctx context.Context, p *gatehouse.PasswordPolicy, c Candidate) ([]Violation, error) {
	if p == nil {
		return nil, fmt.Errorf("policy: no password policy to check against")
	}
	violations := []Violation{}
	add := func(rule, format string, args ...any) {
		violations = append(violations, Violation{Rule: rule, Message: fmt.Sprintf(format, args...) + " (" + rule + ")"})
	}
	runes := []rune(c.Password)
	var lower, upper, digits, special int
	for _, r := range runes {
		switch {
		case unicode.IsLower(r):
			lower++
		case unicode.IsUpper(r):
			upper++
		case unicode.IsDigit(r):
			digits++
		case !unicode.IsLetter(r):
			special++
		}
	}

	if !utf8.ValidString(c.Password) || strings.ContainsFunc(c.Password, unicode.IsControl) {
		add(RuleCharacters, "must not contain control characters or invalid text")
	}
	if p.MinLength > 0 && len(runes) < p.MinLength {
		add(RuleMinLength, "must be at least %s long", count(p.MinLength, "character"))
	}
	maxLength := p.MaxLength
	if maxLength <= 0 || maxLength > MaxPasswordLength {
		maxLength = MaxPasswordLength
	}
	if len(runes) > maxLength {
		add(RuleMaxLength, "must be at most %s long", count(maxLength, "character"))
	}
	if lower < p.MinLowercase {
		add(RuleMinLowercase, "must contain at least %s", count(p.MinLowercase, "lowercase letter"))
	}
	if upper < p.MinUppercase {
		add(RuleMinUppercase, "must contain at least %s", count(p.MinUppercase, "uppercase letter"))
	}
	if digits < p.MinDigits {
		add(RuleMinDigits, "must contain at least %s", count(p.MinDigits, "digit"))
	}
	if special < p.MinSpecial {
		add(RuleMinSpecial, "must contain at least %s (neither a letter nor a digit)", count(p.MinSpecial, "special character"))
	}
	if p.MaxRepeatedCharacters > 0 && longestRun(runes) > p.MaxRepeatedCharacters {
		add(RuleMaxRepeatedCharacters, "must not repeat a character more than %s in a row", count(p.MaxRepeatedCharacters, "time"))
	}
	if p.MinUniqueCharacters > 0 && distinct(runes) < p.MinUniqueCharacters {
		add(RuleMinUniqueCharacters, "must contain at least %s", count(p.MinUniqueCharacters, "different character"))
	}
	if p.NotCommon && IsCommon(c.Password) {
		add(RuleNotCommon, "must not be a commonly used password")
	}
	if p.NotUserAttributes && c.User != nil {
		if found := userAttributesIn(c.Password, c.User); len(found) > 0 {
			add(RuleNotUserAttributes, "must not contain your %s", orList(found))
		}
	}
	if p.MinDistanceFromCurrent > 0 && c.Current != "" && levenshtein(runes, []rune(c.Current)) < p.MinDistanceFromCurrent {
		add(RuleMinDistanceFromCurrent, "must differ from your current password in at least %s (added, removed or replaced)", count(p.MinDistanceFromCurrent, "character"))
	}
	if p.HistoryCount > 0 && len(c.History) > 0 {
		reused, err := inHistory(ctx, c.Password, c.History[:min(p.HistoryCount, len(c.History))])
		if err != nil {
			return nil, err
		}
		if reused {
			if p.HistoryCount == 1 {
				add(RuleHistoryCount, "must not be your current password")
			} else {
				add(RuleHistoryCount, "must not be one of your last %d passwords", p.HistoryCount)
			}
		}
	}
	if p.MinAgeMinutes > 0 && c.LastChanged != nil {
		now := c.Now
		if now.IsZero() {
			now = time.Now()
		}
		if c.LastChanged.Add(time.Duration(p.MinAgeMinutes) * time.Minute).After(now) {
			add(RuleMinAgeMinutes, "can be changed only once every %s", count(p.MinAgeMinutes, "minute"))
		}
	}
	return violations, nil
}

// count returns "1 character", "2 characters".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// orList returns "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// longestRun is the length of the longest run of one repeated character.
func longestRun(runes []rune) int {
	longest, run := 0, 0
	for i, r := range runes {
		if i > 0 && r == runes[i-1] {
			run++
		} else {
			run = 1
		}
		longest = max(longest, run)
	}
	return longest
}

// distinct is the number of different characters.
func distinct(runes []rune) int {
	seen := make(map[rune]struct{}, len(runes))
	for _, r := range runes {
		seen[r] = struct{}{}
	}
	return len(seen)
}

// userAttributesIn returns, in words, which attributes of u occur in pw
// (case-insensitively, anywhere in it).
func userAttributesIn(pw string, u *gatehouse.User) []string {
	pw = strings.ToLower(pw)
	attributes := []struct{ name, value string }{
		{"username", u.Username},
		{"username", localPart(u.Username)},
		{"first name", u.FirstName},
		{"last name", u.LastName},
		{"email address", u.PrimaryEmail},
		{"email address", localPart(u.PrimaryEmail)},
		{"reference", u.Ref},
	}
	var found []string
	for _, a := range attributes {
		value := strings.ToLower(strings.TrimSpace(a.value))
		if utf8.RuneCountInString(value) < minAttributeLength || !strings.Contains(pw, value) {
			continue
		}
		if len(found) == 0 || found[len(found)-1] != a.name {
			found = append(found, a.name)
		}
	}
	return found
}

// localPart returns the part of an email-like value before its last "@", or
// "" when it has none.
func localPart(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return ""
}

// levenshtein is the edit distance between a and b: the fewest characters to
// insert, delete or replace to turn one into the other.
func levenshtein(a, b []rune) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// inHistory reports whether pw matches any of the hashes.
func inHistory(ctx context.Context, pw string, hashes []string) (bool, error) {
	for i, h := range hashes {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("policy: checking password history: %w", err)
		}
		ok, _, err := password.Verify(ctx, pw, h)
		if err != nil {
			return false, fmt.Errorf("policy: checking password history entry %d: %w", i, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
