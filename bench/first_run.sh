#!/bin/bash
# From a fresh clone to the login page and to the first ranking task, timed (docs/benchmarks.md):
#   bench/first_run.sh [repository path or URL]      # default: this repository
# Clones into $FIRST_RUN_DIR (default /tmp/ranklab-first-run), runs `make run` nice'd on port 8765
# in a fresh virtualenv, polls the login page and the SQLite database every 2 s, prints the
# seconds from the clone to each, then stops the stack.
set -u
DIR=${FIRST_RUN_DIR:-/tmp/ranklab-first-run}
rm -rf $DIR
LOG=${FIRST_RUN_LOG:-$DIR.log}
: > $LOG
t0=$(date +%s.%N)
echo "start $(date -u +%FT%TZ) load $(cat /proc/loadavg)" >> $LOG
git clone -q ${FIRST_RUN_BRANCH:+--branch $FIRST_RUN_BRANCH} "${1:-$(git rev-parse --show-toplevel)}" $DIR
cd $DIR || exit 1
RANKLAB_PORT=8765 setsid nice -n 10 make run > $DIR.make.log 2>&1 &
MAKE_PID=$!
echo $MAKE_PID > $DIR.pid
login=""; rank=""
while true; do
  now=$(date +%s.%N)
  if [ -z "$login" ] && curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8765/accounts/login/ 2>/dev/null | grep -q 200; then
    login=$(echo "$now - $t0" | bc); echo "login_page_s $login load $(cat /proc/loadavg)" >> $LOG
  fi
  if [ -n "$login" ] && [ -z "$rank" ] && [ -f var/db.sqlite3 ]; then
    n=$(python3 -c "import sqlite3;c=sqlite3.connect('file:var/db.sqlite3?mode=ro',uri=True,timeout=5);print(c.execute(\"select count(*) from annotate_task where kind='ranking'\").fetchone()[0])" 2>/dev/null)
    if [ "${n:-0}" -gt 0 ]; then rank=$(echo "$now - $t0" | bc); echo "first_ranking_task_s $rank tasks $n load $(cat /proc/loadavg)" >> $LOG; fi
  fi
  if [ -n "$rank" ]; then break; fi
  if ! kill -0 $MAKE_PID 2>/dev/null; then echo "make run exited" >> $LOG; break; fi
  elapsed=$(echo "$now - $t0" | bc | cut -d. -f1)
  if [ "$elapsed" -gt 3000 ]; then echo "gave up after $elapsed s" >> $LOG; break; fi
  sleep 2
done
# Stop the stack: SIGINT to make's process group (runstack stops web, worker, beat).
kill -INT -- -$MAKE_PID 2>/dev/null; sleep 20; kill -TERM -- -$MAKE_PID 2>/dev/null
echo "done $(date -u +%FT%TZ)" >> $LOG
cat $LOG
