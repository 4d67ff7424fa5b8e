package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/redistest"
)

// Run: go test -run '^$' -bench . ./connector/redis/
// The SetNX benchmarks are the SPEC's baseline: one bare SET NX per request.

func benchQueue(b *testing.B) *Queue {
	c := mustOpen(b, redistest.URLFromEnv(b))
	cfg := fastConfig(b, uniqueName(b), "bench")
	cfg.DedupeTTL = 10 * time.Minute
	return mustQueue(b, c, cfg)
}

func reportItems(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "items/s")
}

var payload = []byte(`{"notification_id":"04l000000000001","object":"Contact","record_id":"003000000000001","fields":{"Outreach_Status__c":"Needs Outreach"}}`)

func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		q := benchQueue(b)
		i := 0
		for b.Loop() {
			i++
			if _, err := q.Enqueue(ctx, Item{Key: fmt.Sprint(i), Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		reportItems(b, 1)
	})
	b.Run("batch100", func(b *testing.B) {
		q := benchQueue(b)
		batch := make([]Item, 100)
		i := 0
		for b.Loop() {
			for j := range batch {
				i++
				batch[j] = Item{Key: fmt.Sprint(i), Payload: payload}
			}
			if _, err := q.Enqueue(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		}
		reportItems(b, 100)
	})
	b.Run("single-parallel", func(b *testing.B) {
		q := benchQueue(b)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := q.Enqueue(ctx, Item{Key: fmt.Sprint(n.Add(1)), Payload: payload}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportItems(b, 1)
	})
}

func BenchmarkSetNX(b *testing.B) {
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		c := mustOpen(b, redistest.URLFromEnv(b))
		prefix := "bridge:bench:" + uniqueName(b) + ":"
		i := 0
		for b.Loop() {
			i++
			if err := c.SetNX(ctx, prefix+fmt.Sprint(i), 1, 10*time.Minute).Err(); err != nil {
				b.Fatal(err)
			}
		}
		reportItems(b, 1)
	})
	b.Run("single-parallel", func(b *testing.B) {
		c := mustOpen(b, redistest.URLFromEnv(b))
		prefix := "bridge:bench:" + uniqueName(b) + ":"
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.SetNX(ctx, prefix+fmt.Sprint(n.Add(1)), 1, 10*time.Minute).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportItems(b, 1)
	})
}
