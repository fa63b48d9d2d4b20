#!/bin/sh
# check_layers.sh - every private include of src/ respects the layers: a
# file in src/<layer>/ includes only headers of its own layer and of the
# layers before it, in this order (docs/DESIGN.md, "Layers"):
LAYERS="common kernels loss model metrics analysis optim io"
# Prints each violation and the harness line "check_layers: N passed, M failed".
cd "$(dirname "$0")/.." || exit 1
rank() { i=0; for l in $LAYERS; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
passed=0
failed=0
for f in src/*/*.c src/*/*.h; do
    layer=$(basename "$(dirname "$f")")
    lr=$(rank "$layer")
    if [ "$lr" -lt 0 ]; then
        echo "$f: folder '$layer' is not a layer ($LAYERS)"; failed=$((failed + 1)); continue
    fi
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case "$inc" in
        ncollapse.h) passed=$((passed + 1)); continue ;;
        */*) ;;
        *) echo "$f: includes \"$inc\" without its layer folder"; failed=$((failed + 1)); continue ;;
        esac
        il=${inc%%/*}
        ir=$(rank "$il")
        if [ ! -f "src/$inc" ]; then
            echo "$f: includes \"$inc\", which is not in src/"; failed=$((failed + 1))
        elif [ "$ir" -lt 0 ] || [ "$ir" -gt "$lr" ]; then
            echo "$f: layer '$layer' includes \"$inc\" from a later layer '$il'"; failed=$((failed + 1))
        else
            passed=$((passed + 1))
        fi
    done
done
# Nothing may sit at the top of src/: every file belongs to a layer.
for f in src/*; do
    [ -d "$f" ] || { echo "$f: outside every layer folder"; failed=$((failed + 1)); }
done
echo "check_layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
