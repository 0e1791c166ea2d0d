package fsys

import (
	"context"
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ctlfs/runtime"
)

// rootNode is the root directory: the files of rootFiles and one
// directory per container. Its failed operations go to the root's err.
type rootNode struct {
	dirNode
}

func newRootNode(t *tree) *rootNode {
	return &rootNode{dirNode{d: t.root, specs: rootFiles}}
}

func (r *rootNode) sup() *runtime.Supervisor { return r.d.tree.sup }

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if child := r.lookupFile(ctx, name, out); child != nil {
		return child, 0
	}
	c, ok := r.sup().Lookup(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return r.containerInode(ctx, c, out), 0
}

// containerInode returns the inode of c's directory, reusing the one in
// the tree unless it belongs to an earlier container of the same name.
func (r *rootNode) containerInode(ctx context.Context, c *runtime.Container, out *fuse.EntryOut) *fs.Inode {
	if child := r.GetChild(c.Name()); child != nil {
		node, ok := child.Operations().(*dirNode)
		if ok && node.d.c == c {
			node.fillAttr(&out.Attr)
			out.SetEntryTimeout(nameTimeout)
			return child
		}
	}
	node := newContainerNode(r.d.tree.dirOf(c))
	node.fillAttr(&out.Attr)
	out.SetEntryTimeout(nameTimeout)
	return r.NewInode(ctx, node, fs.StableAttr{Mode: fuse.S_IFDIR})
}

func (r *rootNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	entries := r.fileEntries()
	for _, c := range r.sup().Containers() {
		entries = append(entries, fuse.DirEntry{Name: c.Name(), Mode: fuse.S_IFDIR})
	}
	return fs.NewListDirStream(entries), 0
}

// Mkdir creates a container. The names of root files are taken.
func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if findSpec(rootFiles, name) != nil {
		err := fmt.Errorf("mkdir %s: name of a root file: %w", name, runtime.ErrExist)
		return nil, r.d.reject(name, err)
	}
	c, err := r.sup().Create(name)
	if err != nil {
		return nil, r.d.rejectFor(name, ".", fmt.Errorf("mkdir %s: %w", name, err))
	}
	return r.containerInode(ctx, c, out), 0
}

// Rmdir removes a container that is not running.
func (r *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	c, _ := r.sup().Lookup(name)
	if err := r.sup().Remove(name); err != nil {
		// Remove's reason names the operation and the container.
		return r.d.rejectFor(name, ".", err)
	}
	if c != nil {
		r.d.tree.forget(c)
	}
	return 0
}
