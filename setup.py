"""The compiled core (Cython): built by `pip install .` / `python -m build` with setuptools.

Everything else is in pyproject.toml. A from-source install needs a C compiler and the
Python headers (Debian: gcc, python3-dev).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = [
    "balise.index._lookup", "balise.index._housenumbers", "balise.index._postings", "balise.index._records",
    "balise.index._documents", "balise.index._parts", "balise.index._stored",
    "balise.text._text", "balise.text._french", "balise.text._phonetic",
    "balise.search._textscore", "balise.search._geojson", "balise.search._query", "balise.search._scorer",
    "balise.search._search", "balise.search._relations", "balise.search._collectors", "balise.search._grid",
    "balise.search._reverse", "balise.search._distance", "balise.search._readings",
    "balise.csv._columns",
]

# -ffp-contract=off: no fused multiply-add, so sums and products round as numpy's (the scores
# must stay those recorded, tests/golden).
COMPILE_ARGS = ["-O3", "-ffp-contract=off"]

setup(
    ext_modules=cythonize(
        [Extension(name, [f"src/{name.replace('.', '/')}.pyx"], extra_compile_args=COMPILE_ARGS)
         for name in MODULES],
        language_level=3,
    ),
)
