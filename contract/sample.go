package contract

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Checking the files the JVM held open must keep the restore fast: the JDK
// maps ~175 MB of them (lib/modules alone is 130 MB), whose full SHA-256
// would add ~100 ms to every start. Files up to FullHashMax are hashed in
// full (together ~2 MB for a JDK); larger ones are fingerprinted by
// SampleSHA256, which reads 64 KiB at each end and SampleBlocks blocks of
// 4 KiB spread evenly in between (~256 KiB per file). Another build of a
// file (a replaced jar, library or JDK) differs in its headers, its tail
// (a zip's central directory, an ELF's section headers) and nearly every
// block; an edit of a few bytes between samples of a large file goes
// unnoticed (CRAC_VERIFY_FILES=full hashes everything).
const (
	FullHashMax  = 1 << 20
	SampleEdge   = 64 << 10
	SampleBlock  = 4 << 10
	SampleBlocks = 32
)

// FileSHA256 returns the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 256<<10)); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SampleSHA256 returns the hex SHA-256 of the file's size and its sampled
// blocks (see FullHashMax). The blocks depend only on the size, so the same
// content always gives the same digest.
func SampleSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	h := sha256.New()
	var sz [8]byte
	binary.LittleEndian.PutUint64(sz[:], uint64(size))
	h.Write(sz[:])
	buf := make([]byte, SampleEdge)
	read := func(off, n int64) error {
		if off < 0 {
			off = 0
		}
		if off+n > size {
			n = size - off
		}
		if n <= 0 {
			return nil
		}
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("reading %s at %d: %w", path, off, err)
		}
		h.Write(buf[:n])
		return nil
	}
	if err := read(0, SampleEdge); err != nil {
		return "", err
	}
	for i := int64(0); i < SampleBlocks; i++ {
		if err := read(i*(size-SampleBlock)/(SampleBlocks-1), SampleBlock); err != nil {
			return "", err
		}
	}
	if err := read(size-SampleEdge, SampleEdge); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
