#!/usr/bin/env bash
# Installs the build into a fresh prefix and builds a program outside the
# tree against it, once through CMake's find_package (shared and static)
# and once through pkg-config; each trains a few GAN steps. CC, CFLAGS and
# LDFLAGS, when set, build the program (the build's compiler and sanitizers).
# usage: test_install.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null
# the installed tree moves: its package files point nowhere but into it
mv "$work/prefix" "$work/moved"
prefix=$work/moved
libdir=$(dirname "$(find "$prefix" -name libgan.a)")

cmake -S "$here/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log" || {
    cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/consumer/consumer_shared" | tee "$work/shared.out"
"$work/consumer/consumer_static" | tee "$work/static.out"
grep -q "step 3 loss_D" "$work/shared.out" && grep -q "step 3 loss_D" "$work/static.out"
if ldd "$work/consumer/consumer_static" | grep -q libgan; then
    echo "test_install: consumer_static loads libgan.so" >&2; exit 1
fi

export PKG_CONFIG_PATH=$libdir/pkgconfig
${CC:-cc} ${CFLAGS:-} -o "$work/consumer_pc" "$here/install/consumer.c" $(pkg-config --cflags --libs gan) ${LDFLAGS:-}
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" | tee "$work/pc.out"
grep -q "step 3 loss_D" "$work/pc.out"
echo "test_install: find_package (shared, static) and pkg-config builds trained"
