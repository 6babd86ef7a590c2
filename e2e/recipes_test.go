package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/runner"
)

// The tests of this file run the recipes of docs/recipes.md: each reads
// its recipe's `bin/crac-build build` command from the page (the block
// after "<!-- recipe: NAME -->") and runs it as written, so that the page
// cannot drift from what works. `make recipes` runs them.

const recipesPage = "docs/recipes.md"

// recipe is one block of docs/recipes.md: its commands, with continuation
// lines joined and comments dropped.
type recipe struct {
	name     string
	commands []string
}

func readRecipe(t *testing.T, name string) *recipe {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), recipesPage))
	if err != nil {
		t.Fatal(err)
	}
	marker := "<!-- recipe: " + name + " -->"
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s has no %q", recipesPage, marker)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("%s: no ```sh block after %q", recipesPage, marker)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the block after %q does not end", recipesPage, marker)
	}
	r := &recipe{name: name}
	for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		line = strings.TrimSpace(comment.ReplaceAllString(line, ""))
		if line != "" {
			r.commands = append(r.commands, strings.Join(strings.Fields(line), " "))
		}
	}
	return r
}

// comment is a shell comment at the end of a line (the recipes' commands
// hold no '#' of their own).
var comment = regexp.MustCompile(`(^|\s)#.*$`)

// command returns the one command of the recipe that starts with prefix,
// split as a shell would, with $NAME and ${NAME} taken from vars: a
// variable the test does not give fails the test, as does a variable the
// recipe sets (NAME=...) that vars lacks.
func (r *recipe) command(t *testing.T, prefix string, vars map[string]string) []string {
	t.Helper()
	var found []string
	for _, c := range r.commands {
		if name, _, ok := strings.Cut(c, "="); ok && !strings.Contains(name, " ") {
			if _, given := vars[name]; !given {
				t.Fatalf("recipe %s sets %s, which the test does not give", r.name, name)
			}
			continue
		}
		if strings.HasPrefix(c, prefix+" ") {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("recipe %s: %d commands start with %q, want 1: %q", r.name, len(found), prefix, found)
	}
	var missing []string
	expanded := os.Expand(found[0], func(k string) string {
		v, ok := vars[k]
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		t.Fatalf("recipe %s uses $%s, which the test does not give", r.name, strings.Join(missing, ", $"))
	}
	args, err := builder.ParseCommand(expanded)
	if err != nil {
		t.Fatalf("recipe %s: %v", r.name, err)
	}
	return args
}

// recipeDir is a scratch directory to run recipes in, as if it were the
// checkout: bin/, build/ and examples/ link to the checkout's, so that
// the recipes' inputs are found and their outputs land here.
func recipeDir(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	for _, name := range []string{"bin", "build", "examples"} {
		if err := os.Symlink(filepath.Join(root, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// requireFiles is requireE2E plus files of the checkout that make builds.
func requireFiles(t *testing.T, target string, files ...string) {
	t.Helper()
	requireE2E(t)
	for _, f := range files {
		if !fileExists(filepath.Join(repoRoot(t), f)) {
			msg := fmt.Sprintf("test needs %s (make %s)", f, target)
			if os.Getenv("CRAC_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// buildRecipe runs the recipe's `bin/crac-build build` command in dir,
// with extra arguments appended, and returns the image it wrote (its
// --output, made absolute) and the command's stderr.
func buildRecipe(t *testing.T, r *recipe, dir string, vars map[string]string, extra ...string) (ref, stderr string, err error) {
	t.Helper()
	if err := ensureWorkDir(); err != nil { // the package's cache of unpacked bases
		t.Fatal(err)
	}
	args := r.command(t, "bin/crac-build build", vars)
	for i, a := range args {
		if (a == "--output" || a == "-o") && i+1 < len(args) {
			scheme, path, _ := strings.Cut(args[i+1], ":")
			ref = scheme + ":" + filepath.Join(dir, path)
		}
	}
	if ref == "" {
		t.Fatalf("recipe %s: the build command has no --output", r.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The cache of unpacked bases is the tests' (the default is the
	// user's, under $XDG_CACHE_HOME); everything else is the recipe's.
	_, stderr, err = cracIn(t, ctx, dir, []string{"CRAC_CACHE_DIR=" + cacheDir}, append(args[1:], extra...)...)
	return ref, stderr, err
}

// restored waits for the launcher's verdict and fails unless it restored.
func restored(t *testing.T, s *started) {
	t.Helper()
	if mode, reason := s.r.WaitMode(10 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
}

// TestRecipeFatJar: docs/recipes.md's fat jar (examples/hello) restores
// and serves, with the warmup's requests counted.
func TestRecipeFatJar(t *testing.T) {
	requireFiles(t, "hello", "examples/hello/build/hello.jar")
	r := readRecipe(t, "fat-jar")
	ref, _, err := buildRecipe(t, r, recipeDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startRef(t, ref)
	restored(t, s)
	if body := get(t, s.url+"/"); requestsServed(body) < 200 {
		t.Errorf("GET / = %q: want the recipe's 200 warmup requests counted", body)
	}
}

// TestRecipeWar: the war dropped into Tomcat's webapps on the Tomcat base
// restores and serves its servlet.
func TestRecipeWar(t *testing.T) {
	requireFiles(t, "base-tomcat war", "build/base-tomcat10/index.json", "examples/war/build/app.war")
	r := readRecipe(t, "war")
	ref, _, err := buildRecipe(t, r, recipeDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startReady(t, runner.Options{Image: ref}, "/app/")
	restored(t, s)
	body := get(t, s.url+"/app/greeting")
	if !strings.Contains(body, "hello from a war in Tomcat") || requestsServed(body) < 500 {
		t.Errorf("GET /app/greeting = %q: want the servlet's greeting, with the recipe's 500 warmup requests counted", body)
	}
}

// TestRecipeDatabase: the application that loads data from its database
// at start builds with --network host against a database on the host,
// closes its connection before the checkpoint, and, restored under podman
// with the recipe's own commands, connects to the database the container
// names. Without its Resource the build fails, naming the connection.
func TestRecipeDatabase(t *testing.T) {
	requireTools(t, "podman")
	requireFiles(t, "database", "examples/database/build/inventory.jar", "bin/crac-agent.jar")
	r := readRecipe(t, "database")
	dir := recipeDir(t)
	buildDB := startFakeDB(t, map[string]string{"catalogue": "build-catalogue", "stock": "build-stock"})
	runDB := startFakeDB(t, map[string]string{"catalogue": "run-catalogue", "stock": "run-stock"})
	port := freePort(t)
	vars := map[string]string{"DB_ADDR": buildDB.addr, "PORT": fmt.Sprint(port)}

	ref, stderr, err := buildRecipe(t, r, dir, vars)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "1 org.crac Resources ran beforeCheckpoint") {
		t.Errorf("the build does not report the Resource that closed the connection:\n%s", stderr)
	}
	// The class cache's training run (docs/class-cache.md) is a run of
	// the application too, and connects once more.
	want := 1
	if strings.Contains(stderr, "class cache: training run: ") {
		want = 2
	}
	if accepted, open := buildDB.counts(); accepted != want || open != 0 {
		t.Errorf("the build's database: %d connections, %d still open; want %d, closed before the checkpoint", accepted, open, want)
	}

	p := newPodman(t)
	load := r.command(t, "podman load", vars)
	for i, a := range load {
		if (a == "-i" || a == "--input") && i+1 < len(load) {
			load[i+1] = filepath.Join(dir, load[i+1])
		}
	}
	p.run(load[1:]...)
	vars["DB_ADDR"] = runDB.addr // the container's database
	run := r.command(t, "podman run", vars)
	const name = "crac-e2e-recipe-database"
	p.run(append([]string{"run", "--detach", "--name", name}, run[2:]...)...)
	defer func() {
		if t.Failed() {
			out, _ := p.try("logs", name)
			t.Logf("podman logs %s:\n%s", name, out)
		}
		p.remove(name)
	}()
	if mode, line := p.waitStart(name, 1); mode != "restored" {
		t.Fatalf("%s: %s, want restored", ref, line)
	}
	var body string
	if !waitFor(func() bool {
		resp, err := shortClient.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		body = b.String()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("GET / of the restored application: %q", body)
	}
	for _, want := range []string{
		"catalogue (loaded at start): build-catalogue", // from the build's database, in the checkpoint
		"stock (asked now): run-stock",                 // from the container's, after afterRestore
		"connections opened by this JVM: 2",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / = %q, want %q", body, want)
		}
	}
	if accepted, _ := runDB.counts(); accepted != 1 {
		t.Errorf("the container's database had %d connections, want 1 (afterRestore's)", accepted)
	}
	p.run("stop", "--time", "10", name)

	// Without the Resource, the connection is open at the checkpoint.
	_, _, err = buildRecipe(t, r, dir, vars, "--env", "KEEP_CONNECTION=1")
	if err == nil || !strings.Contains(err.Error(), "established TCP connection") || !strings.Contains(err.Error(), "--allow-connections") {
		t.Errorf("a build that keeps its database connection: %v; want it refused, naming the connection and --allow-connections", err)
	}
}

// TestRecipeOrgCrac: examples/coordinated, the framework-style recipe:
// the build notifies its three Resources, the restored container runs
// their afterRestore with the container's environment.
func TestRecipeOrgCrac(t *testing.T) {
	requireCoordination(t)
	r := readRecipe(t, "org.crac")
	ref, stderr, err := buildRecipe(t, r, recipeDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "3 org.crac Resources ran beforeCheckpoint") {
		t.Errorf("the build does not report the three Resources:\n%s", stderr)
	}
	s := startRefWith(t, runner.Options{Image: ref, Env: []string{"GREETING=hello"}})
	restored(t, s)
	got := strings.Join(events(t, s), "\n")
	for _, want := range []string{"beforeCheckpoint server", "afterRestore server", "afterRestore env GREETING=hello"} {
		if !strings.Contains(got, want) {
			t.Errorf("GET /events lacks %q:\n%s", want, got)
		}
	}
}

// fakeDB is the recipes' database: on 127.0.0.1, a free port, it answers
// each line "GET key" with the key's value; it counts connections.
type fakeDB struct {
	addr string

	mu             sync.Mutex
	accepted, open int
}

func startFakeDB(t *testing.T, values map[string]string) *fakeDB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	db := &fakeDB{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			db.mu.Lock()
			db.accepted++
			db.open++
			db.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					conns.Delete(c)
					db.mu.Lock()
					db.open--
					db.mu.Unlock()
				}()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					key, _ := strings.CutPrefix(sc.Text(), "GET ")
					if _, err := fmt.Fprintln(c, values[key]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return db
}

// counts are the connections accepted so far and those still open. A
// connection the client closed counts as open until its end was read:
// waits briefly for that.
func (db *fakeDB) counts() (accepted, open int) {
	waitFor(func() bool {
		db.mu.Lock()
		defer db.mu.Unlock()
		return db.open == 0
	})
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.accepted, db.open
}
