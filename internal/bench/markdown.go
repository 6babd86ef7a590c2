package bench

import (
	"fmt"
	"strings"
)

// Markdown renders the results as Markdown for the docs: a line saying
// when, where and with which settings the run was made, then per
// application one table with a line per row and, if the run had them,
// the replicas' memory. `make bench` writes it as results.md; the docs
// hold the recorded run's between MarkdownBegin and MarkdownEnd.
func Markdown(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`make bench BENCH_ROUNDS=%d`, %s to %s UTC, on %s (%d CPUs, Linux %s; load %s at the start, %s at the end): median of %d starts per row (%d with the page cache dropped), %d requests per start, steady state after request %d.\n",
		r.Settings.Rounds, r.Started.UTC().Format("2006-01-02 15:04"), r.Finished.UTC().Format("15:04"),
		r.Host.CPU, r.Host.CPUs, r.Host.Kernel, r.Host.LoadStart, r.Host.LoadEnd,
		r.Settings.Rounds, r.Settings.ColdCacheRounds, r.Settings.Requests, r.Settings.SteadyFrom)
	for i := range r.Apps {
		b.WriteString("\n")
		b.WriteString(appMarkdown(&r.Apps[i], r.Settings))
	}
	return b.String()
}

// The markers around the generated table in a Markdown page.
const (
	MarkdownBegin = "<!-- make bench: begin -->"
	MarkdownEnd   = "<!-- make bench: end -->"
)

// ReplaceMarkdown returns page with the text between MarkdownBegin and
// MarkdownEnd replaced by md.
func ReplaceMarkdown(page, md string) (string, error) {
	before, _, after, err := splitMarkdown(page)
	if err != nil {
		return "", err
	}
	return before + md + after, nil
}

// ExtractMarkdown is the text between MarkdownBegin and MarkdownEnd.
func ExtractMarkdown(page string) (string, error) {
	_, md, _, err := splitMarkdown(page)
	return md, err
}

// splitMarkdown cuts page into what comes up to the MarkdownBegin line
// (included), the generated text, and MarkdownEnd with what follows.
func splitMarkdown(page string) (before, md, after string, err error) {
	head, rest, ok := strings.Cut(page, MarkdownBegin+"\n")
	if !ok {
		return "", "", "", fmt.Errorf("no %q line", MarkdownBegin)
	}
	md, tail, ok := strings.Cut(rest, MarkdownEnd)
	if !ok {
		return "", "", "", fmt.Errorf("no %q after %q", MarkdownEnd, MarkdownBegin)
	}
	return head + MarkdownBegin + "\n", md, MarkdownEnd + tail, nil
}

func appMarkdown(a *AppResult, set Settings) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (first response: GET %s)\n\n", a.Name, a.Probe)
	b.WriteString("| row | first response | cold / row | vs default* | launcher | request 1 | steady state | CRIU images | zstd | starts |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	cold := a.row(ColdVariant)
	for i := range a.Rows {
		r := &a.Rows[i]
		name := r.label("(page cache dropped)")
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped: %s | | | | | | | | |\n", cell(name), cell(r.Skipped))
			continue
		}
		over := ""
		if cold != nil && r.ReadyMs > 0 {
			over = ratio(cold.ReadyMs, r.ReadyMs)
		}
		vs := ""
		if r.VsDefault != 0 {
			vs = fmt.Sprintf("%.2fx", r.VsDefault)
		}
		imgs, zstd := "", ""
		if bd := a.build(r.Build); bd != nil {
			imgs, zstd = mib(bd.CriuImagesBytes), mib(bd.ZstdBytes)
		}
		fmt.Fprintf(&b, "| %s | %s ms | %s | %s | %s | %s ms | %s ms | %s | %s | %d/%d |\n", cell(name), num(r.ReadyMs), over, vs,
			optNum(r.LauncherMs), num(r.Latency.First), num(r.Latency.Steady), imgs, zstd, len(r.Starts)-r.Failed, len(r.Starts))
	}
	fmt.Fprintf(&b, "\n(* median over rounds of this row's first response over the row %q's in the same round; cold / row: the medians' ratio; steady state: requests after %d)\n", DefaultVariant, set.SteadyFrom)
	if len(a.Replicas) > 0 {
		fmt.Fprintf(&b, "\n| %d %s containers side by side | PSS sum | vs cold | RSS sum |\n| --- | ---: | ---: | ---: |\n", len(a.Replicas[0].PerReplica), a.Name)
		var coldPSS float64
		for _, r := range a.Replicas {
			if r.Name == ColdVariant && r.Error == "" {
				coldPSS = float64(r.PSSKiB)
			}
		}
		for _, r := range a.Replicas {
			if r.Error != "" {
				fmt.Fprintf(&b, "| %s | failed: %s | | |\n", cell(r.Name), cell(r.Error))
				continue
			}
			pct := "-"
			if coldPSS > 0 {
				pct = fmt.Sprintf("%.0f%%", 100*float64(r.PSSKiB)/coldPSS)
			}
			fmt.Fprintf(&b, "| %s | %.0f MiB | %s | %.0f MiB |\n", cell(r.Name), float64(r.PSSKiB)/1024, pct, float64(r.RSSKiB)/1024)
		}
	}
	return b.String()
}

// cell makes s safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
