#!/usr/bin/env bash
# Runs shellcheck over the project's shell code (issue 17: scripts quote what comes from users):
#   jobs/submit and the batch scripts it renders (run script, array run script, merge
#   script) at shellcheck's default severity (style and up): no finding at all;
#   the SLURM and input-bound tests (tests/t_submit.sh, t_slurm*.sh, t_input_bounds.sh,
#   t_shellcheck.sh, tests/e2e/slurm_lib.sh) at the default severity too;
#   tools/*.sh, tests/*.sh, tests/e2e/*.sh at severity warning and up.
# Installs nothing: `make deps` (tools/deps.sh) installs shellcheck; without it this SKIPs.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/e2e/lib.sh"

if ! command -v shellcheck >/dev/null 2>&1; then
    echo "ok - shellcheck # SKIP shellcheck is not installed (make deps installs it)"
    exit 0
fi
echo "# $(shellcheck --version | grep '^version')"

# sc NAME SHELLCHECK-ARGS...: one test; the findings go to the log as comments.
sc() {
    local name=$1; shift
    if shellcheck -x --source-path=SCRIPTDIR "$@" >"$TMP/sc.out" 2>&1; then ok "$name"
    else notok "$name"; sed 's/^/# /' "$TMP/sc.out"; fi
}

sc "jobs/submit" jobs/submit
sc "jobs/clsweep-launch" jobs/clsweep-launch
# The rendered scripts, with every optional part filled in (setup lines, extra options).
mkdir -p "$TMP/r"
render() {  # render NAME SUBMIT-ARGS...: the --dry-run scripts into $TMP/r/NAME-N.sh
    local name=$1; shift
    jobs/submit tests/e2e/tiny.yaml --dry-run --clsweep "$CLSWEEP" --output "$TMP/o/t.nc" \
        --setup "module load openmpi" --sbatch=--mail-type=END --partition p --account a "$@" \
        >"$TMP/r/$name.txt" || { notok "jobs/submit --dry-run $*"; return; }
    awk -v base="$TMP/r/$name" '/^# ---- /{f = base "-" (++n) ".sh"; next} /^# submit:/{next} f {print > f}' \
        "$TMP/r/$name.txt"
}
render mpi --requeue
render array --array 3
render none --launcher none --ntasks 1
n=$(find "$TMP/r" -name '*.sh' | wc -l)
check "four rendered batch scripts (run x3, merge) ($n)" test "$n" -eq 4
sc "the rendered batch scripts (jobs/*.sbatch.in)" "$TMP"/r/*.sh

sc "the SLURM and input tests (default severity)" tests/t_submit.sh tests/t_slurm.sh \
    tests/t_slurm_multinode.sh tests/t_input_bounds.sh tests/t_shellcheck.sh tests/e2e/slurm_lib.sh
mapfile -t tools < <(find tools -maxdepth 1 -name '*.sh' | sort)
sc "tools/*.sh (severity warning)" -S warning "${tools[@]}"
mapfile -t tests < <(find tests tests/e2e -maxdepth 1 -name '*.sh' | sort)
sc "tests/*.sh, tests/e2e/*.sh (severity warning)" -S warning "${tests[@]}"
finish
