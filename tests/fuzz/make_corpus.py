#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz (small .npy files, valid and not).

Pure Python (no NumPy needed): the headers are exactly those NumPy writes.
Run from the repository root: python3 tests/fuzz/make_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def npy(descr, shape, payload, fortran=False, version=1, header=None):
    if header is None:
        shp = "(%s)" % ("%d," % shape[0] if len(shape) == 1 else ", ".join(map(str, shape)))
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
            descr, "True" if fortran else "False", shp)
    prefix = 10 if version == 1 else 12
    total = (prefix + len(header) + 1 + 63) // 64 * 64
    hlen = total - prefix
    text = header.encode("latin1").ljust(hlen - 1) + b"\n"
    size = struct.pack("<H", hlen) if version == 1 else struct.pack("<I", hlen)
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + payload


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    vals = [1.5, -2.25, 3.0, 0.0, 1e-3, 7.0]
    files["f8_c_v1"] = npy("<f8", (2, 3), struct.pack("<6d", *vals))
    files["f8_f_v2"] = npy("<f8", (2, 3), struct.pack("<6d", *vals), fortran=True, version=2)
    files["f4_be_v3"] = npy(">f4", (3, 2), struct.pack(">6f", *vals), version=3)
    files["f4_1d"] = npy("<f4", (4,), struct.pack("<4f", *vals[:4]))
    files["f8_empty"] = npy("<f8", (0, 5), b"")
    files["i1_labels"] = npy("|i1", (5,), bytes([0, 1, 2, 1, 0]))
    files["u1_labels"] = npy("|u1", (5,), bytes([0, 1, 2, 255, 0]))
    files["i2_be"] = npy(">i2", (3,), struct.pack(">3h", 0, 1, -1))
    files["u2"] = npy("<u2", (3, 1), struct.pack("<3H", 0, 1, 2))
    files["i4"] = npy("<i4", (4,), struct.pack("<4i", 0, 1, 2, 3))
    files["u4_be"] = npy(">u4", (2,), struct.pack(">2I", 0, 4000000000))
    files["i8"] = npy("<i8", (3,), struct.pack("<3q", 0, 2, -(2 ** 63)))
    files["u8"] = npy("<u8", (2,), struct.pack("<2Q", 1, 2 ** 64 - 1))
    files["py2_long"] = npy("<f8", (1, 2), struct.pack("<2d", 1, 2),
                            header="{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }")
    files["quotes"] = npy(">f8", (1, 1), struct.pack(">d", 3),
                          header='{"shape": (1, 1), "fortran_order": False, "descr": ">f8"}')
    # malformed
    files["bad_magic"] = b"\x93NUMPX" + files["f8_c_v1"][6:]
    files["bad_version"] = files["f8_c_v1"][:6] + b"\x04\x00" + files["f8_c_v1"][8:]
    files["truncated_data"] = files["f8_c_v1"][:-5]
    files["truncated_header"] = files["f8_c_v1"][:40]
    files["trailing"] = files["f8_c_v1"] + b"\0" * 8
    files["overflow"] = npy("<f8", (2 ** 62, 16), b"")
    files["huge_dim"] = npy("<f8", None, b"",
                            header="{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }")
    files["complex"] = npy("<c16", (1,), b"\0" * 16)
    files["structured"] = npy(None, None, b"\0" * 8,
                              header="{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }")
    files["three_d"] = npy("<f8", (1, 1, 1), b"\0" * 8)
    files["scalar"] = npy("<f8", None, b"\0" * 8,
                          header="{'descr': '<f8', 'fortran_order': False, 'shape': (), }")
    files["extra_key"] = npy(None, None, b"\0" * 8,
                             header="{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 0}")
    files["long_header_len"] = files["f8_c_v1"][:8] + b"\xff\xff" + files["f8_c_v1"][10:]
    for name, data in files.items():
        with open(os.path.join(OUT, name + ".npy"), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(files), OUT))


if __name__ == "__main__":
    main()
