package contract

import (
	"fmt"
	"os"
	"syscall"
)

// ClassCacheDir holds the JDK's own start-up cache (ClassCache) in the
// application layer: the cold command reads it as the checkpointed JVM did.
const ClassCacheDir = Prefix + "/class-cache"

// Kinds of ClassCache.
const (
	// ClassCacheAppCDS is a dynamic AppCDS archive (-XX:ArchiveClassesAtExit,
	// -XX:SharedArchiveFile; JDK 13+): the application's classes, parsed and
	// linked, on top of the JDK's default CDS archive.
	ClassCacheAppCDS = "appcds"
	// ClassCacheAOT is a Project Leyden AOT cache (-XX:AOTCacheOutput,
	// -XX:AOTCache; JDK 25+, JEPs 483, 514, 515): the classes loaded and
	// linked, with the method profiles of the training run.
	ClassCacheAOT = "aot"
)

// ClassCache is the JDK's start-up cache an image carries, made by a
// training run of the application with the build's warmup.
type ClassCache struct {
	// Kind is ClassCacheAppCDS or ClassCacheAOT.
	Kind string `json:"kind"`
	// Path is the cache file in the image (under ClassCacheDir).
	Path string `json:"path"`
	// JDK is the feature release of the JVM that made it (17, 21, 25).
	JDK  int   `json:"jdk"`
	Size int64 `json:"size"`
	// JVMFlags start a JVM with the cache; the launcher adds them to the
	// cold command (after java, or in JAVA_TOOL_OPTIONS).
	JVMFlags []string `json:"jvmFlags"`
	// Files are what the JVM checks the cache against at its start, as
	// the checkpointed JVM saw them: the jars it had open and the JDK's
	// modules image. A file changed since the build makes the JVM refuse
	// the cache; the launcher then starts cold without it.
	Files []StampedFile `json:"files,omitempty"`
}

// StampedFile is a file's size and modification time.
type StampedFile struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
}

// Check says why a JVM would refuse the cache on this filesystem (nil:
// it would take it): the cache file or one of Files is missing, or has
// another size or modification time than at build. Stats only.
func (c *ClassCache) Check() error {
	var st syscall.Stat_t
	if err := syscall.Stat(c.Path, &st); err != nil {
		return fmt.Errorf("class cache %s: %w", c.Path, os.NewSyscallError("stat", err))
	}
	if st.Size != c.Size {
		return fmt.Errorf("class cache %s has size %d, was %d", c.Path, st.Size, c.Size)
	}
	for _, f := range c.Files {
		if err := syscall.Stat(f.Path, &st); err != nil {
			return fmt.Errorf("%s: %w", f.Path, os.NewSyscallError("stat", err))
		}
		if st.Size != f.Size || st.Mtim.Sec != f.MTime {
			return fmt.Errorf("%s changed since the build (size %d, was %d; mtime %d, was %d)", f.Path, st.Size, f.Size, st.Mtim.Sec, f.MTime)
		}
	}
	return nil
}
