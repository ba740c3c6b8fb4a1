package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/npmtest"
)

// axeDir is the npm project that pins axe-core (package.json and the
// committed package-lock.json); the portal never serves it, the tests
// inject it into the pages they check.
const axeDir = "axe"

// axeScript is axe.min.js, installed once per test binary.
var axeScript = sync.OnceValues(installAxe)

// installAxe installs axe-core from e2e/axe's lockfile when needed and
// returns axe.min.js.
func installAxe() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := npmtest.Install(ctx, axeDir); err != nil {
		return "", fmt.Errorf("the accessibility checks install axe-core: %w", err)
	}
	src, err := os.ReadFile(filepath.Join(axeDir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", err
	}
	return string(src), nil
}

// axeNode is one element a rule failed on.
type axeNode struct {
	Target  string `json:"target"`
	Summary string `json:"summary"`
}

// axeViolation is one failed rule, as axe.run reports it.
type axeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

// axeRun injects axe-core unless the page has it already (a new document
// does not) and checks the whole document with axe's default rules (WCAG
// 2.x A and AA plus best practices), at every impact level. Targets are
// flattened to one selector string: axe nests them for iframes and shadow
// roots.
const axeRun = `(async () => {
	const r = await axe.run(document, {resultTypes: ["violations"]});
	return r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(t => Array.isArray(t) ? t.join(" ") : String(t)).join(" >>> "),
			summary: (n.failureSummary || "").replace(/\s+/g, " ").trim(),
		})),
	}));
})()`

// axe checks the page now shown and returns its violations.
func (b *browser) axe(script string) ([]axeViolation, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, err
	}
	if !has {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](script)); err != nil {
			return nil, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
}

// axeReport lists violations for a person: rule, impact, what it means,
// then each failing element with axe's summary of the fix.
func axeReport(vs []axeViolation) string {
	const maxNodes = 6
	var sb strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&sb, "  %s (%s): %s <%s>\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for i, n := range v.Nodes {
			if i == maxNodes {
				fmt.Fprintf(&sb, "      … and %d more\n", len(v.Nodes)-maxNodes)
				break
			}
			fmt.Fprintf(&sb, "      %s\n", n.Target)
			if n.Summary != "" {
				fmt.Fprintf(&sb, "        %s\n", n.Summary)
			}
		}
	}
	return sb.String()
}
