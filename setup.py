from setuptools import setup

# The native simulator: cffi compiles libsim/src/*.cpp into libsim._libsim_cffi.
setup(cffi_modules=["libsim/build_ffi.py:ffibuilder"])
