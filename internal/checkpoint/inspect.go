package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
)

// DescribeProcess reads what a restore of pid depends on: its stdio, its
// capabilities, its size, and every file it holds open or mapped. It must
// run in the process's own PID and mount namespaces (inside the sandbox),
// so that the paths are the ones the restoring container will see.
func DescribeProcess(pid int) (*contract.Process, []contract.OpenFile, error) {
	st, err := proc.Status(pid)
	if err != nil {
		return nil, nil, fmt.Errorf("reading status of process %d: %w", pid, err)
	}
	p := &contract.Process{PID: pid, CapEff: st["CapEff"], CapBnd: st["CapBnd"]}
	p.Threads, _ = strconv.Atoi(st["Threads"])
	p.RSSKiB = proc.KiB(st["VmRSS"])
	for i := 0; i < 3; i++ {
		if l, err := proc.FD(pid, i); err == nil {
			p.Stdio[i] = l
		}
	}
	files, err := openFiles(pid)
	if err != nil {
		return nil, nil, err
	}
	return p, files, nil
}

// openFiles lists the regular files pid holds open (from /proc/PID/fd) or
// maps (from /proc/PID/maps), with size, mode and digest.
func openFiles(pid int) ([]contract.OpenFile, error) {
	byPath := map[string]*contract.OpenFile{}
	fds, err := proc.FDs(pid)
	if err != nil {
		return nil, fmt.Errorf("listing open files of process %d: %w", pid, err)
	}
	for _, fd := range slices.Sorted(maps.Keys(fds)) {
		target := fds[fd]
		if !strings.HasPrefix(target, "/") {
			continue // pipes, sockets, anon inodes
		}
		flags := proc.FDFlags(pid, fd)
		of := byPath[target]
		if of == nil {
			of = &contract.OpenFile{Path: target}
			byPath[target] = of
		}
		if flags&(unix.O_WRONLY|unix.O_RDWR) != 0 {
			of.Writable = true
			of.Append = flags&unix.O_APPEND != 0
		}
	}
	mapped, err := proc.MappedFiles(pid)
	if err != nil {
		return nil, fmt.Errorf("reading mappings of process %d: %w", pid, err)
	}
	for _, path := range mapped {
		if of := byPath[path]; of != nil {
			of.Mapped = true
			continue
		}
		byPath[path] = &contract.OpenFile{Path: path, Mapped: true}
	}
	var out []contract.OpenFile
	ms := readMounts()
	for _, of := range byPath {
		fi, err := os.Stat(of.Path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted files travel in the images; devices are not content
		}
		of.Size = fi.Size()
		of.Mode = uint32(fi.Mode().Perm())
		of.Mount = ms.of(of.Path)
		if !of.Writable {
			// A file open for writing changes after the dump by design;
			// its digest would only cause false alarms.
			if d, err := fileSHA256(of.Path); err == nil {
				of.SHA256 = d
			}
			mtime := fi.ModTime().Unix()
			of.MTime = &mtime
			if d, err := contract.Fingerprint(of.Path); err == nil {
				of.Fingerprint = d
			}
		}
		out = append(out, *of)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SumImages returns the size and CRC-32C of every file in the CRIU images
// directory, sorted by name.
func SumImages(dir string) ([]contract.FileSum, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoint images %s: %w", dir, err)
	}
	var out []contract.FileSum
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		sum, err := contract.FileCRC32C(p)
		if err != nil {
			return nil, fmt.Errorf("checksumming %s: %w", p, err)
		}
		out = append(out, contract.FileSum{Name: e.Name(), Size: fi.Size(), CRC32C: sum})
	}
	return out, nil
}
