package writeback

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"time"
)

// Escalations is the escalation queue. Survey answers and replies reach it
// from here, once they are written to Salesforce: the tracer who opens the
// task finds the survey row, and every channel's answer (web page, voice)
// passes here exactly once per contact and day.
type Escalations interface {
	Enqueue(ctx context.Context, items ...queue.Item) ([]bool, error)
}

// escalations enqueues, for each message written without error, what
// escalation needs: every survey (it marks the day answered, with the
// fields that escalate) and every reply with an escalate keyword. A
// failure fails the message, whose rows are upserts and safe to repeat.
func (f *Flow) escalations(ctx context.Context, m *mapping.Mapping, msgs []queue.Message, errs []error) {
	if f.cfg.Escalations == nil || m == nil || m.Escalate() == nil {
		return
	}
	x := m.Escalate()
	var items []queue.Item
	var idx []int
	for i, msg := range msgs {
		if errs[i] != nil {
			continue
		}
		var ev event.Writeback
		if json.Unmarshal(msg.Payload, &ev) != nil {
			continue
		}
		var out event.Escalation
		var key string
		switch {
		case ev.Survey != nil:
			s := ev.Survey
			answers := make(map[string]any, len(s.Answers))
			for k, v := range s.Answers {
				answers[k] = v
			}
			out = event.Escalation{Kind: event.EscalationAnswer, ContactID: s.ContactID, Day: s.Date,
				Date: f.localDate(s.SubmittedAt), Symptoms: x.Symptoms(answers)}
			key = "answer:" + mapping.SurveyKey(s.ContactID, s.Date)
		case ev.Reply != nil && x.ReplyKeyword(ev.Reply.Body):
			id, found, err := f.cfg.Contacts.ContactByPhone(ctx, ev.Reply.From)
			if err != nil {
				errs[i] = fmt.Errorf("find contact of reply %s: %w", ev.Reply.MessageSID, err)
				continue
			}
			if !found {
				continue // not a contact in monitoring: the unlinked activity is all
			}
			out = event.Escalation{Kind: event.EscalationReply, ContactID: id, Date: f.localDate(ev.Reply.ReceivedAt), MessageSID: ev.Reply.MessageSID}
			key = "reply:" + ev.Reply.MessageSID
		default:
			continue
		}
		payload, _ := json.Marshal(out)
		items = append(items, queue.Item{Key: key, Payload: payload})
		idx = append(idx, i)
	}
	if len(items) == 0 {
		return
	}
	if _, err := f.cfg.Escalations.Enqueue(ctx, items...); err != nil {
		err = fmt.Errorf("enqueue %d escalation trigger(s): %w", len(items), err)
		for _, i := range idx {
			errs[i] = err
		}
	}
}

func (f *Flow) localDate(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.In(f.cfg.Location).Format("2006-01-02")
}
