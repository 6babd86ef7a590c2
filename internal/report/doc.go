// Package report renders a self-contained HTML page (inline CSS and SVG
// charts, no scripts, nothing fetched from the network) from tables and
// charts: what `crac-build run --report` and the benchmark write.
package report
