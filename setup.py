"""Build the Cython kernels in sabot_lab/kernels/ (everything else is in pyproject.toml)."""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

kernels = sorted(Path("sabot_lab/kernels").glob("*.pyx"))
extensions = [
    Extension(
        f"sabot_lab.kernels.{path.stem}",
        [str(path)],
        include_dirs=[np.get_include()],
        extra_compile_args=["-O3"],
    )
    for path in kernels
]

setup(
    # the kernels compile side by side, one per core (``build_ext -j N`` still says how many)
    options={"build_ext": {"parallel": True}},
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
        },
    ),
)
