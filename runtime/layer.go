package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ctlfs/runtime/initproc"
)

func layerDir(stateDir, name string) string {
	return filepath.Join(stateDir, "layers", name)
}

// prepareLayer creates the directories of a container's private writable
// layer, an overlayfs upper and work directory over its rootfs, if they do
// not exist. The layer is kept under STATE_DIR/layers/NAME from the
// container's first start until it is removed, so containers that share a
// rootfs never see each other's writes and the rootfs is never modified.
func prepareLayer(stateDir, name string) (*initproc.Layer, error) {
	dir := layerDir(stateDir, name)
	l := &initproc.Layer{
		Upper: filepath.Join(dir, "upper"),
		Work:  filepath.Join(dir, "work"),
	}
	for _, d := range []string{l.Upper, l.Work} {
		if strings.Contains(d, ",") || strings.Contains(d, ":") {
			return nil, fmt.Errorf("layer directory %q: overlayfs options cannot contain ',' or ':'", d)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create layer directory: %w", err)
		}
	}
	return l, nil
}

// removedPrefix starts the names of layers that discardLayer moved out
// of the way. No container name starts with a dot.
const removedPrefix = ".removed-"

// discardLayer deletes a container's layer. It renames the layer at once,
// so that a new container of the same name gets a new one, and deletes
// the files in the background. A layer is several directories, and on
// an ext4 without a journal deleting them took longer than starting a
// container. Shutdown waits for the deletions, and New deletes what a
// supervisor that died left. Temporary names are numbered from 1 in each
// supervisor, so a name still taken by such a leftover is skipped. After
// Shutdown's wait, the layer is deleted before discardLayer returns.
func (s *Supervisor) discardLayer(name string) error {
	dir := layerDir(s.cfg.StateDir, name)
	var removed string
	for {
		removed = layerDir(s.cfg.StateDir, removedPrefix+strconv.FormatUint(s.discardSeq.Add(1), 10))
		err := os.Rename(dir, removed)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, os.ErrExist) { // ErrExist is EEXIST or ENOTEMPTY
			// A layer left under the container's name would be used by
			// the next container of that name.
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove layer: %w", err)
			}
			return nil
		}
	}
	s.discardMu.Lock()
	background := !s.discardsClosed
	if background {
		s.discards.Add(1)
	}
	s.discardMu.Unlock()
	if !background {
		return os.RemoveAll(removed)
	}
	go func() {
		defer s.discards.Done()
		if err := os.RemoveAll(removed); err != nil {
			s.log.Error("remove layer", "container", name, "dir", removed, "err", err)
		}
	}()
	return nil
}

// closeDiscards waits for the layers being deleted in the background and
// makes later deletions run in the caller.
func (s *Supervisor) closeDiscards() {
	s.discardMu.Lock()
	s.discardsClosed = true
	s.discardMu.Unlock()
	s.discards.Wait()
}

// removeDiscardedLayers deletes the layers that a supervisor that died
// had renamed but not yet deleted.
func removeDiscardedLayers(stateDir string) error {
	dirs, err := filepath.Glob(layerDir(stateDir, removedPrefix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove layer left by an earlier supervisor: %w", err))
		}
	}
	return errors.Join(errs...)
}
