package contract

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
)

// Checking the files the JVM held open must keep the restore fast: the JDK
// maps ~175 MB of them (lib/modules alone is 130 MB), whose full SHA-256
// would add ~110 ms to every start. Fingerprint reads files up to
// FullHashMax whole (together ~3 MB for a JDK) and larger ones in samples:
// 64 KiB at each end and SampleBlocks blocks of 4 KiB spread evenly in
// between (~256 KiB per file). Another build of a file (a replaced jar,
// library or JDK) differs in its headers, its tail (a zip's central
// directory, an ELF's section headers) and nearly every block; an edit of
// a few bytes between samples of a large file goes unnoticed
// (CRAC_VERIFY_FILES=full hashes everything). The checksum is CRC-32C, as
// for the CRIU images: it finds accidental differences at ~10 GB/s;
// tampering is the registry digests' job.
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

// Fingerprint returns the CRC-32C (hex) of the file's size and its content:
// all of it up to FullHashMax, else the sampled blocks. The blocks depend
// only on the size, so the same content always gives the same value.
func Fingerprint(path string) (string, error) {
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
	h := crc32.New(castagnoli)
	var sz [8]byte
	binary.LittleEndian.PutUint64(sz[:], uint64(size))
	h.Write(sz[:])
	if size <= FullHashMax {
		if _, err := io.CopyBuffer(h, f, make([]byte, 64<<10)); err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		return strconv.FormatUint(uint64(h.Sum32()), 16), nil
	}
	buf := make([]byte, SampleEdge)
	read := func(off, n int64) error {
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
	return strconv.FormatUint(uint64(h.Sum32()), 16), nil
}
