package survey

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"log/slog"
	"time"
)

// ErrAnswered means the contact's survey for that day was already received,
// on any channel.
var ErrAnswered = errors.New("survey: this day is already answered")

// Recording is what Record needs: the used marks and the writeback queue.
type Recording struct {
	Store       Store
	Submissions Submissions
	UsedTTL     time.Duration // default 30 days
	Now         func() time.Time
	Logger      *slog.Logger
}

// Record writes a day's answers once per contact and day, whichever
// channel carries them (the web page, a reminder call): the day is marked
// used (SET NX) and the answers queued for Salesforce's Symptom_Survey__c.
// It returns ErrAnswered for a day already answered; any other error
// means nothing was recorded and the contact may answer again.
func Record(ctx context.Context, rc Recording, cl Claims, answers map[string]string) error {
	if rc.Now == nil {
		rc.Now = time.Now
	}
	if rc.UsedTTL <= 0 {
		rc.UsedTTL = 30 * 24 * time.Hour
	}
	log := rc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := rc.Now().UTC()
	key := UsedKey(cl.ContactID, cl.Date)
	fresh, err := rc.Store.SetNX(ctx, key, now.Format(time.RFC3339), rc.UsedTTL)
	if err != nil {
		log.Error("survey store unavailable", "err", err)
		return err
	}
	if !fresh {
		return ErrAnswered
	}
	payload, _ := json.Marshal(event.Writeback{Survey: &event.Survey{
		ContactID: cl.ContactID, Date: cl.Date, Language: cl.Language, Answers: answers, SubmittedAt: now,
	}})
	added, err := rc.Submissions.Enqueue(ctx, queue.Item{Key: mapping.SurveyKey(cl.ContactID, cl.Date), Payload: payload})
	if err != nil {
		// Not recorded: free the day so the contact can answer again.
		if derr := rc.Store.Del(context.WithoutCancel(ctx), key); derr != nil {
			log.Error("survey link left marked used", "contact_id", cl.ContactID, "date", cl.Date, "err", derr)
		}
		log.Error("survey not queued", "contact_id", cl.ContactID, "date", cl.Date, "err", err)
		return err
	}
	if len(added) == 1 && !added[0] {
		return ErrAnswered // the queue remembers this day's answers (the used mark was lost)
	}
	return nil
}
