package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy bounds the retries of one HTTP request. The zero value means the defaults.
type RetryPolicy struct {
	MaxAttempts int           // tries per request, the first included; default 5 (1 = no retry)
	BaseDelay   time.Duration // backoff ceiling of the first retry, doubled each time; default 250 ms
	MaxDelay    time.Duration // cap of one backoff; default 15 s
	// OnRetry, if set, hears about each retry (for logs or metrics); reason is
	// "network", "status 503" or an error code such as REQUEST_LIMIT_EXCEEDED.
	OnRetry func(attempt int, reason string)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 15 * time.Second
	}
	return p
}

// backoff is "full jitter": a uniform wait in [0, min(MaxDelay, BaseDelay·2^attempt)].
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceil := p.MaxDelay
	if attempt < 30 {
		if d := p.BaseDelay << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	return rand.N(ceil + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewHTTPClient returns the one HTTP client for Salesforce: its transport retries 5xx,
// REQUEST_LIMIT_EXCEEDED and network errors with backoff, bounded by policy and the
// request's context. next nil means a clone of http.DefaultTransport.
func NewHTTPClient(policy RetryPolicy, next http.RoundTripper) *http.Client {
	if next == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 2 * time.Minute
		next = t
	}
	return &http.Client{Transport: &retryTransport{policy: policy.withDefaults(), next: next}}
}

type retryTransport struct {
	policy RetryPolicy
	next   http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(ctx)
			if req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.next.RoundTrip(r)
		reason := retryReason(ctx, resp, err)
		canRewind := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if reason == "" || attempt+1 >= t.policy.MaxAttempts || !canRewind {
			return resp, err
		}
		wait := t.policy.backoff(attempt)
		if resp != nil {
			if ra, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && ra > 0 {
				wait = min(max(wait, time.Duration(ra)*time.Second), t.policy.MaxDelay)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		if t.policy.OnRetry != nil {
			t.policy.OnRetry(attempt+1, reason)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryReason says why an answer is worth another try, or "" when it is not.
// A 403 is read (and its body restored) to find REQUEST_LIMIT_EXCEEDED.
func retryReason(ctx context.Context, resp *http.Response, err error) string {
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "network"
	}
	switch {
	case resp.StatusCode >= 500:
		return "status " + strconv.Itoa(resp.StatusCode)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil {
			return "network"
		}
		var list []struct {
			ErrorCode string `json:"errorCode"`
		}
		if json.Unmarshal(body, &list) == nil {
			for _, e := range list {
				if e.ErrorCode == CodeRequestLimit {
					return CodeRequestLimit
				}
			}
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return "status 429"
		}
	}
	return ""
}
