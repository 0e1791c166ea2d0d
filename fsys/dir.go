package fsys

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirNode is a directory whose files are declared by specs: a container
// directory, and the part of the root that is not containers. It rejects
// every change to the set of files with EPERM.
type dirNode struct {
	fs.Inode
	d     *dir
	specs []fileSpec
}

func newContainerNode(d *dir) *dirNode {
	return &dirNode{d: d, specs: containerFiles}
}

func (n *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fillAttr(&out.Attr)
	return 0
}

func (n *dirNode) fillAttr(a *fuse.Attr) {
	a.Mode = fuse.S_IFDIR | 0o755
	a.Nlink = 2
	t := n.d.tree.mtime
	a.SetTimes(&t, &t, &t)
}

func (n *dirNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	err := fmt.Errorf("change attributes of a directory: %w", syscall.EPERM)
	return n.d.reject(".", err)
}

func (n *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if child := n.lookupFile(ctx, name, out); child != nil {
		return child, 0
	}
	return nil, syscall.ENOENT
}

// lookupFile returns the inode of the file called name, or nil when the
// directory declares no such file.
func (n *dirNode) lookupFile(ctx context.Context, name string, out *fuse.EntryOut) *fs.Inode {
	spec := findSpec(n.specs, name)
	if spec == nil {
		return nil
	}
	child := n.GetChild(name)
	file, ok := (*fileNode)(nil), false
	if child != nil {
		file, ok = child.Operations().(*fileNode)
	}
	if !ok {
		file = &fileNode{spec: spec, d: n.d}
		child = n.NewInode(ctx, file, fs.StableAttr{Mode: fuse.S_IFREG})
	}
	file.fillAttr(&out.Attr)
	out.SetEntryTimeout(nameTimeout)
	return child
}

// nameTimeout is how long the kernel keeps a name it looked up in the
// tree. The names of a directory's files never change, and a container
// directory goes away only through rmdir, which passes through the
// kernel, so the names may stay for good. Attributes and missing names are never kept,
// since sizes change and a container directory must appear at once.
const nameTimeout = 24 * time.Hour

// Getxattr fails with ENOSYS, after which the kernel sends no more
// GETXATTR requests. The tree has no extended attributes, and the kernel
// would otherwise request security.capability before every write.
func (n *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (n *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream(n.fileEntries()), 0
}

func (n *dirNode) fileEntries() []fuse.DirEntry {
	entries := make([]fuse.DirEntry, 0, len(n.specs))
	for _, spec := range n.specs {
		entries = append(entries, fuse.DirEntry{Name: spec.name, Mode: fuse.S_IFREG})
	}
	return entries
}

func (n *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	err := fmt.Errorf("mkdir %s: a container directory has no subdirectories: %w",
		name, syscall.EPERM)
	return nil, n.d.reject(name, err)
}

func (n *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.d.reject(name, fmt.Errorf("rmdir %s: %w", name, syscall.ENOTDIR))
}

func (n *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	err := fmt.Errorf("remove %s: the files of the tree cannot be removed: %w",
		name, syscall.EPERM)
	return n.d.reject(name, err)
}

func (n *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	err := fmt.Errorf("rename %s to %s: entries of the tree cannot be renamed: %w",
		name, newName, syscall.EPERM)
	return n.d.reject(name, err)
}

func (n *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, n.rejectCreate(name)
}

func (n *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, n.rejectCreate(name)
}

func (n *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, n.rejectCreate(name)
}

func (n *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, n.rejectCreate(name)
}

func (n *dirNode) rejectCreate(name string) syscall.Errno {
	err := fmt.Errorf("create %s: files cannot be added to the tree: %w",
		name, syscall.EPERM)
	return n.d.reject(name, err)
}
