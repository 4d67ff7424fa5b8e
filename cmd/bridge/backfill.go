package main

import (
	"context"
	"fmt"
	"io"
)

// backfill is issue 9's work; until it lands the command says so plainly.
func backfill(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bridge backfill: not available in this build yet")
	return 1
}
