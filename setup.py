import os

from setuptools import setup
from setuptools.command.build_ext import build_ext


class AtomicBuildExt(build_ext):
    """Puts a built extension in place by rename, not by rewriting the file: a running
    process that has the old libsim loaded keeps a valid mapping while `make setup`
    rebuilds it (rewriting a mapped shared library in place can crash that process)."""

    def copy_file(self, infile, outfile, *args, **kwargs):
        if not os.fspath(outfile).endswith(".so"):
            return super().copy_file(infile, outfile, *args, **kwargs)
        # A name nobody else uses, and no file yet (copy_file skips "up-to-date" targets).
        temporary = f"{os.fspath(outfile)}.building-{os.getpid()}"
        try:
            _, copied = super().copy_file(infile, temporary, *args, **kwargs)
            os.replace(temporary, outfile)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return outfile, copied


# The native simulator: cffi compiles libsim/src/*.cpp into libsim._libsim_cffi.
setup(
    cffi_modules=["libsim/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": AtomicBuildExt},
)
