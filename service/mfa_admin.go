package service

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// MaxMFABypass is the longest bypass an administrator may grant.
const MaxMFABypass = 30 * 24 * time.Hour

// UserMFA is what an administrator sees of a user's second factors.
type UserMFA struct {
	Devices           []*gatehouse.MFADevice `json:"devices"`
	RecoveryCodesLeft int                    `json:"recoveryCodesLeft"`
	gatehouse.MFAState
}

// UserMFA returns a user's devices, recovery codes left, block and bypass.
func (s *Service) UserMFA(ctx context.Context, envID, userID string) (*UserMFA, error) {
	if _, err := s.Store.GetUser(ctx, envID, userID); err != nil {
		return nil, err
	}
	devices, err := s.Store.ListMFADevices(ctx, envID, userID)
	if err != nil {
		return nil, err
	}
	// Devices whose enrolment never finished are not the user's yet.
	confirmed := devices[:0]
	for _, d := range devices {
		if d.Confirmed {
			confirmed = append(confirmed, d)
		}
	}
	n, err := s.Store.CountRecoveryCodes(ctx, envID, userID)
	if err != nil {
		return nil, err
	}
	st, err := s.Store.GetMFAState(ctx, envID, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if st.BlockedUntil != nil && !now.Before(*st.BlockedUntil) {
		st.BlockedUntil = nil
	}
	if st.BypassUntil != nil && !now.Before(*st.BypassUntil) {
		st.BypassUntil = nil
	}
	return &UserMFA{Devices: confirmed, RecoveryCodesLeft: n, MFAState: *st}, nil
}

// RemoveMFADevice deletes one of a user's devices.
func (s *Service) RemoveMFADevice(ctx context.Context, actor Actor, envID, userID, deviceID string) error {
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		d, err := r.GetMFADevice(ctx, envID, deviceID)
		if err != nil || d.UserID != userID {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "device not found")
		}
		if err := r.DeleteMFADevice(ctx, envID, deviceID); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionMFADeviceRemoved, TargetType: "USER", TargetID: userID,
			Details: map[string]string{"device": d.ID, "type": d.Type, "name": d.Name}})
	})
}

// RenameMFADevice renames one of a user's devices.
func (s *Service) RenameMFADevice(ctx context.Context, actor Actor, envID, userID, deviceID, name string) (*gatehouse.MFADevice, error) {
	if err := gatehouse.ValidateDeviceName(name); err != nil {
		return nil, err
	}
	var d *gatehouse.MFADevice
	err := s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		var err error
		d, err = r.GetMFADevice(ctx, envID, deviceID)
		if err != nil || d.UserID != userID || !d.Confirmed {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "device not found")
		}
		d.Name = name
		if err := r.UpdateMFADevice(ctx, d); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionMFADeviceRenamed, TargetType: "USER", TargetID: userID,
			Details: map[string]string{"device": d.ID, "name": name}})
	})
	return d, err
}

// SetMFABypass lets a user sign in without a second factor until a time at
// most MaxMFABypass away (a lost phone, until a new one is enrolled); nil
// ends the bypass.
func (s *Service) SetMFABypass(ctx context.Context, actor Actor, envID, userID string, until *time.Time) error {
	if until != nil {
		now := s.now()
		if !until.After(now) || until.Sub(now) > MaxMFABypass {
			return gatehouse.Errorf(gatehouse.EINVALID, "until must be in the future and at most 30 days away")
		}
		t := until.UTC().Truncate(time.Microsecond)
		until = &t
	}
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetUser(ctx, envID, userID); err != nil {
			return err
		}
		if err := r.SetMFABypass(ctx, envID, userID, until); err != nil {
			return err
		}
		details := map[string]string{"until": ""}
		if until != nil {
			details["until"] = until.Format(time.RFC3339)
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionMFABypassSet, TargetType: "USER", TargetID: userID, Details: details})
	})
}

// UnblockMFA ends a block that wrong second factors caused.
func (s *Service) UnblockMFA(ctx context.Context, actor Actor, envID, userID string) error {
	return s.Store.InTx(ctx, func(r gatehouse.Repositories) error {
		if _, err := r.GetUser(ctx, envID, userID); err != nil {
			return err
		}
		if err := r.ResetMFAFailures(ctx, envID, userID); err != nil {
			return err
		}
		return s.audit(ctx, r, envID, actor, Change{Action: ActionUserUnlocked, TargetType: "USER", TargetID: userID,
			Details: map[string]string{"what": "second factor"}})
	})
}
