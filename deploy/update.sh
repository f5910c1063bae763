#!/usr/bin/env bash
# Update the installed wattwerk edge, keeping configuration and data.
#
#   sudo deploy/update.sh                        # to the version in this checkout
#   sudo deploy/update.sh --from wattwerk-0.2.0-py3-none-any.whl
#   sudo deploy/update.sh --rollback             # back to the previous release
#   deploy/update.sh --dry-run                   # print what it would do, change nothing
#
# Steps: a new venv beside the old one (/opt/wattwerk/releases/<id>/venv); `wattwerk check` of
# /etc/wattwerk/site.yaml with the NEW version (fails -> the new release is removed, nothing
# changed); switch the /opt/wattwerk/.venv symlink atomically; restart; if the service does not
# stay up, switch back to the old release and restart it. /etc/wattwerk and /var/lib/wattwerk
# are never touched. The newest KEEP (3) releases are kept for --rollback.
set -euo pipefail

PREFIX=${WATTWERK_PREFIX:-/opt/wattwerk}
ETC=${WATTWERK_ETC:-/etc/wattwerk}
PYTHON=${PYTHON:-python3}
UNIT=wattwerk-edge.service
KEEP=${KEEP:-3}
SETTLE_S=${SETTLE_S:-10}  # the service must still be active this long after the restart
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(dirname "$HERE")
DRY_RUN=0
ROLLBACK=0

while [ $# -gt 0 ]; do
    case "$1" in
        --from) SOURCE=${2:?--from needs a path}; shift 2 ;;
        --dry-run|-n) DRY_RUN=1; shift ;;
        --rollback) ROLLBACK=1; shift ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "update.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
switch_to() {  # atomically point .venv at a release's venv
    run ln -sfn "$1" "$PREFIX/.venv.new"
    run mv -T "$PREFIX/.venv.new" "$PREFIX/.venv"
}
healthy() {
    [ "$DRY_RUN" = 1 ] && return 0
    systemctl restart "$UNIT" || return 1
    sleep "$SETTLE_S"
    systemctl is-active --quiet "$UNIT"
}

if [ ! -L "$PREFIX/.venv" ]; then
    echo "update.sh: no installation at $PREFIX (run deploy/install.sh first)" >&2
    exit 1
fi
if [ "$DRY_RUN" = 0 ] && [ ! -w "$PREFIX/releases" ]; then
    echo "update.sh: cannot write $PREFIX/releases; run as root (sudo), or with --dry-run" >&2
    exit 1
fi
OLD=$(readlink "$PREFIX/.venv")
say "current release: $OLD"

if [ "$ROLLBACK" = 1 ]; then
    PREVIOUS=""
    for venv in $(ls -d "$PREFIX"/releases/*/venv 2>/dev/null | sort); do
        [ "$venv" = "$OLD" ] && break
        PREVIOUS=$venv
    done
    if [ -z "$PREVIOUS" ]; then
        echo "update.sh: no release older than $OLD to roll back to" >&2
        exit 1
    fi
    say "rolling back to $PREVIOUS"
    switch_to "$PREVIOUS"
    healthy || { echo "update.sh: $UNIT is not active after the rollback; see journalctl -u ${UNIT%.service}" >&2; exit 1; }
    say "done"
    exit 0
fi

if [ ! -e "$SOURCE" ]; then
    echo "update.sh: source $SOURCE does not exist" >&2
    exit 1
fi
NEW="$PREFIX/releases/$(date -u +%Y%m%dT%H%M%SZ)/venv"
say "building $NEW from $SOURCE"
run "$PYTHON" -m venv "$NEW"
run "$NEW/bin/pip" install --quiet --upgrade pip
run "$NEW/bin/pip" install --quiet "$SOURCE"

say "checking $ETC/site.yaml with the new version"
if ! run "$NEW/bin/wattwerk" check "$ETC/site.yaml"; then
    echo "update.sh: the new version rejects $ETC/site.yaml (see above); nothing changed" >&2
    run rm -rf "$(dirname "$NEW")"
    exit 1
fi

say "switching to the new release and restarting"
switch_to "$NEW"
if ! healthy; then
    echo "update.sh: $UNIT did not stay up with the new release; rolling back to $OLD" >&2
    switch_to "$OLD"
    systemctl restart "$UNIT" || true
    exit 1
fi

# keep the newest $KEEP releases (the current one among them)
mapfile -t RELEASES < <(ls -d "$PREFIX"/releases/*/ 2>/dev/null | sort)
if [ "${#RELEASES[@]}" -gt "$KEEP" ]; then
    for old in "${RELEASES[@]:0:${#RELEASES[@]}-KEEP}"; do
        [ "${old%/}/venv" = "$(readlink "$PREFIX/.venv")" ] || run rm -rf "${old%/}"
    done
fi
say "done: $("$PREFIX/.venv/bin/wattwerk" --version 2>/dev/null || echo "$NEW")"
