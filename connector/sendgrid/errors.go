package sendgrid

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// APIError is a non-2xx answer from SendGrid.
type APIError struct {
	Status   int      // HTTP status; 0 when the bridge refused the input itself
	Fields   []string // as SendGrid names them: "from.email", "personalizations.0.to"
	Messages []string // as SendGrid wrote them; they can quote an address, so Error() leaves them out
}

func (e *APIError) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("sendgrid: status %d", e.Status)
	}
	return fmt.Sprintf("sendgrid: status %d, fields %s", e.Status, strings.Join(e.Fields, ", "))
}

// TransportError is a call that got no HTTP answer.
type TransportError struct {
	// Sent is true when the request was written before the failure:
	// SendGrid may have queued the mail.
	Sent bool
	Err  error
}

func (e *TransportError) Error() string {
	if e.Sent {
		return "sendgrid: no answer, outcome unknown"
	}
	return "sendgrid: no answer, not sent"
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsTransient reports whether retrying later may succeed: 429, 5xx,
// network failures, timeouts and a cancelled context.
func IsTransient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == 429 || ae.Status >= 500
	}
	var te *TransportError
	return errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// IsAmbiguous reports whether a failed send may still have been queued:
// the request went out and no answer came back. SendGrid has no
// idempotency key, so such a send must not be repeated blindly.
func IsAmbiguous(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Sent
}
