package writeback

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/queue"
)

// A whole Collections call that failed is final only for the codes in
// permanentCodes, whatever the status: the rule writeback had before it
// used queue.Classify, and narrower than salesforce.APIError.Permanent
// (rows marked "narrower" would be final under the connector's rule).
func TestClassifyMatrix(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"400 INVALID_FIELD", &salesforce.APIError{Status: 400, Code: "INVALID_FIELD"}, true},
		{"400 MALFORMED_ID", &salesforce.APIError{Status: 400, Code: "MALFORMED_ID"}, true},
		{"400 JSON_PARSER_ERROR", &salesforce.APIError{Status: 400, Code: "JSON_PARSER_ERROR"}, true},
		{"400 INVALID_TYPE", &salesforce.APIError{Status: 400, Code: "INVALID_TYPE"}, true},
		{"404 NOT_FOUND", &salesforce.APIError{Status: 404, Code: "NOT_FOUND"}, true},
		{"403 INSUFFICIENT_ACCESS_OR_READONLY", &salesforce.APIError{Status: 403, Code: "INSUFFICIENT_ACCESS_OR_READONLY"}, true},
		{"500 with a final code", &salesforce.APIError{Status: 500, Code: "INVALID_FIELD"}, true},
		{"no status, final code", &salesforce.APIError{Code: "DUPLICATE_VALUE"}, true},
		{"narrower: 400 without a code", &salesforce.APIError{Status: 400}, false},
		{"narrower: 403 API_DISABLED_FOR_ORG", &salesforce.APIError{Status: 403, Code: "API_DISABLED_FOR_ORG"}, false},
		{"narrower: 413", &salesforce.APIError{Status: 413}, false},
		{"narrower: 400 INVALID_QUERY_FILTER_OPERATOR", &salesforce.APIError{Status: 400, Code: "INVALID_QUERY_FILTER_OPERATOR"}, false},
		{"401 INVALID_SESSION_ID", &salesforce.APIError{Status: 401, Code: "INVALID_SESSION_ID"}, false},
		{"403 REQUEST_LIMIT_EXCEEDED", &salesforce.APIError{Status: 403, Code: "REQUEST_LIMIT_EXCEEDED"}, false},
		{"400 UNABLE_TO_LOCK_ROW", &salesforce.APIError{Status: 400, Code: "UNABLE_TO_LOCK_ROW"}, false},
		{"503 SERVER_UNAVAILABLE", &salesforce.APIError{Status: 503, Code: "SERVER_UNAVAILABLE"}, false},
		{"300 MULTIPLE_CHOICES", &salesforce.APIError{Status: 300, Code: salesforce.CodeMultipleChoices}, false},
		{"auth refused", &salesforce.AuthError{Status: 400}, false},
		{"wrapped 400 MALFORMED_ID", fmt.Errorf("client: %w", &salesforce.APIError{Status: 400, Code: "MALFORMED_ID"}), true},
		{"deadline", context.DeadlineExceeded, false},
		{"plain", errors.New("boom"), false},
		{"marked already", queue.Permanent(errors.New("bad")), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := newFlow(t, &fakeCRM{callErr: tc.err}).Handle(context.Background(), []queue.Message{taskMsg(1, false)})
			if errs[0] == nil || queue.IsPermanent(errs[0]) != tc.permanent || !errors.Is(errs[0], tc.err) {
				t.Fatalf("err %v, permanent want %v", errs[0], tc.permanent)
			}
		})
	}
}
