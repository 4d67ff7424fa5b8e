package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
)

// APIError is a non-2xx answer from Twilio.
type APIError struct {
	Status   int    // HTTP status
	Code     int    // Twilio error code (21610, 30409, …); 0 when the body had none
	Message  string // as Twilio wrote it; may quote a phone number, so Error() redacts
	MoreInfo string
}

// digits that look like a phone number; Twilio quotes "To" in some messages.
var phoneLike = regexp.MustCompile(`\+?\d[\d\s().-]{5,}\d`)

func (e *APIError) Error() string {
	msg := phoneLike.ReplaceAllString(e.Message, "[redacted]")
	if e.Code != 0 {
		return fmt.Sprintf("twilio: status %d, error %d: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("twilio: status %d: %s", e.Status, msg)
}

// Twilio error codes the bridge reacts to.
const (
	CodeUnsubscribed      = 21610 // recipient replied STOP
	CodeNotCancelable     = 30409 // message no longer scheduled
	CodeSendAtMissing     = 35111
	CodeSendAtOutOfWindow = 35114 // with 35115 and 35117: see IsSchedulingWindow
	CodeScheduleCap       = 35125 // the account holds its cap of scheduled messages (500,000)
	CodeTokenInvalid      = 20101
	CodeTokenExpired      = 20104
)

// IsSchedulingWindow reports a SendAt Twilio refused as outside its
// scheduling window. Twilio answers 35114, 35115 and 35117 alike
// ("Scheduling does not support this timestamp": more than 5 minutes and at
// most 35 days ahead); the day can be tried later or skipped, never failed.
func IsSchedulingWindow(err error) bool {
	return HasCode(err, CodeSendAtOutOfWindow) || HasCode(err, 35115) || HasCode(err, 35117)
}

// HasCode reports whether err carries the Twilio error code.
func HasCode(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// TransportError is a call that got no HTTP answer: network failure,
// client timeout or a cancelled context.
type TransportError struct {
	Op string
	// Sent is true when the request was written to the wire before the
	// failure: Twilio may have acted on it.
	Sent bool
	Err  error
}

func (e *TransportError) Error() string {
	s := "not sent"
	if e.Sent {
		s = "outcome unknown"
	}
	return fmt.Sprintf("twilio: no answer, %s: %v", s, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the call ran out of time.
func (e *TransportError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout())
}

// ErrFlexTokenInvalid: IAM answered, and the token is not valid (forged, expired, other account).
var ErrFlexTokenInvalid = errors.New("twilio: flex token invalid")

// FlexTokenError carries IAM's code for a rejected token.
type FlexTokenError struct {
	Code    int
	Message string
}

func (e *FlexTokenError) Error() string {
	return fmt.Sprintf("twilio: flex token invalid (code %d)", e.Code)
}

func (e *FlexTokenError) Is(target error) bool { return target == ErrFlexTokenInvalid }

// IsAmbiguous reports whether a failed write may nevertheless have taken
// effect at Twilio: the request went out and no answer came back, or a
// gateway answered 500/502/504 in front of it. Before repeating a create,
// look for the result (FindOpenTasks) instead.
func IsAmbiguous(err error) bool {
	if err == nil {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Sent
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case 500, 502, 504:
			return true
		}
	}
	return false
}

// Permanent reports whether a retry cannot help: a 4xx other than 429.
func (e *APIError) Permanent() bool { return e.Status >= 400 && e.Status < 500 && e.Status != 429 }

// LogText is the status and code only: Twilio's message can quote a number.
func (e *APIError) LogText() string { return fmt.Sprintf("twilio status %d code %d", e.Status, e.Code) }

// LogText says whether Twilio may have acted, without the transport's text.
func (e *TransportError) LogText() string {
	if e.Sent {
		return "twilio: no answer, outcome unknown"
	}
	return "twilio: no answer, not sent"
}
