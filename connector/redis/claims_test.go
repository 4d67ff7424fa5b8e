package redis

import (
	"context"
	"testing"
	"time"
)

func TestClaims(t *testing.T) {
	c := mustOpen(t, privateURL(t))
	cl, err := NewClaims(c, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !must(cl.Claim(ctx, "job", time.Minute)) {
		t.Fatal("first claim refused")
	}
	if must(cl.Claim(ctx, "job", time.Minute)) {
		t.Fatal("second claim granted while held")
	}
	if err := cl.Release(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if !must(cl.Claim(ctx, "job", time.Minute)) {
		t.Fatal("claim after release refused")
	}
	if must(cl.IsDone(ctx, "job")) {
		t.Fatal("claimed job reported done")
	}
	if err := cl.Done(ctx, "job", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := cl.Release(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if !must(cl.IsDone(ctx, "job")) {
		t.Fatal("Release removed the done mark")
	}
	if must(cl.Claim(ctx, "job", time.Minute)) {
		t.Fatal("done job claimed again")
	}

	// A worker that dies holding a claim: the claim expires and the work is
	// claimable again, never dropped.
	if !must(cl.Claim(ctx, "crash", 50*time.Millisecond)) {
		t.Fatal("claim refused")
	}
	eventually(t, "claim expiry", func() bool { return must(cl.Claim(ctx, "crash", time.Minute)) })

	if _, err := NewClaims(c, "bad:ns"); err == nil {
		t.Fatal("bad namespace accepted")
	}
}
