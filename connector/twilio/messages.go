package twilio

import (
	"context"
	"errors"
	"fmt"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// ScheduleMessage asks Twilio to send body to `to` at sendAt through the
// Messaging Service. Twilio accepts sendAt 15 minutes to 35 days ahead
// (error 35114 otherwise); an opted-out recipient fails with 21610.
func (c *Client) ScheduleMessage(ctx context.Context, to, body string, sendAt time.Time) (string, error) {
	if c.cfg.MessagingServiceSID == "" {
		return "", errors.New("schedule message: no MessagingServiceSID configured")
	}
	params := &api.CreateMessageParams{}
	params.SetTo(to).SetBody(body).SetMessagingServiceSid(c.cfg.MessagingServiceSID).
		SetScheduleType("fixed").SetSendAt(sendAt.UTC().Truncate(time.Second))
	sid, err := c.createMessage(ctx, "schedule_message", params)
	if err != nil {
		return "", fmt.Errorf("schedule message: %w", err)
	}
	return sid, nil
}

// SendMessage sends body to `to` now, from the Messaging Service or else Config.From.
func (c *Client) SendMessage(ctx context.Context, to, body string) (string, error) {
	params := &api.CreateMessageParams{}
	params.SetTo(to).SetBody(body)
	switch {
	case c.cfg.MessagingServiceSID != "":
		params.SetMessagingServiceSid(c.cfg.MessagingServiceSID)
	case c.cfg.From != "":
		params.SetFrom(c.cfg.From)
	default:
		return "", errors.New("send message: neither MessagingServiceSID nor From configured")
	}
	sid, err := c.createMessage(ctx, "send_message", params)
	if err != nil {
		return "", fmt.Errorf("send message: %w", err)
	}
	return sid, nil
}

func (c *Client) createMessage(ctx context.Context, op string, params *api.CreateMessageParams) (string, error) {
	if c.cfg.StatusCallback != "" {
		params.SetStatusCallback(c.cfg.StatusCallback)
	}
	var sid string
	err := c.do(ctx, op, "", func(rh *twclient.RequestHandler) error {
		m, err := api.NewApiService(rh).CreateMessage(params)
		if err != nil {
			return err
		}
		if m.Sid == nil || *m.Sid == "" {
			return errors.New("message without sid in answer")
		}
		sid = *m.Sid
		return nil
	})
	if err == nil {
		c.log.DebugContext(ctx, "twilio message created", "op", op, "sid", sid)
	}
	return sid, err
}

// CancelMessage cancels a scheduled message. Once it has left the
// schedule Twilio answers error 30409 (see HasCode, CodeNotCancelable).
func (c *Client) CancelMessage(ctx context.Context, sid string) error {
	params := &api.UpdateMessageParams{}
	params.SetStatus("canceled")
	err := c.do(ctx, "cancel_message", sid, func(rh *twclient.RequestHandler) error {
		_, err := api.NewApiService(rh).UpdateMessage(sid, params)
		return err
	})
	if err != nil {
		return fmt.Errorf("cancel message %s: %w", sid, err)
	}
	return nil
}

// Message is what the bridge reads back of a Message resource.
type Message struct {
	SID    string
	Status string // scheduled, queued, sent, delivered, failed, canceled, …
	Body   string
	// DateCreated is zero when Twilio's answer lacks it or cannot be read.
	DateCreated time.Time
}

// MaxListedMessages bounds ListMessagesTo; a number with more messages is
// an error rather than a silently partial list.
const MaxListedMessages = 1000

// ListMessagesTo lists the account's messages to `to`, newest first,
// following every page up to MaxListedMessages.
func (c *Client) ListMessagesTo(ctx context.Context, to string) ([]Message, error) {
	if to == "" {
		return nil, errors.New("list messages: empty To would list the whole account")
	}
	params := &api.ListMessageParams{}
	params.SetTo(to).SetPageSize(100).SetLimit(MaxListedMessages + 1)
	var out []Message
	err := c.do(ctx, "list_messages", "", func(rh *twclient.RequestHandler) error {
		list, err := api.NewApiService(rh).ListMessage(params)
		if err != nil {
			return err
		}
		if len(list) > MaxListedMessages {
			return fmt.Errorf("more than %d messages", MaxListedMessages)
		}
		out = make([]Message, 0, len(list))
		for _, m := range list {
			if m.Sid == nil || *m.Sid == "" {
				return errors.New("message without sid in list")
			}
			msg := Message{SID: *m.Sid}
			if m.Status != nil {
				msg.Status = *m.Status
			}
			if m.Body != nil {
				msg.Body = *m.Body
			}
			if m.DateCreated != nil {
				if t, err := time.Parse(time.RFC1123Z, *m.DateCreated); err == nil {
					msg.DateCreated = t
				}
			}
			out = append(out, msg)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}
