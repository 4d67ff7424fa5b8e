package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// command is one subcommand's flags and help text.
type command struct {
	fs       *flag.FlagSet
	synopsis string // "bridge token --role agent|admin --sub NAME …"
	about    string // a paragraph under the synopsis
}

func newCommand(name, synopsis, about string) *command {
	c := &command{fs: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, about: about}
	c.fs.Usage = func() {
		out := c.fs.Output()
		fmt.Fprintf(out, "usage: %s\n", c.synopsis)
		if c.about != "" {
			fmt.Fprintf(out, "\n%s\n", c.about)
		}
		hasFlags := false
		c.fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nflags:")
			c.fs.PrintDefaults()
		}
	}
	return c
}

// parse parses args as Go tools do, except that -h prints the help on
// stdout and exits 0 (so `bridge serve -h | less` works). ok false means
// return code now.
func (c *command) parse(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var buf bytes.Buffer
	c.fs.SetOutput(&buf)
	err := c.fs.Parse(args)
	c.fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return 0, false
	case err != nil:
		_, _ = stderr.Write(buf.Bytes())
		return 2, false
	}
	return 0, true
}

// usageError prints what was wrong and the synopsis, and returns 2.
func (c *command) usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "bridge %s: %s\nusage: %s\n", c.fs.Name(), fmt.Sprintf(format, args...), c.synopsis)
	return 2
}
