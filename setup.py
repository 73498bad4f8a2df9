"""The compiled parts, plain C against the Python headers: the delta rescan's chunk scan
(``moderation._deltascan``), the normalization pass (``moderation._normalize``) and jieba's cut
of a block (``moderation._segment``). Everything else is in pyproject.toml. Where they cannot be
built (no C compiler), the install goes on without them and the same work takes its pure-Python
path (same output: the delta rescan about three times slower per line, normalization about eight
times and the cut about five times slower); the tests import them, so CI fails loudly."""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("moderation._deltascan", ["src/moderation/_deltascan.c"], extra_compile_args=["-O3"], optional=True),
    Extension("moderation._normalize", ["src/moderation/_normalize.c"], extra_compile_args=["-O3"], optional=True),
    Extension("moderation._segment", ["src/moderation/_segment.c"], extra_compile_args=["-O3"], optional=True),
])
