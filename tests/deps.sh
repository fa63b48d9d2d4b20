#!/bin/sh
# deps.sh - make sure the Debian packages the build and tests need are here.
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command to run and fails. With the argument "reproduce" it also needs
# gnuplot (Debian's gnuplot-nox), which `make reproduce` draws its figures with.
PKGS="libopenblas-dev liblapacke-dev pkgconf valgrind python3-numpy python3-pytest"
[ "${1:-}" = reproduce ] && PKGS="$PKGS gnuplot-nox"
missing=""
have_header() {
    printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1
}
have_header cblas.h || missing="$missing libopenblas-dev"
have_header lapacke.h || missing="$missing liblapacke-dev"
printf 'int main(void){return 0;}\n' | ${CC:-cc} -x c - -o /dev/null -lopenblas -llapacke 2>/dev/null \
    || missing="$missing libopenblas-dev liblapacke-dev"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkgconf"
command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
if [ "${1:-}" = reproduce ]; then
    command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
fi
# the Python package's tests run under Debian's interpreter
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || missing="$missing python3-numpy"
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || missing="$missing python3-pytest"
[ -z "$missing" ] && exit 0
missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null || {
        echo "deps: apt-get install failed" >&2
        exit 1
    }
    exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run:  sudo apt-get install -y $PKGS" >&2
exit 1
