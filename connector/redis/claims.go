package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Claims guards work that must run once per key even across crashes: a
// worker claims a key for a short TTL, does the work, then marks it done for
// a long TTL. If the worker dies, the claim expires and the work is done
// again: never dropped, at worst repeated (so the work itself must be an
// upsert or otherwise idempotent).
type Claims struct {
	c      goredis.UniversalClient
	prefix string
}

const (
	claimValue = "claimed"
	doneValue  = "done"
)

// NewClaims returns claims under bridge:<namespace>:claim:.
func NewClaims(c goredis.UniversalClient, namespace string) (*Claims, error) {
	if c == nil {
		return nil, errors.New("redis: NewClaims: nil client")
	}
	if !nameRE.MatchString(namespace) {
		return nil, fmt.Errorf("redis: claims namespace %q: want 1-64 of [A-Za-z0-9_.-]", namespace)
	}
	return &Claims{c: c, prefix: "bridge:" + namespace + ":claim:"}, nil
}

// Claim takes key for ttl (> 0). False means someone holds it or it is done
// (IsDone tells which).
func (cl *Claims) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		// A claim without expiry would strand the work if its worker died.
		return false, fmt.Errorf("claim %s: ttl must be positive", key)
	}
	ok, err := cl.c.SetNX(ctx, cl.prefix+key, claimValue, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return ok, nil
}

// Done marks key finished for ttl, replacing the claim.
func (cl *Claims) Done(ctx context.Context, key string, ttl time.Duration) error {
	if err := cl.c.Set(ctx, cl.prefix+key, doneValue, ttl).Err(); err != nil {
		return fmt.Errorf("mark %s done: %w", key, err)
	}
	return nil
}

// IsDone reports whether key was marked done.
func (cl *Claims) IsDone(ctx context.Context, key string) (bool, error) {
	v, err := cl.c.Get(ctx, cl.prefix+key).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: %w", key, err)
	}
	return v == doneValue, nil
}

// Release drops a claim after failed work so a retry need not wait for the
// TTL. A done mark is left alone.
func (cl *Claims) Release(ctx context.Context, key string) error {
	if _, err := eval(ctx, cl.c, releaseScript, []string{cl.prefix + key}); err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}
