package admin

import (
	"bytes"
	"testing"

	"github.com/cityhealth/bridge/test/world"
)

// The outcome preview reads TaskRouter's form with the webhook's own
// TaskEvent: attributes given as TaskRouter's JSON string or as an object,
// and numbers as JSON numbers or form text, preview the same.
func TestPreviewOutcomeReadsTheFormAsTheWebhook(t *testing.T) {
	e := MustEnv(t)
	e.mustSave(world.StoreMapping(t))
	asForm := e.preview(`{"flow":"outcome_to_crm","event":{"TaskSid":"WT0123456789abcdef0123456789abcdef","EventType":"task.completed","TaskAge":"95",
		"TaskAttributes":"{\"crm\":{\"record_id\":\"003000000000001AAA\"},\"conversations\":{\"outcome\":\"Reached\",\"talk_time\":95},\"follow_up_date\":\"2026-03-10\"}"}}`)
	asObject := e.preview(`{"flow":"outcome_to_crm","event":{"TaskSid":"WT0123456789abcdef0123456789abcdef","EventType":"task.completed","TaskAge":95,
		"TaskAttributes":{"crm":{"record_id":"003000000000001AAA"},"conversations":{"outcome":"Reached","talk_time":95},"follow_up_date":"2026-03-10"}}}`)
	if asForm.status != 200 || asObject.status != 200 || !bytes.Equal(asForm.body, asObject.body) {
		t.Fatalf("form: %d %s\nobject: %d %s", asForm.status, asForm.body, asObject.status, asObject.body)
	}
	// Attributes that are not JSON leave the tree without them, so a rule
	// that reads them says which path it found empty.
	r := e.preview(`{"flow":"outcome_to_crm","event":{"TaskSid":"WT0123456789abcdef0123456789abcdef","TaskAttributes":"{not json"}}`)
	if r.status != 422 || string(r.body) != `{"error":"outcome_to_crm.fields.WhoId: required value is missing or invalid (path task.attributes.crm.record_id)"}` {
		t.Fatalf("bad attributes: %d %s", r.status, r.body)
	}
}
