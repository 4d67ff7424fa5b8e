package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/test/browser"
	"github.com/cityhealth/bridge/test/world"
)

// fakeCRM answers previews in the browser test; it must not be called there.
type fakeCRM struct {
	GetFunc func(ctx context.Context, object, id string, fields []string) (salesforce.Record, error)
}

var _ CRM = (*fakeCRM)(nil)

func (f *fakeCRM) Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error) {
	return f.GetFunc(ctx, object, id, fields)
}

// TestBrowserEditValidateSaveRollback drives the admin page in Chromium:
// sign in with a pasted token, load, break the mapping, see the error at its
// path, fix and save, roll back from History, and take a screenshot.
func TestBrowserEditValidateSaveRollback(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	store := world.MustMappingStore(t, rdb)
	ctx := context.Background()
	doc := world.StoreMapping(t)
	if _, err := store.Save(ctx, doc, "BRIDGE_MAPPING_FILE", "", 0); err != nil {
		t.Fatal(err)
	}
	mustDeadLetter(t, rdb, "EV0123456789abcdef", `{"task":{}}`)
	crm := &fakeCRM{GetFunc: func(context.Context, string, string, []string) (salesforce.Record, error) {
		t.Error("the browser test previews inline records only")
		return nil, salesforce.ErrNotFound
	}}
	// The monitoring view: one escalation, then a second one appears, which
	// the page shows without a click (it refreshes every 10 s).
	var viewMu sync.Mutex
	escalations := []map[string]string{{"contact_id": "003000000000001AAA", "reason": "symptoms"}}
	view := MonitoringFunc(func(context.Context) (any, error) {
		viewMu.Lock()
		defer viewMu.Unlock()
		return map[string]any{"date": "2026-03-03", "escalations": escalations,
			"missed_days":         []map[string]string{{"contact_id": "003000000000002AAA", "day": "2026-03-02"}},
			"contacts_by_channel": map[string]int{"sms": 2, "voice": 1},
			"contacts":            map[string][]string{"sms": {"003000000000001AAA", "003000000000002AAA"}, "voice": {"003000000000003AAA"}}}, nil
	})
	api, err := NewAPI(APIConfig{Store: store, DeadLetters: redis.NewDeadLetters(rdb), CRM: crm, CallerID: "+16175550100", Monitoring: view})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	api.Register(eng, authn.Require(auth.RoleAdmin))
	srv := httptest.NewServer(eng)
	defer srv.Close()
	token := mint(t, "dana.admin", auth.RoleAdmin)

	bctx := browser.Start(t, 1280, 900)
	tctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tctx, actions...); err != nil {
			shot(t, tctx, "admin-failed.png")
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFor := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second))
	}
	setDoc := func(text string) chromedp.Action[chromedp.Void] {
		js, _ := json.Marshal(text)
		return chromedp.Evaluate[chromedp.Void](`(() => { const d = document.getElementById('doc'); d.value = ` + string(js) +
			`; d.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	}

	// The page loads without a token and asks for one.
	step("open page",
		chromedp.Navigate(srv.URL+"/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	step("sign in",
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin-btn")),
		chromedp.WaitVisible(chromedp.ID("doc")),
		waitFor(`document.getElementById('doc').value.includes('record_to_task:')`),
		waitFor(`document.getElementById('version-label').textContent === 'Editing version 1'`),
		waitFor(`document.getElementById('who-label').textContent.includes('dana.admin')`),
		waitFor(`sessionStorage.getItem('bridge.adminToken') !== null`),
	)

	// Break it: an unknown transform.
	broken := strings.Replace(string(doc), "transform: e164, required: true}", "transform: nope, required: true}", 1)
	const wantPath = "record_to_task.attributes.to.transform"
	step("validate broken",
		setDoc(broken),
		waitFor(`!document.getElementById('dirty').hidden`),
		chromedp.Click(chromedp.ID("validate-btn")),
		waitFor(`[...document.querySelectorAll('#errors .path')].some(e => e.textContent === '`+wantPath+`')`),
		waitFor(`document.getElementById('editor-msg').textContent.includes('Nothing was saved')`),
	)
	// Clicking the error selects its line in the editor.
	step("select error line",
		chromedp.Click(chromedp.CSS("#errors li:first-child button")),
		waitFor(`(() => { const d = document.getElementById('doc'); return d.value.substring(d.selectionStart, d.selectionEnd).includes('transform: nope'); })()`),
	)
	step("save broken is refused",
		chromedp.Click(chromedp.ID("save-btn")),
		waitFor(`[...document.querySelectorAll('#errors .path')].some(e => e.textContent === '`+wantPath+`')`),
	)
	shot(t, tctx, "admin-errors.png")
	if v, _ := store.Latest(ctx); v.Version != 1 {
		t.Fatalf("a refused save stored version %d", v.Version)
	}

	// Fix it, change something real, save: version 2.
	fixed := strings.Replace(string(doc), "days: 14", "days: 10", 1)
	step("save fixed",
		setDoc(fixed),
		chromedp.Click(chromedp.ID("save-btn")),
		waitFor(`document.getElementById('editor-msg').textContent.includes('Saved as version 2')`),
		waitFor(`document.getElementById('errors-box').hidden`),
		waitFor(`document.getElementById('version-label').textContent === 'Editing version 2'`),
		waitFor(`document.querySelector('#history tbody tr') && document.querySelector('#history tbody tr').dataset.version === '2'`),
	)
	v2, err := store.Latest(ctx)
	if err != nil || v2.Version != 2 || v2.Who != "dana.admin" || v2.Summary != "changed reminders.days" || string(v2.Doc) != fixed {
		t.Fatalf("after save: version %d by %q (%q), err %v", v2.Version, v2.Who, v2.Summary, err)
	}

	// Roll back to version 1 from History (the button asks for a second press).
	rollbackBtn := chromedp.CSS(`#history button[aria-label="Roll back to version 1"]`)
	step("roll back",
		chromedp.Click(rollbackBtn),
		waitFor(`document.querySelector('#history button[aria-label="Roll back to version 1"]').textContent.startsWith('Confirm')`),
		chromedp.Click(rollbackBtn),
		waitFor(`document.getElementById('history-msg').textContent.includes('version 3')`),
		waitFor(`document.getElementById('version-label').textContent === 'Editing version 3'`),
		waitFor(`document.getElementById('doc').value.includes('days: 14')`),
	)
	v3, err := store.Latest(ctx)
	if err != nil || v3.Version != 3 || !bytes.Equal(v3.Doc, doc) {
		t.Fatalf("after rollback: version %d, err %v", v3.Version, err)
	}

	// A preview of an inline record, and the dead letters, for the picture.
	step("preview and dead letters",
		chromedp.Click(chromedp.CSS(`input[name=source][value=json]`)),
		chromedp.Click(chromedp.ID("preview-btn")),
		waitFor(`document.getElementById('preview-out').textContent.includes('"record_id": "003000000000001AAA"')`),
		waitFor(`document.querySelectorAll('#dead tbody button').length === 1`),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	step("monitoring view",
		waitFor(`document.querySelector('#escalations tbody').textContent.includes('003000000000001AAA')`),
		waitFor(`document.querySelector('#missed tbody').textContent.includes('2026-03-02')`),
		waitFor(`document.querySelector('#channels tbody').textContent.includes('voice')`),
	)
	viewMu.Lock()
	escalations = append(escalations, map[string]string{"contact_id": "003000000000004AAA", "reason": "missed_days"})
	viewMu.Unlock()
	step("monitoring view refreshes itself",
		waitFor(`document.querySelector('#escalations tbody').textContent.includes('missed_days')`),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	png := shot(t, tctx, "admin.png")
	if len(png) < 10000 {
		t.Fatalf("screenshot is only %d bytes", len(png))
	}

	// Replay the letter without fixing anything: the page reports that the
	// replay failed again, linked to the first failure.
	step("replay", chromedp.Click(chromedp.CSS(`#dead tbody button`)),
		waitFor(`document.getElementById('dead-msg').textContent.includes('Checking whether it goes through')`))
	mustDeadLetterAgain(t, rdb)
	step("failed again",
		waitFor(`document.getElementById('dead-msg').textContent.includes('failed again')`),
		waitFor(`document.querySelector('#dead tbody td.summary p.again') && document.querySelector('#dead tbody td.summary p.again').textContent.includes('Failed again after replay 1')`),
		waitFor(`document.querySelector('#dead tbody ol.history li').textContent.includes('INVALID_FIELD')`),
	)

	// Sign out forgets the token.
	step("sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("token")),
		waitFor(`sessionStorage.getItem('bridge.adminToken') === null`),
	)
}

// shot saves a full-page PNG under test/artifacts and returns it.
func shot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return nil
	}
	browser.SaveArtifact(t, name, png)
	return png
}
