package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

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

// backfill enqueues existing records for record sync and monitoring, in
// pages, resumably.
func backfill(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("backfill", `bridge backfill --where "<SOQL condition>" [--page-size N] [--restart] [--dry-run]`,
		"Reads existing records page by page and puts each on the queues Outbound\n"+
			"Messages go to, so the running bridge syncs them through record sync (and\n"+
			"starts reminders for contacts under monitoring), with a progress bar.\n"+
			"Resumable: a second run with the same --where continues from its checkpoint.\n"+
			"Configured like serve; needs Salesforce and Redis, and `bridge serve` running\n"+
			"to do the work.")
	fs := c.fs
	where := fs.String("where", "", `SOQL condition choosing the records, e.g. "Outreach_Status__c = 'Needs Outreach'"`)
	pageSize := fs.Int("page-size", 2000, "records enqueued between checkpoints")
	restart := fs.Bool("restart", false, "ignore the checkpoint of this condition and enqueue every record again")
	dryRun := fs.Bool("dry-run", false, "read the records and say what record sync would do; enqueue nothing, checkpoint nothing")
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

	base, release, err := server.Backfill(ctx, cfg, server.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "bridge backfill: %v\n", err)
		return 1
	}
	defer release()

	var rep reporter = backfillflow.LineReporter{W: stdout}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		rep = &backfillflow.BarReporter{W: stdout}
	}
	bcfg := base
	bcfg.Where, bcfg.PageSize, bcfg.Restart, bcfg.DryRun, bcfg.Reporter = *where, *pageSize, *restart, *dryRun, rep
	run, err := backfillflow.New(bcfg)
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
		fmt.Fprintf(stdout, "backfill of %s for this --where is already complete: %d records (%d enqueued, %d already enqueued); use --restart to enqueue them again\n",
			sum.Object, sum.Done, c.Enqueued, c.Duplicate)
		return 0
	case errors.Is(err, backfillflow.ErrInterrupted):
		backfillflow.WriteSummary(stdout, sum)
		fmt.Fprintf(stdout, "interrupted: %d of %d records are enqueued and checkpointed. %s; --restart starts over.\n",
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
