// Package bench measures what a warm image buys: it builds warm images of
// applications (and of variants of their build), starts them cold and
// restored side by side, interleaved, several times, and reports medians of
// time to first response, request latencies, checkpoint sizes and build
// times as JSON, a text table and an HTML report. It never prints; the
// caller chooses where progress and results go.
package bench
