"""The one compiled part: the delta rescan's chunk scan (``moderation._deltascan``, plain C
against the Python headers). Everything else is in pyproject.toml. Where it cannot be built (no
C compiler), the install goes on without it and the delta rescan takes its pure-Python path
(same output, about three times slower per line); the tests import it, so CI fails loudly."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("moderation._deltascan", ["src/moderation/_deltascan.c"],
                             extra_compile_args=["-O3"], optional=True)])
