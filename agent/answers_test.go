package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/flow/callers"
	"github.com/cityhealth/bridge/flow/clicktocall"
	"github.com/cityhealth/bridge/flow/selfreport"
	"github.com/cityhealth/bridge/mapping"
)

type fakeCall struct{ err error }

func (f fakeCall) Call(context.Context, clicktocall.Agent, string) (clicktocall.Result, error) {
	return clicktocall.Result{}, f.err
}

func (f fakeCall) Context(context.Context, clicktocall.Agent, string) (map[string]any, error) {
	return nil, f.err
}

type fakeLookup struct{ err error }

func (f fakeLookup) Lookup(context.Context, string) ([]callers.Match, error) { return nil, f.err }

// TestAgentRoutesAnswerByteForByte drives every agent route with each error
// its flow can end in and compares the answer byte for byte: the Flex
// plugin reads these bodies, so they do not change.
func TestAgentRoutesAnswerByteForByte(t *testing.T) {
	gin.SetMode(gin.TestMode)
	netDown := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	rule := &mapping.RuleError{Path: "case_contacts.to", Field: "MobilePhone", Reason: "no number"}
	storage := `{"error":"storage is unavailable; try again"}`
	timedOut := `{"error":"the request timed out; try again"}`
	internal := `{"error":"internal error"}`
	type tc struct {
		err    error
		status int
		want   string
	}
	routes := []struct {
		method, path, body string
		serve              func(e *gin.Engine, err error)
		cases              []tc
	}{
		{"POST", "/v1/click-to-call", `{"record_id":"003000000000001AAA"}`,
			func(e *gin.Engine, err error) { Register(e, pass, fakeCall{err}, nil) },
			[]tc{
				{fmt.Errorf("click: %w", clicktocall.ErrInvalidID), 400, `{"error":"record_id must be a 15- or 18-character Salesforce id"}`},
				{clicktocall.ErrNotFound, 404, `{"error":"record not found"}`},
				{clicktocall.ErrNoWorker, 403, `{"error":"the token carries no worker_sid, so no task can be routed to you"}`},
				{clicktocall.ErrNotMapped, 503, `{"error":"no click_to_call mapping is configured"}`},
				{fmt.Errorf("%w: upstream said 503 for Jordan", clicktocall.ErrUnavailable), 503, `{"error":"Salesforce or Twilio is unavailable; nothing was created, try again"}`},
				{&clicktocall.NotCallableError{Rule: "click_to_call.attributes.to", Field: "MobilePhone"}, 422, `{"error":"the record has no callable number in MobilePhone (click_to_call.attributes.to)"}`},
				{fmt.Errorf("map record 003000000000001AAA: %w", rule), 500, internal},
				{fmt.Errorf("read link: %w", netDown), 503, storage},
				{context.DeadlineExceeded, 503, timedOut},
				{errors.New("secret detail for Jordan"), 500, internal},
			}},
		{"GET", "/v1/records/003000000000001AAA/context", "",
			func(e *gin.Engine, err error) { Register(e, pass, fakeCall{err}, nil) },
			[]tc{
				{clicktocall.ErrInvalidID, 400, `{"error":"record_id must be a 15- or 18-character Salesforce id"}`},
				{&clicktocall.NotCallableError{Rule: "click_to_call.attributes.to"}, 422, `{"error":"the record has no callable number (click_to_call.attributes.to)"}`},
				{context.Canceled, 503, timedOut},
			}},
		{"POST", "/v1/click-to-call", `not json`,
			func(e *gin.Engine, err error) { Register(e, pass, fakeCall{err}, nil) },
			[]tc{{nil, 400, `{"error":"body must be JSON {\"record_id\": \"…\"}"}`}}},
		{"GET", "/v1/callers/+17185550199", "",
			func(e *gin.Engine, err error) { RegisterDesktop(e, pass, fakeLookup{err}, nil, nil) },
			[]tc{
				{fmt.Errorf("lookup: %w", callers.ErrInvalidPhone), 400, `{"error":"the phone number is not a possible number (E.164 or a 10-digit US number)"}`},
				{callers.ErrNotMapped, 503, `{"error":"no caller_lookup mapping is configured"}`},
				{fmt.Errorf("%w: salesforce: 503 for +17185550199", callers.ErrUnavailable), 503, `{"error":"Salesforce is unavailable; try again"}`},
				{fmt.Errorf("cache: %w", netDown), 503, storage},
				{errors.New("boom +17185550199"), 500, internal},
			}},
		{"POST", "/v1/records/003000000000001AAA/elicitation", "",
			func(e *gin.Engine, err error) {
				RegisterElicitation(e, pass, fakeElicitation(func(string) (bool, error) { return false, err }), nil)
			},
			[]tc{
				{selfreport.ErrInvalidID, 400, `{"error":"record id is not a Salesforce id"}`},
				{selfreport.ErrNotFound, 404, `{"error":"record not found"}`},
				{&selfreport.NotReachableError{Rule: rule}, 422, `{"error":"the case has no number to text: ` + rule.Error() + `"}`},
				{selfreport.ErrNotMapped, 503, `{"error":"the mapping has no case_contacts section"}`},
				{selfreport.ErrUncertain, 503, `{"error":"the text may not have been sent; it will not be sent twice"}`},
				{fmt.Errorf("%w: %w", selfreport.ErrUnavailable, netDown), 503, `{"error":"Salesforce or Twilio is unavailable; try again"}`},
				{fmt.Errorf("claim link: %w", netDown), 503, storage},
				{rule, 500, internal},
				{errors.New("redis secret detail"), 500, internal},
			}},
	}
	for _, rt := range routes {
		for _, c := range rt.cases {
			t.Run(rt.path+"/"+fmt.Sprint(c.err), func(t *testing.T) {
				e := gin.New()
				rt.serve(e, c.err)
				w := httptest.NewRecorder()
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				req.Header.Set("Content-Type", "application/json")
				e.ServeHTTP(w, req)
				if w.Code != c.status || w.Body.String() != c.want {
					t.Fatalf("got %d %s\nwant %d %s", w.Code, w.Body, c.status, c.want)
				}
			})
		}
	}
}

func pass(c *gin.Context) { c.Next() }
