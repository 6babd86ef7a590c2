package main

import (
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
)

func TestWriteHygiene(t *testing.T) {
	m := &contract.Metadata{
		OpenFiles: []contract.OpenFile{
			{Path: "/app/app.jar", Mapped: true},
			{Path: "/app/log", Writable: true},
			{Path: "/data/db", Mount: "/data", Writable: true, Append: true},
		},
		Hygiene: &contract.Hygiene{
			Processes: []contract.TreeProcess{{PID: 129, PPID: 1, Command: "java", Threads: 3, RSSKiB: 2048}},
			Threads:   []contract.ThreadGroup{{Name: "pool-1-thread-*", Count: 2}, {Name: "java", Count: 1}},
			Memory:    contract.Memory{RSSKiB: 2048, AnonKiB: 1024, FileKiB: 1024, HeapCommittedKiB: 512, HeapUsedKiB: 256},
			Sockets: []contract.Socket{
				{Proto: "tcp6", State: "LISTEN", Local: "[::]:8080", PID: 129, Command: "java"},
				{Proto: "tcp", State: "ESTABLISHED", Local: "127.0.0.1:5000", Remote: "127.0.0.1:5432", PID: 129, Command: "java", Direction: "out", Peer: contract.PeerOutside},
			},
			DeletedFiles: []string{"/tmp/gone"},
			Secrets:      []contract.SecretScan{{ID: "db", Bytes: 20, Scanned: true}},
			Findings:     []contract.Finding{{Kind: "JSON Web Token", File: "pages-1.img", Count: 2}},
		},
	}
	var b strings.Builder
	if err := writeHygiene(&b, m); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"129 java (parent 1), 3 threads, RSS 2.0 MiB",
		"threads         3: pool-1-thread-* x2, java x1",
		"heap 512.0 KiB committed (256.0 KiB used)",
		"tcp6 LISTEN [::]:8080 (process 129 java)",
		"tcp ESTABLISHED 127.0.0.1:5000 -> 127.0.0.1:5432 (process 129 java; peer outside the sandbox)",
		"3 open or mapped: 2 in the image, 1 outside it, 2 writable",
		"/app/log (writable, without O_APPEND)",
		"/data/db (writable, on /data, not in the image)",
		"/tmp/gone (deleted; its content is in the checkpoint)",
		"db (20 bytes): scanned for, not found",
		"JSON Web Token: 2 in pages-1.img",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := writeHygiene(&b, &contract.Metadata{}); err != nil || !strings.Contains(b.String(), "none") {
		t.Errorf("report of an old image: %q, %v", b.String(), err)
	}
}

func TestWriteInspectProvenanceAndInventory(t *testing.T) {
	m := &contract.Metadata{
		RestoreSignal: "SIGUSR1",
		Hygiene: &contract.Hygiene{
			Sockets:  []contract.Socket{{Proto: "tcp6", State: "LISTEN", Local: "[::]:8080", PID: 129, Command: "java"}},
			Warnings: []string{"/app/log is open for writing without O_APPEND"},
		},
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	info := &inspect.Info{
		Ref: "oci-layout:x:hello", Digest: "sha256:abc", Warm: true, Metadata: m, Created: &created,
		Base: &contract.BaseImage{Name: "eclipse-temurin:17-jre", Digest: "sha256:b45e"},
	}
	var b strings.Builder
	if err := writeInspect(&b, info); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"eclipse-temurin:17-jre@sha256:b45e",
		"/run/crac-build/restored, then SIGUSR1",
		"what the checkpoint holds:",
		"tcp6 LISTEN [::]:8080 (process 129 java)",
		"warning: /app/log is open for writing without O_APPEND",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, b.String())
		}
	}
}
