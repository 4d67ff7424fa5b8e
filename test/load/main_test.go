package main

import (
	"testing"
	"time"
)

// The load program is how the README's figures are made: a small run keeps
// it building, starting its world and passing its exactly-once checks.
func TestSmallRunIsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the bridge and starts two bridge processes")
	}
	err := runWorld(options{
		instances: 2, outcomes: 200, records: 60, batch: 10, clients: 4, dup: 0.1,
		duration: 20 * time.Second, drain: 60 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
}
