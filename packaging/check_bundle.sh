#!/bin/sh
# The check `make bundle` ends with: a copy of the one-folder bundle, moved away from the
# checkout and run with no Python environment in sight, renders the demo and opens the window.
#   packaging/check_bundle.sh [dist/atelier]
set -eu
BUNDLE=$(cd "${1:-dist/atelier}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/atelier-bundle-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp -a "$BUNDLE" "$WORK/copied"
mv "$WORK/copied" "$WORK/Atelier"  # moved: nothing may point back at the build folder
cd "$WORK"
# Without a network at all where a network namespace can be made (root, or user namespaces):
# the bundle must fetch nothing to start, render and open. Elsewhere, the hub's offline mode.
if unshare -n true 2>/dev/null; then NO_NET="unshare -n"; OFFLINE=""; else NO_NET=""; OFFLINE="HF_HUB_OFFLINE=1"; fi
run() {
    $NO_NET env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 $OFFLINE \
        ATELIER_HOME="$WORK/library" ATELIER_DEMO_DIR="$WORK/demo-models" \
        ATELIER_SETTINGS="$WORK/settings.ini" QT_QPA_PLATFORM=offscreen \
        "$WORK/Atelier/atelier" "$@"
}
run --version
run demo --out "$WORK/demo-out"
test -s "$WORK/demo-out/demo-grid.png"
run gui --smoke-test "$WORK/shot.png"
test -s "$WORK/shot.png"
echo "bundle check passed${NO_NET:+ (no network)}: $(du -sh "$WORK/Atelier" | cut -f1) in $BUNDLE"
