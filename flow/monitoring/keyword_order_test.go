package monitoring_test

import (
	"encoding/json"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/twiliosim"
	"testing"
	"time"
)

func keywordMsg(sid, kind string, at time.Time) queue.Message {
	raw, _ := json.Marshal(event.Monitoring{SMS: &event.SMS{MessageSID: sid, From: phone, To: "+12125550000", Body: kind, OptOutType: kind, ReceivedAt: at}})
	return queue.Message{ID: "3-0", Payload: raw}
}

// STOP and START apply in the order Twilio received them: an older START
// (late, or replayed under a new dedupe key) never undoes a newer STOP.
func TestKeywordsApplyInTwilioOrder(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	t0 := epoch.Add(time.Hour)
	startSID, stopSID := "SM"+"0123456789abcdef0123456789abcde1", "SM"+"0123456789abcdef0123456789abcde2"

	e.mustHandle(t, keywordMsg(startSID, "START", t0))
	e.mustHandle(t, keywordMsg(stopSID, "STOP", t0.Add(time.Minute)))
	scheduled := e.tw.Calls(twiliosim.OpScheduleMessage)

	// The START again (a replay), then an older START arriving late.
	e.mustHandle(t, keywordMsg(startSID, "START", t0.Add(time.Hour)))
	e.mustHandle(t, keywordMsg("SM0123456789abcdef0123456789abcde3", "START", t0.Add(30*time.Second)))
	if out, err := e.reg.OptedOut(t.Context(), id); err != nil || !out {
		t.Fatalf("an older or replayed START undid a newer STOP: opted out = %v, %v", out, err)
	}
	if n := e.tw.Calls(twiliosim.OpScheduleMessage) - scheduled; n != 0 {
		t.Fatalf("%d reminders rescheduled by a superseded START", n)
	}
	if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != true {
		t.Fatalf("SMS_Opt_Out__c = %v, want true", v)
	}

	// A genuinely newer START resumes.
	e.mustHandle(t, keywordMsg("SM0123456789abcdef0123456789abcde4", "START", t0.Add(2*time.Minute)))
	if out, _ := e.reg.OptedOut(t.Context(), id); out {
		t.Fatal("a newer START was not applied")
	}
}
