package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

// envTestColdAs makes the test binary ExecCold its arguments as the user
// (contract.User.Creds) it names, with HOME=/root: what the launcher does
// at a cold start.
const envTestColdAs = "CRAC_TEST_COLD_AS"

func execColdAs(creds string, argv []string) int {
	u, err := contract.ParseCreds(creds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	u.Home = "/home/app"
	p := &Plan{Meta: &contract.Metadata{User: u}, Cold: argv}
	err = ExecCold(p, []string{"PATH=/usr/bin:/bin", "HOME=/root"})
	fmt.Fprintln(os.Stderr, err)
	return 127
}

// A cold start drops to the image's user: groups, gid, uid, no
// capabilities left, and the user's HOME instead of root's.
func TestExecColdAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change user")
	}
	cmd := exec.Command(os.Args[0], "sh", "-c", `id -u; id -g; id -G; echo "$HOME"; grep CapEff /proc/self/status`)
	cmd.Env = append(os.Environ(), envTestColdAs+"=4242:4343:1500,1600")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{"4242", "4343", "4343 1500 1600", "/home/app", "CapEff:\t0000000000000000"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("cold start as 4242:4343 (-got +want):\n%s", diff)
	}
}

func TestUserEnv(t *testing.T) {
	u := &contract.User{UID: 1000, GID: 1000, Home: "/home/app"}
	env := []string{"PATH=/bin", "HOME=/root"}
	if os.Geteuid() == 0 {
		got := userEnv(&contract.Metadata{User: u}, env)
		if diff := cmp.Diff(got, []string{"PATH=/bin", "HOME=/home/app"}); diff != "" {
			t.Errorf("userEnv (-got +want):\n%s", diff)
		}
	}
	// The image's own HOME stays, as does everything for a root image.
	m := &contract.Metadata{User: u, Cold: contract.Command{Env: []string{"HOME=/data"}}}
	if got := userEnv(m, env); !cmp.Equal(got, env) {
		t.Errorf("userEnv with the image's HOME = %v, want %v", got, env)
	}
	if got := userEnv(&contract.Metadata{}, env); !cmp.Equal(got, env) {
		t.Errorf("userEnv without a user = %v, want %v", got, env)
	}
}
