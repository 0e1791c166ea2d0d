package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveDiscardedLayers deletes the renamed layers that a supervisor
// left when it died, and no other layer.
func TestRemoveDiscardedLayers(t *testing.T) {
	state := t.TempDir()
	kept, err := prepareLayer(state, "web")
	if err != nil {
		t.Fatal(err)
	}
	left := layerDir(state, removedPrefix+"7")
	if err := os.MkdirAll(filepath.Join(left, "upper", "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "upper", "etc", "hosts"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := removeDiscardedLayers(state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("layer %s still there: stat error %v", left, err)
	}
	if _, err := os.Stat(kept.Upper); err != nil {
		t.Errorf("layer of container web removed too: %v", err)
	}
}
