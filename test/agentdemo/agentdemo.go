// Package agentdemo serves `bridge demo`'s tracer's desktop at /demo/agent:
// a Salesforce-like record list beside a Flex-like task panel, running the
// Flex plugin's own modules (bundled from flex-plugin/ by
// `npm run build:demo`) against the real bridge and the simulators.
//
// Its small API stands for what Flex and Salesforce do themselves around
// the plugin: list records, place the call (a task assigned to the demo
// worker), ring an inbound call, replace a task's attributes, wrap up and
// complete. It is for the demo only: unauthenticated, on the demo's
// loopback listener, and never mounted by `bridge serve`.
package agentdemo

import (
	_ "embed"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

//go:embed static/index.html
var indexHTML []byte

//go:embed static/agent.js
var agentJS []byte

// Path is where the page is served.
const Path = "/demo/agent"

// Config wires the page to the demo's world.
type Config struct {
	SF        *sfsim.Server
	Twilio    *twiliosim.Server
	WorkerSID string // the demo tracer's TaskRouter worker
	Identity  string // the demo tracer's Flex identity
	CallerID  string // the number inbound calls ring
}

// Desk is the demo page and its API.
type Desk struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Desk, error) {
	if cfg.SF == nil || cfg.Twilio == nil || cfg.WorkerSID == "" {
		return nil, errors.New("agentdemo: SF, Twilio and WorkerSID are required")
	}
	if cfg.Identity == "" {
		cfg.Identity = "demo-tracer@cityhealth.example"
	}
	return &Desk{cfg: cfg}, nil
}

// Household is the pair of seeded contacts sharing one number, written two
// ways in two fields: an inbound call from it gets the picker.
var Household = struct{ Number, MobileAs, PhoneAs string }{"+16465550147", "(646) 555-0147", "646-555-0147"}

// Seed adds the demo desk's own sample contacts: a household whose two
// members share a number.
func Seed(sf *sfsim.Server) []string {
	return []string{
		sf.AddRecord("Contact", map[string]any{"FirstName": "Rosa", "LastName": "Diaz", "MobilePhone": Household.MobileAs,
			"Preferred_Language__c": "Spanish", "Case_Number__c": "NYC-2026-000201", "Index_Case_Name__c": "Protected Person"}),
		sf.AddRecord("Contact", map[string]any{"FirstName": "Tomas", "LastName": "Diaz", "Phone": Household.PhoneAs,
			"Preferred_Language__c": "Spanish", "Case_Number__c": "NYC-2026-000202", "Index_Case_Name__c": "Protected Person"}),
	}
}

// Register mounts the page, its bundle and its API.
func (d *Desk) Register(r gin.IRouter) {
	r.GET(Path, d.page)
	r.GET(Path+"/", d.page)
	r.GET(Path+"/agent.js", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", agentJS)
	})
	g := r.Group(Path + "/api")
	g.GET("/session", d.session)
	g.GET("/records", d.records)
	g.GET("/activities", d.activities)
	g.POST("/tasks", d.placeCall)
	g.POST("/inbound", d.ring)
	g.POST("/tasks/:sid/attributes", d.setAttributes)
	g.POST("/tasks/:sid/wrapup", d.wrapup)
	g.POST("/tasks/:sid/complete", d.complete)
}

func (d *Desk) page(c *gin.Context) {
	// Everything is same-origin: no asset from another host.
	c.Header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", indexHTML)
}

// session hands the page a Flex token for the demo worker, issued by the
// Twilio simulator and checked by the bridge through its IAM route, as a
// real Flex token would be.
func (d *Desk) session(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{
		"flex_token": d.cfg.Twilio.IssueFlexToken(d.cfg.Identity, d.cfg.WorkerSID, 8*time.Hour),
		"worker_sid": d.cfg.WorkerSID,
		"inbound_numbers": []gin.H{
			{"label": Household.MobileAs + " (a household: two contacts)", "number": Household.Number},
			{"label": "(929) 555-0100 (no record)", "number": "+19295550100"},
		},
	})
}

type record struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Mobile string `json:"mobile,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// records is the Salesforce list view: name and phone fields only.
func (d *Desk) records(c *gin.Context) {
	out := []record{}
	for _, r := range d.cfg.SF.Records("Contact") {
		out = append(out, record{ID: str(r["Id"]), Name: strings.TrimSpace(str(r["FirstName"]) + " " + str(r["LastName"])),
			Mobile: str(r["MobilePhone"]), Phone: str(r["Phone"])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	c.JSON(http.StatusOK, gin.H{"records": out})
}

type activity struct {
	ID           string `json:"id"`
	Who          string `json:"who"`
	Subject      string `json:"subject"`
	Status       string `json:"status"`
	Disposition  string `json:"disposition,omitempty"`
	ActivityDate string `json:"activity_date,omitempty"`
	Duration     *int   `json:"duration,omitempty"`
}

// activities lists the Salesforce Tasks the bridge wrote, newest first.
func (d *Desk) activities(c *gin.Context) {
	out := []activity{}
	for _, r := range d.cfg.SF.Records("Task") {
		a := activity{ID: str(r["Id"]), Subject: str(r["Subject"]), Status: str(r["Status"]),
			Disposition: str(r["CallDisposition"]), ActivityDate: str(r["ActivityDate"])}
		if who := d.cfg.SF.Record("Contact", str(r["WhoId"])); who != nil {
			a.Who = strings.TrimSpace(str(who["FirstName"]) + " " + str(who["LastName"]))
		}
		if f, ok := r["CallDurationInSeconds"].(float64); ok {
			n := int(f)
			a.Duration = &n
		}
		out = append(out, a)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	c.JSON(http.StatusOK, gin.H{"activities": out})
}

type taskJSON struct {
	SID              string         `json:"sid"`
	Attributes       map[string]any `json:"attributes"`
	AssignmentStatus string         `json:"assignment_status"`
	DateCreated      time.Time      `json:"date_created"`
}

func asJSON(t twiliosim.Task) taskJSON {
	return taskJSON{SID: t.SID, Attributes: t.Attributes, AssignmentStatus: t.AssignmentStatus, DateCreated: t.DateCreated}
}

// placeCall is Flex's StartOutboundCall: a task assigned to the worker,
// with the attributes the plugin's listeners left in the payload.
func (d *Desk) placeCall(c *gin.Context) {
	var req struct {
		Attributes map[string]any `json:"attributes"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "body must be JSON {\"attributes\": {…}}"})
		return
	}
	attrs := req.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["direction"] = "outbound"
	attrs["targetWorker"] = d.cfg.WorkerSID
	c.JSON(http.StatusCreated, asJSON(d.cfg.Twilio.AddAssignedTask(attrs)))
}

// ring is an inbound call accepted by the worker.
func (d *Desk) ring(c *gin.Context) {
	var req struct {
		From string `json:"from"`
	}
	if err := c.ShouldBindJSON(&req); err != nil || !strings.HasPrefix(req.From, "+") {
		c.JSON(http.StatusBadRequest, gin.H{"error": "body must be JSON {\"from\": \"+E164\"}"})
		return
	}
	t := d.cfg.Twilio.AddAssignedTask(map[string]any{"direction": "inbound", "from": req.From, "to": d.cfg.CallerID,
		"call_sid": "CA" + strings.Repeat("0", 31) + "1", "targetWorker": d.cfg.WorkerSID})
	c.JSON(http.StatusCreated, asJSON(t))
}

func (d *Desk) setAttributes(c *gin.Context) {
	var req struct {
		Attributes map[string]any `json:"attributes"`
	}
	if err := c.ShouldBindJSON(&req); err != nil || req.Attributes == nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "body must be JSON {\"attributes\": {…}}"})
		return
	}
	t, err := d.cfg.Twilio.ReplaceAttributes(c.Param("sid"), req.Attributes)
	if err != nil {
		c.JSON(http.StatusConflict, gin.H{"error": "the task is not open"})
		return
	}
	c.JSON(http.StatusOK, asJSON(t))
}

func (d *Desk) wrapup(c *gin.Context) {
	if err := d.cfg.Twilio.SetAssignmentStatus(c.Param("sid"), "wrapping"); err != nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such task"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "wrapping"})
}

// complete is Flex's CompleteTask: TaskRouter sends task.completed to the
// bridge, whose writeback puts the activity (and follow-up) in Salesforce.
func (d *Desk) complete(c *gin.Context) {
	if err := d.cfg.Twilio.CompleteTask(c.Param("sid"), nil); err != nil {
		c.JSON(http.StatusConflict, gin.H{"error": "the task could not be completed"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "completed"})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
