"""Native imports of tests/programs/debug/app.vmasm (loaded by the debugger tests).

``noise`` is deliberately nondeterministic (a fresh random number per call):
re-execution reaches the same state only when the debugger records and
replays it. ``slow_double`` suspends its caller three times before returning.
"""

import random

from iree_lab.vm import NativeModule, export


class DbgNative(NativeModule):
    name = "dbgnative"
    version = 0

    def __init__(self):
        super().__init__()
        self.calls = 0

    @export("0v_i")
    def noise(self):
        self.calls += 1
        return random.randrange(1 << 30)

    @export("0i_i")
    def slow_double(self, x):
        for _ in range(3):
            yield
        return 2 * x
