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

// TestReportInChromium fills the Spanish self-report page on a 390×844
// phone under the page's real CSP: rows are added and removed by the inline
// script (no round trip), a bad row comes back with its message, and the
// corrected list is sent. Screenshots are kept as artifacts.
func TestReportInChromium(t *testing.T) {
	e := MustReports(t, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	pageURL := srv.URL + "/report/" + e.mint(t, "es")

	ctx := browser.Start(t, 390, 844)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(`#r0-first_name`)),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		browser.SaveArtifact(t, "report-es-empty.png", shot)
	}
	// Two more rows through the script (the page does not reload: a marker survives).
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__stay = 1`),
		chromedp.Click(chromedp.CSS(`button[name=add]`)),
		chromedp.Click(chromedp.CSS(`button[name=add]`)),
		chromedp.WaitVisible(chromedp.CSS(`#r2-first_name`)),
	)
	if err != nil {
		t.Fatalf("chromium add: %v", err)
	}
	stayed, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__stay === 1 && document.querySelectorAll("fieldset.row").length === 3`))
	if err != nil || !stayed {
		t.Fatalf("rows were not added in place (%v)", err)
	}
	// Remove the middle row; the last one becomes row 1.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#r2-first_name`), "Zoe"),
		chromedp.Click(chromedp.CSS(`#r1-first_name`)),
		chromedp.Click(chromedp.CSS(`fieldset.row:nth-of-type(2) button[name=remove]`)),
	)
	if err != nil {
		t.Fatalf("chromium remove: %v", err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("fieldset.row input[type=text]")).map(i => i.name + "=" + i.value).join(",")`))
	if err != nil {
		t.Fatal(err)
	}
	if names != "first_name.0=,first_name.1=Zoe" {
		t.Fatalf("rows after remove: %s", names)
	}
	// Fill both rows; the second with a future date.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#r0-first_name`), "Ana"),
		chromedp.SendKeys(chromedp.CSS(`#r0-phone`), "(212) 555-0101"),
		chromedp.Click(chromedp.CSS(`label[for="r0-household"]`)),
		chromedp.SendKeys(chromedp.CSS(`#r1-email`), "zoe@example.org"),
		chromedp.SetValue(chromedp.CSS(`#r1-last_contact`), "2026-03-09"),
		chromedp.Click(chromedp.CSS(`button[type=submit]:not([name]):not(.default)`)),
		chromedp.WaitVisible(chromedp.CSS(`#r1-date-err`)),
	)
	if err != nil {
		t.Fatalf("chromium submit: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#r1-date-err`)))
	if err != nil {
		t.Fatal(err)
	}
	if msg != "Esta fecha es futura." {
		t.Errorf("message beside row 2: %q", msg)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		browser.SaveArtifact(t, "report-es-invalid.png", shot)
	}
	if n := len(e.subs.Items()); n != 0 {
		t.Fatalf("a refused list was queued")
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#r1-last_contact`), "2026-02-27"),
		chromedp.Click(chromedp.CSS(`button[type=submit]:not([name]):not(.default)`)),
		chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
	)
	if err != nil {
		t.Fatalf("chromium resubmit: %v", err)
	}
	done, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[role=status]`)))
	if err != nil {
		t.Fatal(err)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		browser.SaveArtifact(t, "report-es-sent.png", shot)
	}
	if !strings.Contains(done, "Un rastreador de contactos se comunicará") || strings.Contains(done, "Ana") {
		t.Errorf("after submit: %q", done)
	}
	items := e.subs.Items()
	if len(items) != 1 {
		t.Fatalf("%d submissions", len(items))
	}
	var ev event.Writeback
	_ = json.Unmarshal(items[0].Payload, &ev)
	want := []event.ReportedContact{
		{FirstName: "Ana", Phone: "+12125550101", Household: true},
		{FirstName: "Zoe", Email: "zoe@example.org", LastContact: "2026-02-27"},
	}
	if ev.Report == nil || len(ev.Report.Contacts) != 2 || ev.Report.Contacts[0] != want[0] || ev.Report.Contacts[1] != want[1] {
		t.Errorf("queued %+v", ev.Report)
	}
}
