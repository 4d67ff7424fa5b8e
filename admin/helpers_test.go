package admin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/world"
)

// logBuffer collects log output across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) lines(substr string) []string {
	var out []string
	for _, ln := range strings.Split(l.String(), "\n") {
		if strings.Contains(ln, substr) {
			out = append(out, ln)
		}
	}
	return out
}

// mustDeadLetter puts one message through a writeback queue whose handler
// fails it permanently, and returns the queue once it is a dead letter.
func mustDeadLetter(tb testing.TB, rdb goredis.UniversalClient, key, payload string) *redis.Queue {
	tb.Helper()
	return failWriteback(tb, rdb, &redis.Item{Key: key, Payload: []byte(payload)}, func(l []redis.DeadLetter) bool { return len(l) > 0 })
}

// mustDeadLetterAgain runs the writeback queue's replayed message into the
// dead letters once more.
func mustDeadLetterAgain(tb testing.TB, rdb goredis.UniversalClient) {
	tb.Helper()
	failWriteback(tb, rdb, nil, func(l []redis.DeadLetter) bool { return len(l) > 0 && l[0].ReplayOf() != "" })
}

func failWriteback(tb testing.TB, rdb goredis.UniversalClient, item *redis.Item, done func([]redis.DeadLetter) bool) *redis.Queue {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := redis.NewQueue(rdb, redis.QueueConfig{Name: "writeback", Consumer: "admin-test",
		Retry: redis.RetryPolicy{Initial: time.Millisecond, Max: time.Millisecond, GiveUpAfter: time.Minute}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = q.Close(context.Background()) })
	if item != nil {
		if _, err := q.Enqueue(ctx, *item); err != nil {
			tb.Fatal(err)
		}
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = q.Run(ctx, func(ctx context.Context, msgs []redis.Message) []error {
			errs := make([]error, len(msgs))
			for i := range msgs {
				errs[i] = queue.Permanent(errors.New("upsert Task: INVALID_FIELD (Bogus__c)"))
			}
			return errs
		})
	}()
	dl := redis.NewDeadLetters(rdb)
	world.Eventually(tb, 5*time.Second, "a dead letter", func() bool {
		l, _ := dl.List(ctx, 10)
		return done(l)
	})
	cancel()
	<-finished
	return q
}
