package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// RedisState is every key in Redis with its type and size, for showing
// that a refused request wrote nothing.
type RedisState map[string]string

// RedisState reads every key (SCAN) with its type and length.
func (b *Bridge) RedisState() RedisState {
	b.tb.Helper()
	rdb := b.Redis.Client(b.tb)
	ctx := context.Background()
	// The consumers register their queues once they run: wait for that
	// start-up write, so it is not taken for the request's.
	Eventually(b.tb, 10*time.Second, "the queues to register", func() bool {
		return rdb.SCard(ctx, "bridge:queues").Val() >= int64(len(b.QueueStats()))
	})
	out := RedisState{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ := rdb.Type(ctx, k).Val()
		var n int64
		switch typ {
		case "stream":
			n = rdb.XLen(ctx, k).Val()
		case "list":
			n = rdb.LLen(ctx, k).Val()
		case "set":
			n = rdb.SCard(ctx, k).Val()
		case "zset":
			n = rdb.ZCard(ctx, k).Val()
		case "hash":
			n = rdb.HLen(ctx, k).Val()
		case "string":
			n = rdb.StrLen(ctx, k).Val()
		}
		out[k] = fmt.Sprintf("%s/%d", typ, n)
	}
	if err := iter.Err(); err != nil {
		b.tb.Fatalf("scan Redis: %v", err)
	}
	return out
}

// transient keys come and go on their own (leases and locks with a TTL).
func transient(k string) bool {
	return strings.Contains(k, "lease") || strings.Contains(k, ":lock:") || strings.Contains(k, "reader")
}

// MustBeUnchanged fails tb unless Redis holds exactly the keys (and sizes)
// it held in before, leases and locks aside.
func (b *Bridge) MustBeUnchanged(tb testing.TB, before RedisState) {
	tb.Helper()
	after := b.RedisState()
	var diff []string
	for k, v := range after {
		if !transient(k) && before[k] != v {
			diff = append(diff, fmt.Sprintf("%s: %q -> %q", k, before[k], v))
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && !transient(k) {
			diff = append(diff, fmt.Sprintf("%s: %q -> gone", k, v))
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		tb.Fatalf("Redis changed:\n%s", strings.Join(diff, "\n"))
	}
}

// Counters are the stand-ins' call counts, for showing nothing reached
// Salesforce or Twilio.
type Counters struct {
	SF, SFTokens int64
	Twilio       int
}

// Counters reads the stand-ins' counts now.
func (b *Bridge) Counters() Counters {
	return Counters{SF: b.SF.APICalls(), SFTokens: b.SF.TokenCalls(), Twilio: b.Twilio.TotalCalls()}
}

// MustNoVendorCalls fails tb if Salesforce or Twilio was called since c.
func (b *Bridge) MustNoVendorCalls(tb testing.TB, c Counters) {
	tb.Helper()
	if now := b.Counters(); now != c {
		tb.Fatalf("vendor calls made: before %+v, after %+v", c, now)
	}
}
