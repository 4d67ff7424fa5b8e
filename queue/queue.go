// Package queue is the contract between the bridge's intake and its flows:
// what an item is when it is recorded, what a flow receives, and how a flow
// says "never retry this". It has no dependencies; connector/redis
// implements it with Redis Streams.
package queue

import (
	"context"
	"errors"
	"time"
)

// Item is one event to record: Key deduplicates it (a second Item with the
// same Key is acknowledged and dropped), Payload is its JSON.
type Item struct {
	Key     string
	Payload []byte
}

// Message is one recorded event handed to a Handler.
type Message struct {
	ID        string // the queue's entry id; changes when the message is retried
	Key       string
	Payload   []byte
	Attempts  int       // 1 on first delivery; counts retries and takeovers
	FirstSeen time.Time // when it was first recorded
}

// Handler handles a batch and returns one error (or nil) per message, in
// order; a nil slice means all succeeded. An error wrapped with Permanent
// dead-letters its message at once; any other error is retried with
// backoff until the queue gives up.
type Handler func(ctx context.Context, msgs []Message) []error

// Enqueuer records items, reporting for each whether it was new.
type Enqueuer interface {
	Enqueue(ctx context.Context, items ...Item) ([]bool, error)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the message goes to the dead
// letters at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Classify marks err permanent when an error in its chain says no retry
// can fix it (a connector's typed error or a mapping rule error, through a
// `Permanent() bool` method); anything else is left to be retried.
func Classify(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	var p interface{ Permanent() bool }
	if errors.As(err, &p) && p.Permanent() {
		return Permanent(err)
	}
	return err
}

// LogText is err for a log line: a vendor error's status and code (through
// its `LogText() string` method), never the vendor's message, which can
// quote values from a record.
func LogText(err error) string {
	var l interface{ LogText() string }
	if errors.As(err, &l) {
		return l.LogText()
	}
	return err.Error()
}
