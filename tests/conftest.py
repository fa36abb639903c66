"""Test configuration: hypothesis profiles and markers.

``ci`` (default): derandomized, no deadline (a first jit call compiles),
example counts sized to the 10-minute suite.  ``local``: many more examples,
for hunting bugs: ``HYPOTHESIS_PROFILE=local pytest``.
"""

import os

from hypothesis import HealthCheck, settings

from funcgrad import trace

trace.CHECK_IR = True  # every IR traced in the tests is type-checked where it is made

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("local", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
