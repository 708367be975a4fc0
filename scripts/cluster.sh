#!/usr/bin/env bash
# cluster.sh start|stop|status|env: Airflow 3.3 on CeleryExecutor, with a Redis broker and a
# PostgreSQL metadata DB from Debian's packages, all on 127.0.0.1, in one private folder.
#
#   DANCU_REPO=/path/to/repo cluster.sh start    # ~40-60 s; prints the URL and the env file
#   (or `make cluster` / `make cluster-stop` / `make cluster-status` from the repository)
#   cluster.sh status
#   cluster.sh stop                               # stops exactly what start started, deletes the DB
#
# Knobs (environment):
#   DANCU_REPO                  project folder holding .venv (default: the current folder)
#   CLUSTER_DIR                 state folder (default: $DANCU_REPO/.cluster): env, pids, logs, AIRFLOW_HOME
#   CLUSTER_DAGS_FOLDER         DAGs folder (default: $DANCU_REPO/dags)
#   CLUSTER_PYTHONPATH          extra PYTHONPATH entries for every Airflow process
#   CLUSTER_WORKERS             number of Celery workers (default 2)
#   CLUSTER_WORKER_CONCURRENCY  task slots per worker (default 1)
#   CLUSTER_TRIGGERER           1 to start a triggerer too (default 0: no deferrable tasks here)
#   CLUSTER_KEEP_DATA           1: `stop` keeps the PostgreSQL data folder (default: deleted)
#   CLUSTER_START_TIMEOUT       seconds to wait for a healthy cluster (default 300; 45-115 s seen)
#   CLUSTER_PG_PORT, CLUSTER_REDIS_PORT, CLUSTER_API_PORT   fixed ports (default: free ones)
#
# Postgres refuses to run as root ("root" execution of the PostgreSQL server is not permitted),
# so as root the servers run as the users the Debian packages create (postgres, redis), via runuser.
set -euo pipefail

REPO=$(cd "${DANCU_REPO:-$PWD}" && pwd)
S=${CLUSTER_DIR:-$REPO/.cluster}
BIN=${CLUSTER_VENV_BIN:-$REPO/.venv/bin}
DAGS=${CLUSTER_DAGS_FOLDER:-$REPO/dags}
WORKERS=${CLUSTER_WORKERS:-2}
CONC=${CLUSTER_WORKER_CONCURRENCY:-1}
TRIGGERER=${CLUSTER_TRIGGERER:-0}

log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
# Run a command as a server's own user when we are root; as ourselves otherwise.
as() { local u=$1; shift; if is_root; then runuser -u "$u" -- "$@"; else "$@"; fi; }
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ensure_packages() {
    if command -v redis-server >/dev/null && [ -n "$(pgbin)" ]; then return; fi
    is_root || die "redis-server or PostgreSQL missing: apt-get install postgresql redis-server (as root)"
    log "installing postgresql and redis-server from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql redis-server >/dev/null
    # No systemd here: the package's own server does not start ("could not determine current
    # runlevel"), and we do not use it; ours run on free ports in our own folder.
}

cmd_start() {
    if [ -d "$S/pids" ] && ls "$S"/pids/*.pid >/dev/null 2>&1; then
        for p in "$S"/pids/*.pid; do alive "$p" && die "already running ($p); run stop first"; done
    fi
    local t0; t0=$(date +%s.%N)
    ensure_packages
    [ -x "$BIN/airflow" ] || die "no $BIN/airflow (run make setup first)"
    "$BIN/python" -c 'import airflow.providers.celery, psycopg2, asyncpg, redis' 2>/dev/null \
        || die "the venv lacks the cluster group (apache-airflow-providers-celery, psycopg2-binary, asyncpg): make setup"
    rm -rf "$S"; mkdir -p "$S/pids" "$S/logs" "$S/airflow"
    # A start that fails half-way stops what it had started.
    trap 'if [ "${_started:-0}" != 1 ]; then log "start failed: stopping what was started"; cmd_stop; fi' EXIT

    # The servers' own folder: their users must be able to reach it. A repo under /root (0700)
    # is not reachable by the postgres user, so then the data lives in a fresh /tmp folder.
    local run="$S/run"
    mkdir -p "$run"; chmod 755 "$run"
    if is_root && ! runuser -u postgres -- test -x "$run"; then
        rmdir "$run"; run=$(mktemp -d /tmp/dancu-cluster.XXXXXX); chmod 755 "$run"; ln -s "$run" "$S/run"
        log "the repo is not reachable by the postgres user; server data in $run"
    fi
    mkdir -p "$run/pg" "$run/redis"
    chmod 700 "$run/pg" "$run/redis"
    if is_root; then chown postgres: "$run/pg"; chown redis: "$run/redis"; fi

    local pgport redisport apiport pw secret
    pgport=${CLUSTER_PG_PORT:-$(free_port)}
    redisport=${CLUSTER_REDIS_PORT:-$(free_port)}
    apiport=${CLUSTER_API_PORT:-$(free_port)}
    pw=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

    # PostgreSQL: a fresh cluster, loopback TCP (password) + a socket in its own folder (trust).
    local PG; PG=$(pgbin)
    printf '%s\n' "$pw" > "$run/pg/pwfile"; is_root && chown postgres: "$run/pg/pwfile"
    as postgres "$PG/initdb" -D "$run/pg/data" -U airflow --pwfile="$run/pg/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale >"$S/logs/initdb.log" 2>&1 \
        || { cat "$S/logs/initdb.log" >&2; die "initdb failed"; }
    rm -f "$run/pg/pwfile"
    cat >>"$run/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pgport
unix_socket_directories = '$run/pg'
max_connections = 200
shared_buffers = 128MB
# a throwaway test database: durability off
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    as postgres "$PG/pg_ctl" -D "$run/pg/data" -l "$run/pg/postgres.log" -w -t 60 start >/dev/null \
        || { cat "$run/pg/postgres.log" >&2; die "postgres did not start"; }
    as postgres "$PG/createdb" -h "$run/pg" -p "$pgport" -U airflow airflow
    log "postgres on 127.0.0.1:$pgport ($(as postgres "$PG/postgres" --version))"

    # Redis: loopback, password, no persistence, daemonized with a pid file.
    as redis redis-server --bind 127.0.0.1 --port "$redisport" --dir "$run/redis" \
        --requirepass "$pw" --save '' --appendonly no --daemonize yes \
        --pidfile "$run/redis/redis.pid" --logfile "$run/redis/redis.log"
    for _ in $(seq 50); do
        REDISCLI_AUTH=$pw redis-cli -p "$redisport" ping 2>/dev/null | grep -q PONG && break; sleep 0.1
    done
    REDISCLI_AUTH=$pw redis-cli -p "$redisport" ping | grep -q PONG || die "redis did not start"
    log "redis on 127.0.0.1:$redisport ($(redis-server --version | cut -d' ' -f3))"

    local db="airflow:$pw@127.0.0.1:$pgport/airflow"
    local pypath="$REPO${CLUSTER_PYTHONPATH:+:$CLUSTER_PYTHONPATH}"
    cat >"$S/env" <<EOF
# source this file to talk to the cluster (airflow CLI, tests)
export DANCU_CLUSTER_DIR='$S'
export DANCU_CLUSTER_RUN='$run'
export DANCU_CLUSTER_API='http://127.0.0.1:$apiport'
export DANCU_CLUSTER_PG_PORT=$pgport
export DANCU_CLUSTER_REDIS_PORT=$redisport
export AIRFLOW_HOME='$S/airflow'
export PYTHONPATH='$pypath'
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__CORE__DAGS_FOLDER='$DAGS'
export AIRFLOW__CORE__PARALLELISM=8
# two workers on one host would both report its name: each says its own (DANCU_WORKER_NAME)
export AIRFLOW__CORE__HOSTNAME_CALLABLE=dancu.cluster.worker_hostname
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL='http://127.0.0.1:$apiport/execution/'
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE='$S/airflow/passwords.json'
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN='postgresql+psycopg2://$db'
export AIRFLOW__CELERY__BROKER_URL='redis://:$pw@127.0.0.1:$redisport/0'
export AIRFLOW__CELERY__RESULT_BACKEND='db+postgresql+psycopg2://$db'
export AIRFLOW__CELERY__WORKER_CONCURRENCY=$CONC
# the task supervisor notices its task's exit only when its select() times out (5 s by default):
# with 1 slot per worker that idles the slot ~5 s after every task
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL=1
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$apiport
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__SECRET_KEY='$secret'
export AIRFLOW__API_AUTH__JWT_SECRET='$secret'
EOF
    chmod 600 "$S/env"
    printf '{"admin": "%s"}\n' "$pw" >"$S/airflow/passwords.json"
    # shellcheck disable=SC1091
    . "$S/env"

    local t1; t1=$(date +%s.%N)
    "$BIN/airflow" db migrate >"$S/logs/db-migrate.log" 2>&1 \
        || { tail -20 "$S/logs/db-migrate.log" >&2; die "airflow db migrate failed"; }
    log "airflow db migrate: $(python3 -c "print(round($(date +%s.%N)-$t1, 1))") s"

    # Each component in its own session/process group, so that stop can signal the whole group.
    spawn() { local name=$1; shift; PATH="$BIN:$PATH" setsid "$@" >"$S/logs/$name.log" 2>&1 </dev/null &
              echo $! >"$S/pids/$name.pid"; }
    spawn api-server "$BIN/airflow" api-server --host 127.0.0.1 --port "$apiport"
    spawn scheduler "$BIN/airflow" scheduler
    spawn dag-processor "$BIN/airflow" dag-processor
    [ "$TRIGGERER" = 1 ] && spawn triggerer "$BIN/airflow" triggerer
    for i in $(seq "$WORKERS"); do
        DANCU_WORKER_NAME=w$i spawn "worker-w$i" "$BIN/airflow" celery worker \
            --celery-hostname "w$i@%h" --queues default --concurrency "$CONC" --skip-serve-logs
    done

    # Ready when the API answers, the scheduler and DAG processor report healthy, every worker
    # has said "ready" to Celery.
    local ok=0 deadline=$((SECONDS + ${CLUSTER_START_TIMEOUT:-300}))
    while [ $SECONDS -lt $deadline ]; do
        ok=1
        for p in "$S"/pids/*.pid; do alive "$p" || die "$(basename "$p" .pid) died: $(tail -5 "$S/logs/$(basename "$p" .pid).log")"; done
        curl -fsS "http://127.0.0.1:$apiport/api/v2/monitor/health" -o "$S/health.json" 2>/dev/null || ok=0
        if [ $ok = 1 ]; then
            python3 - "$S/health.json" <<'EOF' || ok=0
import json, sys
h = json.load(open(sys.argv[1]))
sys.exit(0 if all(h.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "dag_processor")) else 1)
EOF
        fi
        for i in $(seq "$WORKERS"); do grep -q "w$i@.* ready" "$S/logs/worker-w$i.log" || ok=0; done
        [ $ok = 1 ] && break
        sleep 0.5
    done
    [ $ok = 1 ] || die "cluster not healthy after ${CLUSTER_START_TIMEOUT:-300} s (logs in $S/logs)"
    _started=1
    log "ready in $(python3 -c "print(round($(date +%s.%N)-$t0, 1))") s: API $DANCU_CLUSTER_API (admin / see $S/airflow/passwords.json); env: $S/env"
}

stop_groups() {  # TERM every Airflow process group at once, wait up to 30 s, then KILL what is left
    local f pid left groups=()
    for f in "$S"/pids/*.pid; do [ -e "$f" ] && groups+=("$(cat "$f")"); done
    [ ${#groups[@]} -gt 0 ] || return 0
    for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 60); do
        left=0; for pid in "${groups[@]}"; do kill -0 -- "-$pid" 2>/dev/null && left=1; done
        [ $left = 0 ] && break; sleep 0.5
    done
    for pid in "${groups[@]}"; do
        if kill -0 -- "-$pid" 2>/dev/null; then log "group $pid still alive after 30 s: KILL"; kill -KILL -- "-$pid" 2>/dev/null || true; fi
    done
    rm -f "$S"/pids/*.pid
}

cmd_stop() {
    [ -d "$S" ] || { log "not running (no $S)"; return 0; }
    local t0; t0=$(date +%s.%N)
    local run; run=$(readlink -f "$S/run" 2>/dev/null || true)
    stop_groups
    if [ -n "$run" ] && [ -f "$run/redis/redis.pid" ]; then
        local rp; rp=$(cat "$run/redis/redis.pid")
        kill -TERM "$rp" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -n "$run" ] && [ -f "$run/pg/data/postmaster.pid" ]; then
        as postgres "$(pgbin)/pg_ctl" -D "$run/pg/data" -m fast -w stop >/dev/null || true
    fi
    if [ "${CLUSTER_KEEP_DATA:-0}" != 1 ] && [ -n "$run" ]; then
        rm -rf "$run"; rm -f "$S/run"
    fi
    log "stopped in $(python3 -c "print(round($(date +%s.%N)-$t0, 1))") s"
}

cmd_status() {
    [ -d "$S/pids" ] || { echo "not running"; return 0; }
    local run; run=$(readlink -f "$S/run" 2>/dev/null || true)
    for f in "$S"/pids/*.pid; do
        [ -e "$f" ] || continue
        if alive "$f"; then echo "$(basename "$f" .pid): running (pgid $(cat "$f"))"; else echo "$(basename "$f" .pid): dead"; fi
    done
    if [ -n "$run" ] && [ -f "$run/redis/redis.pid" ] && kill -0 "$(cat "$run/redis/redis.pid")" 2>/dev/null; then
        echo "redis: running (pid $(cat "$run/redis/redis.pid"))"; else echo "redis: not running"; fi
    if [ -n "$run" ] && [ -f "$run/pg/data/postmaster.pid" ] && kill -0 "$(head -1 "$run/pg/data/postmaster.pid")" 2>/dev/null; then
        echo "postgres: running (pid $(head -1 "$run/pg/data/postmaster.pid"))"; else echo "postgres: not running"; fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cat "$S/env" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
