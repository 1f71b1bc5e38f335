package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Actor is who does something, for the audit log.
type Actor struct {
	Type      string // gatehouse.ActorUser, ActorApplication, ActorOperator, ActorAnonymous
	ID        string
	ClientIP  string
	UserAgent string
}

// OperatorActor is the CLI: whoever can run it holds the store.
func OperatorActor() Actor {
	return Actor{Type: gatehouse.ActorOperator, ID: "cli"}
}

// Change describes an audited action on a target.
type Change struct {
	Action     string
	TargetType string
	TargetID   string
	Outcome    string
	Details    map[string]string
}

func (s *Service) event(envID string, a Actor, c Change) *gatehouse.AuditEvent {
	if c.Outcome == "" {
		c.Outcome = gatehouse.OutcomeSuccess
	}
	return &gatehouse.AuditEvent{
		EnvironmentID: envID, ID: gatehouse.NewID(), Time: s.now(),
		ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP, UserAgent: truncateText(a.UserAgent, 512),
		Action: c.Action, TargetType: c.TargetType, TargetID: c.TargetID, Outcome: c.Outcome, Details: c.Details,
	}
}

// audit appends an event in the caller's transaction, so that a change and
// its record commit together or not at all.
func (s *Service) audit(ctx context.Context, r gatehouse.Repositories, envID string, a Actor, c Change) error {
	return r.AppendAuditEvent(ctx, s.event(envID, a, c))
}

// AuditBatcher records high-volume events (tokens issued, failed
// authentications) off the request path: events are appended in batches,
// one transaction per batch, so that issuing a token does not wait for a
// disk flush. Events still buffered when the process is killed are lost;
// Close flushes them on a clean stop.
type AuditBatcher struct {
	store gatehouse.Store
	log   *slog.Logger
	in    chan *gatehouse.AuditEvent
	done  chan struct{}
	once  sync.Once
}

// NewAuditBatcher starts the batcher's writer.
func NewAuditBatcher(store gatehouse.Store, log *slog.Logger) *AuditBatcher {
	b := &AuditBatcher{store: store, log: log, in: make(chan *gatehouse.AuditEvent, 4096), done: make(chan struct{})}
	go b.run()
	return b
}

// Record queues an event; when the queue is full it writes it directly, so
// that no event is dropped under load.
func (b *AuditBatcher) Record(ctx context.Context, e *gatehouse.AuditEvent) {
	select {
	case b.in <- e:
	default:
		if err := b.store.AppendAuditEvent(context.WithoutCancel(ctx), e); err != nil {
			b.log.Error("audit event lost", "action", e.Action, "env", e.EnvironmentID, "err", err)
		}
	}
}

func (b *AuditBatcher) run() {
	defer close(b.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var batch []*gatehouse.AuditEvent
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := b.store.AppendAuditEvents(context.Background(), batch); err != nil {
			// A batch fails whole, for example when one event's environment
			// was just deleted: retry the events one by one so that the
			// others are kept.
			for _, e := range batch {
				if err := b.store.AppendAuditEvent(context.Background(), e); err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
					b.log.Error("audit event lost", "action", e.Action, "env", e.EnvironmentID, "err", err)
				}
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case e, ok := <-b.in:
			if !ok {
				flush()
				return
			}
			if batch = append(batch, e); len(batch) >= 512 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// Close writes what is queued and stops the writer.
func (b *AuditBatcher) Close() {
	b.once.Do(func() { close(b.in) })
	<-b.done
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
