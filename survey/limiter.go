package survey

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per client address, in memory, with a bounded
// number of addresses: when full it forgets buckets that have refilled
// (they hold no information), then the stalest one.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiter defaults what is unset: 1 request a second with bursts of 60
// per address (generous, because phones share carrier NAT addresses and
// every reminder goes out at the same minute), 10,000 addresses tracked.
func newLimiter(rate float64, burst, max int, now func() time.Time) *limiter {
	if rate <= 0 {
		rate = 1
	}
	if burst <= 0 {
		burst = 60
	}
	if max <= 0 {
		max = 10000
	}
	return &limiter{rate: rate, burst: float64(burst), max: max, now: now, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	var stalest string
	var oldest time.Time
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
			continue
		}
		if stalest == "" || b.last.Before(oldest) {
			stalest, oldest = k, b.last
		}
	}
	if len(l.buckets) >= l.max && stalest != "" {
		delete(l.buckets, stalest)
	}
}

// clientKey groups IPv6 clients by /64, which one subscriber usually holds.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}
