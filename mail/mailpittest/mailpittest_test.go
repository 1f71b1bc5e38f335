package mailpittest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mail/mailpittest"
)

func TestWaitForPicksNewestExactRecipient(t *testing.T) {
	srv := mailpittest.Start(t)
	s, err := mail.NewSMTP(srv.SMTPURL, "no-reply@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	sendAll := func(msgs ...mail.Message) {
		t.Helper()
		for _, m := range msgs {
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// mailpit's search matches substrings: the newest message here is to
	// an address that contains the one asked for.
	sendAll(
		mail.Message{To: "bob@example.org", Subject: "first", Text: "1"},
		mail.Message{To: "Bob@Example.org", Subject: "second", Text: "2"},
		mail.Message{To: "alice.bob@example.org", Subject: "other", Text: "3"},
	)
	got := srv.WaitFor(t, "bob@example.org", 5*time.Second)
	if got.Subject != "second" || got.Text != "2\r\n" || got.From != "no-reply@acme.example" || len(got.To) != 1 || got.To[0] != "Bob@Example.org" {
		t.Errorf("WaitFor = %+v, want the message with subject second", got)
	}
	if raw := srv.Raw(t, got.ID); len(raw) == 0 {
		t.Error("Raw returned nothing")
	}

	srv.Clear(t)
	sendAll(mail.Message{To: "bob@example.org", Subject: "after clear", Text: "4"})
	if got := srv.WaitFor(t, "bob@example.org", 5*time.Second); got.Subject != "after clear" {
		t.Errorf("after Clear, WaitFor = %q", got.Subject)
	}
}
