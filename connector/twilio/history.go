package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// Twilio's own records of what it sent the bridge, read page by page for
// the reconciler. Each item is rebuilt as the form its webhook posted, so
// the webhooks' code turns it into an event.

// MaxPageSize is the largest page Twilio's list resources serve.
const MaxPageSize = 1000

// EventsPage is one page of TaskRouter's Events list.
type EventsPage struct {
	// Forms are the events as the workspace's event callback posts them.
	Forms []url.Values
	// Next is the cursor of the next page; "" on the last one.
	Next string
}

// ListEventsPage reads one page of the workspace's Events of eventType
// that occurred between start and end (both inclusive). cursor is "" for
// the first page, else the previous page's Next.
func (c *Client) ListEventsPage(ctx context.Context, eventType string, start, end time.Time, pageSize int, cursor string) (EventsPage, error) {
	params := &taskrouter.ListEventParams{}
	params.SetEventType(eventType).SetStartDate(start.UTC().Truncate(time.Second)).SetEndDate(end.UTC().Truncate(time.Second)).
		SetPageSize(clampPage(pageSize))
	token, page, err := parseCursor(cursor)
	if err != nil {
		return EventsPage{}, err
	}
	var out EventsPage
	err = c.do(ctx, "list_events", "", func(rh *twclient.RequestHandler) error {
		resp, err := taskrouter.NewApiService(rh).PageEvent(c.cfg.WorkspaceSID, params, token, page)
		if err != nil {
			return err
		}
		for _, ev := range resp.Events {
			form, err := eventForm(ev)
			if err != nil {
				return err
			}
			out.Forms = append(out.Forms, form)
		}
		if resp.Meta.NextPageUrl != nil {
			out.Next, err = cursorOf(*resp.Meta.NextPageUrl)
		}
		return err
	})
	if err != nil {
		return EventsPage{}, fmt.Errorf("list %s events: %w", eventType, err)
	}
	return out, nil
}

// eventForm rebuilds the event callback's form from an Event resource:
// the envelope's fields by their callback names, and event_data's
// snake_case keys as the callback's CamelCase parameters (task_sid →
// TaskSid), as TaskRouter's Event reference lists them.
func eventForm(ev taskrouter.TaskrouterV1Event) (url.Values, error) {
	if ev.Sid == nil || *ev.Sid == "" || ev.EventType == nil {
		return nil, errors.New("event without sid or type in list")
	}
	form := url.Values{}
	if ev.EventData != nil {
		data, ok := (*ev.EventData).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("event %s: event_data is not an object", *ev.Sid)
		}
		for k, v := range data {
			if s, ok := formValue(v); ok {
				form.Set(camel(k), s)
			}
		}
	}
	set := func(k string, v *string) {
		if v != nil && *v != "" {
			form.Set(k, *v)
		}
	}
	form.Set("Sid", *ev.Sid)
	form.Set("EventType", *ev.EventType)
	set("AccountSid", ev.AccountSid)
	set("WorkspaceSid", ev.WorkspaceSid)
	set("EventDescription", ev.Description)
	set("ResourceSid", ev.ResourceSid)
	set("ResourceType", ev.ResourceType)
	switch {
	case ev.EventDateMs != nil:
		form.Set("TimestampMs", strconv.FormatInt(*ev.EventDateMs, 10))
		form.Set("Timestamp", strconv.FormatInt(*ev.EventDateMs/1000, 10))
	case ev.EventDate != nil:
		form.Set("TimestampMs", strconv.FormatInt(ev.EventDate.UnixMilli(), 10))
		form.Set("Timestamp", strconv.FormatInt(ev.EventDate.Unix(), 10))
	}
	return form, nil
}

// formValue writes a JSON value as a form field: strings as they are,
// numbers without exponent, anything else as JSON; null is left out.
func formValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func camel(snake string) string {
	parts := strings.Split(snake, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// InboundMessage is a message a contact sent, from the account's Messages list.
type InboundMessage struct {
	// Form is the message as the inbound SMS webhook posts it.
	Form     url.Values
	DateSent time.Time
}

// MessagesPage is one page of the account's Messages list, newest first.
type MessagesPage struct {
	// Inbound holds the page's inbound messages; outbound ones are left out.
	Inbound []InboundMessage
	// Oldest is the earliest date_sent on the page (inbound or not); zero
	// when the page is empty.
	Oldest time.Time
	Next   string // "" on the last page
}

// ListMessagesPage reads one page of the account's messages sent on or
// after sentAfter's day: Twilio filters DateSent by date only, newest first,
// so the caller stops paging once Oldest is before the time it wants.
func (c *Client) ListMessagesPage(ctx context.Context, sentAfter time.Time, pageSize int, cursor string) (MessagesPage, error) {
	params := &api.ListMessageParams{}
	params.SetDateSentAfter(sentAfter.UTC().Truncate(24 * time.Hour)).SetPageSize(clampPage(pageSize))
	token, page, err := parseCursor(cursor)
	if err != nil {
		return MessagesPage{}, err
	}
	var out MessagesPage
	err = c.do(ctx, "list_messages", "", func(rh *twclient.RequestHandler) error {
		resp, err := api.NewApiService(rh).PageMessage(params, token, page)
		if err != nil {
			return err
		}
		for _, m := range resp.Messages {
			if m.Sid == nil || *m.Sid == "" {
				return errors.New("message without sid in list")
			}
			sent := parseMessageDate(m.DateSent)
			if sent.IsZero() {
				sent = parseMessageDate(m.DateCreated)
			}
			if !sent.IsZero() && (out.Oldest.IsZero() || sent.Before(out.Oldest)) {
				out.Oldest = sent
			}
			if m.Direction == nil || *m.Direction != "inbound" {
				continue
			}
			form := url.Values{}
			form.Set("MessageSid", *m.Sid)
			form.Set("SmsSid", *m.Sid)
			for k, v := range map[string]*string{"AccountSid": m.AccountSid, "MessagingServiceSid": m.MessagingServiceSid,
				"From": m.From, "To": m.To, "Body": m.Body, "NumMedia": m.NumMedia, "NumSegments": m.NumSegments} {
				if v != nil {
					form.Set(k, *v)
				}
			}
			out.Inbound = append(out.Inbound, InboundMessage{Form: form, DateSent: sent})
		}
		if resp.NextPageUri != nil {
			out.Next, err = cursorOf(*resp.NextPageUri)
		}
		return err
	})
	if err != nil {
		return MessagesPage{}, fmt.Errorf("list messages since %s: %w", sentAfter.UTC().Format(time.DateOnly), err)
	}
	return out, nil
}

func parseMessageDate(s *string) time.Time {
	if s == nil || *s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC1123Z, *s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

func clampPage(n int) int {
	if n <= 0 || n > MaxPageSize {
		return MaxPageSize
	}
	return n
}

// A cursor is the query of Twilio's next page link: its PageToken and Page
// are what twilio-go's Page calls take.
func cursorOf(next string) (string, error) {
	if next == "" {
		return "", nil
	}
	u, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("next page link: %w", err)
	}
	return u.RawQuery, nil
}

func parseCursor(cursor string) (token, page string, err error) {
	if cursor == "" {
		return "", "", nil
	}
	q, err := url.ParseQuery(cursor)
	if err != nil {
		return "", "", fmt.Errorf("page cursor: %w", err)
	}
	return q.Get("PageToken"), q.Get("Page"), nil
}
