#!/usr/bin/env bash
# `make run` on a fresh data folder: the admin login answers, a message sent through the sandbox
# is recorded as sent and then delivered, and SIGTERM stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
var=$(mktemp -d)
log="$var/run.log"
port=${SMOKE_PORT:-8765}
export VAR_DIR="$var" PORT=$port FAKES_PORT=$((port + 1)) DEBUG=true
env -u DATABASE_URL -u REDIS_URL setsid make run >"$log" 2>&1 &
launcher=$!
cleanup() { kill -TERM -- "-$launcher" 2>/dev/null || true; rm -rf "$var"; }
trap cleanup EXIT
for _ in $(seq 1 90); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/admin/login/" && break
  sleep 1
done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/admin/login/" || { cat "$log"; exit 1; }
grep -q "Created the staff user 'admin' with password: " "$log" || { echo "no generated password printed"; exit 1; }
.venv/bin/python manage.py shell -v 0 -c "
from campaigns.models import OutboundMessage
from providers.models import Channel
OutboundMessage.send_one(channel=Channel.objects.get(name='Demo sandbox'), to='+447911123456', text='smoke')
" </dev/null
# The sandbox records it sent, then reports it delivered a moment later (its simulated receipt).
for _ in $(seq 1 30); do
  delivered=$(.venv/bin/python manage.py shell -v 0 -c "
from campaigns.models import OutboundMessage
print(OutboundMessage.objects.filter(status='delivered', sent_at__isnull=False).count())" </dev/null)
  [ "$delivered" = "1" ] && break
  sleep 1
done
[ "$delivered" = "1" ] || { echo "the message was not sent and delivered"; cat "$log"; exit 1; }
# The demo channels' credentials are encrypted at rest: a dump of the channels shows none of them.
dump=$(.venv/bin/python manage.py dumpdata providers </dev/null)
grep -q '"credentials": "gAAAA' <<<"$dump" || { echo "no encrypted credentials in the dump"; exit 1; }
if grep -q -e demo-auth-token -e demo-gupshup-key -e demo-sendbulk-key <<<"$dump"; then
  echo "a channel's credential is readable in a database dump"; exit 1
fi
pid=$(pgrep -f "messaging_site.services run" | head -1)
kill -TERM "$pid"
for _ in $(seq 1 30); do
  pgrep -f "$var" >/dev/null || pgrep -f "runserver 127.0.0.1:$PORT" >/dev/null || break
  sleep 1
done
if pgrep -f "runserver 127.0.0.1:$PORT" >/dev/null || pgrep -f "unixsocket:$var" >/dev/null; then
  echo "make run left processes behind"; exit 1
fi
echo "make run smoke test: login page served, sandbox message sent and delivered, no credential in a dump, clean stop"
