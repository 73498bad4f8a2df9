"""The one compiled part: the delta rescan's chunk scan (``moderation._deltascan``, plain C
against the Python headers). Everything else is in pyproject.toml. Without the compiled module
the delta rescan takes its pure-Python path (same output, slower)."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("moderation._deltascan", ["src/moderation/_deltascan.c"], extra_compile_args=["-O3"])])
