// Package fault says what kind of failure an error is, so that one place
// (package httpfault) can answer it with a status and a safe message. Flows
// and connectors return kinds, never HTTP words. It has no dependencies.
//
// It follows WTF Dial's wtf.Error: a kind and a message written for the
// user. The message must be safe to show: it names fields and rules, never
// a record's values.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, from the caller's point of view.
type Kind string

// The kinds. Internal is any error that says no kind: its text is never shown.
const (
	Internal      Kind = "internal"
	Invalid       Kind = "invalid"       // the request is malformed
	NotFound      Kind = "not_found"     // what it names does not exist
	Conflict      Kind = "conflict"      // it lost a race with another change
	Forbidden     Kind = "forbidden"     // the caller may not do this
	Unprocessable Kind = "unprocessable" // well-formed, but the data cannot serve it
	TooLarge      Kind = "too_large"     // the body is over the limit
	Unsupported   Kind = "unsupported"   // a media type the route does not take
	Upstream      Kind = "upstream"      // a vendor refused; retrying will not help
	Unavailable   Kind = "unavailable"   // try again later
)

// Error is an error of a known kind with a message safe to show.
type Error struct {
	Kind    Kind
	Message string
	Err     error // cause, for logs only; never shown
}

// New is an error of kind k whose message is msg.
func New(k Kind, msg string) error { return &Error{Kind: k, Message: msg} }

// Errorf is New with a formatted message; %w does not wrap (use Wrap).
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap is New keeping cause for the log.
func Wrap(cause error, k Kind, msg string) error {
	return &Error{Kind: k, Message: msg, Err: cause}
}

// Error is the message, then the cause when there is one.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

// Unwrap gives the cause.
func (e *Error) Unwrap() error { return e.Err }

// FaultKind makes *Error a Kinded.
func (e *Error) FaultKind() Kind { return e.Kind }

// Kinded is an error type that says its own kind, e.g. a flow's error struct.
// Its Error text must be safe to show.
type Kinded interface {
	error
	FaultKind() Kind
}

// KindOf is the kind of the outermost Kinded error in err's chain, Internal
// when there is none (nil included).
func KindOf(err error) Kind {
	var k Kinded
	if errors.As(err, &k) {
		return k.FaultKind()
	}
	return Internal
}

// Message is the safe text of the outermost Kinded error in err's chain
// (without wrapping prefixes or causes), or "internal error".
func Message(err error) string {
	var k Kinded
	if !errors.As(err, &k) {
		return "internal error"
	}
	if e, ok := k.(*Error); ok {
		return e.Message
	}
	return k.Error()
}
