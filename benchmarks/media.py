"""Where the benchmarks find the real test media: the repository's, as the tests do.

`KERAS_STW_TESTDATA` points elsewhere (the variable `tests/conftest.py` reads).
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_MEDIA = os.environ.get("KERAS_STW_TESTDATA", os.path.join(REPO, "tests", "testdata", "real"))
