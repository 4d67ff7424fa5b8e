package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/server"
)

func serve(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("serve", "bridge serve",
		"Runs the bridge. Every setting comes from BRIDGE_* environment variables (or the\n"+
			"YAML file named by BRIDGE_CONFIG); see docs/REFERENCE.md. A missing or malformed\n"+
			"setting stops it at start with one line naming the variable.")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if c.fs.NArg() > 0 {
		return c.usageError(stderr, "unexpected argument %q", c.fs.Arg(0))
	}
	cfg, err := config.Load(getenv, config.ModeServe)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: config: %v\n", err)
		return 2
	}
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "bridge: %v\n", err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "bridge: %v\n", err)
		return 1
	}
	return 0
}

func mappingCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("mapping", "bridge mapping validate FILE|-",
		"Checks a mapping document as a save through the admin API would, and prints\n"+
			"file:line: path: message for every problem. FILE - reads standard input.")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if c.fs.NArg() == 0 || c.fs.Arg(0) != "validate" {
		return c.usageError(stderr, "want the subcommand validate")
	}
	v := newCommand("mapping validate", c.synopsis, c.about)
	if code, ok := v.parse(c.fs.Args()[1:], stdout, stderr); !ok {
		return code
	}
	if v.fs.NArg() != 1 {
		return v.usageError(stderr, "want exactly one FILE (or - for standard input)")
	}
	return validateMapping(v.fs.Arg(0), stdin, stdout, stderr)
}

// yamlLine finds the line a YAML syntax error names ("line 7: …"), for
// problems the parser reports without a position of their own.
var yamlLine = regexp.MustCompile(`\bline (\d+):`)

func validateMapping(path string, stdin io.Reader, stdout, stderr io.Writer) int {
	var raw []byte
	var err error
	name := path
	if path == "-" {
		name = "<stdin>"
		raw, err = io.ReadAll(io.LimitReader(stdin, mapping.MaxDocumentSize+1))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bridge: read %s: %v\n", name, err)
		return 2
	}
	errs := mapping.Validate(raw)
	if len(errs) == 0 {
		fmt.Fprintf(stdout, "%s: ok\n", name)
		return 0
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, problemLine(name, e))
	}
	return 1
}

// problemLine is "file:line: path: message", leaving out what is unknown.
func problemLine(name string, e mapping.FieldError) string {
	line, msg := e.Line, e.Message
	if line == 0 {
		if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
			line, _ = strconv.Atoi(msg[m[2]:m[3]])
			msg = msg[:m[0]] + strings.TrimLeft(msg[m[1]:], " ") // the line moves to the front
		}
	}
	pos := name
	if line > 0 {
		pos += ":" + strconv.Itoa(line)
	}
	if e.Path == "" {
		return pos + ": " + msg
	}
	return pos + ": " + e.Path + ": " + msg
}

// Token rules. SPEC: tokens living longer than BRIDGE_JWT_MAX_TTL (default
// 24h) are refused by the bridge, so minting one would only hand out a dud.
const (
	minSecretBytes    = 32
	defaultJWTMaxTTL  = 24 * time.Hour
	workerSIDSynopsis = "WK followed by 32 lowercase hex characters"
)

var reWorkerSID = regexp.MustCompile(`^WK[0-9a-f]{32}$`)

func token(args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("token", "bridge token --role agent|admin --sub NAME [--worker-sid WK…] [--ttl 8h]",
		"Mints an HS256 agent or admin token from BRIDGE_JWT_SECRET (at least 32 bytes),\n"+
			"with BRIDGE_JWT_ISSUER and BRIDGE_JWT_AUDIENCE. Agent tokens need the tracer's\n"+
			"TaskRouter worker; --ttl may not exceed BRIDGE_JWT_MAX_TTL (default 24h).")
	role := c.fs.String("role", "", "agent or admin")
	sub := c.fs.String("sub", "", "who the token is for")
	worker := c.fs.String("worker-sid", "", "the agent's TaskRouter worker (WK…); required with --role agent")
	ttl := c.fs.Duration("ttl", 8*time.Hour, "lifetime, at most BRIDGE_JWT_MAX_TTL")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	switch {
	case c.fs.NArg() > 0:
		return c.usageError(stderr, "unexpected argument %q", c.fs.Arg(0))
	case *role != "agent" && *role != "admin":
		return c.usageError(stderr, "--role must be agent or admin")
	case *sub == "":
		return c.usageError(stderr, "--sub is required")
	case *role == "agent" && !reWorkerSID.MatchString(*worker):
		return c.usageError(stderr, "--worker-sid must be %s for an agent token", workerSIDSynopsis)
	case *role == "admin" && *worker != "":
		return c.usageError(stderr, "--worker-sid is for agent tokens only")
	case *ttl <= 0:
		return c.usageError(stderr, "--ttl must be positive")
	}
	cfg, err := config.Load(getenv, config.ModeTool)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: config: %v\n", err)
		return 2
	}
	if maxTTL := jwtMaxTTL(cfg); *ttl > maxTTL {
		return c.usageError(stderr, "--ttl %s is longer than BRIDGE_JWT_MAX_TTL (%s); the bridge would refuse the token", *ttl, maxTTL)
	}
	switch {
	case len(cfg.JWT.Secret) == 0:
		fmt.Fprintln(stderr, "bridge: config: BRIDGE_JWT_SECRET: is required to mint tokens")
		return 2
	case len(cfg.JWT.Secret) < minSecretBytes:
		fmt.Fprintf(stderr, "bridge: config: BRIDGE_JWT_SECRET: must be at least %d bytes\n", minSecretBytes)
		return 2
	}
	tok, err := auth.Mint(cfg.JWT.Secret, auth.MintClaims{
		Subject: *sub, Role: auth.Role(*role), WorkerSID: *worker,
		Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, TTL: *ttl,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bridge token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// jwtMaxTTL is the longest token lifetime the bridge accepts
// (BRIDGE_JWT_MAX_TTL).
func jwtMaxTTL(cfg *config.Config) time.Duration {
	if cfg.JWT.MaxTTL > 0 {
		return cfg.JWT.MaxTTL
	}
	return defaultJWTMaxTTL
}
