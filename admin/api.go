// Package admin serves the admin API (mapping versions, previews, dead
// letters, the monitoring view) and the admin web page. It is HTTP only: the
// versions live in connector/redis.MappingStore, behind the Mappings seam.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v4"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/mapping"
)

// Mappings is what the admin routes need of the mapping version store
// (connector/redis.MappingStore).
type Mappings interface {
	Current() *mapping.Mapping
	Parse(doc []byte) (*mapping.Mapping, error)
	Validate(doc []byte) mapping.Errors
	Latest(ctx context.Context) (redis.MappingVersion, error)
	History(ctx context.Context, limit int) ([]redis.MappingVersion, error)
	Save(ctx context.Context, doc []byte, who, summary string, ifMatch int64) (int64, error)
	Rollback(ctx context.Context, v int64, who string) (int64, error)
}

// DeadLetters is what the admin routes need of the dead-letter store.
type DeadLetters interface {
	List(ctx context.Context, limit int) ([]redis.DeadLetter, error)
	Replay(ctx context.Context, id string) error
}

// CRM reads one record for previews; it never writes.
type CRM interface {
	Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error)
}

// APIConfig wires the admin API.
type APIConfig struct {
	Store       Mappings
	DeadLetters DeadLetters
	CRM         CRM
	CallerID    string           // BRIDGE_TWILIO_CALLER_ID, the "from" of click-to-call previews
	Location    *time.Location   // BRIDGE_TIMEZONE for reminder previews; nil = UTC
	Now         func() time.Time // default time.Now
	Logger      *slog.Logger     // nil = discard
	Monitoring  Monitoring       // the monitoring view; nil = 404
}

// API serves the admin routes and the admin web page.
type API struct {
	cfg APIConfig
	log *slog.Logger
}

// NewAPI checks cfg.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.Store == nil || cfg.DeadLetters == nil || cfg.CRM == nil {
		return nil, errors.New("admin: APIConfig.Store, DeadLetters and CRM are required")
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Admin routes.
const (
	PathPage        = "/admin/"
	PathMappings    = "/admin/api/mappings"
	PathValidate    = "/admin/api/mappings/validate"
	PathHistory     = "/admin/api/mappings/history"
	PathRollback    = "/admin/api/mappings/rollback"
	PathPreview     = "/admin/api/mappings/preview"
	PathDeadLetters = "/admin/api/deadletters"
	PathReplay      = "/admin/api/deadletters/:id/replay"
)

// Register mounts the web page (no token needed: it holds no data) and the
// API behind requireAdmin.
func (a *API) Register(r gin.IRouter, requireAdmin gin.HandlerFunc) {
	registerPage(r)
	g := r.Group("/admin/api", noStore, requireAdmin)
	g.GET("/mappings", a.getMapping)
	g.PUT("/mappings", a.putMapping)
	g.POST("/mappings/validate", a.validate)
	g.GET("/mappings/history", a.history)
	g.POST("/mappings/rollback", a.rollback)
	g.POST("/mappings/preview", a.preview)
	g.GET("/deadletters", a.deadLetters)
	g.POST("/deadletters/:id/replay", a.replay)
	g.GET("/monitoring", a.monitoring)
}

// noStore: answers carry the mapping and, for previews, record data.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Next()
}

// who is the admin token's subject, for versions and the audit log.
func who(c *gin.Context) string {
	if p, ok := auth.PrincipalFrom(c); ok && p.Subject != "" {
		return p.Subject
	}
	return "unknown"
}

// audit logs who did what and when: ids and versions only, never document
// contents or record data.
func (a *API) audit(c *gin.Context, action string, attrs ...any) {
	a.log.Info("admin audit", append([]any{"action", action, "who", who(c), "at", a.cfg.Now().UTC().Format(time.RFC3339)}, attrs...)...)
}

func setVersionHeaders(c *gin.Context, v int64) {
	c.Header("ETag", `"`+strconv.FormatInt(v, 10)+`"`)
	c.Header("X-Mapping-Version", strconv.FormatInt(v, 10))
}

// wantsYAML: an Accept naming a YAML type before (or without) JSON.
func wantsYAML(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml":
			return true
		case "application/json":
			return false
		}
	}
	return false
}

func (a *API) getMapping(c *gin.Context) {
	ver, err := a.cfg.Store.Latest(c.Request.Context())
	var doc []byte
	switch {
	case errors.Is(err, redis.ErrNoMappingVersion):
		// Nothing stored yet: the seed file (or an empty mapping) is in force.
		doc = a.cfg.Store.Current().Source()
	case err != nil:
		writeError(c, a.log, err)
		return
	default:
		doc = ver.Doc
	}
	setVersionHeaders(c, ver.Version)
	if wantsYAML(c.GetHeader("Accept")) {
		c.Data(http.StatusOK, "application/yaml; charset=utf-8", doc)
		return
	}
	m, err := a.cfg.Store.Parse(doc)
	if err != nil {
		// Not the admin's input: a 500, with the details in the log.
		writeError(c, a.log, fmt.Errorf("stored mapping version %d does not compile: %v", ver.Version, err))
		return
	}
	js, err := m.JSON()
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", js)
}

// maxBody bounds request bodies: a document plus JSON quoting.
const maxBody = 2 * mapping.MaxDocumentSize

// readDocument reads a PUT or validate body as a YAML document. JSON bodies
// are converted to YAML (key order kept), so the stored source is always
// YAML and the editor shows one format.
func readDocument(c *gin.Context) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return nil, errMediaType
	}
	isJSON := false
	switch mt {
	case "application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml":
	case "application/json":
		isJSON = true
	default:
		return nil, errMediaType
	}
	body, err := readBody(c, mapping.MaxDocumentSize)
	if err != nil {
		return nil, err
	}
	if !isJSON {
		return body, nil
	}
	if !json.Valid(body) {
		return nil, badRequest("the body is not valid JSON")
	}
	return jsonToYAML(body)
}

func readBody(c *gin.Context, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, badRequest("could not read the body")
	}
	return body, nil
}

// jsonToYAML re-encodes a JSON document as block YAML. If the result would
// not mean the same mapping, the JSON itself is kept (JSON is YAML).
func jsonToYAML(js []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return js, nil // Parse reports it with the validator's wording
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return js, nil
	}
	_ = enc.Close()
	a, errA := mapping.Parse(js)
	b, errB := mapping.Parse(buf.Bytes())
	if errA != nil || errB != nil {
		return js, nil
	}
	ja, _ := a.JSON()
	jb, _ := b.JSON()
	if !bytes.Equal(ja, jb) {
		return js, nil
	}
	return buf.Bytes(), nil
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// parseIfMatch reads `If-Match: "N"` (quotes optional). "*" and an absent
// header save unconditionally; "0" means "only if nothing is stored yet".
func parseIfMatch(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0, nil
	}
	s := strings.TrimSuffix(strings.TrimPrefix(h, `"`), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, badRequest(`If-Match must be a mapping version, e.g. "12"`)
	}
	if v == 0 {
		return -1, nil
	}
	return v, nil
}

func (a *API) putMapping(c *gin.Context) {
	ifMatch, err := parseIfMatch(c.GetHeader("If-Match"))
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	doc, err := readDocument(c)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	v, err := a.cfg.Store.Save(c.Request.Context(), doc, who(c), "", ifMatch)
	if err != nil {
		if errors.Is(err, redis.ErrMappingConflict) {
			a.audit(c, "mapping.save.conflict", "if_match", ifMatch)
		}
		writeError(c, a.log, err)
		return
	}
	a.audit(c, "mapping.save", "version", v)
	setVersionHeaders(c, v)
	c.JSON(http.StatusOK, gin.H{"version": v})
}

func (a *API) validate(c *gin.Context) {
	doc, err := readDocument(c)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	if errs := a.cfg.Store.Validate(doc); len(errs) > 0 {
		writeError(c, a.log, errs)
		return
	}
	c.JSON(http.StatusOK, gin.H{"errors": []mapping.FieldError{}})
}

type historyEntry struct {
	Version int64     `json:"version"`
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
	Summary string    `json:"summary"`
}

func (a *API) history(c *gin.Context) {
	limit := 100
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(c, a.log, badRequest("limit must be between 1 and 1000"))
			return
		}
		limit = n
	}
	vs, err := a.cfg.Store.History(c.Request.Context(), limit)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	out := make([]historyEntry, len(vs))
	for i, v := range vs {
		out[i] = historyEntry{Version: v.Version, Who: v.Who, When: v.At, Summary: v.Summary}
	}
	c.JSON(http.StatusOK, gin.H{"versions": out})
}

func (a *API) rollback(c *gin.Context) {
	v, err := strconv.ParseInt(c.Query("version"), 10, 64)
	if err != nil || v < 1 {
		writeError(c, a.log, badRequest("version must be a positive whole number, e.g. ?version=3"))
		return
	}
	nv, err := a.cfg.Store.Rollback(c.Request.Context(), v, who(c))
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	a.audit(c, "mapping.rollback", "to_version", v, "version", nv)
	setVersionHeaders(c, nv)
	c.JSON(http.StatusOK, gin.H{"version": nv})
}

type deadLetterView struct {
	ID       string    `json:"id"`
	Queue    string    `json:"queue"`
	Key      string    `json:"key"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
	// A replay that failed again: the dead letter it was replayed from, how
	// many replays it has been through, and each earlier failure.
	ReplayOf string          `json:"replay_of,omitempty"`
	Replays  int             `json:"replays"`
	History  []redis.Failure `json:"history"`
}

func (a *API) deadLetters(c *gin.Context) {
	dls, err := a.cfg.DeadLetters.List(c.Request.Context(), 200)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	// No payloads: they hold personal data.
	out := make([]deadLetterView, len(dls))
	for i, d := range dls {
		out[i] = deadLetterView{ID: d.ID, Queue: d.Queue, Key: d.Key, Error: d.Error, Attempts: d.Attempts, FailedAt: d.FailedAt.UTC(),
			ReplayOf: d.ReplayOf(), Replays: len(d.History), History: d.History}
		if out[i].History == nil {
			out[i].History = []redis.Failure{}
		}
	}
	c.JSON(http.StatusOK, gin.H{"deadletters": out})
}

func (a *API) replay(c *gin.Context) {
	id := c.Param("id")
	if err := a.cfg.DeadLetters.Replay(c.Request.Context(), id); err != nil {
		if errors.Is(err, redis.ErrNotFound) {
			err = errDeadNotFound
		}
		writeError(c, a.log, err)
		return
	}
	a.audit(c, "deadletter.replay", "id", id)
	c.JSON(http.StatusOK, gin.H{"replayed": id})
}
