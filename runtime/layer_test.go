package runtime

import (
	"log/slog"
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

// TestDiscardLayerPastLeftover moves a removed container's layer out of
// its name even when a layer that an earlier supervisor could not delete
// has the first temporary name, so that a new container of that name
// starts with an empty layer.
func TestDiscardLayerPastLeftover(t *testing.T) {
	state := t.TempDir()
	s := &Supervisor{cfg: Config{StateDir: state}, log: slog.New(slog.DiscardHandler)}
	l, err := prepareLayer(state, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Upper, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	left := layerDir(state, removedPrefix+"1")
	if err := os.MkdirAll(filepath.Join(left, "upper"), 0o700); err != nil {
		t.Fatal(err)
	}

	if err := s.discardLayer("web"); err != nil {
		t.Fatal(err)
	}
	s.discards.Wait()
	if _, err := os.Stat(layerDir(state, "web")); !os.IsNotExist(err) {
		t.Errorf("layer of the removed container web still under its name: stat error %v", err)
	}
	if _, err := os.Stat(filepath.Join(left, "upper")); err != nil {
		t.Errorf("leftover layer %s changed: %v", left, err)
	}
}

// TestDiscardLayerAfterShutdown deletes the layer before it returns once
// Shutdown has waited for the deletions, so that none runs after it.
func TestDiscardLayerAfterShutdown(t *testing.T) {
	state := t.TempDir()
	s := &Supervisor{cfg: Config{StateDir: state}, log: slog.New(slog.DiscardHandler)}
	s.closeDiscards()
	if _, err := prepareLayer(state, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.discardLayer("web"); err != nil {
		t.Fatal(err)
	}
	if n := countDir(t, filepath.Join(state, "layers")); n != 0 {
		t.Errorf("%d entries left in layers when discardLayer returned after shutdown", n)
	}
}

func countDir(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
