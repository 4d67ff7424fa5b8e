package redis

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Schedule is a sorted set of things due at a time (missed-day checks,
// retention deadlines), one key, so every script touches one slot on a
// Cluster. Times are the caller's clock (a test clock works), in ms.
type Schedule struct {
	c   goredis.UniversalClient
	key string
}

var scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// NewSchedule returns the schedule bridge:<name>.
func NewSchedule(c goredis.UniversalClient, name string) (*Schedule, error) {
	if c == nil {
		return nil, errors.New("redis: NewSchedule: nil client")
	}
	if !scheduleNameRE.MatchString(name) {
		return nil, fmt.Errorf("redis: schedule name %q: want 1-64 of [A-Za-z0-9_.:-]", name)
	}
	return &Schedule{c: c, key: "bridge:" + name}, nil
}

// Key is the Redis key of the schedule.
func (s *Schedule) Key() string { return s.key }

// Set makes member due at at (adding or moving it).
func (s *Schedule) Set(ctx context.Context, at time.Time, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	zs := make([]goredis.Z, len(members))
	for i, m := range members {
		zs[i] = goredis.Z{Score: float64(at.UnixMilli()), Member: m}
	}
	if err := s.c.ZAdd(ctx, s.key, zs...).Err(); err != nil {
		return fmt.Errorf("schedule %s: %w", s.key, err)
	}
	return nil
}

// Remove drops members.
func (s *Schedule) Remove(ctx context.Context, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	if err := s.c.ZRem(ctx, s.key, args...).Err(); err != nil {
		return fmt.Errorf("unschedule from %s: %w", s.key, err)
	}
	return nil
}

// When is member's due time; ok is false when it is not scheduled.
func (s *Schedule) When(ctx context.Context, member string) (time.Time, bool, error) {
	v, err := s.c.ZScore(ctx, s.key, member).Result()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read %s: %w", s.key, err)
	}
	return time.UnixMilli(int64(v)), true, nil
}

// claimScript: KEYS[1]=schedule; ARGV: now ms, lease-until ms, limit. Takes
// due members and pushes them to the lease's end, in one step, so two
// instances never take the same member and a taker that dies leaves it
// due again when the lease ends.
var claimScript = newScript(`
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(ms) do redis.call('ZADD', KEYS[1], ARGV[2], m) end
return ms
`)

// Claim takes up to limit members due at now and holds them for lease:
// the caller removes (Done) or reschedules them; otherwise they are due
// again when the lease ends.
func (s *Schedule) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	res, err := eval(ctx, s.c, claimScript, []string{s.key},
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(lease).UnixMilli(), 10), limit)
	if err != nil {
		return nil, fmt.Errorf("claim from %s: %w", s.key, err)
	}
	list, _ := res.([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if m, ok := v.(string); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// doneScript: KEYS[1]=schedule; ARGV: member, max score. Removes member
// unless it was moved past the claim meanwhile (rescheduled by someone).
var doneScript = newScript(`
local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])
if sc and tonumber(sc) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`)

// Done removes a claimed member, unless it was rescheduled past the claim's
// lease (claimedAt+lease) since it was taken.
func (s *Schedule) Done(ctx context.Context, member string, claimedAt time.Time, lease time.Duration) error {
	if _, err := eval(ctx, s.c, doneScript, []string{s.key}, member, strconv.FormatInt(claimedAt.Add(lease).UnixMilli(), 10)); err != nil {
		return fmt.Errorf("finish %s in %s: %w", member, s.key, err)
	}
	return nil
}

// Members lists the members that start with prefix (ZSCAN MATCH).
func (s *Schedule) Members(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		keys, next, err := s.c.ZScan(ctx, s.key, cursor, escapeGlob(prefix)+"*", 500).Result()
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", s.key, err)
		}
		for i := 0; i+1 < len(keys); i += 2 {
			out = append(out, keys[i])
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// Len counts the members due at or before t.
func (s *Schedule) Len(ctx context.Context, t time.Time) (int64, error) {
	n, err := s.c.ZCount(ctx, s.key, "-inf", strconv.FormatInt(t.UnixMilli(), 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", s.key, err)
	}
	return n, nil
}

// escapeGlob quotes the glob characters of a MATCH pattern.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// SetEach makes each member due at its own time, in one round trip.
func (s *Schedule) SetEach(ctx context.Context, due map[string]time.Time) error {
	if len(due) == 0 {
		return nil
	}
	zs := make([]goredis.Z, 0, len(due))
	for m, at := range due {
		zs = append(zs, goredis.Z{Score: float64(at.UnixMilli()), Member: m})
	}
	if err := s.c.ZAdd(ctx, s.key, zs...).Err(); err != nil {
		return fmt.Errorf("schedule %s: %w", s.key, err)
	}
	return nil
}
