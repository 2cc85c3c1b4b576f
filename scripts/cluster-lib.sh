# Shared helpers for the local-cluster scripts (sourced, not run).
# GLOBALHS_CLUSTER_BASE holds every file of the local clusters (configs, logs, PID files, job output).
: "${GLOBALHS_CLUSTER_BASE:=/var/tmp/globalhs-cluster}"
export GLOBALHS_CLUSTER_BASE

# Daemons we start, by process name: a PID file is trusted only if its process has one of these names
# (PID files go stale and the number may belong to something else by now).
OUR_DAEMONS="sge_qmaster sge_execd slurmd slurmctld slurmdbd mariadbd munged"

# pid_alive FILE: print the PID in FILE and succeed if that process is one of our daemons.
pid_alive() {
  local f=$1 p comm
  [ -s "$f" ] || return 1
  p=$(tr -dc '0-9' < "$f")
  [ -n "$p" ] || return 1
  comm=$(cat /proc/$p/comm 2>/dev/null) || return 1
  case " $OUR_DAEMONS " in *" $comm "*) echo "$p"; return 0 ;; esac
  return 1
}

# stop_pidfile FILE: stop the daemon named by FILE (TERM, wait up to 20 s, then KILL). Idempotent.
stop_pidfile() {
  local f=$1 p i
  p=$(pid_alive "$f") || return 0
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  echo "still running after 20 s, killing: $p ($f)" >&2
  kill -9 "$p" 2>/dev/null || true
}

# apt_install PKG...: install the packages that are missing; never start their services.
apt_install() {
  local missing="" p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || { echo "need root to install:$missing" >&2; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds; fail after SECONDS.
wait_for() {
  local n=$(( $1 * 5 )) i; shift
  for i in $(seq $n); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
