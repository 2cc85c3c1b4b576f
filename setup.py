"""Builds the optional C kernels of globalhs (everything else is in pyproject.toml).

``globalhs.science._arfill_c`` (multi-segment Burg and the gap-fill right-hand side) and
``globalhs.science._peakbag_c`` (the fit's finite-span profile) are compiled when a C compiler is
present; when a build fails the install goes on without it and ``globalhs.science.arfill`` /
``globalhs.science.peakbag`` use their numpy references (their ``kernel_path()`` says which).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildOptionalExt(build_ext):
    """GCC/Clang optimisation flags; a compiler error is a warning, not a failed install."""

    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"]
        super().build_extensions()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "use the numpy path"
            self.warn(f"building {ext.name} failed ({exc}); globalhs will use its numpy reference kernels")


setup(
    ext_modules=[Extension(f"globalhs.science.{name}", [f"globalhs/science/{name}.c"],
                           depends=["globalhs/science/_kernels.h"], optional=True)
                 for name in ("_arfill_c", "_peakbag_c")],
    cmdclass={"build_ext": BuildOptionalExt},
)
