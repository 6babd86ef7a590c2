// Package docs holds the tests that keep README.md and docs/ true to the
// tree: every relative link resolves, the README stays a front page, and
// the troubleshooting page lists every reason the launcher can give for a
// cold start. It has no code of its own.
package docs
