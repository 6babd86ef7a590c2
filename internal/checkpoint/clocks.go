package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Clocks are CLOCK_MONOTONIC and CLOCK_BOOTTIME as CRIU read them in the
// dumped tree's time namespace at dump time (timens-0.img). A privileged
// CRIU restore creates a time namespace that makes them continue from
// there; an unprivileged one does not, so the launcher does it.
type Clocks struct {
	Monotonic, Boottime time.Duration
}

// TimensImage is the CRIU image file that holds Clocks.
const TimensImage = "timens-0.img"

// ReadClocks reads the dump-time clocks from a CRIU images directory.
func ReadClocks(imagesDir string) (Clocks, error) {
	path := filepath.Join(imagesDir, TimensImage)
	b, err := os.ReadFile(path)
	if err != nil {
		return Clocks{}, fmt.Errorf("reading dump-time clocks: %w", err)
	}
	c, err := parseClocks(b)
	if err != nil {
		return Clocks{}, fmt.Errorf("reading dump-time clocks from %s: %w", path, err)
	}
	return c, nil
}

// parseClocks decodes a CRIU timens image: two magic numbers, then one
// entry (a 32-bit little-endian length and a protobuf TimensEntry:
// 1: monotonic, 2: boottime, each a Timespec of 1: tv_sec, 2: tv_nsec).
// Decoding the three varint fields by hand keeps the launcher free of
// CRIU's image schemas.
func parseClocks(b []byte) (Clocks, error) {
	if len(b) < 12 {
		return Clocks{}, errors.New("image too short")
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if int(n) > len(b)-12 {
		return Clocks{}, fmt.Errorf("entry of %d bytes in a %d-byte image", n, len(b))
	}
	var c Clocks
	err := eachField(b[12:12+n], func(num int, v uint64, sub []byte) error {
		if sub == nil {
			return nil
		}
		d, err := timespec(sub)
		if err != nil {
			return err
		}
		switch num {
		case 1:
			c.Monotonic = d
		case 2:
			c.Boottime = d
		}
		return nil
	})
	if err != nil {
		return Clocks{}, err
	}
	if c.Monotonic <= 0 {
		return Clocks{}, errors.New("no monotonic clock in the image")
	}
	return c, nil
}

func timespec(b []byte) (time.Duration, error) {
	var sec, nsec uint64
	err := eachField(b, func(num int, v uint64, sub []byte) error {
		switch num {
		case 1:
			sec = v
		case 2:
			nsec = v
		}
		return nil
	})
	return time.Duration(sec)*time.Second + time.Duration(nsec), err
}

// eachField walks the fields of a protobuf message: varints (wire type 0)
// come as v, length-delimited ones (2) as sub. Others are skipped.
func eachField(b []byte, fn func(num int, v uint64, sub []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad protobuf key")
		}
		b = b[n:]
		num, wire := int(key>>3), key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad protobuf varint")
			}
			b = b[n:]
			if err := fn(num, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errors.New("short protobuf fixed64")
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("bad protobuf length")
			}
			sub := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := fn(num, 0, sub); err != nil {
				return err
			}
		case 5:
			if len(b) < 4 {
				return errors.New("short protobuf fixed32")
			}
			b = b[4:]
		default:
			return fmt.Errorf("protobuf wire type %d", wire)
		}
	}
	return nil
}
