package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// CallRequest is one outbound call whose TwiML the bridge serves.
type CallRequest struct {
	To, From string
	// URL is fetched by POST when the callee answers; StatusCallback is
	// posted when the call ends (completed, no-answer, busy, failed).
	URL, StatusCallback string
	// RingSeconds is how long to ring before no-answer; 0 = Twilio's 60 s.
	RingSeconds int
}

// CreateCall places a call (Calls API). Twilio queues calls beyond the
// account's calls-per-second rate, so pacing is the caller's job when
// the queue itself should not grow.
func (c *Client) CreateCall(ctx context.Context, r CallRequest) (string, error) {
	params := &api.CreateCallParams{}
	params.SetTo(r.To).SetFrom(r.From).SetUrl(r.URL).SetMethod("POST")
	if r.StatusCallback != "" {
		params.SetStatusCallback(r.StatusCallback).SetStatusCallbackMethod("POST")
	}
	if r.RingSeconds > 0 {
		params.SetTimeout(r.RingSeconds)
	}
	var sid string
	err := c.do(ctx, "create_call", "", func(rh *twclient.RequestHandler) error {
		call, err := api.NewApiService(rh).CreateCall(params)
		if err != nil {
			return err
		}
		if call.Sid == nil || *call.Sid == "" {
			return errors.New("call without sid in answer")
		}
		sid = *call.Sid
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("create call: %w", err)
	}
	return sid, nil
}

// SendContent sends an approved Content template (WhatsApp outside its
// 24-hour window accepts nothing else) to `to`, e.g. "whatsapp:+1…", with
// its numbered variables, through the Messaging Service.
func (c *Client) SendContent(ctx context.Context, to, contentSid string, variables map[string]string) (string, error) {
	if c.cfg.MessagingServiceSID == "" {
		return "", errors.New("send content: no MessagingServiceSID configured")
	}
	vars, err := json.Marshal(variables)
	if err != nil {
		return "", fmt.Errorf("send content: %w", err)
	}
	params := &api.CreateMessageParams{}
	params.SetTo(to).SetContentSid(contentSid).SetContentVariables(string(vars)).SetMessagingServiceSid(c.cfg.MessagingServiceSID)
	sid, err := c.createMessage(ctx, "send_content", params)
	if err != nil {
		return "", fmt.Errorf("send content: %w", err)
	}
	return sid, nil
}
