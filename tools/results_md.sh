#!/usr/bin/env bash
# tools/results_md.sh — assembles docs/results.md from the per-model reports in
# docs/results/*.md (each written next to its model's sweep).
set -eu
cd "$(dirname "$0")/.."
{
    echo "# Results: the paper reproductions"
    echo
    echo "Each section is one model's report (also in \`docs/results/<model>.md\`): the sweep in"
    echo "\`sweeps/\`, the command that ran it, wall time, and our numbers next to the paper's."
    echo "Regenerate this file with \`tools/results_md.sh\`."
    echo
    for f in ewgn gated pah hsf weightspace; do
        [ -f "docs/results/$f.md" ] || continue
        echo "- [$f](results/$f.md)"
    done
    for f in ewgn gated pah hsf weightspace; do
        [ -f "docs/results/$f.md" ] || continue
        echo
        echo "---"
        echo
        # demote headings by one level so the sections nest under this page's title
        sed -e 's/^#/##/' -e 's#](\.\./#](#g' "docs/results/$f.md"
    done
} > docs/results.md
echo "wrote docs/results.md"
