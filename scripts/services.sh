#!/usr/bin/env bash
# Start the local servers the tests use (PostgreSQL, Mosquitto) when they are not running.
# Debian/Ubuntu: apt-get install postgresql mosquitto ; this script only starts them.
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
for i in $(seq 1 30); do
  if port_open 5432 && port_open 1883; then exit 0; fi
  sleep 1
done
port_open 5432 || echo "services: PostgreSQL still not reachable on 127.0.0.1:5432" >&2
port_open 1883 || echo "services: Mosquitto still not reachable on 127.0.0.1:1883" >&2
exit 0
