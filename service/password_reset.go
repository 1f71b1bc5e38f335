package service

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/otp"
	"github.com/gatehouse/gatehouse/policy"
)

// Audit actions of account recovery.
const (
	ActionPasswordResetSent     = "PASSWORD_RESET_SENT"
	ActionPasswordResetFailed   = "PASSWORD_RESET_FAILED"
	ActionPasswordResetComplete = "PASSWORD_RESET"
)

// Password reset codes: eight digits, fifteen minutes, five tries.
const (
	ResetCodeDigits   = 8
	ResetCodeTTL      = 15 * time.Minute
	ResetCodeAttempts = 5
)

// resendResetAfter keeps anyone from filling a user's mailbox.
const resendResetAfter = time.Minute

// SendPasswordReset emails a local user a single-use code to choose a new
// password with. It answers nil whether or not the username is a user
// who can get one, so that the page says the same for everyone; admin
// says whether an administrator asked (they get errors instead).
func (s *Service) SendPasswordReset(ctx context.Context, actor Actor, envID, username string) error {
	if s.Mail == nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "email is not set up on this server, so passwords cannot be reset by email: ask your administrator")
	}
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 1000 {
		return gatehouse.Errorf(gatehouse.EINVALID, "enter your username")
	}
	u, err := s.Store.GetUserByUsername(ctx, envID, username)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			return err
		}
		s.resetRefused(ctx, envID, actor, username, "", "no such user")
		return nil
	}
	if err := s.sendReset(ctx, actor, u); err != nil && gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
		s.resetRefused(ctx, envID, actor, username, u.ID, gatehouse.ErrorMessage(err))
		return nil
	} else if err != nil {
		return err
	}
	return nil
}

// SendPasswordResetFor is an administrator sending a user the reset email;
// unlike the user's own request it says why when it cannot.
func (s *Service) SendPasswordResetFor(ctx context.Context, actor Actor, envID, userID string) error {
	if s.Mail == nil {
		return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "email is not set up on this server (the smtp-url setting)")
	}
	u, err := s.Store.GetUser(ctx, envID, userID)
	if err != nil {
		return err
	}
	return s.sendReset(ctx, actor, u)
}

func (s *Service) sendReset(ctx context.Context, actor Actor, u *gatehouse.User) error {
	switch {
	case u.Corporate():
		return errExternal()
	case u.Type == gatehouse.UserTypeAPI:
		return gatehouse.Errorf(gatehouse.EINVALID, "API users' passwords are set by an administrator")
	case u.Status != gatehouse.UserActive:
		return gatehouse.Errorf(gatehouse.EINVALID, "the user is disabled")
	case u.PrimaryEmail == "":
		return gatehouse.Errorf(gatehouse.EINVALID, "the user has no email address")
	}
	key, err := s.codeKey(ctx, u.EnvironmentID)
	if err != nil {
		return err
	}
	code := otp.NewNumericCode(ResetCodeDigits)
	now := s.now()
	err = s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		// One email a minute per user, however often the form is sent: a
		// throttle row lives a minute; finding it (the rollback keeps it)
		// means a code went out just now.
		if err := r.UseOneTimeCode(ctx, u.EnvironmentID, u.ID, gatehouse.CodeResetThrottle, []byte{0}, 1, now); err == nil {
			return gatehouse.Errorf(gatehouse.ETOOMANY, "a reset email was sent less than a minute ago")
		}
		if err := r.PutOneTimeCode(ctx, &gatehouse.OneTimeCode{EnvironmentID: u.EnvironmentID, UserID: u.ID, Purpose: gatehouse.CodeResetThrottle,
			Hash: []byte{0}, CreatedOn: now, ExpiresAt: now.Add(resendResetAfter)}); err != nil {
			return err
		}
		return r.PutOneTimeCode(ctx, &gatehouse.OneTimeCode{EnvironmentID: u.EnvironmentID, UserID: u.ID, Purpose: gatehouse.CodePasswordReset,
			Hash: otp.HashCode(key, gatehouse.CodePasswordReset, u.ID, code), CreatedOn: now, ExpiresAt: now.Add(ResetCodeTTL)})
	})
	if gatehouse.ErrorCode(err) == gatehouse.ETOOMANY {
		return nil // the user has a fresh code already: same answer, no second email
	}
	if err != nil {
		return err
	}
	link := strings.TrimSuffix(s.BaseURL, "/") + "/" + u.EnvironmentID + "/reset"
	if err := s.mail(ctx, u.PrimaryEmail, "Reset your password", "Someone asked to reset the password of "+u.Username+".\n\n"+
		"Your code is "+code+". It works once, for "+itoa(int(ResetCodeTTL.Minutes()))+" minutes, at\n"+link+"\n\n"+
		"If you did not ask, ignore this email: your password stays as it is.\n"); err != nil {
		return err
	}
	s.record(ctx, s.event(u.EnvironmentID, actor, Change{Action: ActionPasswordResetSent, TargetType: "USER", TargetID: u.ID}))
	return nil
}

func (s *Service) resetRefused(ctx context.Context, envID string, actor Actor, username, userID, reason string) {
	s.record(ctx, s.event(envID, actor, Change{Action: ActionPasswordResetFailed, TargetType: "USER", TargetID: userID,
		Outcome: gatehouse.OutcomeFailure, Details: map[string]string{"username": truncateText(username, 250), "reason": reason}}))
}

// errResetCode answers every code that does not reset a password, for
// whatever reason, with the same words.
var errResetCode = gatehouse.Errorf(gatehouse.EUNAUTHORIZED, "The code is not right, has expired or was already used. Ask for a new one.")

// ResetPassword sets a new password with a code from SendPasswordReset.
// The password must meet the policy; the code works once, and not after
// any other password change.
func (s *Service) ResetPassword(ctx context.Context, actor Actor, envID, username, code, newPassword string) error {
	if !s.failures.allowed(actor.ClientIP, time.Now()) {
		return gatehouse.Errorf(gatehouse.ETOOMANY, "too many failed attempts from this address: try again in a few seconds")
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	u, err := s.Store.GetUserByUsername(ctx, envID, strings.TrimSpace(username))
	if err != nil || len(code) != ResetCodeDigits || u.Corporate() || u.Status != gatehouse.UserActive {
		s.failures.failed(actor.ClientIP, time.Now())
		s.resetRefused(ctx, envID, actor, username, "", "no code for this user")
		return errResetCode
	}
	// Check the policy before using the code, so a weak password does not
	// cost the user their code.
	p, err := s.Store.GetPasswordPolicy(ctx, envID)
	if err != nil {
		return err
	}
	history, err := s.Store.PasswordHistory(ctx, envID, u.ID, max(p.HistoryCount, 0))
	if err != nil {
		return err
	}
	if err := checkPassword(ctx, p, policy.Candidate{Password: newPassword, User: u, History: history, Now: s.now()}); err != nil {
		return err
	}
	key, err := s.codeKey(ctx, envID)
	if err != nil {
		return err
	}
	if err := s.Store.UseOneTimeCode(ctx, envID, u.ID, gatehouse.CodePasswordReset, otp.HashCode(key, gatehouse.CodePasswordReset, u.ID, code),
		ResetCodeAttempts, s.now()); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			s.failures.failed(actor.ClientIP, time.Now())
			s.resetRefused(ctx, envID, actor, username, u.ID, "wrong or expired code")
			return errResetCode
		}
		return err
	}
	actor.Type, actor.ID = gatehouse.ActorUser, u.ID
	if _, err := s.SetPassword(ctx, actor, envID, u.ID, newPassword, false); err != nil {
		return err
	}
	s.record(ctx, s.event(envID, actor, Change{Action: ActionPasswordResetComplete, TargetType: "USER", TargetID: u.ID}))
	return nil
}
