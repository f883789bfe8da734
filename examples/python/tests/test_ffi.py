"""The cffi declarations (kvs/_ffi.py) against include/kvs.h.

ABI mode cannot check them when loading the library: a wrong argument
type or count would pass garbage to C. This compares every declared call
with kvs.h's prototype, up to the substitutions _ffi.py documents.
"""

import os
import re

import pytest

from kvs import _ffi

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "kvs.h")

# _ffi.py declares key and value pointers as char (cffi passes bytes by
# address), and the enum of kvs_stat as int.
SUBSTITUTIONS = [("const void *", "const char *"), ("kvs_stat_t", "int")]


def prototypes(text, prefix=""):
    """{name: (return type, [parameter types])} of the function declarations in text."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    found = {}
    pattern = prefix + r"([A-Za-z_][\w \*]*?)\b(kvs_\w+)\s*\(([^;{]*?)\)\s*;"
    for ret, name, params in re.findall(pattern, text):
        types = []
        for param in params.split(","):
            param = " ".join(param.split())
            if param == "void":
                continue
            # drop the parameter's name: the last identifier
            param = re.sub(r"\s*\b\w+$", "", param)
            param = re.sub(r"\s*\*\s*", " *", param).replace(" *", " *")
            types.append(re.sub(r"\s+", " ", param).strip())
        found[name] = (" ".join(ret.split()), types)
    return found


def normal(t):
    t = t.replace("* ", "*").replace(" *", "*")
    for ours, theirs in ((a.replace(" *", "*"), b.replace(" *", "*")) for a, b in SUBSTITUTIONS):
        t = t.replace(ours, theirs)
    return t


@pytest.mark.skipif(not os.path.exists(HEADER), reason="no include/kvs.h beside the package")
def test_declarations_match_kvs_h():
    with open(HEADER) as f:
        header = prototypes(f.read(), r"KVS_API\s+")
    declared = _ffi.CDEF + _ffi.CDEF_1_2
    ours = prototypes(declared)
    # every call _ffi.py declares was parsed (the typedef'ed callbacks aside)
    called = set(re.findall(r"\b(kvs_\w+)\s*\(", declared)) - {
        "kvs_log_fn", "kvs_update_fn", "kvs_verify_fn"}
    assert set(ours) == called and len(ours) >= 60
    for name, (ret, params) in ours.items():
        assert name in header, "%s is not in kvs.h" % name
        h_ret, h_params = header[name]
        assert normal(ret) == normal(h_ret), name
        assert [normal(p) for p in params] == [normal(p) for p in h_params], name


def test_version_requirement():
    assert _ffi.MIN_VERSION_NUMBER == 10100
