// Command bridge connects a Salesforce CRM to a Twilio Flex contact center.
//
//	bridge serve                       the server
//	bridge demo                        the real bridge on embedded Redis and vendor stand-ins
//	bridge mapping validate FILE|-     check a mapping document
//	bridge token --role agent|admin --sub NAME [--worker-sid WK…] [--ttl 8h]
//	bridge backfill --where "<SOQL condition>"
//	bridge twilio sign --url URL [--post] key=value …
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // BRIDGE_TIMEZONE works in a static binary without zoneinfo

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"
)

func main() {
	// gin's mode and go-redis's logger are package state; only main sets them.
	gin.SetMode(gin.ReleaseMode)
	goredis.SetLogger(redisLog{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  bridge serve                        run the bridge (configured by BRIDGE_* variables)
  bridge demo                         run it with embedded Redis and Salesforce/Twilio stand-ins
  bridge mapping validate FILE|-      check a mapping document (- reads standard input)
  bridge token --role agent|admin --sub NAME [--worker-sid WK…] [--ttl 8h]
  bridge backfill --where "<SOQL condition>" [--page-size N] [--restart] [--dry-run]
  bridge twilio sign --url URL [--post] key=value …
                                      sign (and post) a Twilio webhook form

"bridge COMMAND -h" describes a command; docs/REFERENCE.md describes them all.
`

// env looks a variable up; os.LookupEnv in production.
type env = func(string) (string, bool)

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

func runWithInput(ctx context.Context, args []string, getenv env, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return demo(ctx, args[1:], getenv, stdout, stderr)
	case "mapping":
		return mappingCmd(args[1:], stdin, stdout, stderr)
	case "token":
		return token(args[1:], getenv, stdout, stderr)
	case "backfill":
		return backfill(ctx, args[1:], getenv, stdout, stderr)
	case "twilio":
		return twilioCmd(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "bridge: unknown command %q\n%s", args[0], usage)
	return 2
}

// redisLog puts go-redis's own messages (dial failures: addresses, never
// data) into the same JSON log stream as the bridge's.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
