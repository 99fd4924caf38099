"""Rewrites metadata values of a libgan checkpoint and seals it again with a
valid whole-file checksum, as a careless or hostile editor could: the
checksum then matches, and only validation of the values stands between
the file and the program. Standard library only.

usage: python3 forge_checkpoint.py CHECKPOINT KEY=VALUE [KEY=VALUE ...]"""
import json
import struct
import sys
import zlib


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    for pair in sys.argv[2:]:
        key, value = pair.split("=", 1)
        header["__metadata__"][key] = value
    header["__metadata__"]["file_crc32"] = "00000000"
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    blob = struct.pack("<Q", len(text)) + text + data[8 + n:]
    crc = "%08x" % zlib.crc32(blob)
    blob = blob.replace(b'"file_crc32":"00000000"', ('"file_crc32":"%s"' % crc).encode(), 1)
    with open(path, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    main()
