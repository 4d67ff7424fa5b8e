package salesforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// ErrNotFound matches (errors.Is) an *APIError for a 404 or NOT_FOUND answer.
var ErrNotFound = errors.New("salesforce: not found")

// ErrInvalidName is returned when an object or field name is not a Salesforce identifier.
var ErrInvalidName = errors.New("salesforce: invalid name")

// Error codes the bridge acts on.
const (
	CodeInvalidSession    = "INVALID_SESSION_ID"
	CodeRequestLimit      = "REQUEST_LIMIT_EXCEEDED"
	CodeUnableToLockRow   = "UNABLE_TO_LOCK_ROW"
	CodeInvalidField      = "INVALID_FIELD"
	CodeRequiredMissing   = "REQUIRED_FIELD_MISSING"
	CodeMalformedID       = "MALFORMED_ID"
	CodeNotFound          = "NOT_FOUND"
	CodeMultipleChoices   = "MULTIPLE_CHOICES" // upsert matched several rows (HTTP 300)
	CodeServerUnavailable = "SERVER_UNAVAILABLE"
)

// APIError is a non-2xx REST answer: Salesforce's [{"message","errorCode","fields"}].
// Status is 0 for an error taken from one row of a Collections answer.
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  []string
}

// Error carries the status, code and field names but not Salesforce's
// message, which can quote record values (STRING_TOO_LONG, for one): errors
// end up in logs and dead letters. Message stays on the struct for callers
// that show it to an operator.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("salesforce:")
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Code == "" && e.Status == 0 {
		b.WriteString(" error")
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields: %s)", strings.Join(e.Fields, ", "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) true for 404 and NOT_FOUND.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && (e.Status == http.StatusNotFound || e.Code == CodeNotFound)
}

// AuthError is an OAuth token endpoint refusal, e.g. invalid_grant or invalid_client_id.
type AuthError struct {
	Status      int
	Code        string // OAuth "error"
	Description string // OAuth "error_description"
}

func (e *AuthError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("salesforce login: %d %s", e.Status, e.Description)
	}
	return fmt.Sprintf("salesforce login: %s: %s", e.Code, e.Description)
}

// RowError is one error of a Collections row.
type RowError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// Transient reports whether re-sending the row later may succeed.
func (e RowError) Transient() bool { return TransientCode(e.StatusCode) }

// RowResult is one row of a Collections or upsert answer, in input order.
type RowResult struct {
	ID      string     `json:"id"`
	Success bool       `json:"success"`
	Created bool       `json:"created"`
	Errors  []RowError `json:"errors"`
}

// Err returns nil for a successful row, else its first error as an *APIError.
func (r RowResult) Err() error {
	if r.Success {
		return nil
	}
	if len(r.Errors) == 0 {
		return &APIError{Message: "row failed without an error"}
	}
	e := r.Errors[0]
	return &APIError{Code: e.StatusCode, Message: e.Message, Fields: e.Fields}
}

func (r RowResult) locked() bool {
	for _, e := range r.Errors {
		if e.StatusCode == CodeUnableToLockRow {
			return true
		}
	}
	return false
}

// TransientCode reports whether a Salesforce error code is worth retrying later.
func TransientCode(code string) bool {
	switch code {
	case CodeUnableToLockRow, CodeRequestLimit, CodeServerUnavailable, CodeInvalidSession:
		return true
	}
	return false
}

const maxErrorBody = 1 << 20

// readAPIError turns a non-2xx answer into an *APIError and closes the body.
func readAPIError(resp *http.Response) *APIError {
	defer resp.Body.Close()
	e := &APIError{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusMultipleChoices {
		e.Code, e.Message = CodeMultipleChoices, "external id matches more than one record"
		return e
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var list []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	var single struct {
		Message   string `json:"message"`
		ErrorCode string `json:"errorCode"`
	}
	switch {
	case json.Unmarshal(body, &list) == nil && len(list) > 0:
		e.Code, e.Message, e.Fields = list[0].ErrorCode, list[0].Message, list[0].Fields
		for _, more := range list[1:] {
			e.Message += "; " + more.Message
			e.Fields = append(e.Fields, more.Fields...)
		}
	case json.Unmarshal(body, &single) == nil && single.ErrorCode != "":
		e.Code, e.Message = single.ErrorCode, single.Message
	default:
		// Not Salesforce's JSON (a proxy page, say): keep the status text, not the body.
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.Code == "INVALID_FIELD" && len(e.Fields) == 0 {
		// A whole-request INVALID_FIELD names the column only in its message
		// ("No such column 'X' on …"); a column name is no record data.
		if m := reNoSuchColumn.FindStringSubmatch(e.Message); m != nil {
			e.Fields = []string{m[1]}
		}
	}
	return e
}

var reNoSuchColumn = regexp.MustCompile(`No such column '([A-Za-z][A-Za-z0-9_.]{0,120})'`)

// Permanent reports whether a retry cannot help: a 4xx whose code is not
// one of Salesforce's transient ones (UNABLE_TO_LOCK_ROW, …).
func (e *APIError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && !TransientCode(e.Code)
}

// LogText is the status and code only: Salesforce's message can quote values.
func (e *APIError) LogText() string {
	return fmt.Sprintf("salesforce status %d code %s", e.Status, e.Code)
}
