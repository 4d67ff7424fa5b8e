package contacts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityhealth/bridge/queue"
)

// retentionLease is how long a sweeping instance holds a deadline; one that
// dies (or finds the contact busy) leaves it due again after this, still
// within the 2 minutes SPEC allows with a 30 s sweep.
const retentionLease = time.Minute

// sweepBatch is how many deadlines one claim takes, sweepRounds how many
// claims one sweep makes at most: a backlog beyond 10,000 contacts waits
// for the next sweep.
const (
	sweepBatch  = 100
	sweepRounds = 100
)

// SweepRetention forgets every contact whose retention deadline has passed
// and returns how many it forgot. RunRetention calls it every interval.
func (r *Registry) SweepRetention(ctx context.Context) (int, error) {
	if r.cfg.Deadlines == nil {
		return 0, nil
	}
	n := 0
	var errs []error
	for round := 1; ; round++ {
		now := r.cfg.Now()
		ids, err := r.cfg.Deadlines.Claim(ctx, now, retentionLease, sweepBatch)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			forgot, err := r.forget(ctx, id, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("forget contact %s: %w", id, err))
				continue
			}
			if forgot {
				n++
			}
		}
		// Claimed deadlines leave the due range for the lease, so each
		// round takes new ones.
		if len(ids) < sweepBatch || round == sweepRounds || ctx.Err() != nil {
			return n, errors.Join(errs...)
		}
	}
}

// forget deletes the bridge's own copy of one contact: its state, phone
// index entries, and what the Forgetters keep, unless the contact came back
// to monitoring meanwhile (then its deadline moves).
func (r *Registry) forget(ctx context.Context, id string, claimedAt time.Time) (bool, error) {
	ctx, release, err := r.Lock(ctx, id)
	if err != nil {
		return false, err // ErrBusy: due again after the lease
	}
	defer release()
	c, found, err := r.Load(ctx, id)
	if err != nil {
		return false, err
	}
	if found {
		if until := r.RetainUntil(c); until.After(claimedAt) {
			return false, r.cfg.Deadlines.Set(ctx, until, id)
		}
	}
	var phones []string
	if found && c.Phone != "" {
		phones = append(phones, c.Phone)
		if err := r.ForgetPhone(ctx, c.Phone, id); err != nil {
			return false, err
		}
	}
	// Forgetters see the state still there (monitoring reads its dates).
	for _, fg := range r.cfg.Forgetters {
		if err := fg.Forget(ctx, id, phones); err != nil {
			return false, err
		}
	}
	// The opt-out flag stays (a record id and "1"), see SetOptOut.
	if err := r.cfg.Store.Del(ctx, contactKey(id)); err != nil {
		return false, fmt.Errorf("delete contact %s: %w", id, err)
	}
	if err := r.cfg.Deadlines.Done(ctx, id, claimedAt, retentionLease); err != nil {
		return false, err
	}
	r.log.Info("contact forgotten: retention ended", "contact_id", id)
	return true, nil
}

// RunRetention sweeps every interval (default 30 s) until ctx ends.
func (r *Registry) RunRetention(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := r.SweepRetention(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention sweep failed", "forgotten", n, "err", queue.LogText(err))
		} else if n > 0 {
			r.log.Info("retention sweep", "forgotten", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
