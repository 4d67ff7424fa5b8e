package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Status is the one-line state of a run: done/total, the outcomes, the rate.
// It carries counts and ids only, never record values.
func Status(p Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d records", p.Done, p.Total)
	c := p.Counts
	if p.DryRun {
		fmt.Fprintf(&b, ", %d to open or update, %d to cancel, %d no action", c.Open, c.Cancel, c.None)
		optional(&b, c.Skipped, "skipped")
		fmt.Fprintf(&b, ", %d would fail", c.Failed)
	} else {
		fmt.Fprintf(&b, ", %d enqueued", c.Enqueued)
		optional(&b, c.Duplicate, "already enqueued")
	}
	fmt.Fprintf(&b, ", %.0f rec/s", p.Rate())
	return b.String()
}

func optional(b *strings.Builder, n int, what string) {
	if n > 0 {
		fmt.Fprintf(b, ", %d %s", n, what)
	}
}

// startLine says what the run is about to do.
func startLine(p Progress) string {
	what := "backfill"
	if p.DryRun {
		what = "backfill (dry run: nothing is enqueued or checkpointed)"
	}
	if p.Resumed {
		return fmt.Sprintf("%s: %s, %d records; resuming after %s with %d done", what, p.Object, p.Total, p.LastID, p.Done)
	}
	return fmt.Sprintf("%s: %s, %d records", what, p.Object, p.Total)
}

// LineReporter writes one plain line per page, for logs and pipes.
type LineReporter struct{ W io.Writer }

func (l LineReporter) Start(p Progress) { fmt.Fprintln(l.W, startLine(p)) }
func (l LineReporter) Record(Progress)  {}
func (l LineReporter) Page(p Progress)  { fmt.Fprintln(l.W, "backfill: "+Status(p)) }
func (l LineReporter) Close(bool) error { return nil }

// BarReporter draws a progress bar on a terminal: done/total over all runs,
// the outcomes, the rate and the time left.
type BarReporter struct {
	W   io.Writer
	bar *progressbar.ProgressBar
}

func (r *BarReporter) Start(p Progress) {
	fmt.Fprintln(r.W, startLine(p))
	r.bar = progressbar.NewOptions64(int64(max(p.Total, 1)),
		progressbar.OptionSetWriter(r.W),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(false), // its own guess counts earlier runs' records as this run's
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
	)
	r.draw(p)
}

func (r *BarReporter) Record(p Progress) { r.draw(p) }
func (r *BarReporter) Page(p Progress)   { r.draw(p) }

func (r *BarReporter) draw(p Progress) {
	if r.bar == nil {
		return
	}
	desc := Status(p)
	if eta := p.ETA(); eta > 0 {
		desc += ", ETA " + eta.Round(time.Second).String()
	}
	r.bar.Describe(desc)
	_ = r.bar.Set64(int64(min(p.Done, r.bar.GetMax())))
}

// Close leaves the bar on screen, full when the run completed, and ends its line.
func (r *BarReporter) Close(complete bool) error {
	if r.bar == nil {
		return nil
	}
	if complete {
		_ = r.bar.Finish()
	} else {
		_ = r.bar.Exit()
	}
	_, err := fmt.Fprintln(r.W)
	return err
}

// WriteSummary writes how a run ended: the counts and the time.
func WriteSummary(w io.Writer, s Summary) {
	c := s.Counts
	state := "complete"
	if !s.Complete {
		state = "stopped"
	}
	if s.DryRun {
		fmt.Fprintf(w, "dry run of %s %s: %d of %d records read; nothing was enqueued and no checkpoint was written\n", s.Object, state, s.Done, s.Total)
		fmt.Fprintf(w, "  to open or update %7d\n  to cancel         %7d\n  no action         %7d\n  skipped           %7d\n  would fail        %7d\n",
			c.Open, c.Cancel, c.None, c.Skipped, c.Failed)
	} else {
		fmt.Fprintf(w, "backfill of %s %s: %d of %d records enqueued\n", s.Object, state, s.Done, s.Total)
		fmt.Fprintf(w, "  enqueued          %7d\n  already enqueued  %7d\n", c.Enqueued, c.Duplicate)
	}
	elapsed := fmt.Sprintf("  elapsed   %s this run (%d records, %.0f rec/s)", s.RunElapsed.Round(time.Millisecond), s.RunDone, s.Rate())
	if s.Elapsed-s.RunElapsed >= time.Millisecond {
		elapsed += fmt.Sprintf(", %s in all", s.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintln(w, elapsed)
	if !s.DryRun && s.Done > 0 {
		fmt.Fprintln(w, "The running bridge syncs them from its queues (bridge_queue_depth shows what is left); records it cannot sync go to the dead letters on the admin page.")
	}
	if c.Failed > 0 && s.DryRun {
		fmt.Fprintf(w, "%d records would fail the mapping; their ids are in the log.\n", c.Failed)
	}
}
