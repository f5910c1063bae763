#!/bin/sh
# Vendor uPlot (MIT, https://github.com/leeoniya/uPlot) from the npm registry into
# src/wattwerk/static/vendor/uplot/: the built IIFE file, its CSS and the licence. The pages load it
# from the edge itself (no CDN: a site's LAN may have no internet).
#   scripts/vendor_uplot.sh [VERSION]      (default 1.6.32)
# `npm pack` checks the tarball against the registry's integrity hash; VERSION records the source
# and the files' sha256 so a later run can be compared.
set -eu
VERSION=${1:-1.6.32}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=$ROOT/src/wattwerk/static/vendor/uplot
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack --silent "uplot@$VERSION" >/dev/null 2>&1
tar -xzf "uplot-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
{
    echo "uPlot $VERSION, MIT licence (LICENSE), from https://registry.npmjs.org/uplot/-/uplot-$VERSION.tgz"
    echo "vendored by scripts/vendor_uplot.sh"
    (cd "$DEST" && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE)
} > "$DEST/VERSION"
echo "uPlot $VERSION -> $DEST"
