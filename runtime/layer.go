package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ctlfs/runtime/initproc"
)

func layerDir(stateDir, name string) string {
	return filepath.Join(stateDir, "layers", name)
}

// prepareLayer creates the directories of a container's private writable
// layer, an overlayfs upper and work directory over its rootfs, if they do
// not exist. The layer is kept under STATE_DIR/layers/NAME from the
// container's creation, or its first start after a restart of the
// supervisor, until the container is removed, so containers that share a
// rootfs never see each other's writes and the rootfs is never modified.
func prepareLayer(stateDir, name string) (*initproc.Layer, error) {
	dir := layerDir(stateDir, name)
	l := &initproc.Layer{
		Upper:  filepath.Join(dir, "upper"),
		Work:   filepath.Join(dir, "work"),
		Merged: filepath.Join(dir, "merged"),
	}
	for _, d := range []string{l.Upper, l.Work, l.Merged} {
		if strings.Contains(d, ",") || strings.Contains(d, ":") {
			return nil, fmt.Errorf("layer directory %q: overlayfs options cannot contain ',' or ':'", d)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create layer directory: %w", err)
		}
	}
	return l, nil
}

// removeLayer deletes a container's layer.
func removeLayer(stateDir, name string) error {
	return os.RemoveAll(layerDir(stateDir, name))
}
