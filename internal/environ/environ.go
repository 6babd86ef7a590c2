package environ

import (
	"slices"
	"strings"
)

// Merge returns base with the entries of add set, as `docker run -e` sets
// them over an image's ENV: an entry replaces base's entry of the same key
// where it stands (later duplicates of the key are dropped), and a new key
// is appended. The values of the keys named in join are joined with a space,
// base's first, rather than replaced: each of JAVA_TOOL_OPTIONS' flags
// counts, not the last variable. base is not changed.
func Merge(base, add []string, join ...string) []string {
	out := slices.Clone(base)
	for _, kv := range add {
		k, v, _ := strings.Cut(kv, "=")
		i := index(out, k)
		switch {
		case i < 0:
			out = append(out, kv)
			continue
		case slices.Contains(join, k):
			_, old, _ := strings.Cut(out[i], "=")
			out[i] = k + "=" + strings.TrimSpace(old+" "+v)
		default:
			out[i] = kv
		}
		rest := slices.DeleteFunc(out[i+1:], func(e string) bool { return key(e) == k })
		out = out[:i+1+len(rest)]
	}
	return out
}

// Lookup returns the value of the first entry of key, as getenv(3) does.
func Lookup(env []string, key string) (string, bool) {
	if i := index(env, key); i >= 0 {
		_, v, _ := strings.Cut(env[i], "=")
		return v, true
	}
	return "", false
}

// Map returns env as a map; of entries with the same key the last wins,
// and an entry without "=" has the empty value.
func Map(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func key(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func index(env []string, k string) int {
	return slices.IndexFunc(env, func(e string) bool { return key(e) == k })
}

// Append returns base with the value of each K=V of add appended to K's
// value, after the key's separator in seps (a space if it has none), or
// set where base lacks K; a value K's already contains is not added again
// (GLIBC_TUNABLES joins with ":", JAVA_TOOL_OPTIONS with " "). base is not
// changed.
func Append(base, add []string, seps map[string]string) []string {
	out := slices.Clone(base)
	for _, kv := range add {
		k, v, _ := strings.Cut(kv, "=")
		i := index(out, k)
		if i < 0 {
			out = append(out, kv)
			continue
		}
		_, old, _ := strings.Cut(out[i], "=")
		switch {
		case old == "":
			out[i] = kv
		case !strings.Contains(old, v):
			sep, ok := seps[k]
			if !ok {
				sep = " "
			}
			out[i] = k + "=" + old + sep + v
		}
	}
	return out
}
