package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/server"
)

func serve(ctx context.Context, getenv env, stderr io.Writer) int {
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

func validateMapping(path string, stdout, stderr io.Writer) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: read %s: %v\n", path, err)
		return 2
	}
	if _, err := mapping.Parse(raw); err != nil {
		var errs mapping.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintf(stderr, "%s: %s: %s\n", path, e.Path, e.Message)
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

func token(args []string, getenv env, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "agent or admin")
	sub := fs.String("sub", "", "who the token is for")
	worker := fs.String("worker-sid", "", "the agent's TaskRouter worker (WK…)")
	ttl := fs.Duration("ttl", 8*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*role != "agent" && *role != "admin") || *sub == "" {
		fmt.Fprintln(stderr, "bridge token: --role agent|admin and --sub are required")
		return 2
	}
	cfg, err := config.Load(getenv, config.ModeTool)
	if err != nil {
		fmt.Fprintf(stderr, "bridge: config: %v\n", err)
		return 2
	}
	if len(cfg.JWT.Secret) == 0 {
		fmt.Fprintln(stderr, "bridge: config: BRIDGE_JWT_SECRET: is required to mint tokens")
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
