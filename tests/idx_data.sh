# idx_data.sh - sourced by the app tests: writes small MNIST-like IDX files.

# be32 N: N as 4 big-endian bytes
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }

# make_data DIR COUNT [LABELS]: COUNT random 28x28 images and LABELS (default COUNT) labels
make_data() {
    mkdir -p "$1"
    { printf '\x00\x00\x08\x03'; be32 "$2"; be32 28; be32 28; head -c $(($2 * 784)) /dev/urandom; } > "$1/train-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01'; be32 "${3:-$2}"; head -c "${3:-$2}" /dev/urandom; } > "$1/train-labels-idx1-ubyte"
}

# make_split DIR PREFIX COUNT: COUNT random 28x28 images and labels 0 to 9,
# as PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte (train, t10k)
make_split() {
    mkdir -p "$1"
    { printf '\x00\x00\x08\x03'; be32 "$3"; be32 28; be32 28; head -c $(($3 * 784)) /dev/urandom; } > "$1/$2-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01'; be32 "$3"; for ((i = 0; i < $3; i++)); do printf "\\$(printf %03o $((RANDOM % 10)))"; done; } \
        > "$1/$2-labels-idx1-ubyte"
}
