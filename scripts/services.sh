#!/usr/bin/env bash
# Start the local servers the tests use (PostgreSQL, Mosquitto, NATS) when they are not running.
# Debian/Ubuntu: apt-get install postgresql mosquitto nats-server ; this script only starts them.
set -u
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
  else
    echo "services: PostgreSQL is not running and not installed (apt-get install postgresql)" >&2
  fi
fi
if ! port_open 1883; then
  if command -v mosquitto >/dev/null 2>&1; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf 2>/dev/null || mosquitto -d -p 1883
  else
    echo "services: Mosquitto is not running and not installed (apt-get install mosquitto)" >&2
  fi
fi
if ! port_open 4222; then
  if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then
    NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
    mkdir -p /tmp/wattwerk-nats
    "$NATS" -a 127.0.0.1 -p 4222 -js -sd /tmp/wattwerk-nats >/tmp/wattwerk-nats/log 2>&1 &
  else
    echo "services: NATS is not running and not installed (apt-get install nats-server)" >&2
  fi
fi
for i in $(seq 1 30); do
  if port_open 5432 && port_open 1883 && port_open 4222; then exit 0; fi
  sleep 1
done
port_open 5432 || echo "services: PostgreSQL still not reachable on 127.0.0.1:5432" >&2
port_open 1883 || echo "services: Mosquitto still not reachable on 127.0.0.1:1883" >&2
port_open 4222 || echo "services: NATS still not reachable on 127.0.0.1:4222" >&2
exit 0
