#!/usr/bin/env bash
# Install the wattwerk edge as a systemd service (Debian 12 / Raspberry Pi OS bookworm).
#
#   sudo deploy/install.sh                      # from this checkout
#   sudo deploy/install.sh --from wattwerk-0.1.0-py3-none-any.whl
#   deploy/install.sh --dry-run                 # print what it would do, change nothing
#
# Idempotent: run it again and it only does what is missing. It never overwrites
# /etc/wattwerk/site.yaml or anything under /var/lib/wattwerk; changing the installed version
# is deploy/update.sh's job.
#
# Layout:  /opt/wattwerk/releases/<id>/venv   one virtual environment per installed version
#          /opt/wattwerk/.venv -> releases/<id>/venv   the one the service runs
#          /etc/wattwerk/site.yaml             the configuration (yours; kept by updates)
#          /var/lib/wattwerk                   readings, outbox, state (kept by updates)
# The paths can be moved with WATTWERK_PREFIX, WATTWERK_ETC, WATTWERK_DATA, WATTWERK_UNIT_DIR,
# WATTWERK_LOGROTATE_DIR (tests use scratch directories).
set -euo pipefail

PREFIX=${WATTWERK_PREFIX:-/opt/wattwerk}
ETC=${WATTWERK_ETC:-/etc/wattwerk}
DATA=${WATTWERK_DATA:-/var/lib/wattwerk}
UNIT_DIR=${WATTWERK_UNIT_DIR:-/etc/systemd/system}
LOGROTATE_DIR=${WATTWERK_LOGROTATE_DIR:-/etc/logrotate.d}
SERVICE_USER=${WATTWERK_USER:-wattwerk}
PYTHON=${PYTHON:-python3}
UNIT=wattwerk-edge.service
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(dirname "$HERE")
DRY_RUN=0
START=1

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "options: --from PATH (checkout or wheel), --dry-run, --no-start, -h"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --from) SOURCE=${2:?--from needs a path}; shift 2 ;;
        --dry-run|-n) DRY_RUN=1; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or with --dry-run to see what it would do" >&2
    exit 1
fi
if [ ! -e "$SOURCE" ]; then
    echo "install.sh: source $SOURCE does not exist" >&2
    exit 1
fi
if [ -d "$SOURCE" ] && [ ! -f "$SOURCE/pyproject.toml" ]; then
    echo "install.sh: $SOURCE is not a wattwerk checkout (no pyproject.toml)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: wattwerk needs Python 3.11 or newer ($PYTHON); on Debian: apt install python3 python3-venv" >&2
    exit 1
fi

# 1. the service user: no login, no home directory of its own; serial ports through dialout
if id "$SERVICE_USER" >/dev/null 2>&1; then
    say "user $SERVICE_USER exists"
else
    say "creating system user $SERVICE_USER"
    run useradd --system --user-group --home-dir "$DATA" --no-create-home \
        --shell /usr/sbin/nologin --comment "wattwerk edge" "$SERVICE_USER"
fi
if getent group dialout >/dev/null 2>&1 && ! id -nG "$SERVICE_USER" 2>/dev/null | grep -qw dialout; then
    say "adding $SERVICE_USER to group dialout (serial adapters)"
    run usermod -aG dialout "$SERVICE_USER"
fi

# 2. directories
for dir in "$PREFIX/releases" "$ETC" "$DATA"; do
    [ -d "$dir" ] || { say "creating $dir"; run mkdir -p "$dir"; }
done
run chown root:"$SERVICE_USER" "$ETC"
run chmod 0770 "$ETC"        # the local UI saves site.yaml by writing a new file and renaming it
run chown "$SERVICE_USER:$SERVICE_USER" "$DATA"
run chmod 0750 "$DATA"

# 3. the program: a venv per release, .venv points at the current one
if [ -x "$PREFIX/.venv/bin/wattwerk" ]; then
    say "wattwerk is installed ($(readlink "$PREFIX/.venv" || echo "$PREFIX/.venv")); deploy/update.sh changes the version"
else
    RELEASE="$PREFIX/releases/$(date -u +%Y%m%dT%H%M%SZ)"
    say "installing wattwerk from $SOURCE into $RELEASE/venv"
    run "$PYTHON" -m venv "$RELEASE/venv"
    run "$RELEASE/venv/bin/pip" install --quiet --upgrade pip
    run "$RELEASE/venv/bin/pip" install --quiet "$SOURCE"
    run ln -sfn "$RELEASE/venv" "$PREFIX/.venv"
fi

# 4. the configuration: an example the first time, never overwritten
FRESH_CONFIG=0
if [ -f "$ETC/site.yaml" ]; then
    say "keeping your configuration $ETC/site.yaml"
else
    FRESH_CONFIG=1
    EXAMPLE="$SOURCE/examples/site.yaml"
    if [ ! -f "$EXAMPLE" ]; then  # installing from a wheel: the packaged demo site
        EXAMPLE=$("$PREFIX/.venv/bin/python" -c 'from importlib.resources import files; print(files("wattwerk") / "demo_site.yaml")' 2>/dev/null || echo "")
    fi
    say "copying the example configuration to $ETC/site.yaml (edit it, then: wattwerk check $ETC/site.yaml)"
    if [ -n "$EXAMPLE" ] || [ "$DRY_RUN" = 1 ]; then
        run install -m 0660 -o root -g "$SERVICE_USER" "${EXAMPLE:-<packaged demo_site.yaml>}" "$ETC/site.yaml"
        # readings live in the data directory, not relative to wherever the program starts
        run sed -i "s#^\(  data_dir:\).*#\1 $DATA#" "$ETC/site.yaml"
    else
        echo "install.sh: no example configuration found; write $ETC/site.yaml yourself" >&2
    fi
fi

# 5. the service
UNIT_CHANGED=0
if [ -f "$UNIT_DIR/$UNIT" ] && cmp -s "$HERE/$UNIT" "$UNIT_DIR/$UNIT"; then
    say "unit $UNIT is up to date"
else
    UNIT_CHANGED=1
    say "installing $UNIT_DIR/$UNIT"
    run install -m 0644 "$HERE/$UNIT" "$UNIT_DIR/$UNIT"
    run systemctl daemon-reload
fi
if [ -d "$LOGROTATE_DIR" ] && ! cmp -s "$HERE/logrotate" "$LOGROTATE_DIR/wattwerk" 2>/dev/null; then
    say "installing $LOGROTATE_DIR/wattwerk (for file logs; the journal is the default)"
    run install -m 0644 "$HERE/logrotate" "$LOGROTATE_DIR/wattwerk"
fi
run systemctl enable "$UNIT"
if [ "$FRESH_CONFIG" = 1 ]; then
    # the example describes someone else's devices: starting it would only fill the log with timeouts
    say "not started yet: describe your devices in $ETC/site.yaml, then: systemctl start ${UNIT%.service}"
elif [ "$START" = 1 ]; then
    if "$PREFIX/.venv/bin/wattwerk" check "$ETC/site.yaml" >/dev/null 2>&1 || [ "$DRY_RUN" = 1 ]; then
        # a second run leaves a running service alone unless its unit file changed
        if [ "$UNIT_CHANGED" = 1 ]; then run systemctl restart "$UNIT"; else run systemctl start "$UNIT"; fi
        say "started; follow it with: journalctl -u ${UNIT%.service} -f"
        if [ ! -f "$DATA/admin-password.argon2" ]; then
            say "now open http://$(hostname).local:8080/ and choose the admin password (until then anyone on the LAN could)"
        fi
    else
        say "not started: $ETC/site.yaml does not pass 'wattwerk check' yet; fix it, then: systemctl start ${UNIT%.service}"
    fi
fi
say "done"
