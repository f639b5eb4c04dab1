#!/usr/bin/env bash
# Installs what Forge needs on a fresh Debian machine, then builds it. Safe to run again: each
# step is skipped when already done. `--test` also installs what the test suite uses.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(redis-server git ansible-playbook ssh bwrap setpriv python3)
apt_pkgs=(redis-server git ansible-core openssh-client bubblewrap util-linux python3)
if [[ "${1:-}" == "--test" ]]; then
  want+=(sshd chromium)
  apt_pkgs+=(openssh-server chromium)
fi

missing=()
for i in "${!want[@]}"; do
  cmd=${want[$i]}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [[ -x "/usr/sbin/$cmd" ]]; then missing+=("${apt_pkgs[$i]}"); fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]})" >&2
    [[ " ${missing[*]} " == *" redis-server "* ]] && echo "bootstrap: without redis-server, set FORGE_REDIS_URL to an existing Redis" >&2
  fi
fi

# Tasks run sandboxed as an unprivileged user when Forge runs as root (config key task_user).
task_user=${FORGE_TASK_USER-forge-task}
if [[ $(id -u) -eq 0 && -n "$task_user" ]] && ! id "$task_user" >/dev/null 2>&1; then
  echo "bootstrap: creating the user $task_user that tasks run as" >&2
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$task_user"
fi

# npm packages: install when node_modules is missing or older than the lockfile.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Build the server and CLI (the oclif manifest makes every command start ~1 s faster), and the
# web UI when its sources are newer than its build.
npx tsc -p tsconfig.json
NODE_ENV=production npx oclif manifest >/dev/null
if [[ -f web/package.json || -f web/vite.config.ts ]]; then
  if [[ ! -f web/dist/index.html ]] || [[ -n "$(find web/src web/index.html web/vite.config.ts protocol/records.ts -newer web/dist/index.html 2>/dev/null | head -1)" ]]; then
    npm run --silent build:web >&2
  fi
fi
