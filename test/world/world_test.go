package world

import (
	"os"
	"path/filepath"
	"testing"
)

// The load program and the harness build and read files from the
// repository's root: it must be the root, wherever this package moves.
func TestRootIsTheModule(t *testing.T) {
	for _, f := range []string{filepath.Join(Root(), "go.mod"), MappingFile()} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}
