package gatehouse

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// Audit outcomes.
const (
	OutcomeSuccess = "SUCCESS"
	OutcomeFailure = "FAILURE"
)

// Actor types.
const (
	ActorUser        = "USER"
	ActorApplication = "APPLICATION"
	ActorOperator    = "OPERATOR" // the CLI, run by whoever holds the store
	ActorAnonymous   = "ANONYMOUS"
	// ActorIdentityProvider is a corporate IdP creating a user just in time.
	ActorIdentityProvider = "IDENTITY_PROVIDER"
)

// AuditEvent records one sign-in attempt, token issue, admin change or
// policy change. Events of an environment form a hash chain: each event's
// Hash covers its content and the previous event's hash, so altering or
// removing one breaks the chain.
type AuditEvent struct {
	EnvironmentID string            `json:"environmentId"`
	Seq           int64             `json:"seq"`
	ID            string            `json:"id"`
	Time          time.Time         `json:"time"`
	ActorType     string            `json:"actorType"`
	ActorID       string            `json:"actorId"`
	Action        string            `json:"action"`
	TargetType    string            `json:"targetType"`
	TargetID      string            `json:"targetId"`
	Outcome       string            `json:"outcome"`
	ClientIP      string            `json:"clientIp"`
	UserAgent     string            `json:"userAgent"`
	Details       map[string]string `json:"details"`
	PrevHash      string            `json:"prevHash"`
	Hash          string            `json:"hash"`
}

// AuditGenesis is the PrevHash of an environment's first event.
const AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the SHA-256 over the event's content and PrevHash, in
// a length-prefixed encoding so that no two events encode alike.
func (e *AuditEvent) ComputeHash() string {
	h := sha256.New()
	details, _ := json.Marshal(e.Details) // map keys are sorted
	for _, field := range []string{
		e.EnvironmentID, strconv.FormatInt(e.Seq, 10), e.ID, strconv.FormatInt(e.Time.UnixMicro(), 10),
		e.ActorType, e.ActorID, e.Action, e.TargetType, e.TargetID, e.Outcome, e.ClientIP,
		e.UserAgent, string(details), e.PrevHash,
	} {
		h.Write([]byte(strconv.Itoa(len(field))))
		h.Write([]byte{':'})
		h.Write([]byte(field))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditFilter selects audit events; empty fields match everything. Events
// come newest first, before the sequence number Before when it is set.
type AuditFilter struct {
	ActorID  string
	TargetID string
	Action   string
	Outcome  string
	From, To *time.Time
	Before   int64
	Limit    int
}
