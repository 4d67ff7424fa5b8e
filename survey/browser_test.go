package survey_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/test/browser"
)

// TestSurveyInChromium fills and sends the Spanish survey in a headless,
// phone-sized Chromium, under the page's real CSP, and keeps a screenshot.
func TestSurveyInChromium(t *testing.T) {
	e := MustPages(t, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	pageURL := srv.URL + "/survey/" + e.token(t, "es")

	ctx := browser.Start(t, 390, 844)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	lang, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`html`), "lang"))
	if err != nil {
		t.Fatal(err)
	}
	legend, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`legend`)))
	if err != nil {
		t.Fatal(err)
	}
	// tap the labels, as a thumb would
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`label[for="q-Fever__c-no"]`)),
		chromedp.Click(chromedp.CSS(`label[for="q-Cough__c-yes"]`)),
		chromedp.SendKeys(chromedp.CSS(`#q-Other_Symptoms__c`), "Me duele la garganta"),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if lang.Value != "es" || legend != "¿Tiene fiebre?" {
		t.Errorf("lang %q, first legend %q", lang.Value, legend)
	}
	browser.SaveArtifact(t, "survey-es.png", shot)

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
	)
	if err != nil {
		t.Fatalf("chromium submit: %v", err)
	}
	done, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[role=status]`)))
	if err != nil {
		t.Fatal(err)
	}
	if sent, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		browser.SaveArtifact(t, "survey-es-sent.png", sent)
	}
	if !strings.Contains(done, "Recibimos sus respuestas") {
		t.Errorf("after submit: %q", done)
	}

	items := e.subs.Items()
	if len(items) != 1 {
		t.Fatalf("%d submissions", len(items))
	}
	var ev event.Writeback
	_ = json.Unmarshal(items[0].Payload, &ev)
	want := map[string]string{"Fever__c": "no", "Cough__c": "yes", "Other_Symptoms__c": "Me duele la garganta"}
	for k, v := range want {
		if ev.Survey.Answers[k] != v {
			t.Errorf("answer %s = %q, want %q", k, ev.Survey.Answers[k], v)
		}
	}
}
