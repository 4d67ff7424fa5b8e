package democonsole_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cityhealth/bridge/test/browser"
)

// The console in headless Chromium, under its CSP: it renders both sides,
// and its edit, complete and text forms reach the bridge.
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	w := setup(t)
	sid := createTask(t, w.tw, w.alex)
	bctx := browser.Start(t, 1400, 1000)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
				browser.SaveArtifact(t, "console-failed.png", png)
			}
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFor := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second))
	}
	lastAction := `(document.querySelector('#actions li') || {textContent: ''}).textContent`

	step("open",
		chromedp.Navigate(w.console.URL+"/demo/"),
		waitFor(`document.getElementById('live').textContent === 'live'`),
		waitFor(`!!document.querySelector('#sf-`+w.alex+`') && document.querySelector('#sf-`+w.alex+`').textContent.includes('Alex Rivera')`),
		waitFor(`!!document.querySelector('#tw-`+sid+` a.ref')`),
	)
	step("edit and save",
		chromedp.Click(chromedp.CSS(`#sf-`+w.alex+` button`)),
		chromedp.WaitVisible(chromedp.ID("edit-dialog")),
		chromedp.SetValue(chromedp.CSS(`#edit-fields input[name=Outreach_Status__c]`), "Closed"),
		chromedp.Click(chromedp.ID("edit-save")),
		waitFor(lastAction+`.includes('acknowledged')`),
	)
	if got := w.bridge.last(t, "/webhooks/salesforce/outbound"); !strings.Contains(string(got.body), "<sf:Outreach_Status__c>Closed</sf:Outreach_Status__c>") {
		t.Fatalf("the save's Outbound Message: %s", got.body)
	}
	step("complete a task",
		chromedp.Click(chromedp.CSS(`#tw-`+sid+` button`)),
		chromedp.WaitVisible(chromedp.ID("complete-dialog")),
		chromedp.SetValue(chromedp.ID("complete-outcome"), "Left voicemail"),
		chromedp.Click(chromedp.ID("complete-save")),
		waitFor(lastAction+`.includes('task.completed')`),
		waitFor(`document.querySelector('#tw-`+sid+`').textContent.includes('completed')`),
	)
	step("text STOP",
		chromedp.SetValue(chromedp.ID("sms-from"), "+12125550123"),
		chromedp.SetValue(chromedp.ID("sms-body"), "STOP"),
		chromedp.Click(chromedp.CSS(`#sms-form button`)),
		waitFor(lastAction+`.includes('texted STOP')`),
	)
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
		browser.SaveArtifact(t, "console.png", png)
	}
}
