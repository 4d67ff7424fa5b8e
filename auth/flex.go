package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// FlexIdentity is what Twilio IAM says about a valid Flex token.
type FlexIdentity struct {
	Identity   string
	WorkerSID  string
	Roles      []string
	Expiration time.Time
}

// FlexValidator checks a Flex user token with Twilio IAM (Tokens/validate).
//
// A token IAM answers "valid": false for must be reported with an error that
// is ErrFlexTokenInvalid (errors.Is) or has an `InvalidToken() bool` method
// returning true (so the connector need not import auth); this becomes 401.
// Any other error means IAM could not say (network, 5xx, bad account
// credentials) and becomes 503, so the plugin retries instead of logging out.
type FlexValidator interface {
	ValidateFlexToken(ctx context.Context, token string) (FlexIdentity, error)
}

// ErrFlexTokenInvalid is the error a FlexValidator returns for a token IAM refused.
var ErrFlexTokenInvalid = errors.New("flex token refused by IAM")

func isFlexInvalid(err error) bool {
	if errors.Is(err, ErrFlexTokenInvalid) {
		return true
	}
	var it interface{ InvalidToken() bool }
	return errors.As(err, &it) && it.InvalidToken()
}

// flexCache remembers valid Flex tokens until IAM's expiration, and tokens
// IAM refused for refusalTTL, so repeating either costs no IAM call. Keys
// are SHA-256 digests so raw tokens are never kept. An outage is not
// remembered (asked again next time), singleflight folds a burst of
// identical requests into one call, and limit bounds the IAM calls that
// anonymous senders of fresh random tokens can cause.
type flexCache struct {
	v          FlexValidator
	max        int
	timeout    time.Duration
	now        func() time.Time
	group      singleflight.Group
	refusalTTL time.Duration
	limit      *rate.Limiter

	mu      sync.Mutex
	entries map[[sha256.Size]byte]FlexIdentity
	refused map[[sha256.Size]byte]time.Time // digest -> until
}

// errFlexBusy: the IAM call budget is spent; the caller retries.
var errFlexBusy = errors.New("flex token validation rate limit reached")

func newFlexCache(v FlexValidator, size int, timeout time.Duration, now func() time.Time) *flexCache {
	return &flexCache{v: v, max: size, timeout: timeout, now: now, refusalTTL: DefaultFlexRefusalTTL,
		limit:   rate.NewLimiter(rate.Limit(DefaultFlexRate), DefaultFlexBurst),
		entries: make(map[[sha256.Size]byte]FlexIdentity), refused: make(map[[sha256.Size]byte]time.Time)}
}

func (f *flexCache) principal(ctx context.Context, token string) (Principal, error) {
	id, err := f.identity(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if id.Identity == "" {
		return Principal{}, fmt.Errorf("%w: flex identity missing", ErrInvalidToken)
	}
	// Flex roles (admin, supervisor) are Flex's, not the bridge's: a Flex
	// token never grants mapping administration.
	return Principal{Subject: id.Identity, Role: RoleAgent, WorkerSID: id.WorkerSID, Source: SourceFlex}, nil
}

func (f *flexCache) identity(ctx context.Context, token string) (FlexIdentity, error) {
	key := sha256.Sum256([]byte(token))
	if id, ok := f.get(key); ok {
		return id, nil
	}
	if f.wasRefused(key) {
		return FlexIdentity{}, fmt.Errorf("%w: %w (remembered)", ErrInvalidToken, ErrFlexTokenInvalid)
	}
	ch := f.group.DoChan(hex.EncodeToString(key[:]), func() (any, error) {
		// A flight that just finished may have filled the cache after our miss.
		if id, ok := f.get(key); ok {
			return id, nil
		}
		if f.wasRefused(key) {
			return FlexIdentity{}, ErrFlexTokenInvalid
		}
		if !f.limit.Allow() {
			return FlexIdentity{}, errFlexBusy
		}
		// Detached from the first caller so its cancellation doesn't fail the
		// others waiting on the same call.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.timeout)
		defer cancel()
		id, err := f.v.ValidateFlexToken(vctx, token)
		if err != nil {
			if isFlexInvalid(err) {
				f.refuse(key)
			}
			return FlexIdentity{}, err
		}
		f.put(key, id)
		return id, nil
	})
	select {
	case <-ctx.Done():
		return FlexIdentity{}, fmt.Errorf("%w: %w", ErrFlexUnavailable, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			if isFlexInvalid(r.Err) {
				return FlexIdentity{}, fmt.Errorf("%w: %w", ErrInvalidToken, r.Err)
			}
			return FlexIdentity{}, fmt.Errorf("%w: %w", ErrFlexUnavailable, r.Err)
		}
		return r.Val.(FlexIdentity), nil
	}
}

func (f *flexCache) wasRefused(key [sha256.Size]byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.refused[key]
	if ok && !f.now().Before(until) {
		delete(f.refused, key)
		return false
	}
	return ok
}

// refuse remembers a refused token; the set is bounded like the cache (a
// full set drops its expired entries, then arbitrary ones: a dropped
// refusal only costs one more IAM call, under the rate limit).
func (f *flexCache) refuse(key [sha256.Size]byte) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refused) >= f.max {
		for k, until := range f.refused {
			if !now.Before(until) || len(f.refused) >= f.max-max(f.max/10, 1) {
				delete(f.refused, k)
			}
		}
	}
	f.refused[key] = now.Add(f.refusalTTL)
}

func (f *flexCache) get(key [sha256.Size]byte) (FlexIdentity, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.entries[key]
	if !ok {
		return FlexIdentity{}, false
	}
	if !f.now().Before(id.Expiration) {
		delete(f.entries, key)
		return FlexIdentity{}, false
	}
	return id, true
}

func (f *flexCache) put(key [sha256.Size]byte, id FlexIdentity) {
	now := f.now()
	if !now.Before(id.Expiration) {
		return // no (or past) expiration: use once, don't cache
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) >= f.max {
		for k, e := range f.entries {
			if !now.Before(e.Expiration) {
				delete(f.entries, k)
			}
		}
		// Still full: drop arbitrary entries (map order is random) down to
		// 90%, so the sweep is not paid on every insert. A dropped token only
		// costs one more IAM call.
		target := f.max - max(f.max/10, 1)
		for k := range f.entries {
			if len(f.entries) <= target {
				break
			}
			delete(f.entries, k)
		}
	}
	f.entries[key] = id
}

func (f *flexCache) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}
