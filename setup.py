"""Build the Cython kernel twins (``fastcf/kernels/*/_cython.pyx``) with OpenMP.

Environment switches:
  FASTCF_NO_OPENMP=1  build without OpenMP (the kernels then run serially); without it,
                      a compiler that cannot build OpenMP code fails the build.
  FASTCF_NATIVE=1     add -march=native (faster on this CPU, but the result may not run
                      on other CPUs: never for wheels).
  FASTCF_DEBUG_BOUNDS=1
                      Cython bounds and negative-index checks on (boundscheck, wraparound,
                      initializedcheck), so that an out-of-bounds access raises IndexError
                      instead of reading past an array. Slower: for CI's bounds-checked
                      run of the kernel tests only (build it in a copy of the tree).
"""
import os
import sys
import tempfile
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def openmp_flags(compiler):
    """(compile args, link args) that turn OpenMP on for this compiler."""
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    executable = os.path.basename(str((getattr(compiler, "compiler", None) or [""])[0]))
    if sys.platform == "darwin" and "gcc" not in executable and "g++" not in executable:
        # Apple clang: no -fopenmp driver flag, and Homebrew's libomp is not on the default
        # search paths. LIBOMP_PREFIX overrides; else ask Homebrew where it put libomp.
        prefix = os.environ.get("LIBOMP_PREFIX") or _homebrew_prefix("libomp")
        compile_args, link_args = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
        if prefix:
            compile_args.append(f"-I{prefix}/include")
            link_args += [f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib"]
        return compile_args, link_args
    return ["-fopenmp"], ["-fopenmp"]


def _homebrew_prefix(formula):
    import subprocess

    try:
        out = subprocess.run(["brew", "--prefix", formula], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = out.stdout.strip()
    return prefix if out.returncode == 0 and os.path.isdir(prefix) else None


def optimisation_flags(compiler_type):
    if compiler_type == "msvc":
        return ["/O2"]
    flags = ["-O3"]
    if _env_flag("FASTCF_NATIVE"):
        flags.append("-march=native")
    return flags


OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
}
"""


class BuildExtWithOpenMP(build_ext):
    """build_ext that proves OpenMP works before compiling, instead of silently going serial."""

    def finalize_options(self):
        super().finalize_options()
        # One kernel per core at a time (each is a large C file at -O3), unless the caller chose
        # with -j / --parallel: a serial build left a core idle for minutes.
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def _openmp_works(self, compile_args, link_args):
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe_openmp.c")
            with open(source, "w") as f:
                f.write(OPENMP_PROBE)
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=compile_args)
                self.compiler.link_executable(
                    objects, "probe_openmp", output_dir=tmp, extra_postargs=link_args
                )
            except Exception as exc:  # CompileError, LinkError
                self._openmp_error = str(exc)
                return False
        return True

    def build_extensions(self):
        compiler_type = self.compiler.compiler_type
        compile_args = optimisation_flags(compiler_type)
        link_args = []
        use_openmp = not _env_flag("FASTCF_NO_OPENMP")
        if use_openmp:
            omp_compile, omp_link = openmp_flags(self.compiler)
            if not self._openmp_works(omp_compile, omp_link):
                raise RuntimeError(
                    "fastcf: this compiler cannot build OpenMP code (tried flags "
                    f"{omp_compile} / {omp_link}): {self._openmp_error}\n"
                    "Install OpenMP (gcc: libgomp, which comes with gcc; clang: libomp-dev; "
                    "macOS: `brew install libomp`, or set LIBOMP_PREFIX to where libomp lives) "
                    "or build without it, serially, with FASTCF_NO_OPENMP=1."
                )
            compile_args += omp_compile
            link_args += omp_link
        else:
            print("fastcf: building WITHOUT OpenMP (FASTCF_NO_OPENMP=1): the Cython kernels will run "
                  "serially, and fastcf.show_versions() will say so.", file=sys.stderr)
        # Cythonize only now that OpenMP is known to work: a compiler without it fails in
        # seconds. Only the sources change: the Extension objects keep what finalize_options
        # set on them.
        generated = {ext.name: ext.sources for ext in cythonize_kernels(self.extensions)}
        for ext in self.extensions:
            ext.sources = generated[ext.name]
            ext.extra_compile_args = list(ext.extra_compile_args or []) + compile_args
            ext.extra_link_args = list(ext.extra_link_args or []) + link_args
        super().build_extensions()


def kernel_extensions():
    """One extension per kernel twin, from its .pyx: BuildExtWithOpenMP cythonizes them, so
    that building an sdist or the metadata runs no Cython."""
    return [
        Extension(pyx[:-len(".pyx")].replace(os.sep, "."), [pyx])
        for pyx in sorted(glob(os.path.join("fastcf", "kernels", "*", "_cython.pyx")))
    ]


def cythonize_kernels(extensions):
    from Cython import __version__ as cython_version
    from Cython.Build import cythonize

    for ext in extensions:
        ext.define_macros = list(ext.define_macros or []) + [("FASTCF_CYTHON_VERSION", f'"{cython_version}"')]
    return cythonize(
        extensions,
        # Translate the .pyx files in parallel too (worker processes: not on Windows, whose
        # spawned workers would re-run this script).
        nthreads=0 if os.name == "nt" else (os.cpu_count() or 1),
        # Keeps generated C out of the package; the bounds-checked C apart from the fast one.
        build_dir=os.path.join("build", "cython-bounds" if _env_flag("FASTCF_DEBUG_BOUNDS") else "cython"),
        compiler_directives={
            "language_level": 3,
            "boundscheck": _env_flag("FASTCF_DEBUG_BOUNDS"),
            "wraparound": _env_flag("FASTCF_DEBUG_BOUNDS"),
            "initializedcheck": _env_flag("FASTCF_DEBUG_BOUNDS"),
            "cdivision": True,
            "binding": True,
            "embedsignature": True,
        },
    )


setup(ext_modules=kernel_extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
