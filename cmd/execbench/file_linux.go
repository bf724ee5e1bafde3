package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// chunk is the size of the sequential writes and reads that create and
// warm the test file: large enough that system calls cost nothing next to
// the copying.
const chunk = 4 << 20

// createFile writes a file of size bytes in dir, syncs it, and returns its
// name. The content is pseudo-random so that no file system can store it
// as holes or compress it. On error nothing is left behind.
func createFile(ctx context.Context, dir string, size int64) (name string, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		if free := int64(st.Bavail) * st.Bsize; free < size+size/16 {
			return "", fmt.Errorf("%s has %d MiB free; the test file needs %d MiB: use -dir or a smaller -size", dir, free>>20, size>>20)
		}
	}
	f, err := os.CreateTemp(dir, "execbench-*.dat")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	buf := make([]byte, chunk)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(buf); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
	for off := int64(0); off < size; off += chunk {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n := min(chunk, size-off)
		// Vary each chunk a little so no two blocks are the same.
		buf[0], buf[1] = byte(off>>22), byte(off>>30)
		if _, err := f.Write(buf[:n]); err != nil {
			return "", err
		}
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// checkDirect reports why name cannot be read with O_DIRECT, or "" if it
// can: tmpfs before Linux 6.6, for one, refuses O_DIRECT at open with
// EINVAL.
func checkDirect(name string) (string, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		return directRefused, nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.ReadAt(alignedBuffers(1)[0], 0); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return directRefused, nil
		}
		return "", err
	}
	return "", nil
}

// warmCache reads name through once, so that its pages are in the page
// cache, and returns the fraction of them that are resident afterwards. A
// file larger than free memory cannot be fully cached: the caller warns.
func warmCache(ctx context.Context, name string) (float64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Tell the kernel we read sequentially: it reads ahead in larger steps.
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	buf := make([]byte, chunk)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		_, err := f.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return residency(f)
}

// residency returns the fraction of f's pages in the page cache (mincore(2)
// on a mapping of the file).
func residency(f *os.File) (float64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 1, nil
	}
	page := int64(os.Getpagesize())
	var resident, total int64
	// Map a window at a time, so that a large file needs no large mapping.
	const window = 256 << 20
	vec := make([]byte, window/page)
	for off := int64(0); off < size; off += window {
		n := min(window, size-off)
		m, err := unix.Mmap(int(f.Fd()), off, int(n), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return 0, fmt.Errorf("mmap: %w", err)
		}
		pages := (n + page - 1) / page
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0])))
		unix.Munmap(m)
		if errno != 0 {
			err = errno
			return 0, fmt.Errorf("mincore: %w", err)
		}
		for _, v := range vec[:pages] {
			resident += int64(v & 1)
		}
		total += pages
	}
	return float64(resident) / float64(total), nil
}

// fsName names the file system that holds dir, for the report and for the
// tmpfs warning.
func fsName(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext2/3/4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case 0x2fc12fc1:
		return "zfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// kernelRelease returns `uname -r`.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
