"""The decoder's optional compiled fast path; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and ``geartool decode``
runs its pure-Python decoder (same output, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "geartool.decode._fastdecode",
    sources=[f"geartool/decode/_fast{part}.c"
             for part in ("decode", "capture", "stream", "format")],
    depends=["geartool/decode/_fastdecode.h"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
    libraries=["m"],
    optional=True,
)])
