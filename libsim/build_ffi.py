"""cffi build script (out-of-line API mode): compiles the C++ engine into libsim._libsim_cffi.

Run by setuptools through `cffi_modules` in setup.py; needs g++ and libsystemc-dev (SystemC
2.3.4 is built for C++17, so the sources must be compiled with -std=c++17).
"""

from __future__ import annotations

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _relative(path: str) -> str:
    # setuptools wants source paths relative to the project root (the setup.py folder).
    return os.path.relpath(path, ROOT)


def c_declarations(header_text: str) -> str:
    """The header as cffi's cdef wants it: no includes, guards or C++ blocks."""
    lines = []
    in_cplusplus = False
    for line in header_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            in_cplusplus = True
            continue
        if in_cplusplus:
            in_cplusplus = not stripped.startswith("#endif")
            continue
        if stripped.startswith("#define LIBSIM_") and len(stripped.split()) >= 3:
            name, value = stripped.split()[1:3]
            if value.lstrip("-").isdigit():
                lines.append(f"#define {name} {value}")
            else:  # cffi's #define takes integers only; the compiler supplies the double
                lines.append(f"static const double {name};")
            continue
        if stripped.startswith("#"):
            continue
        lines.append(line)
    return "\n".join(lines)


with open(os.path.join(HERE, "include", "libsim.h"), encoding="utf-8") as header:
    _HEADER = header.read()

ffibuilder = FFI()
ffibuilder.cdef(c_declarations(_HEADER))
ffibuilder.set_source(
    "libsim._libsim_cffi",
    '#include "libsim.h"',
    source_extension=".cpp",
    sources=sorted(_relative(p) for p in glob.glob(os.path.join(HERE, "src", "*.cpp"))),
    depends=sorted(
        _relative(p)
        for p in glob.glob(os.path.join(HERE, "src", "*.hpp"))
        + [os.path.join(HERE, "include", "libsim.h")]
    ),
    include_dirs=[os.path.join(HERE, "include")],
    libraries=["systemc"],
    extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden"],
)
