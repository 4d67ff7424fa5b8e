package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/salesforce"
	backfillflow "github.com/cityhealth/bridge/flow/backfill"
	"github.com/cityhealth/bridge/server"
)

// Exit codes beyond 0 (done), 1 (failed) and 2 (bad input).
const exitInterrupted = 130

// reporter is a progress display the command closes before its summary.
type reporter interface {
	backfillflow.Reporter
	Close(complete bool) error
}

// backfill syncs existing records through record sync, in pages, resumably.
func backfill(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("backfill", `bridge backfill --where "<SOQL condition>" [--page-size N] [--restart] [--dry-run]`,
		"Syncs existing records through record sync (and starts reminders for contacts\n"+
			"under monitoring), page by page, with a progress bar. Resumable: a second run\n"+
			"with the same --where continues from its checkpoint. Configured like serve.")
	fs := c.fs
	where := fs.String("where", "", `SOQL condition choosing the records, e.g. "Outreach_Status__c = 'Needs Outreach'"`)
	pageSize := fs.Int("page-size", 2000, "records synced between checkpoints")
	restart := fs.Bool("restart", false, "ignore the checkpoint of this condition and start from the first record")
	dryRun := fs.Bool("dry-run", false, "read the records and say what the mapping would do; send nothing, checkpoint nothing")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 || strings.TrimSpace(*where) == "" || *pageSize < 1 {
		fmt.Fprintln(stderr, `bridge backfill: usage: bridge backfill --where "<SOQL condition>" [--page-size N] [--restart] [--dry-run]`)
		return 2
	}

	cfg, err := config.Load(getenv, config.ModeServe)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: config: %v\n", err)
		return 2
	}
	// Per-record info lines would bury the progress; debug still shows them.
	level := slog.LevelWarn
	if cfg.LogLevel == "debug" {
		level = slog.LevelDebug
	} else if cfg.LogLevel == "error" {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	srv, err := server.New(ctx, cfg, server.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "bridge backfill: %v\n", err)
		return 1
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(shutdown)
	}()
	deps, err := srv.ForBackfill(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "bridge backfill: %v\n", err)
		return 1
	}

	var rep reporter = backfillflow.LineReporter{W: stdout}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		rep = &backfillflow.BarReporter{W: stdout}
	}
	run, err := backfillflow.New(backfillflow.Config{
		Source: deps.Salesforce, Sync: deps.Sync, Monitor: deps.Monitoring, Store: deps.Store, Mappings: deps.Mappings,
		Where: *where, PageSize: *pageSize, Restart: *restart, DryRun: *dryRun,
		Reporter: rep, Logger: logger.With("component", "backfill"),
	})
	if err != nil {
		fmt.Fprintf(stderr, "bridge backfill: %v\n", err)
		return 2
	}
	sum, err := run.Run(ctx)
	_ = rep.Close(err == nil)

	var cond *backfillflow.ConditionError
	var apiErr *salesforce.APIError
	switch {
	case errors.As(err, &cond):
		// Salesforce's own words say what is wrong with the condition.
		msg := err.Error()
		if errors.As(err, &apiErr) {
			msg = apiErr.Code + ": " + apiErr.Message
		}
		fmt.Fprintf(stderr, "bridge backfill: Salesforce refused the query for --where: %s\n", msg)
		return 2
	case errors.Is(err, backfillflow.ErrAlreadyComplete):
		c := sum.Counts
		fmt.Fprintf(stdout, "backfill of %s for this --where is already complete: %d records (%d created, %d updated, %d canceled, %d unchanged, %d skipped, %d failed); use --restart to sync them again\n",
			sum.Object, sum.Done, c.Created, c.Updated, c.Canceled, c.Unchanged, c.Skipped, c.Failed)
		return 0
	case errors.Is(err, backfillflow.ErrInterrupted):
		backfillflow.WriteSummary(stdout, sum)
		fmt.Fprintf(stdout, "interrupted: %d of %d records are done and checkpointed. %s; --restart starts over.\n",
			sum.Done, sum.Total, resumeHint(sum.LastID))
		return exitInterrupted
	case err != nil:
		if sum.Object != "" {
			backfillflow.WriteSummary(stdout, sum)
		}
		fmt.Fprintf(stderr, "bridge backfill: %v\n", err)
		if sum.Done > 0 {
			fmt.Fprintln(stderr, "bridge backfill: the pages done are checkpointed; run the same command again to resume")
		}
		return 1
	}
	backfillflow.WriteSummary(stdout, sum)
	return 0
}

func resumeHint(lastID string) string {
	if lastID == "" {
		return "Run the same command again to start"
	}
	return "Run the same command again to resume after " + lastID
}
